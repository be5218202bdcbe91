// Package policy holds a relay's admission rules (docs/PROTOCOL.md §Relay,
// "Policy"): the proof-of-work difficulty checked with core/pow, the blob
// size cap, per-token and total quotas, the connection limit and the
// optional access key of a private relay.
//
// Every limit here is enforced, none is advisory: each refusal maps to its
// own proto.Code, which the server counts and sends. The quotas are checked
// twice: cheaply here before the stamp is spent, and exactly by the store
// inside its commit.
package policy

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/store"
)

// Defaults for a public relay.
const (
	// DefaultTTL is how long an unacked item is kept.
	DefaultTTL = 7 * 24 * time.Hour
	// MaxTTL bounds Config.TTL.
	MaxTTL = 90 * 24 * time.Hour
	// DefaultQuotaPerToken is the most items one mailbox token may hold.
	DefaultQuotaPerToken = 1000
	// DefaultQuotaTotal is the most blob bytes the relay stores.
	DefaultQuotaTotal = 1 << 30
	// DefaultMaxConns is the connection limit.
	DefaultMaxConns = 1024
	// MaxMaxConns bounds Config.MaxConns.
	MaxMaxConns = 1 << 20
)

// ErrReplay is returned by CheckDeposit for a stamp the verifier accepted
// before. It is not a refusal: the same deposit may be retried (its
// response was lost), so the server hands it to the store, which answers
// with the first receipt and stores nothing new.
var ErrReplay = errors.New("policy: stamp seen before")

// Config is a relay's policy.
type Config struct {
	// PowBits is the stamp difficulty, 1..pow.MaxBits.
	PowBits uint8
	// PowMaxAge and PowMaxSkew bound a stamp's time; zero means
	// pow.DefaultMaxAge and pow.DefaultMaxSkew.
	PowMaxAge, PowMaxSkew time.Duration
	// PowCacheSize is the replay cache capacity; zero means
	// pow.DefaultCacheSize.
	PowCacheSize int
	// MaxBlob is the largest blob stored, 1..wire.MaxBlobSize.
	MaxBlob int
	// TTL is how long an unacked item is kept, 1s..MaxTTL, whole seconds.
	TTL time.Duration
	// QuotaPerToken is the most items one token may hold, at least 1.
	QuotaPerToken int
	// QuotaTotal is the most blob bytes stored, at least MaxBlob.
	QuotaTotal int64
	// MaxConns is the most simultaneous connections, 1..MaxMaxConns.
	MaxConns int
	// AccessKey makes the relay private: a client's hello must carry it.
	// Nil means a public relay.
	AccessKey *proto.AccessKey
}

// Default returns the policy of a public relay: pow.DefaultBits,
// wire.MaxBlobSize, DefaultTTL, DefaultQuotaPerToken, DefaultQuotaTotal,
// DefaultMaxConns.
func Default() Config {
	return Config{
		PowBits:       pow.DefaultBits,
		MaxBlob:       wire.MaxBlobSize,
		TTL:           DefaultTTL,
		QuotaPerToken: DefaultQuotaPerToken,
		QuotaTotal:    DefaultQuotaTotal,
		MaxConns:      DefaultMaxConns,
	}
}

// Policy applies a Config. It is safe for concurrent use.
type Policy struct {
	cfg      Config
	verifier *pow.Verifier
	conns    atomic.Int64
}

// New checks cfg and returns its Policy.
func New(cfg Config) (*Policy, error) {
	if cfg.PowMaxAge == 0 {
		cfg.PowMaxAge = pow.DefaultMaxAge
	}
	if cfg.PowMaxSkew == 0 {
		cfg.PowMaxSkew = pow.DefaultMaxSkew
	}
	if cfg.PowCacheSize == 0 {
		cfg.PowCacheSize = pow.DefaultCacheSize
	}
	switch {
	case cfg.MaxBlob < 1 || cfg.MaxBlob > wire.MaxBlobSize:
		return nil, fmt.Errorf("policy: max blob %d not in 1..%d", cfg.MaxBlob, wire.MaxBlobSize)
	case cfg.TTL < time.Second || cfg.TTL > MaxTTL || cfg.TTL%time.Second != 0:
		return nil, fmt.Errorf("policy: ttl %v not whole seconds in 1s..%v", cfg.TTL, MaxTTL)
	case cfg.QuotaPerToken < 1 || cfg.QuotaPerToken > 1<<31-1:
		return nil, fmt.Errorf("policy: quota per token %d out of range", cfg.QuotaPerToken)
	case cfg.QuotaTotal < int64(cfg.MaxBlob):
		return nil, fmt.Errorf("policy: total quota %d below max blob %d", cfg.QuotaTotal, cfg.MaxBlob)
	case cfg.MaxConns < 1 || cfg.MaxConns > MaxMaxConns:
		return nil, fmt.Errorf("policy: max connections %d not in 1..%d", cfg.MaxConns, MaxMaxConns)
	}
	v, err := pow.NewVerifier(pow.VerifierConfig{
		Bits: cfg.PowBits, MaxAge: cfg.PowMaxAge, MaxSkew: cfg.PowMaxSkew, CacheSize: cfg.PowCacheSize,
	})
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return &Policy{cfg: cfg, verifier: v}, nil
}

