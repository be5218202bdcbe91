package pow

import (
	"fmt"
	"sync"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/wire"
)

// VerifierConfig is a relay's proof-of-work policy.
type VerifierConfig struct {
	// Bits is the difficulty every stamp must claim and have: 1..MaxBits.
	Bits uint8
	// MaxSkew is how far in the future a stamp's time may be (a client
	// clock running fast): at least 0, whole seconds.
	MaxSkew time.Duration
	// MaxAge is how far in the past a stamp's time may be: at least one
	// second, whole seconds.
	MaxAge time.Duration
	// CacheSize is the replay cache capacity: 1..MaxCacheSize.
	CacheSize int
}

// DefaultVerifierConfig returns the default policy: DefaultBits,
// DefaultMaxSkew, DefaultMaxAge, DefaultCacheSize.
func DefaultVerifierConfig() VerifierConfig {
	return VerifierConfig{Bits: DefaultBits, MaxSkew: DefaultMaxSkew, MaxAge: DefaultMaxAge, CacheSize: DefaultCacheSize}
}

// Verifier checks stamps and rejects replays. It is safe for concurrent use.
//
// The replay cache holds the digest of every accepted stamp until the stamp
// would be rejected as stale anyway. Entries leave in insertion order: an
// entry inserted when the verifier's clock read T expires once it reads more
// than T + MaxSkew + MaxAge, since the stamp's own time is at most
// T + MaxSkew. The cache never holds more than CacheSize entries. When it is
// full of live entries, Verify fails closed with ErrBusy: forgetting a live
// entry would let its stamp be replayed.
//
// The verifier's clock never runs backwards: it keeps the latest time it was
// given, and a stamp older than MaxAge relative to that time is stale even if
// a later call's now is earlier. So a clock stepped back cannot revive a
// stamp whose entry has already expired.
type Verifier struct {
	bits uint8
	skew uint64 // seconds
	age  uint64 // seconds
	size int

	mu     sync.Mutex
	latest uint64 // the latest now seen, Unix seconds
	seen   map[[32]byte]struct{}
	ring   []entry // FIFO of entries, oldest at head; grows up to size
	head   int
	n      int
}

type entry struct {
	digest  [32]byte
	expires uint64 // Unix seconds; the entry is dropped once latest > expires
}

// NewVerifier checks cfg and returns a Verifier with an empty cache. It
// returns ErrConfig (wrapped) for a field out of range.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	switch {
	case cfg.Bits < 1 || cfg.Bits > MaxBits:
		return nil, fmt.Errorf("%w: bits %d not in 1..%d", ErrConfig, cfg.Bits, MaxBits)
	case cfg.MaxSkew < 0 || cfg.MaxSkew%time.Second != 0:
		return nil, fmt.Errorf("%w: max skew %v", ErrConfig, cfg.MaxSkew)
	case cfg.MaxAge < time.Second || cfg.MaxAge%time.Second != 0:
		return nil, fmt.Errorf("%w: max age %v", ErrConfig, cfg.MaxAge)
	case cfg.CacheSize < 1 || cfg.CacheSize > MaxCacheSize:
		return nil, fmt.Errorf("%w: cache size %d not in 1..%d", ErrConfig, cfg.CacheSize, MaxCacheSize)
	}
	return &Verifier{
		bits: cfg.Bits,
		skew: uint64(cfg.MaxSkew / time.Second),
		age:  uint64(cfg.MaxAge / time.Second),
		size: cfg.CacheSize,
		seen: make(map[[32]byte]struct{}),
	}, nil
}

// Verify checks st for a deposit of a blob whose SHA-256 is blobHash under
// token, at time now, and records it (docs/PROTOCOL.md §Proof of work,
// step 3). The checks run cheapest first:
//
//  1. now is set (ErrClock);
//  2. st.Bits is at most MaxBits (wire.ErrMalformed) and at least the
//     verifier's Bits (ErrInsufficientWork);
//  3. st.Time is at most MaxSkew ahead of now (ErrFuture) and at most
//     MaxAge behind now (ErrStale);
//  4. the digest has st.Bits leading zero bits (ErrInsufficientWork);
//  5. under the lock: st.Time is at most MaxAge behind the latest time the
//     verifier has seen (ErrStale); the digest was not accepted before
//     (ErrReplay); the cache has room after expired entries are dropped
//     (ErrBusy). Then the digest is recorded.
//
// A stamp is consumed when Verify accepts it: a relay should run its own
// cheap checks (sizes, quotas) first, and a client whose deposit failed
// afterwards makes a new stamp (Parley's relay instead answers a resent deposit
// with its original receipt: docs/PROTOCOL.md §Relay).
func (v *Verifier) Verify(token address.Token, blobHash [32]byte, st Stamp, now time.Time) error {
	t, err := unixSeconds(now)
	if err != nil {
		return err
	}
	if st.Bits > MaxBits {
		return fmt.Errorf("pow: verify: %w", wire.ErrMalformed)
	}
	if st.Bits < v.bits {
		return ErrInsufficientWork
	}
	if st.Time > t && st.Time-t > v.skew {
		return ErrFuture
	}
	if st.Time < t && t-st.Time > v.age {
		return ErrStale
	}
	d := st.Digest(token, blobHash)
	if leadingZeros(&d) < int(st.Bits) {
		return ErrInsufficientWork
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	if t > v.latest {
		v.latest = t
	}
	if st.Time < v.latest && v.latest-st.Time > v.age {
		return ErrStale
	}
	v.expire()
	if _, ok := v.seen[d]; ok {
		return ErrReplay
	}
	if v.n == v.size {
		return ErrBusy
	}
	v.push(entry{digest: d, expires: v.latest + v.skew + v.age})
	v.seen[d] = struct{}{}
	return nil
}

// expire drops every entry at the head of the FIFO that has expired. Each
// entry is pushed and dropped once, so the cost is O(1) amortised.
func (v *Verifier) expire() {
	for v.n > 0 && v.ring[v.head].expires < v.latest {
		delete(v.seen, v.ring[v.head].digest)
		v.ring[v.head] = entry{}
		v.head++
		if v.head == len(v.ring) {
			v.head = 0
		}
		v.n--
	}
}

// push appends e at the tail, growing the ring (doubling, at most to size)
// when it is full. The caller has checked that n < size.
func (v *Verifier) push(e entry) {
	if v.n == len(v.ring) {
		grown := make([]entry, min(max(2*len(v.ring), 16), v.size))
		for i := range v.n {
			grown[i] = v.ring[(v.head+i)%len(v.ring)]
		}
		v.ring, v.head = grown, 0
	}
	v.ring[(v.head+v.n)%len(v.ring)] = e
	v.n++
}

// Len returns the number of entries in the replay cache, expired or not.
func (v *Verifier) Len() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.n
}
