package pow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/internal/vectortest"
)

const vectorFile = "../../testdata/vectors/pow.json"

var t0 = time.Unix(1735689600, 0) // 2025-01-01T00:00:00Z

// inputs returns a deterministic token and blob hash.
func inputs(name string) (address.Token, [32]byte) {
	r := testrand.New(name)
	var tok address.Token
	var blob [100]byte
	r.Read(tok[:])
	r.Read(blob[:])
	return tok, sha256.Sum256(blob[:])
}

func solve(t testing.TB, tok address.Token, bh [32]byte, now time.Time, bits uint8) Stamp {
	t.Helper()
	st, err := Solve(context.Background(), tok, bh, now, bits)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func verifier(t testing.TB, bits uint8, size int) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Bits: bits, MaxSkew: time.Minute, MaxAge: 10 * time.Minute, CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestInputLayout pins the hashed input against a plain concatenation and
// checks that the midstate path computes the same digest.
func TestInputLayout(t *testing.T) {
	t.Parallel()
	tok, bh := inputs("pow/test/layout")
	st := Stamp{Time: 0x0102030405060708, Bits: 17, Nonce: 0x1112131415161718}
	var want []byte
	want = append(want, suite.LabelPoW...)
	want = append(want, tok[:]...)
	want = append(want, bh[:]...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8, 17, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18)
	var buf [inputSize]byte
	input(&buf, &tok, &bh, &st)
	if !bytes.Equal(buf[:], want) {
		t.Fatalf("input = %x\nwant    %x", buf, want)
	}
	d := st.Digest(tok, bh)
	if d != sha256.Sum256(want) {
		t.Fatal("Digest differs from SHA-256 of the input")
	}
	s, err := newSolver(&tok, &bh, &st)
	if err != nil {
		t.Fatal(err)
	}
	for _, nonce := range []uint64{0, 1, st.Nonce, ^uint64(0)} {
		s.try(nonce)
		st2 := st
		st2.Nonce = nonce
		if s.sum != st2.Digest(tok, bh) {
			t.Fatalf("midstate digest differs for nonce %d", nonce)
		}
	}
	if midSize == 0 || midSize%sha256.BlockSize != 0 || midSize > nonceOffset {
		t.Fatalf("midSize %d", midSize)
	}
}

func TestSolveVerify(t *testing.T) {
	t.Parallel()
	for _, bits := range []uint8{1, 4, 8, 12, 16} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			t.Parallel()
			tok, bh := inputs(fmt.Sprint("pow/test/solve/", bits))
			st := solve(t, tok, bh, t0, bits)
			if st.Time != uint64(t0.Unix()) || st.Bits != bits {
				t.Fatalf("stamp %+v", st)
			}
			d := st.Digest(tok, bh)
			if leadingZeros(&d) < int(bits) {
				t.Fatalf("digest %x has fewer than %d zero bits", d, bits)
			}
			// Solve returns the first nonce that works.
			for n := uint64(0); n < st.Nonce && n < 1<<12; n++ {
				st2 := st
				st2.Nonce = n
				d := st2.Digest(tok, bh)
				if leadingZeros(&d) >= int(bits) {
					t.Fatalf("nonce %d works but Solve returned %d", n, st.Nonce)
				}
			}
			if err := verifier(t, bits, 8).Verify(tok, bh, st, t0.Add(time.Second)); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func TestSolveErrors(t *testing.T) {
	t.Parallel()
	tok, bh := inputs("pow/test/solve-errors")
	if _, err := Solve(context.Background(), tok, bh, t0, MaxBits+1); !errors.Is(err, ErrDifficulty) {
		t.Errorf("bits > MaxBits: %v", err)
	}
	if _, err := Solve(context.Background(), tok, bh, time.Time{}, 8); !errors.Is(err, ErrClock) {
		t.Errorf("zero now: %v", err)
	}
	if _, err := Solve(context.Background(), tok, bh, time.Unix(-5, 0), 8); !errors.Is(err, ErrClock) {
		t.Errorf("pre-1970 now: %v", err)
	}
	if _, err := Solve(context.Background(), tok, bh, time.Unix(0, 0), 8); !errors.Is(err, ErrClock) {
		t.Errorf("unix-zero now: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Solve(ctx, tok, bh, t0, MaxBits); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	// A deadline stops a search that would take minutes.
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := Solve(ctx, tok, bh, t0, MaxBits); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("Solve took %v to notice its deadline", el)
	}
}

func TestStampEncoding(t *testing.T) {
	t.Parallel()
	st := Stamp{Time: 0x0102030405060708, Bits: 21, Nonce: 0xa1a2a3a4a5a6a7a8}
	enc := st.Marshal()
	want, _ := hex.DecodeString("50010102030405060708" + "15" + "a1a2a3a4a5a6a7a8")
	if !bytes.Equal(enc, want) || len(enc) != StampSize {
		t.Fatalf("encoding %x, want %x", enc, want)
	}
	got, err := ParseStamp(enc)
	if err != nil || *got != st {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for n := range len(enc) {
		if got, err := ParseStamp(enc[:n]); err == nil || got != nil || !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("truncation to %d: %v, %v", n, got, err)
		}
	}
	for _, extra := range []byte{0, 1, 0xff} {
		if got, err := ParseStamp(append(bytes.Clone(enc), extra)); err == nil || got != nil || !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("extension by %#x: %v, %v", extra, got, err)
		}
	}
	for _, tc := range []struct {
		name string
		mut  func([]byte)
		err  error
	}{
		{"wrong tag", func(b []byte) { b[0] = byte(wire.TagInvite) }, wire.ErrWrongType},
		{"wrong version", func(b []byte) { b[1] = 2 }, wire.ErrVersion},
		{"bits above MaxBits", func(b []byte) { b[10] = MaxBits + 1 }, wire.ErrMalformed},
		{"bits 255", func(b []byte) { b[10] = 255 }, wire.ErrMalformed},
	} {
		b := bytes.Clone(enc)
		tc.mut(b)
		if got, err := ParseStamp(b); got != nil || !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.err)
		}
	}
	// ReadStamp leaves what follows the stamp for the caller.
	s := append(bytes.Clone(enc), 0xee)
	cs := cryptobyte.String(s)
	if got, err := ReadStamp(&cs); err != nil || *got != st || len(cs) != 1 {
		t.Fatalf("ReadStamp: %+v, %v, %d left", got, err, len(cs))
	}
}

