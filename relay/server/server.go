// Package server runs a relay (docs/PROTOCOL.md §Relay): it accepts TCP
// connections, runs the Noise NK handshake of package link, admits clients
// by package policy, answers DEPOSIT, FETCH, ACK and PING (package proto)
// from a store.Store, sweeps expired items, and counts everything it does in
// aggregate for the health endpoint.
//
// A connection carries one request at a time: the server reads a request,
// answers it, and reads the next. Timeouts bound every phase: the handshake
// (Config.HandshakeTimeout), the wait for and reading of a request
// (Config.IdleTimeout, so a client dribbling bytes is cut off), and the
// writing of a response (Config.WriteTimeout).
//
// Shutdown stops accepting, closes connections that are idle or still
// handshaking, lets in-flight requests finish and answer, and returns; the
// caller then closes the store, which commits whatever is queued.
package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/store"
)

// Defaults.
const (
	// DefaultHandshakeTimeout bounds a handshake.
	DefaultHandshakeTimeout = link.DefaultHandshakeTimeout
	// DefaultIdleTimeout bounds the wait for, and the reading of, each
	// request.
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultWriteTimeout bounds the writing of each response.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultSweepInterval is how often expired items are swept.
	DefaultSweepInterval = time.Minute
)

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Config wires a server.
type Config struct {
	// Key is the relay's static Noise key.
	Key *link.PrivateKey
	// Store keeps the items. The server does not close it.
	Store store.Store
	// Policy admits clients and deposits.
	Policy *policy.Policy
	// HandshakeTimeout, IdleTimeout, WriteTimeout and SweepInterval:
	// zero means the default.
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	WriteTimeout     time.Duration
	SweepInterval    time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger gets errors that need an operator (storage failures); nil
	// discards. Nothing per-client or per-mailbox is ever logged.
	Logger *slog.Logger
}

// connState is where a connection is in its life.
type connState uint8

const (
	stateHandshake connState = iota
	stateIdle
	stateBusy
)

// Server is a running relay.
type Server struct {
	cfg   Config
	now   func() time.Time
	log   *slog.Logger
	stats counters

	mu        sync.Mutex
	closing   bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]connState
	wg        sync.WaitGroup // connection handlers
	sweepStop chan struct{}
	sweepDone chan struct{}
	startOnce sync.Once
	// base is the context of every store operation. Shutdown cancels it
	// only when its own context ends first, so a store that hangs cannot
	// hang Shutdown.
	base   context.Context
	cancel context.CancelFunc
}

// New checks cfg and returns a server that is not yet serving.
func New(cfg Config) (*Server, error) {
	if cfg.Key == nil || cfg.Store == nil || cfg.Policy == nil {
		return nil, errors.New("server: key, store and policy are required")
	}
	if cfg.HandshakeTimeout < 0 || cfg.IdleTimeout < 0 || cfg.WriteTimeout < 0 || cfg.SweepInterval < 0 {
		return nil, errors.New("server: negative timeout")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.WriteTimeout, DefaultWriteTimeout)
	def(&cfg.SweepInterval, DefaultSweepInterval)
	s := &Server{
		cfg:       cfg,
		now:       cfg.Now,
		log:       cfg.Logger,
		listeners: map[net.Listener]struct{}{},
		conns:     map[net.Conn]connState{},
		sweepStop: make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.stats.rejections = make([]atomic.Uint64, len(proto.Codes())+1)
	return s, nil
}

// linkConfig is the server side's link limits: it reads requests and
// writes responses.
func (s *Server) linkConfig() link.Config {
	return link.Config{HandshakeTimeout: s.cfg.HandshakeTimeout, MaxRead: proto.MaxRequestSize, MaxWrite: proto.MaxResponseSize}
}

// Serve accepts connections on ln until Shutdown, and returns
// ErrServerClosed then. It may be called for several listeners.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	s.startOnce.Do(func() { go s.sweeper() })
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return ErrServerClosed
			}
			if retryableAccept(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		s.stats.accepted.Add(1)
		if !s.cfg.Policy.Admit() {
			// Over the connection limit: close before any handshake work.
			s.stats.refused.Add(1)
			nc.Close()
			continue
		}
		if !s.track(nc, stateHandshake) {
			s.cfg.Policy.Release()
			nc.Close()
			return ErrServerClosed
		}
		go s.serveConn(nc)
	}
}

