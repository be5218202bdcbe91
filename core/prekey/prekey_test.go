package prekey_test

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/wire"
)

func mustBundle(t testing.TB, s *prekey.Secrets) *prekey.Bundle {
	t.Helper()
	b, err := s.Bundle(testNow)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Layout of an encoded bundle, for naming the field a bit flip hit.
const (
	offIdentity = wire.HeaderSize
	offSPK      = offIdentity + identity.PublicSize
	offKEM      = offSPK + prekey.SignedPrekeySize
	offKEMKey   = offKEM + wire.HeaderSize + prekey.IDSize
)

func TestBundleSizes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 1)
	if n := len(mustBundle(t, f.secrets).Marshal()); n != prekey.BundleSize || prekey.BundleSize != 1537 {
		t.Fatalf("bundle is %d bytes, BundleSize %d", n, prekey.BundleSize)
	}
}

func TestBundleRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 1)
	for _, b := range []*prekey.Bundle{mustBundle(t, f.secrets), mustBundle(t, f.secrets)} { // one-time, last resort
		enc := b.Marshal()
		p, err := prekey.ParseBundle(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Marshal(), enc) || p.KEMPrekey.LastResort != b.KEMPrekey.LastResort ||
			!p.SignedPrekey.Expires.Equal(b.SignedPrekey.Expires) {
			t.Fatal("round trip changed the bundle")
		}
		if err := p.Verify(testNow); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBundleBadLengths: every truncation and every one-byte extension is
// rejected before or while parsing.
func TestBundleBadLengths(t *testing.T) {
	t.Parallel()
	enc := mustBundle(t, newFixture(t, "prekey", 1).secrets).Marshal()
	for n := range len(enc) {
		b, err := prekey.ParseBundle(enc[:n])
		if b != nil || err == nil || !(errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrWrongType)) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for _, c := range []byte{0, 1, 0xff} {
		b, err := prekey.ParseBundle(append(bytes.Clone(enc), c))
		if b != nil || !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("extended by %#x: %v", c, err)
		}
	}
}

func TestBundleHeaders(t *testing.T) {
	t.Parallel()
	enc := mustBundle(t, newFixture(t, "prekey", 1).secrets).Marshal()
	for _, off := range []int{0, offIdentity, offSPK, offKEM} {
		b := bytes.Clone(enc)
		b[off] ^= 0x80
		if _, err := prekey.ParseBundle(b); !errors.Is(err, wire.ErrWrongType) {
			t.Errorf("tag at %d: %v", off, err)
		}
		b = bytes.Clone(enc)
		b[off+1] = 9
		if _, err := prekey.ParseBundle(b); !errors.Is(err, wire.ErrVersion) {
			t.Errorf("version at %d: %v", off+1, err)
		}
	}
}

// TestBundleBitFlips: flipping any bit of a bundle makes ParseBundle or
// Verify fail. Every field is covered by a header check, the identity
// binding or one of the two prekey signatures. Under js/wasm and the race detector, where each
// flip costs milliseconds, every 13th bit is tried (13 is odd, so every bit
// position within a byte is still hit).
func TestBundleBitFlips(t *testing.T) {
	t.Parallel()
	enc := mustBundle(t, newFixture(t, "prekey", 1).secrets).Marshal()
	step := 1
	if runtime.GOOS == "js" || raceEnabled {
		step = 13
	}
	for i := 0; i < len(enc)*8; i += step {
		x := bytes.Clone(enc)
		x[i/8] ^= 1 << (i % 8)
		b, err := prekey.ParseBundle(x)
		if err != nil {
			if b != nil {
				t.Fatalf("bit %d: result with error", i)
			}
			continue
		}
		if err := b.Verify(testNow); err == nil {
			t.Fatalf("bit %d (byte %d) flipped: bundle verified", i, i/8)
		}
	}
}

func TestBundleVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 1)
	other := newFixture(t, "prekey other", 1)
	good := mustBundle(t, f.secrets)
	exp := good.SignedPrekey.Expires
	mut := func(fn func(b *prekey.Bundle)) *prekey.Bundle {
		b := *good
		fn(&b)
		return &b
	}
	tests := []struct {
		name string
		b    *prekey.Bundle
		now  time.Time
		want error
	}{
		{"ok", good, testNow, nil},
		{"ok a second before expiry", good, exp.Add(-time.Second), nil},
		{"zero clock", good, time.Time{}, prekey.ErrClock},
		{"clock before 1970", good, time.Unix(-5, 0), prekey.ErrClock},
		{"clock at 1970", good, time.Unix(0, 0), prekey.ErrClock},
		{"expired at expiry", good, exp, prekey.ErrExpired},
		{"expired later", good, exp.Add(time.Hour), prekey.ErrExpired},
		{"signed prekey expiry extended", mut(func(b *prekey.Bundle) { b.SignedPrekey.Expires = exp.Add(time.Hour) }), testNow, identity.ErrBadSignature},
		{"KEM prekey expired", mut(func(b *prekey.Bundle) { b.KEMPrekey.Expires = testNow }), testNow, prekey.ErrExpired},
		{"signed prekey id", mut(func(b *prekey.Bundle) { b.SignedPrekey.ID++ }), testNow, identity.ErrBadSignature},
		{"signed prekey key", mut(func(b *prekey.Bundle) { b.SignedPrekey.Key[0] ^= 1 }), testNow, identity.ErrBadSignature},
		{"signed prekey sig", mut(func(b *prekey.Bundle) { b.SignedPrekey.Sig[5] ^= 1 }), testNow, identity.ErrBadSignature},
		{"KEM prekey id", mut(func(b *prekey.Bundle) { b.KEMPrekey.ID++ }), testNow, identity.ErrBadSignature},
		{"KEM prekey last-resort flag", mut(func(b *prekey.Bundle) { b.KEMPrekey.LastResort = true }), testNow, identity.ErrBadSignature},
		{"KEM prekey key", mut(func(b *prekey.Bundle) { b.KEMPrekey.Key = mustBundle(t, other.secrets).KEMPrekey.Key }), testNow, identity.ErrBadSignature},
		{"KEM prekey sig", mut(func(b *prekey.Bundle) { b.KEMPrekey.Sig[0] ^= 1 }), testNow, identity.ErrBadSignature},
		{"KEM prekey missing", mut(func(b *prekey.Bundle) { b.KEMPrekey.Key = nil }), testNow, wire.ErrMalformed},
		{"identity binding", mut(func(b *prekey.Bundle) { b.Identity.Binding[0] ^= 1 }), testNow, identity.ErrBadSignature},
		{"prekeys of another identity", mut(func(b *prekey.Bundle) { b.Identity = *other.id.Public() }), testNow, identity.ErrBadSignature},
		{"signed prekey from another identity", mut(func(b *prekey.Bundle) { b.SignedPrekey = mustBundle(t, other.secrets).SignedPrekey }), testNow, identity.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.b.Verify(tc.now)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func BenchmarkBundleVerify(b *testing.B) {
	bundle := mustBundle(b, newFixture(b, "prekey", 1).secrets)
	b.ReportAllocs()
	for b.Loop() {
		if err := bundle.Verify(testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseBundle(b *testing.B) {
	enc := mustBundle(b, newFixture(b, "prekey", 1).secrets).Marshal()
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := prekey.ParseBundle(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBundleMarshal(b *testing.B) {
	bundle := mustBundle(b, newFixture(b, "prekey", 1).secrets)
	b.ReportAllocs()
	b.SetBytes(prekey.BundleSize)
	for b.Loop() {
		bundle.Marshal()
	}
}

// TestPrekeyVerify checks the per-prekey Verify methods on their own.
func TestPrekeyVerify(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 1)
	other := newFixture(t, "prekey other", 1)
	b := mustBundle(t, f.secrets)
	owner := f.id.Public()
	spk, kem := b.SignedPrekey, b.KEMPrekey
	for name, err := range map[string]error{
		"signed ok": spk.Verify(owner, testNow),
		"KEM ok":    kem.Verify(owner, testNow),
	} {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	noKey := kem
	noKey.Key = nil
	for name, tc := range map[string]struct{ err, want error }{
		"signed expired":     {spk.Verify(owner, spk.Expires), prekey.ErrExpired},
		"signed zero clock":  {spk.Verify(owner, time.Time{}), prekey.ErrClock},
		"signed other owner": {spk.Verify(other.id.Public(), testNow), identity.ErrBadSignature},
		"KEM expired":        {kem.Verify(owner, kem.Expires.Add(time.Second)), prekey.ErrExpired},
		"KEM zero clock":     {kem.Verify(owner, time.Time{}), prekey.ErrClock},
		"KEM other owner":    {kem.Verify(other.id.Public(), testNow), identity.ErrBadSignature},
		"KEM missing key":    {noKey.Verify(owner, testNow), wire.ErrMalformed},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", name, tc.err, tc.want)
		}
	}
}