// TestBitFlips flips every bit of an encoded, valid stamp: each flip is
// rejected by ParseStamp or by Verify. Time, bits and nonce are all hashed,
// so a flip changes the digest (a flipped nonce could still succeed with
// probability 2^-16 per flip; the fixed inputs make the test deterministic).
func TestBitFlips(t *testing.T) {
	t.Parallel()
	tok, bh := inputs("pow/test/flips")
	st := solve(t, tok, bh, t0, 16)
	enc := st.Marshal()
	for i := range len(enc) * 8 {
		b := bytes.Clone(enc)
		b[i/8] ^= 1 << (i % 8)
		p, err := ParseStamp(b)
		if err != nil {
			continue
		}
		v := verifier(t, 16, 4)
		v.age, v.skew = 1<<62, 1<<62 // isolate the work check from the time window
		if err := v.Verify(tok, bh, *p, t0); err == nil {
			t.Errorf("flip of bit %d accepted: %+v", i, p)
		}
	}
	// The stamp is bound to the token and the blob.
	v := verifier(t, 16, 4)
	for i := range 256 {
		tok2, bh2 := tok, bh
		tok2[i/8] ^= 1 << (i % 8)
		bh2[i/8] ^= 1 << (i % 8)
		if err := v.Verify(tok2, bh, st, t0); !errors.Is(err, ErrInsufficientWork) {
			t.Errorf("token bit %d: %v", i, err)
		}
		if err := v.Verify(tok, bh2, st, t0); !errors.Is(err, ErrInsufficientWork) {
			t.Errorf("blob hash bit %d: %v", i, err)
		}
	}
	if err := v.Verify(tok, bh, st, t0); err != nil {
		t.Fatalf("original: %v", err)
	}
}

