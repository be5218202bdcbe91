// Package pow implements Parley's hashcash proof of work (docs/PROTOCOL.md
// §Proof of work, protocol version 1; DESIGN §9).
//
// A client that deposits a blob at a relay attaches a Stamp: a time, a
// claimed difficulty and a nonce such that
//
//	SHA-256(LabelPoW || token || SHA-256(blob) || u64(time) || u8(bits) || u64(nonce))
//
// starts with at least bits zero bits. The stamp is bound to the mailbox
// token and to the blob, so work done for one deposit cannot be spent on
// another. A relay checks stamps with a Verifier, which enforces its
// difficulty, rejects stale and future stamps, and remembers accepted stamps
// in a replay cache of bounded size until they are stale anyway.
package pow

import (
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"math/bits"
	"runtime"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Sizes and limits.
const (
	// StampSize is the size of an encoded Stamp: header, u64 time, u8 bits,
	// u64 nonce.
	StampSize = wire.HeaderSize + 8 + 1 + 8
	// MaxBits is the largest difficulty a stamp may claim and Solve accepts.
	// 2^32 hashes is about ten minutes of one core; anything more is a
	// misconfiguration, not a policy.
	MaxBits = 32
	// DefaultBits is the difficulty of a default relay. One try costs about
	// 150 ns on the 2-core reference machine (BenchmarkHash), so 2^21
	// expected tries take about 0.3 s there and 0.15–0.3 s on a current
	// laptop. The number of tries is geometric: one stamp in twenty takes
	// three times the mean or more.
	DefaultBits = 21
	// DefaultMaxSkew is how far in the future a stamp's time may be.
	DefaultMaxSkew = 5 * time.Minute
	// DefaultMaxAge is how old a stamp may be: enough for solving, a slow Tor
	// circuit and one retry.
	DefaultMaxAge = 10 * time.Minute
	// DefaultCacheSize is the default replay cache capacity. A stamp is
	// remembered for at most MaxAge + MaxSkew (15 minutes by default), so
	// 2^18 entries sustain about 290 accepted deposits per second; the cache
	// costs about 100 bytes per entry.
	DefaultCacheSize = 1 << 18
	// MaxCacheSize bounds VerifierConfig.CacheSize.
	MaxCacheSize = 1 << 24
)

// Errors returned by Verify and Solve. Verify's errors tell a relay why it
// refuses a deposit; all of them mean "do not store the blob".
var (
	// ErrInsufficientWork: the stamp claims fewer bits than the verifier
	// requires, or its hash does not have the bits it claims (including a
	// stamp made for another token or blob).
	ErrInsufficientWork = errors.New("pow: insufficient work")
	// ErrStale: the stamp's time is more than MaxAge in the past.
	ErrStale = errors.New("pow: stale stamp")
	// ErrFuture: the stamp's time is more than MaxSkew in the future.
	ErrFuture = errors.New("pow: stamp from the future")
	// ErrClock: the time given is zero or not after the Unix epoch
	// (Unix time <= 0); fail closed.
	ErrClock = errors.New("pow: clock not set")
	// ErrReplay: this exact stamp (same token, blob, time, bits and nonce)
	// was accepted before.
	ErrReplay = errors.New("pow: replayed stamp")
	// ErrBusy: the replay cache is full of live entries; the verifier
	// refuses new stamps rather than forget old ones. The client may retry
	// later with a new stamp.
	ErrBusy = errors.New("pow: replay cache full")
	// ErrDifficulty: Solve was asked for more than MaxBits.
	ErrDifficulty = errors.New("pow: difficulty out of range")
	// ErrConfig: a VerifierConfig field is out of range.
	ErrConfig = errors.New("pow: invalid verifier configuration")
)

// Stamp is a proof of work for one deposit.
type Stamp struct {
	// Time is when the stamp was made, in Unix seconds.
	Time uint64
	// Bits is the difficulty the stamp claims; at most MaxBits.
	Bits uint8
	// Nonce is the solution.
	Nonce uint64
}

// Marshal returns the StampSize-byte encoding.
func (s *Stamp) Marshal() []byte {
	var b cryptobyte.Builder
	s.AddTo(&b)
	return b.BytesOrPanic()
}

// AddTo appends the encoding to b, for messages that embed a stamp:
// header (TagStamp, version) || u64 time || u8 bits || u64 nonce.
func (s *Stamp) AddTo(b *cryptobyte.Builder) {
	wire.AddHeader(b, wire.TagStamp)
	b.AddUint64(s.Time)
	b.AddUint8(s.Bits)
	b.AddUint64(s.Nonce)
}

// ParseStamp parses an encoded Stamp. It checks the size first and rejects
// a wrong header, trailing bytes and Bits > MaxBits.
func ParseStamp(b []byte) (*Stamp, error) {
	if len(b) != StampSize {
		return nil, fmt.Errorf("pow: parse stamp: %w", wire.ErrMalformed)
	}
	s := cryptobyte.String(b)
	st, err := ReadStamp(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, fmt.Errorf("pow: parse stamp: %w", wire.ErrMalformed)
	}
	return st, nil
}

// ReadStamp reads an embedded Stamp from s.
func ReadStamp(s *cryptobyte.String) (*Stamp, error) {
	if err := wire.ReadHeader(s, wire.TagStamp); err != nil {
		return nil, fmt.Errorf("pow: parse stamp: %w", err)
	}
	var st Stamp
	if !s.ReadUint64(&st.Time) || !s.ReadUint8(&st.Bits) || !s.ReadUint64(&st.Nonce) {
		return nil, fmt.Errorf("pow: parse stamp: %w", wire.ErrMalformed)
	}
	if st.Bits > MaxBits {
		return nil, fmt.Errorf("pow: parse stamp: %w", wire.ErrMalformed)
	}
	return &st, nil
}

// inputSize is the size of the hashed input; nonceOffset is where the nonce
// goes in it.
const (
	inputSize   = len(suite.LabelPoW) + address.TokenSize + sha256.Size + 8 + 1 + 8
	nonceOffset = inputSize - 8
	// midSize is the part of the input hashed once per stamp: every whole
	// SHA-256 block before the nonce.
	midSize = nonceOffset / sha256.BlockSize * sha256.BlockSize
)

// input writes LabelPoW || token || blobHash || u64(time) || u8(bits) ||
// u64(nonce) into buf.
func input(buf *[inputSize]byte, token *address.Token, blobHash *[32]byte, st *Stamp) {
	n := copy(buf[:], suite.LabelPoW)
	n += copy(buf[n:], token[:])
	n += copy(buf[n:], blobHash[:])
	binary.BigEndian.PutUint64(buf[n:], st.Time)
	buf[n+8] = st.Bits
	binary.BigEndian.PutUint64(buf[n+9:], st.Nonce)
}

// Digest returns the stamp's hash for token and blobHash
// (docs/PROTOCOL.md §Proof of work, step 1).
func (s *Stamp) Digest(token address.Token, blobHash [32]byte) [32]byte {
	var buf [inputSize]byte
	input(&buf, &token, &blobHash, s)
	return sha256.Sum256(buf[:])
}

// leadingZeros counts the leading zero bits of a digest, up to 64.
func leadingZeros(d *[32]byte) int {
	return bits.LeadingZeros64(binary.BigEndian.Uint64(d[:8]))
}

// unixSeconds returns now in Unix seconds, or ErrClock for a zero or
// time at or before the Unix epoch.
func unixSeconds(now time.Time) (uint64, error) {
	if now.IsZero() || now.Unix() <= 0 {
		return 0, ErrClock
	}
	return uint64(now.Unix()), nil
}

// solver hashes one try at a time from a saved SHA-256 midstate: the whole
// blocks before the nonce are compressed once, each try restores the state,
// writes the last partial block and finishes. No try allocates.
type solver struct {
	h    hash.Hash
	u    encoding.BinaryUnmarshaler
	mid  []byte
	buf  [inputSize]byte
	tail []byte
	sum  [sha256.Size]byte
}

func newSolver(token *address.Token, blobHash *[32]byte, st *Stamp) (*solver, error) {
	s := &solver{h: sha256.New()}
	input(&s.buf, token, blobHash, st)
	s.h.Write(s.buf[:midSize])
	m, ok1 := s.h.(encoding.BinaryMarshaler)
	u, ok2 := s.h.(encoding.BinaryUnmarshaler)
	if !ok1 || !ok2 {
		return nil, errors.New("pow: sha256 state cannot be saved")
	}
	mid, err := m.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("pow: save sha256 state: %w", err)
	}
	s.u, s.mid, s.tail = u, mid, s.buf[midSize:]
	return s, nil
}

