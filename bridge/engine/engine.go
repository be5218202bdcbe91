// Package engine is the bridge's messaging engine (DESIGN.md §Bridge,
// docs/NATIVE_MESSAGING.md "Methods and events"): it owns one open profile
// database and turns the protocol core (core/session, core/invite,
// core/prekey, core/identity) into the operations the extension calls —
// identity, invites, first contact, contacts and safety numbers, sending
// through a committed outbox, and receiving by polling the relay.
//
// Ordering rules it keeps (DESIGN.md, invariants):
//   - every outgoing message is committed to the outbox together with the
//     advanced conversation state before any network I/O, and resent from
//     there after a crash;
//   - every received message is committed (message, conversation state, seen
//     id) before it is acknowledged to the relay;
//   - no result or event carries secret material.
//
// The engine's background loops (outbox and poll) are started by Start and
// owned by the Engine: Close cancels them and waits for them.
package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/proto"
)

// Error codes of engine errors (docs/NATIVE_MESSAGING.md, method codes).
const (
	CodeNoIdentity    = "no_identity"
	CodeExists        = "exists"
	CodeNotFound      = "not_found"
	CodeNoRelay       = "no_relay"
	CodeKeyChanged    = "key_changed"
	CodeNoSession     = "no_session"
	CodeInvalidInvite = "invalid_invite"
	CodeInvalidParams = "invalid_params"
	CodePinState      = "pin_state"
)

// Error is an engine failure meant for the extension: a code from the list
// above and an English message without secret material.
type Error struct {
	Code    string
	Message string
}