func TestVerifyRejections(t *testing.T) {
	t.Parallel()
	tok, bh := inputs("pow/test/reject")
	st := solve(t, tok, bh, t0, 10)
	// A stamp with too few zero bits for the 10 it claims.
	bad := st
	for {
		bad.Nonce++
		d := bad.Digest(tok, bh)
		if leadingZeros(&d) < 10 {
			break
		}
	}
	// A stale stamp with bad work: time is checked before hashing.
	staleBad := bad
	staleBad.Time -= 3600
	for _, tc := range []struct {
		name string
		st   Stamp
		now  time.Time
		err  error
	}{
		{"zero now", st, time.Time{}, ErrClock},
		{"pre-1970 now", st, time.Unix(-1, 0), ErrClock},
		{"unix-zero now", st, time.Unix(0, 0), ErrClock},
		{"claims fewer bits than required", Stamp{Time: st.Time, Bits: 9, Nonce: st.Nonce}, t0, ErrInsufficientWork},
		{"claims more than MaxBits", Stamp{Time: st.Time, Bits: MaxBits + 1, Nonce: st.Nonce}, t0, wire.ErrMalformed},
		{"hash lacks claimed bits", bad, t0, ErrInsufficientWork},
		{"claims more bits than it has", Stamp{Time: st.Time, Bits: 30, Nonce: st.Nonce}, t0, ErrInsufficientWork},
		{"stale", st, t0.Add(10*time.Minute + time.Second), ErrStale},
		{"stale before work", staleBad, t0, ErrStale},
		{"future", st, t0.Add(-time.Minute - time.Second), ErrFuture},
		{"far future", Stamp{Time: ^uint64(0), Bits: 10}, t0, ErrFuture},
		{"time zero", Stamp{Time: 0, Bits: 10}, t0, ErrStale},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := verifier(t, 10, 4)
			if err := v.Verify(tok, bh, tc.st, tc.now); !errors.Is(err, tc.err) {
				t.Fatalf("Verify = %v, want %v", err, tc.err)
			}
			if v.Len() != 0 {
				t.Fatal("a rejected stamp entered the cache")
			}
		})
	}
	// Edges of the window are accepted.
	for _, now := range []time.Time{t0.Add(10 * time.Minute), t0.Add(-time.Minute)} {
		if err := verifier(t, 10, 4).Verify(tok, bh, st, now); err != nil {
			t.Errorf("at %v: %v", now.Sub(t0), err)
		}
	}
	// Replay.
	v := verifier(t, 10, 4)
	if err := v.Verify(tok, bh, st, t0); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(tok, bh, st, t0.Add(time.Minute)); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay: %v", err)
	}
	if v.Len() != 1 {
		t.Fatalf("cache holds %d entries, want 1", v.Len())
	}
}

func TestNewVerifierConfig(t *testing.T) {
	t.Parallel()
	ok := DefaultVerifierConfig()
	if _, err := NewVerifier(ok); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*VerifierConfig)
	}{
		{"zero bits", func(c *VerifierConfig) { c.Bits = 0 }},
		{"bits above max", func(c *VerifierConfig) { c.Bits = MaxBits + 1 }},
		{"negative skew", func(c *VerifierConfig) { c.MaxSkew = -time.Second }},
		{"fractional skew", func(c *VerifierConfig) { c.MaxSkew = 1500 * time.Millisecond }},
		{"zero age", func(c *VerifierConfig) { c.MaxAge = 0 }},
		{"fractional age", func(c *VerifierConfig) { c.MaxAge = time.Millisecond }},
		{"zero cache", func(c *VerifierConfig) { c.CacheSize = 0 }},
		{"huge cache", func(c *VerifierConfig) { c.CacheSize = MaxCacheSize + 1 }},
	} {
		c := ok
		tc.mut(&c)
		if v, err := NewVerifier(c); v != nil || !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, %v", tc.name, v, err)
		}
	}
}