// retryableAccept reports whether an accept error is worth waiting out:
// out of file descriptors, or a timeout.
func retryableAccept(err error) bool {
	var ne net.Error
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
		errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM) ||
		errors.As(err, &ne) && ne.Timeout()
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// track registers or moves a connection; it returns false when the server
// is shutting down, and the caller must stop.
func (s *Server) track(nc net.Conn, st connState) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if _, ok := s.conns[nc]; !ok {
		s.wg.Add(1)
		s.stats.open.Add(1)
	}
	s.conns[nc] = st
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
	s.stats.open.Add(-1)
	s.cfg.Policy.Release()
	nc.Close()
	s.wg.Done()
}

// serveConn runs one connection: handshake, then request after request.
func (s *Server) serveConn(nc net.Conn) {
	defer s.untrack(nc)
	lc, err := link.Server(nc, s.cfg.Key, s.linkConfig(), s.respond)
	if err != nil {
		if errors.Is(err, link.ErrRejected) {
			return // counted in respond
		}
		s.stats.handshakeFailed.Add(1)
		if errors.Is(err, wire.ErrTooLarge) {
			s.stats.frameTooLarge.Add(1)
		}
		return
	}
	for {
		if !s.track(nc, stateIdle) {
			return
		}
		if err := nc.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout)); err != nil {
			return
		}
		msg, err := lc.ReadMessage()
		if err != nil {
			s.countLinkError(err)
			return
		}
		if !s.track(nc, stateBusy) {
			return // shutting down: the request was not answered, so not done
		}
		resp := s.handle(msg)
		if err := nc.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
			return
		}
		if err := lc.WriteMessage(resp.Marshal()); err != nil {
			return
		}
	}
}

func (s *Server) countLinkError(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, link.ErrFrameTooLarge):
		s.stats.frameTooLarge.Add(1)
	case errors.Is(err, link.ErrAuth), errors.Is(err, link.ErrFrame):
		s.stats.badFrames.Add(1)
	case errors.As(err, &ne) && ne.Timeout():
		s.stats.timeouts.Add(1)
	}
}

// respond answers a hello during the handshake.
func (s *Server) respond(b []byte) ([]byte, bool) {
	h, err := proto.ParseHello(b)
	if err != nil {
		s.reject(proto.CodeMalformed)
		return (&proto.Welcome{Code: proto.CodeMalformed}).Marshal(), false
	}
	if c := s.cfg.Policy.CheckHello(h); c != proto.CodeOK {
		s.reject(c)
		return (&proto.Welcome{Code: c}).Marshal(), false
	}
	s.stats.handshakes.Add(1)
	return s.cfg.Policy.Welcome(s.now()).Marshal(), true
}

func (s *Server) reject(c proto.Code) *proto.Error {
	if int(c) < len(s.stats.rejections) {
		s.stats.rejections[c].Add(1)
	}
	return &proto.Error{Code: c}
}

// parseCode maps a request parse error to its code.
func parseCode(err error) proto.Code {
	switch {
	case errors.Is(err, proto.ErrUnknownType):
		return proto.CodeUnknownType
	case errors.Is(err, wire.ErrVersion):
		return proto.CodeVersion
	case errors.Is(err, wire.ErrTooLarge):
		return proto.CodeTooLarge
	}
	return proto.CodeMalformed
}

// handle answers one request. Requests run to completion during a graceful
// Shutdown; only a forced one cancels them.
func (s *Server) handle(msg []byte) proto.Response {
	req, err := proto.ParseRequest(msg)
	if err != nil {
		return s.reject(parseCode(err))
	}
	now := s.now()
	ctx := s.base
	switch r := req.(type) {
	case *proto.Deposit:
		return s.deposit(ctx, r, now)
	case *proto.Fetch:
		items, more, err := s.cfg.Store.Fetch(ctx, r.Tokens, store.FetchLimit{
			Items:   int(r.Limit),
			Bytes:   proto.MaxResponseSize - proto.ItemsOverhead,
			PerItem: proto.ItemOverhead,
		}, now)
		if err != nil {
			return s.storeError("fetch", err)
		}
		s.stats.fetches.Add(1)
		s.stats.delivered.Add(uint64(len(items)))
		out := &proto.Items{More: more, Items: make([]proto.Item, len(items))}
		for i, it := range items {
			out.Items[i] = proto.Item{Token: it.Token, ID: it.ID, Blob: it.Blob}
		}
		return out
	case *proto.Ack:
		n, err := s.cfg.Store.Ack(ctx, r.Token, r.IDs)
		if err != nil {
			return s.storeError("ack", err)
		}
		s.stats.acks.Add(1)
		s.stats.acked.Add(uint64(n))
		return &proto.Acked{Count: uint16(n)}
	case *proto.Ping:
		s.stats.pings.Add(1)
		return &proto.Pong{Time: uint64(max(now.Unix(), 0))}
	}
	return s.reject(proto.CodeUnknownType)
}

