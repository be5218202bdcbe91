// Package client is the relay's client side (docs/PROTOCOL.md §Relay): it
// dials a relay address, runs the Noise NK handshake (package link) with the
// relay key the address carries, and deposits, fetches and acks with
// retries.
//
// Retries are safe because every request is idempotent at the relay:
//
//   - A retried DEPOSIT resends the very same message (same stamp), and the
//     relay answers a deposit it already holds with the first receipt
//     (Receipt.Duplicate), storing nothing new. A deposit refused with
//     CodeStaleStamp or CodeFutureStamp was not stored, so the client
//     re-syncs its clock to the relay's and solves a new stamp once.
//   - FETCH does not delete; ACK of an already deleted id does nothing.
//
// A Client holds one connection and runs one request at a time; it is safe
// for concurrent use (requests queue). For parallel requests use several
// Clients.
package client

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/proto"
)

// Defaults.
const (
	// DefaultRetries is how many times a failed request is retried.
	DefaultRetries = 4
	// DefaultBackoff is the first wait before a retry; each retry doubles
	// it, up to MaxBackoff.
	DefaultBackoff = 100 * time.Millisecond
	// MaxBackoff caps the wait between retries.
	MaxBackoff = 5 * time.Second
	// DefaultRequestTimeout bounds one attempt: writing a request and
	// reading its response.
	DefaultRequestTimeout = time.Minute
)

// ErrClosed is returned after Close.
var ErrClosed = errors.New("client: closed")

// ErrProtocol is returned when the relay answers with a message that does
// not fit the request. The connection is dropped.
var ErrProtocol = errors.New("client: unexpected response from relay")

// Config says which relay to use and how.
type Config struct {
	// Address is the relay's address; its key authenticates the relay.
	Address addr.Address
	// AccessKey is sent in the hello; needed for a private relay.
	AccessKey *proto.AccessKey
	// Dial opens the TCP connection (through Tor, for the bridge); nil
	// means net.Dialer.DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// HandshakeTimeout bounds the Noise handshake; zero means
	// link.DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// RequestTimeout bounds one attempt; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Retries is how many times a request is retried after a network
	// failure or a retryable code; zero means DefaultRetries, negative
	// means none.
	Retries int
	// Backoff is the first wait between retries; zero means
	// DefaultBackoff.
	Backoff time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the source of Noise ephemeral keys; nil means crypto/rand.
	Rand io.Reader
}

// Client talks to one relay.
type Client struct {
	cfg Config

	mu      sync.Mutex
	closed  bool
	lc      *link.Conn
	welcome *proto.Welcome
	offset  time.Duration // relay clock minus ours, at the last handshake
}

// New checks cfg and returns a Client that connects on first use.
func New(cfg Config) (*Client, error) {
	if cfg.Address.Key.IsZero() || cfg.Address.Port == 0 {
		return nil, errors.New("client: relay address required")
	}
	if cfg.HandshakeTimeout < 0 || cfg.RequestTimeout < 0 || cfg.Backoff < 0 {
		return nil, errors.New("client: negative timeout")
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Retries == 0 {
		cfg.Retries = DefaultRetries
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Client{cfg: cfg}, nil
}

// Dial returns a Client connected to the relay.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.connect(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the connection. Requests after Close fail with ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	c.drop()
	return nil
}

// Welcome returns the relay's policy from the current connection,
// connecting if needed.
func (c *Client) Welcome(ctx context.Context) (proto.Welcome, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return proto.Welcome{}, ErrClosed
	}
	w, err := c.connect(ctx)
	if err != nil {
		return proto.Welcome{}, err
	}
	return *w, nil
}

func (c *Client) drop() {
	if c.lc != nil {
		c.lc.Close()
		c.lc, c.welcome = nil, nil
	}
}