// stamps solves n distinct stamps at bits 4 (16 tries each on average).
func stamps(t testing.TB, n int, now time.Time) ([]address.Token, [32]byte, []Stamp) {
	t.Helper()
	r := testrand.New("pow/test/many")
	var bh [32]byte
	r.Read(bh[:])
	toks := make([]address.Token, n)
	sts := make([]Stamp, n)
	for i := range n {
		r.Read(toks[i][:])
		sts[i] = solve(t, toks[i], bh, now, 4)
	}
	return toks, bh, sts
}

// TestCacheBound feeds ten times CacheSize distinct valid stamps at one
// instant: exactly CacheSize are accepted, the rest get ErrBusy, and the
// cache never grows past CacheSize.
func TestCacheBound(t *testing.T) {
	t.Parallel()
	const size = 64
	toks, bh, sts := stamps(t, 10*size, t0)
	v := verifier(t, 4, size)
	accepted := 0
	for i := range sts {
		err := v.Verify(toks[i], bh, sts[i], t0)
		switch {
		case err == nil:
			accepted++
		case !errors.Is(err, ErrBusy):
			t.Fatalf("stamp %d: %v", i, err)
		}
		if v.Len() > size || len(v.seen) != v.Len() || len(v.ring) > size {
			t.Fatalf("cache %d entries, map %d, ring %d; bound %d", v.Len(), len(v.seen), len(v.ring), size)
		}
	}
	if accepted != size {
		t.Fatalf("%d accepted, want %d", accepted, size)
	}
	// A full cache still reports replays as replays.
	if err := v.Verify(toks[0], bh, sts[0], t0); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay into a full cache: %v", err)
	}
}