// Config returns the policy's configuration, defaults filled in.
func (p *Policy) Config() Config { return p.cfg }

// StoreLimits returns the limits the store enforces for this policy. The
// dedupe window covers every stamp the verifier could still accept.
func (p *Policy) StoreLimits() store.Limits {
	return store.Limits{
		TTL:              p.cfg.TTL,
		MaxItemsPerToken: p.cfg.QuotaPerToken,
		MaxTotalBytes:    p.cfg.QuotaTotal,
		DedupeWindow:     p.cfg.PowMaxAge + p.cfg.PowMaxSkew,
	}
}

// CheckHello admits or refuses a client by its hello. A private relay
// compares the access key in constant time; a missing key is refused the
// same way as a wrong one. A public relay ignores any key sent.
func (p *Policy) CheckHello(h *proto.Hello) proto.Code {
	if p.cfg.AccessKey == nil {
		return proto.CodeOK
	}
	if !p.cfg.AccessKey.Equal(h.AccessKey) {
		return proto.CodeAccessDenied
	}
	return proto.CodeOK
}

// Welcome returns the welcome for an admitted client at time now.
func (p *Policy) Welcome(now time.Time) *proto.Welcome {
	return &proto.Welcome{
		PowBits:       p.cfg.PowBits,
		MaxBlob:       uint32(p.cfg.MaxBlob),
		TTL:           uint32(p.cfg.TTL / time.Second),
		QuotaPerToken: uint32(p.cfg.QuotaPerToken),
		Time:          uint64(max(now.Unix(), 1)),
	}
}

// CheckDeposit runs the deposit rules cheapest first: the blob size cap
// (CodeTooLarge), the total quota against usage (CodeQuotaTotal), then the
// stamp (CodeInsufficientWork, CodeStaleStamp, CodeFutureStamp, CodeBusy;
// a zero clock is CodeInternal). The stamp is spent only if every earlier
// check passed. A stamp seen before returns ErrReplay. Refusals are
// proto.Codes (wrapped).
func (p *Policy) CheckDeposit(d *proto.Deposit, blobHash [32]byte, usage store.Usage, now time.Time) error {
	if len(d.Blob) > p.cfg.MaxBlob {
		return fmt.Errorf("policy: blob of %d bytes: %w", len(d.Blob), proto.CodeTooLarge)
	}
	if usage.Bytes+uint64(len(d.Blob)) > uint64(p.cfg.QuotaTotal) {
		return fmt.Errorf("policy: %w", proto.CodeQuotaTotal)
	}
	err := p.verifier.Verify(d.Token, blobHash, d.Stamp, now)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pow.ErrReplay):
		return ErrReplay
	case errors.Is(err, pow.ErrInsufficientWork):
		return fmt.Errorf("policy: %w", proto.CodeInsufficientWork)
	case errors.Is(err, pow.ErrStale):
		return fmt.Errorf("policy: %w", proto.CodeStaleStamp)
	case errors.Is(err, pow.ErrFuture):
		return fmt.Errorf("policy: %w", proto.CodeFutureStamp)
	case errors.Is(err, pow.ErrBusy):
		return fmt.Errorf("policy: %w", proto.CodeBusy)
	case errors.Is(err, wire.ErrMalformed):
		return fmt.Errorf("policy: %w", proto.CodeMalformed)
	}
	return fmt.Errorf("policy: verify stamp: %v: %w", err, proto.CodeInternal)
}

// Admit takes a connection slot; it returns false when MaxConns
// connections are open. Each true must be matched by one Release.
func (p *Policy) Admit() bool {
	for {
		n := p.conns.Load()
		if n >= int64(p.cfg.MaxConns) {
			return false
		}
		if p.conns.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Release returns a connection slot taken by Admit.
func (p *Policy) Release() { p.conns.Add(-1) }

// Conns returns the number of connection slots taken.
func (p *Policy) Conns() int { return int(p.conns.Load()) }

// StampsCached returns the number of entries in the stamp replay cache.
func (p *Policy) StampsCached() int { return p.verifier.Len() }