func (s *Server) deposit(ctx context.Context, d *proto.Deposit, now time.Time) proto.Response {
	if len(d.Blob) > s.cfg.Policy.Config().MaxBlob {
		return s.reject(proto.CodeTooLarge)
	}
	blobHash := sha256.Sum256(d.Blob)
	// The stamp's digest identifies the deposit. A retry of a deposit the
	// store holds gets the first receipt at once, even if its stamp has
	// gone stale meanwhile; so a refusal below always means "not stored".
	key := store.DedupeKey{Time: d.Stamp.Time, Digest: d.Stamp.Digest(d.Token, blobHash)}
	if r, found, err := s.cfg.Store.Lookup(ctx, key); err != nil {
		return s.storeError("lookup", err)
	} else if found {
		s.stats.duplicates.Add(1)
		return receipt(r)
	}
	err := s.cfg.Policy.CheckDeposit(d, blobHash, s.cfg.Store.Usage(), now)
	replay := errors.Is(err, policy.ErrReplay)
	if err != nil && !replay {
		var c proto.Code
		if !errors.As(err, &c) {
			c = proto.CodeInternal
		}
		if c == proto.CodeInternal {
			s.log.Error("relay: deposit refused", "err", err)
		}
		return s.reject(c)
	}
	if replay {
		s.stats.replays.Add(1)
	}
	// A replayed stamp whose deposit is not stored yet is in flight on
	// another connection, or was refused: the store decides, inside its
	// commit, whether it is a duplicate.
	r, err := s.cfg.Store.Deposit(ctx, store.Deposit{Token: d.Token, Blob: d.Blob, Key: key}, now)
	if err != nil {
		return s.storeError("deposit", err)
	}
	if r.Duplicate {
		s.stats.duplicates.Add(1)
	} else {
		s.stats.deposits.Add(1)
	}
	return receipt(r)
}

func receipt(r store.Receipt) *proto.Receipt {
	return &proto.Receipt{ID: r.ID, Expires: uint64(max(r.Expires.Unix(), 0)), Duplicate: r.Duplicate}
}

// storeError maps a store error to its code; unexpected ones are logged
// (without any request data) and become CodeInternal. A store that cannot
// reach its database is CodeUnavailable, not logged per request (the store
// logs the outage).
func (s *Server) storeError(op string, err error) *proto.Error {
	switch {
	case errors.Is(err, store.ErrQuotaToken):
		return s.reject(proto.CodeQuotaToken)
	case errors.Is(err, store.ErrQuotaTotal):
		return s.reject(proto.CodeQuotaTotal)
	case errors.Is(err, store.ErrUnavailable):
		return s.reject(proto.CodeUnavailable)
	}
	s.log.Error("relay: store failed", "op", op, "err", err)
	return s.reject(proto.CodeInternal)
}

// sweeper deletes expired items every SweepInterval until Shutdown.
func (s *Server) sweeper() {
	defer close(s.sweepDone)
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
			s.SweepNow()
		}
	}
}

// SweepNow runs one sweep at once (the sweeper's work; exported for tests
// and operators).
func (s *Server) SweepNow() {
	n, err := s.cfg.Store.Sweep(s.base, s.now())
	s.stats.expired.Add(uint64(n))
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, context.Canceled) {
		s.log.Error("relay: sweep failed", "err", err)
	}
}

// Shutdown stops the server: it closes the listeners, closes connections
// that are handshaking or idle, waits for in-flight requests to be answered,
// and stops the sweeper. If ctx ends first, it closes every connection and
// returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	for nc, st := range s.conns {
		if st != stateBusy {
			nc.Close()
		}
	}
	s.mu.Unlock()
	if !already {
		close(s.sweepStop)
		s.startOnce.Do(func() { close(s.sweepDone) }) // the sweeper never started
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		<-s.sweepDone
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancel()
		s.mu.Lock()
		for nc := range s.conns {
			nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}