// TestCacheExpiry checks that entries expire after MaxAge + MaxSkew, freeing
// their slots, and that the expired stamps are then stale, not replayable.
func TestCacheExpiry(t *testing.T) {
	t.Parallel()
	const size = 16
	toks, bh, sts := stamps(t, 2*size, t0)
	v := verifier(t, 4, size) // skew 1 min, age 10 min
	for i := range size {
		if err := v.Verify(toks[i], bh, sts[i], t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Verify(toks[size], bh, sts[size], t0); !errors.Is(err, ErrBusy) {
		t.Fatalf("full: %v", err)
	}
	// At exactly MaxAge + MaxSkew later the entries are still live.
	at := t0.Add(11 * time.Minute)
	late := func(i int) Stamp {
		s := solve(t, toks[i], bh, at, 4)
		return s
	}
	if err := v.Verify(toks[size], bh, late(size), at); !errors.Is(err, ErrBusy) {
		t.Fatalf("at expiry: %v", err)
	}
	at = at.Add(time.Second)
	for i := size; i < 2*size; i++ {
		if err := v.Verify(toks[i], bh, late(i), at); err != nil {
			t.Fatalf("after expiry, stamp %d: %v", i, err)
		}
	}
	if v.Len() != size {
		t.Fatalf("cache %d, want %d", v.Len(), size)
	}
	for i := range size {
		if err := v.Verify(toks[i], bh, sts[i], at); !errors.Is(err, ErrStale) {
			t.Fatalf("expired stamp %d: %v", i, err)
		}
	}
}

// TestClockStepBack checks that a verifier whose clock is stepped back does
// not accept a stamp whose cache entry has expired.
func TestClockStepBack(t *testing.T) {
	t.Parallel()
	toks, bh, sts := stamps(t, 2, t0)
	v := verifier(t, 4, 4)
	if err := v.Verify(toks[0], bh, sts[0], t0); err != nil {
		t.Fatal(err)
	}
	later := t0.Add(time.Hour)
	st1 := solve(t, toks[1], bh, later, 4)
	if err := v.Verify(toks[1], bh, st1, later); err != nil {
		t.Fatal(err)
	}
	if v.Len() != 1 {
		t.Fatalf("first entry not expired: %d entries", v.Len())
	}
	// The clock steps back to t0: stamp 0 is fresh by that clock but the
	// verifier has seen later times.
	if err := v.Verify(toks[0], bh, sts[0], t0); !errors.Is(err, ErrStale) {
		t.Fatalf("after a clock step back: %v", err)
	}
}

// TestConcurrent runs Verify from many goroutines over stamps that each
// appear several times: every distinct stamp is accepted exactly once and
// the cache stays within its bound. Run it with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	const distinct, copies, size = 200, 4, 150
	toks, bh, sts := stamps(t, distinct, t0)
	v := verifier(t, 4, size)
	var mu sync.Mutex
	accepted := make(map[int]int)
	busy := 0
	var wg sync.WaitGroup
	for g := range copies * 2 {
		wg.Go(func() {
			for k := range distinct {
				i := (k*7 + g*13) % distinct
				if g%2 == 1 {
					i = distinct - 1 - i
				}
				err := v.Verify(toks[i], bh, sts[i], t0.Add(time.Duration(k%3)*time.Second))
				mu.Lock()
				switch {
				case err == nil:
					accepted[i]++
				case errors.Is(err, ErrBusy):
					busy++
				case !errors.Is(err, ErrReplay):
					t.Errorf("stamp %d: %v", i, err)
				}
				mu.Unlock()
				if n := v.Len(); n > size {
					t.Errorf("cache %d > %d", n, size)
				}
			}
		})
	}
	wg.Wait()
	if len(accepted) != size {
		t.Errorf("%d distinct stamps accepted, want %d", len(accepted), size)
	}
	for i, n := range accepted {
		if n != 1 {
			t.Errorf("stamp %d accepted %d times", i, n)
		}
	}
	if busy == 0 {
		t.Error("no ErrBusy with more distinct stamps than room")
	}
}

// Vectors.

type stampVector struct {
	Name     string `json:"name"`
	Token    string `json:"token"`
	Blob     string `json:"blob"`
	BlobHash string `json:"blob_hash"`
	Time     uint64 `json:"time,string"`
	Bits     uint8  `json:"bits"`
	Nonce    uint64 `json:"nonce,string"`
	Stamp    string `json:"stamp"`
	Digest   string `json:"digest"`
}

func generateVectors(t *testing.T) []stampVector {
	var out []stampVector
	for i, bits := range []uint8{0, 1, 8, 16, 20} {
		name := fmt.Sprintf("pow/stamp/%d", bits)
		r := testrand.New(name)
		var tok address.Token
		r.Read(tok[:])
		blob := make([]byte, 64+100*i)
		r.Read(blob)
		bh := sha256.Sum256(blob)
		now := t0.Add(time.Duration(i) * 12345 * time.Second)
		st := solve(t, tok, bh, now, bits)
		d := st.Digest(tok, bh)
		out = append(out, stampVector{Name: name, Token: hex.EncodeToString(tok[:]),
			Blob: hex.EncodeToString(blob), BlobHash: hex.EncodeToString(bh[:]),
			Time: st.Time, Bits: st.Bits, Nonce: st.Nonce,
			Stamp: hex.EncodeToString(st.Marshal()), Digest: hex.EncodeToString(d[:])})
	}
	return out
}

func readVectors(t testing.TB) []stampVector {
	t.Helper()
	var vs []stampVector
	vectortest.Read(t, vectorFile, &vs)
	return vs
}

// TestVectors regenerates the vectors and compares them byte for byte with
// the file, then replays the file: each stamp parses, re-encodes, hashes to
// the recorded digest, verifies, and is the first solution (Solve from the
// recorded inputs returns the recorded nonce).
func TestVectors(t *testing.T) {
	vectortest.Check(t, vectorFile, "\t", generateVectors(t))
	vs := readVectors(t)
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		tok, err := address.ParseToken(vectortest.Unhex(t, v.Token))
		if err != nil {
			t.Fatal(err)
		}
		bh := sha256.Sum256(vectortest.Unhex(t, v.Blob))
		if !bytes.Equal(bh[:], vectortest.Unhex(t, v.BlobHash)) {
			t.Errorf("%s: blob hash", v.Name)
		}
		st, err := ParseStamp(vectortest.Unhex(t, v.Stamp))
		if err != nil || *st != (Stamp{Time: v.Time, Bits: v.Bits, Nonce: v.Nonce}) {
			t.Fatalf("%s: parse %+v, %v", v.Name, st, err)
		}
		if !bytes.Equal(st.Marshal(), vectortest.Unhex(t, v.Stamp)) {
			t.Errorf("%s: re-encoding", v.Name)
		}
		if d := st.Digest(tok, bh); !bytes.Equal(d[:], vectortest.Unhex(t, v.Digest)) || leadingZeros(&d) < int(v.Bits) {
			t.Errorf("%s: digest", v.Name)
		}
		if v.Bits > 0 {
			if err := verifier(t, v.Bits, 1).Verify(tok, bh, *st, time.Unix(int64(v.Time), 0)); err != nil {
				t.Errorf("%s: Verify: %v", v.Name, err)
			}
		}
		if s2 := solve(t, tok, bh, time.Unix(int64(v.Time), 0), v.Bits); s2 != *st {
			t.Errorf("%s: Solve found %+v", v.Name, s2)
		}
	}
}