// connect dials and handshakes unless connected. The caller holds mu.
func (c *Client) connect(ctx context.Context) (*proto.Welcome, error) {
	if c.lc != nil {
		return c.welcome, nil
	}
	nc, err := c.cfg.Dial(ctx, "tcp", c.cfg.Address.HostPort())
	if err != nil {
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hello := (&proto.Hello{AccessKey: c.cfg.AccessKey}).Marshal()
	lc, wb, err := link.Client(nc, c.cfg.Address.Key, hello, link.Config{
		HandshakeTimeout: c.cfg.HandshakeTimeout,
		MaxRead:          proto.MaxResponseSize,
		MaxWrite:         proto.MaxRequestSize,
		Rand:             c.cfg.Rand,
	})
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("client: handshake: %w", err)
	}
	w, err := proto.ParseWelcome(wb)
	if err != nil {
		lc.Close()
		return nil, fmt.Errorf("client: welcome: %w", err)
	}
	if w.Code != proto.CodeOK {
		lc.Close()
		return nil, fmt.Errorf("client: relay refused the connection: %w", w.Code)
	}
	local := c.cfg.Now()
	c.offset = time.Unix(int64(w.Time), 0).Sub(local.Truncate(time.Second))
	c.lc, c.welcome = lc, w
	return w, nil
}

// roundTrip sends one request on the current connection and reads its
// response. A network or link failure drops the connection. The caller
// holds mu.
func (c *Client) roundTrip(ctx context.Context, msg []byte) (proto.Response, error) {
	if _, err := c.connect(ctx); err != nil {
		return nil, err
	}
	nc := c.lc.NetConn()
	deadline := time.Now().Add(c.cfg.RequestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := c.lc.WriteMessage(msg); err != nil {
		c.drop()
		return nil, c.ctxErr(ctx, err)
	}
	b, err := c.lc.ReadMessage()
	if err != nil {
		c.drop()
		return nil, c.ctxErr(ctx, err)
	}
	resp, err := proto.ParseResponse(b)
	if err != nil {
		c.drop()
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if e, ok := resp.(*proto.Error); ok {
		return nil, fmt.Errorf("client: %w", e.Code)
	}
	return resp, nil
}

func (c *Client) ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("client: %w", err)
}

// retryable reports whether a failed attempt may be repeated unchanged: a
// network or link failure, or a code the relay marks retryable. A refusal
// by code, a protocol error or a canceled context is final.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, ErrProtocol) || errors.Is(err, ErrClosed) {
		return false
	}
	var code proto.Code
	if errors.As(err, &code) {
		return code.Retryable()
	}
	return true
}

// sleep waits for the n-th backoff or ctx.
func (c *Client) sleep(ctx context.Context, n int) error {
	d := c.cfg.Backoff << min(n, 16)
	t := time.NewTimer(min(d, MaxBackoff))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// do runs one request with retries. build makes the message for attempt n
// (it may change it, as Deposit does after a clock refusal).
func (c *Client) do(ctx context.Context, build func(attempt int, err error) ([]byte, error)) (proto.Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var last error
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		if c.closed {
			return nil, ErrClosed
		}
		if attempt > 0 {
			if err := c.sleep(ctx, attempt-1); err != nil {
				return nil, err
			}
		}
		msg, err := build(attempt, last)
		if err != nil {
			if retryable(ctx, err) {
				last = err
				continue
			}
			return nil, err
		}
		resp, err := c.roundTrip(ctx, msg)
		if err == nil {
			return resp, nil
		}
		last = err
		if !retryable(ctx, err) && !retryStamp(err) {
			return nil, err
		}
	}
	return nil, last
}

// retryStamp reports whether a deposit refused for its stamp's time may be
// retried with a new stamp (see Deposit).
func retryStamp(err error) bool {
	return errors.Is(err, proto.CodeStaleStamp) || errors.Is(err, proto.CodeFutureStamp)
}