// Error implements error.
func (e *Error) Error() string { return "engine: " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Relay is what the engine needs of a relay connection; *client.Client
// implements it.
type Relay interface {
	Deposit(ctx context.Context, token address.Token, blob []byte) (proto.Receipt, error)
	Fetch(ctx context.Context, tokens []address.Token, limit int) (*proto.Items, error)
	Ack(ctx context.Context, token address.Token, ids []uint64) (int, error)
	Close() error
}

// Defaults.
const (
	DefaultPollInterval   = 5 * time.Second
	DefaultRetryBase      = time.Second
	DefaultRetryMax       = 5 * time.Minute
	DefaultPrekeyLifetime = 30 * 24 * time.Hour
	DefaultOneTimePrekeys = 20
	// MaxTextSize bounds a message's text as the API accepts it.
	MaxTextSize = 16 << 10
	// fetchLimit is the most items asked for in one FETCH.
	fetchLimit = 64
	// maxFetchRounds bounds the FETCH rounds of one poll.
	maxFetchRounds = 8
	// outboxBatch is the most outbox items sent per round.
	outboxBatch = 16
	// maxInvitesPolled bounds the first-contact mailboxes polled.
	maxInvitesPolled = 32
)

// Config wires an Engine.
type Config struct {
	// DB is the open profile database. The engine does not close it.
	DB *store.DB
	// Dial returns a connection to the relay at address (a
	// parley-relay:// address); nil means client.New with the address.
	Dial func(address string) (Relay, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand is the randomness source; nil means crypto/rand.
	Rand io.Reader
	// Emit receives events (name and data, see the Event types); nil
	// drops them. It must not block for long.
	Emit func(name string, data any)
	// PollInterval is the mean time between polls (jittered by ±25%).
	PollInterval time.Duration
	// RetryBase and RetryMax bound the outbox's exponential backoff.
	RetryBase, RetryMax time.Duration
	// PrekeyLifetime and OneTimePrekeys shape identity.create's prekeys.
	PrekeyLifetime time.Duration
	OneTimePrekeys int
	// CoverInterval is the mean time between cover deposits while cover
	// traffic is on (jittered by ±25%); zero means DefaultCoverInterval.
	CoverInterval time.Duration
	// Logger gets failures (never message text or keys); nil discards.
	Logger *slog.Logger
}

// Engine runs one profile. It is safe for concurrent use.
type Engine struct {
	cfg    Config
	db     *store.DB
	now    func() time.Time
	rand   io.Reader
	log    *slog.Logger
	kickCh chan struct{}
	pollCh chan struct{}

	mu      sync.Mutex
	relays  map[string]Relay
	relayUp *bool  // nil: not tried yet
	inUse   string // the relay of the last successful exchange
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  bool
}

// New returns an Engine over cfg.DB. Call Start to run its loops.
func New(cfg Config) (*Engine, error) {
	if cfg.DB == nil {
		return nil, errors.New("engine: no database")
	}
	e := &Engine{cfg: cfg, db: cfg.DB, now: cfg.Now, rand: cfg.Rand, log: cfg.Logger,
		kickCh: make(chan struct{}, 1), pollCh: make(chan struct{}, 1), relays: map[string]Relay{}}
	if e.now == nil {
		e.now = time.Now
	}
	if e.rand == nil {
		e.rand = rand.Reader
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.cfg.Dial == nil {
		e.cfg.Dial = dialClient
	}
	if e.cfg.PollInterval <= 0 {
		e.cfg.PollInterval = DefaultPollInterval
	}
	if e.cfg.RetryBase <= 0 {
		e.cfg.RetryBase = DefaultRetryBase
	}
	if e.cfg.RetryMax <= 0 {
		e.cfg.RetryMax = DefaultRetryMax
	}
	if e.cfg.PrekeyLifetime <= 0 {
		e.cfg.PrekeyLifetime = DefaultPrekeyLifetime
	}
	if e.cfg.CoverInterval <= 0 {
		e.cfg.CoverInterval = DefaultCoverInterval
	}
	if e.cfg.OneTimePrekeys <= 0 {
		e.cfg.OneTimePrekeys = DefaultOneTimePrekeys
	}
	return e, nil
}

func dialClient(address string) (Relay, error) {
	a, err := addr.Parse(address)
	if err != nil {
		return nil, err
	}
	return client.New(client.Config{Address: a, Retries: 2, Backoff: 200 * time.Millisecond})
}

// Start runs the engine's background loops (outbox sender, poller and cover
// traffic) until
// Close. ctx bounds them too.
func (e *Engine) Start(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil || e.closed {
		return
	}
	ctx, e.cancel = context.WithCancel(ctx)
	e.wg.Add(3)
	go func() { defer e.wg.Done(); e.outboxLoop(ctx) }()
	go func() { defer e.wg.Done(); e.pollLoop(ctx) }()
	go func() { defer e.wg.Done(); e.coverLoop(ctx) }()
}

// Close stops the loops, waits for them and closes the relay connections.
// The database stays open (its owner closes it).
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	cancel := e.cancel
	e.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	e.wg.Wait()
	e.mu.Lock()
	defer e.mu.Unlock()
	for k, r := range e.relays {
		r.Close()
		delete(e.relays, k)
	}
	return nil
}

// PollNow asks the poll loop to poll at once.
func (e *Engine) PollNow() { signal(e.pollCh) }

func (e *Engine) kick() { signal(e.kickCh) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// relay returns the cached connection for address.
func (e *Engine) relay(address string) (Relay, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errors.New("engine: closed")
	}
	if r, ok := e.relays[address]; ok {
		return r, nil
	}
	r, err := e.cfg.Dial(address)
	if err != nil {
		return nil, err
	}
	e.relays[address] = r
	return r, nil
}

// setRelayUp records whether the last relay exchange worked and emits
// status.changed when that changes.
func (e *Engine) setRelayUp(ok bool) {
	e.mu.Lock()
	changed := e.relayUp == nil || *e.relayUp != ok
	e.relayUp = &ok
	e.mu.Unlock()
	if changed {
		if st, err := e.Status(context.Background()); err == nil {
			e.emit(EventStatusChanged, st)
		}
	}
}

// setInUse records which relay the last successful exchange went to and
// emits status.changed when that changes (failover and back are never
// silent).
func (e *Engine) setInUse(address string) {
	e.mu.Lock()
	changed := e.inUse != address
	e.inUse = address
	e.mu.Unlock()
	if changed {
		if st, err := e.Status(context.Background()); err == nil {
			e.emit(EventStatusChanged, st)
		}
	}
}

// alternate returns the second relay to try when address is unreachable:
// the user's second relay, only for the user's primary relay, only if the
// user configured one; "" otherwise.
func (e *Engine) alternate(ctx context.Context, address string) string {
	var alt string
	_ = e.db.View(ctx, func(tx *store.Tx) error {
		s, err := readSettings(tx)
		if err == nil && s.Relay2 != "" && s.Relay == address {
			alt = s.Relay2
		}
		return err
	})
	return alt
}

func (e *Engine) emit(name string, data any) {
	if e.cfg.Emit != nil {
		e.cfg.Emit(name, data)
	}
}

// jitter returns d scaled by a random factor in [0.75, 1.25).
func (e *Engine) jitter(d time.Duration) time.Duration {
	n, err := rand.Int(e.rand, big.NewInt(1000))
	if err != nil {
		return d
	}
	return d*3/4 + time.Duration(int64(d)/2*n.Int64()/1000)
}

// sleep waits d or until ctx ends or ch fires; false when ctx ended.
func sleep(ctx context.Context, d time.Duration, ch <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-ch:
	}
	return true
}