func ExampleSolve() {
	var token address.Token // the mailbox the blob goes to
	blob := []byte("an envelope")
	blobHash := sha256.Sum256(blob)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

	// The client solves…
	st, err := Solve(context.Background(), token, blobHash, now, 12)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("stamp %x\n", st.Marshal())

	// …and the relay verifies, once.
	v, err := NewVerifier(VerifierConfig{Bits: 12, MaxSkew: time.Minute, MaxAge: 10 * time.Minute, CacheSize: 1024})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(v.Verify(token, blobHash, st, now.Add(3*time.Second)))
	fmt.Println(v.Verify(token, blobHash, st, now.Add(4*time.Second)))
	// Output:
	// stamp 500100000000677485800c00000000000006b4
	// <nil>
	// pow: replayed stamp
}

// Benchmarks.

// BenchmarkHash is one try of Solve's inner loop.
func BenchmarkHash(b *testing.B) {
	tok, bh := inputs("pow/bench")
	st := Stamp{Time: uint64(t0.Unix()), Bits: DefaultBits}
	s, err := newSolver(&tok, &bh, &st)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var n uint64
	for b.Loop() {
		n++
		s.try(n)
	}
}

// BenchmarkSolve solves at DefaultBits; ns/op varies with the geometric
// number of tries, so compare over many iterations.
func BenchmarkSolve(b *testing.B) {
	if runtime.GOOS == "js" {
		b.Skip("too slow under js/wasm")
	}
	tok, bh := inputs("pow/bench")
	b.ReportAllocs()
	var i int64
	for b.Loop() {
		i++
		if _, err := Solve(context.Background(), tok, bh, t0.Add(time.Duration(i)*time.Second), DefaultBits); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify verifies a stamp for a 1024-byte-bucket blob, hashing the
// blob as the relay does. protocol is blob hash + Verify (with the replay
// cache); primitives is the same two SHA-256 computations (blob, and the
// 94-byte stamp input).
func BenchmarkVerify(b *testing.B) {
	blob := make([]byte, 1052)
	b.Run("protocol", func(b *testing.B) {
		n := b.N
		toks := make([]address.Token, n)
		sts := make([]Stamp, n)
		r := testrand.New("pow/bench/verify")
		bh := sha256.Sum256(blob)
		for i := range n {
			r.Read(toks[i][:])
			sts[i] = solve(b, toks[i], bh, t0, 1)
		}
		v, err := NewVerifier(VerifierConfig{Bits: 1, MaxSkew: time.Minute, MaxAge: time.Hour, CacheSize: min(n+1, MaxCacheSize)})
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(blob)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := range n {
			h := sha256.Sum256(blob)
			if err := v.Verify(toks[i], h, sts[i], t0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("primitives", func(b *testing.B) {
		var in [inputSize]byte
		b.SetBytes(int64(len(blob)))
		b.ReportAllocs()
		for b.Loop() {
			h := sha256.Sum256(blob)
			in[50] = h[0]
			_ = sha256.Sum256(in[:])
		}
	})
}