// Deposit stores blob under token at the relay and returns once the relay
// has it durably. It solves the relay's proof of work first (about 0.3 s at
// the default difficulty on the reference machine), stamped in the relay's
// time. Retries resend the same deposit; a refusal for the stamp's time
// re-syncs the clock and solves again, once.
func (c *Client) Deposit(ctx context.Context, token address.Token, blob []byte) (proto.Receipt, error) {
	blobHash := sha256.Sum256(blob)
	var msg []byte
	resolved := false
	resp, err := c.do(ctx, func(attempt int, last error) ([]byte, error) {
		if msg != nil && retryStamp(last) {
			if resolved {
				return nil, last
			}
			// Refused for the stamp's time, so not stored: a new
			// handshake brings the relay's clock, and a new stamp.
			resolved = true
			c.drop()
			msg = nil
		}
		if msg != nil {
			return msg, nil // the same deposit: the relay deduplicates it
		}
		w, err := c.connect(ctx)
		if err != nil {
			return nil, err
		}
		if len(blob) == 0 || len(blob) > int(w.MaxBlob) {
			return nil, fmt.Errorf("client: blob of %d bytes: %w", len(blob), proto.CodeTooLarge)
		}
		st, err := pow.Solve(ctx, token, blobHash, c.cfg.Now().Add(c.offset), w.PowBits)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		msg = (&proto.Deposit{Token: token, Stamp: st, Blob: blob}).Marshal()
		return msg, nil
	})
	if err != nil {
		return proto.Receipt{}, err
	}
	r, ok := resp.(*proto.Receipt)
	if !ok {
		c.mu.Lock()
		c.drop()
		c.mu.Unlock()
		return proto.Receipt{}, ErrProtocol
	}
	return *r, nil
}

// Fetch returns up to limit items stored under tokens (1..proto.MaxFetchTokens
// distinct tokens, limit 1..proto.MaxFetchItems). Items stay at the relay
// until acked.
func (c *Client) Fetch(ctx context.Context, tokens []address.Token, limit int) (*proto.Items, error) {
	if limit < 1 || limit > proto.MaxFetchItems || len(tokens) > proto.MaxFetchTokens {
		return nil, fmt.Errorf("client: fetch of %d tokens, limit %d: %w", len(tokens), limit, proto.CodeMalformed)
	}
	msg := (&proto.Fetch{Limit: uint16(limit), Tokens: tokens}).Marshal()
	if _, err := proto.ParseFetch(msg); err != nil { // no tokens, or one twice
		return nil, fmt.Errorf("client: fetch: %w", proto.CodeMalformed)
	}
	resp, err := c.do(ctx, func(int, error) ([]byte, error) { return msg, nil })
	if err != nil {
		return nil, err
	}
	items, ok := resp.(*proto.Items)
	if !ok || len(items.Items) > limit {
		return nil, c.protocolError()
	}
	for _, it := range items.Items {
		if !containsToken(tokens, it.Token) {
			return nil, c.protocolError()
		}
	}
	return items, nil
}

func containsToken(tokens []address.Token, t address.Token) bool {
	for i := range tokens {
		if tokens[i] == t {
			return true
		}
	}
	return false
}

// Ack deletes the items ids (strictly increasing, 1..proto.MaxAckIDs) under
// token and returns how many the relay deleted. Acking an already deleted id
// is not an error.
func (c *Client) Ack(ctx context.Context, token address.Token, ids []uint64) (int, error) {
	msg := (&proto.Ack{Token: token, IDs: ids}).Marshal()
	if len(ids) > proto.MaxAckIDs {
		return 0, fmt.Errorf("client: ack of %d ids: %w", len(ids), proto.CodeMalformed)
	}
	if _, err := proto.ParseAck(msg); err != nil {
		return 0, fmt.Errorf("client: ack: %w", proto.CodeMalformed)
	}
	resp, err := c.do(ctx, func(int, error) ([]byte, error) { return msg, nil })
	if err != nil {
		return 0, err
	}
	a, ok := resp.(*proto.Acked)
	if !ok || int(a.Count) > len(ids) {
		return 0, c.protocolError()
	}
	return int(a.Count), nil
}

// Ping checks the link and returns the relay's clock.
func (c *Client) Ping(ctx context.Context) (time.Time, error) {
	resp, err := c.do(ctx, func(int, error) ([]byte, error) { return (&proto.Ping{}).Marshal(), nil })
	if err != nil {
		return time.Time{}, err
	}
	p, ok := resp.(*proto.Pong)
	if !ok {
		return time.Time{}, c.protocolError()
	}
	return time.Unix(int64(p.Time), 0), nil
}

func (c *Client) protocolError() error {
	c.mu.Lock()
	c.drop()
	c.mu.Unlock()
	return ErrProtocol
}