// try returns the number of leading zero bits of the digest with nonce.
func (s *solver) try(nonce uint64) int {
	if err := s.u.UnmarshalBinary(s.mid); err != nil {
		panic("pow: restore sha256 state: " + err.Error()) // the state came from the same hash
	}
	binary.BigEndian.PutUint64(s.buf[nonceOffset:], nonce)
	s.h.Write(s.tail)
	s.h.Sum(s.sum[:0])
	return leadingZeros(&s.sum)
}

// checkEvery is how many tries Solve makes between looks at its context
// (about 10 ms).
const checkEvery = 1 << 16

// Solve finds a stamp of difficulty bits for a deposit of a blob whose
// SHA-256 is blobHash under token, stamped with now (docs/PROTOCOL.md §Proof
// of work, step 2). It tries nonces 0, 1, 2, … and returns the first that
// works, so it is deterministic. It returns ctx's error (wrapped) when ctx is
// done, ErrClock for a zero now and ErrDifficulty for bits > MaxBits.
func Solve(ctx context.Context, token address.Token, blobHash [32]byte, now time.Time, bits uint8) (Stamp, error) {
	if bits > MaxBits {
		return Stamp{}, ErrDifficulty
	}
	t, err := unixSeconds(now)
	if err != nil {
		return Stamp{}, err
	}
	st := Stamp{Time: t, Bits: bits}
	s, err := newSolver(&token, &blobHash, &st)
	if err != nil {
		return Stamp{}, err
	}
	want := int(bits)
	for nonce := uint64(0); ; nonce++ {
		if nonce%checkEvery == 0 {
			// Yield first: under js/wasm there is one thread and no
			// preemption, so a context's timer could otherwise never fire.
			runtime.Gosched()
			if err := ctx.Err(); err != nil {
				return Stamp{}, fmt.Errorf("pow: solve: %w", err)
			}
		}
		if s.try(nonce) >= want {
			st.Nonce = nonce
			return st, nil
		}
		if nonce == ^uint64(0) {
			// Unreachable for bits <= MaxBits except with probability
			// about exp(-2^32).
			return Stamp{}, errors.New("pow: solve: nonces exhausted")
		}
	}
}
