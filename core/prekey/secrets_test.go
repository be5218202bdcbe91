package prekey_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/wire"
)

func TestGenerateErrors(t *testing.T) {
	t.Parallel()
	id, err := identity.Generate(testrand.New("gen"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		id       *identity.PrivateIdentity
		now      time.Time
		lifetime time.Duration
		n        int
		want     error
	}{
		{"zero clock", id, time.Time{}, testLifetime, 1, prekey.ErrClock},
		{"nil identity", nil, testNow, testLifetime, 1, nil},
		{"lifetime too short", id, testNow, time.Second, 1, nil},
		{"lifetime too long", id, testNow, prekey.MaxPrekeyLifetime + time.Second, 1, nil},
		{"negative count", id, testNow, testLifetime, -1, nil},
		{"count over max", id, testNow, testLifetime, prekey.MaxOneTimePrekeys + 1, nil},
	}
	for _, tc := range tests {
		s, err := prekey.Generate(testrand.New("gen"), tc.id, tc.now, tc.lifetime, tc.n)
		if err == nil || s != nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

// TestBundleSelection: each bundle carries a different one-time prekey
// until none is left, then the last-resort prekey, repeatedly.
func TestBundleSelection(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 3)
	seen := map[uint32]bool{}
	for i := range 3 {
		if got := f.secrets.OneTimeAvailable(testNow); got != 3-i {
			t.Fatalf("available %d, want %d", got, 3-i)
		}
		b := mustBundle(t, f.secrets)
		if b.KEMPrekey.LastResort || seen[b.KEMPrekey.ID] {
			t.Fatalf("bundle %d: KEM prekey %d last-resort=%v reused=%v", i, b.KEMPrekey.ID, b.KEMPrekey.LastResort, seen[b.KEMPrekey.ID])
		}
		seen[b.KEMPrekey.ID] = true
	}
	for range 2 {
		if b := mustBundle(t, f.secrets); !b.KEMPrekey.LastResort {
			t.Fatal("expected the last-resort prekey")
		}
	}
	if f.secrets.OneTimeAvailable(testNow) != 0 {
		t.Fatal("pool should be exhausted")
	}
}

// TestConsumeOneTime: a consumed one-time prekey is gone; the last-resort
// prekey cannot be consumed.
func TestConsumeOneTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 2)
	b := mustBundle(t, f.secrets)
	id := b.KEMPrekey.ID
	if _, _, err := f.secrets.KEMPrekey(id, testNow); err != nil {
		t.Fatal(err)
	}
	if err := f.secrets.ConsumeOneTime(id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.secrets.KEMPrekey(id, testNow); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("lookup after consume: %v", err)
	}
	if err := f.secrets.ConsumeOneTime(id); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("second consume: %v", err)
	}
	// Consumption survives storage.
	p, err := prekey.ParseSecrets(f.secrets.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.KEMPrekey(id, testNow); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("lookup after reload: %v", err)
	}
	for range 2 {
		b = mustBundle(t, f.secrets)
	}
	if !b.KEMPrekey.LastResort {
		t.Fatal("want last resort")
	}
	if err := f.secrets.ConsumeOneTime(b.KEMPrekey.ID); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("consume last resort: %v", err)
	}
	if _, p, err := f.secrets.KEMPrekey(b.KEMPrekey.ID, testNow); err != nil || !p.LastResort {
		t.Fatalf("last resort lookup: %v", err)
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 1)
	b := mustBundle(t, f.secrets)
	exp := b.SignedPrekey.Expires
	priv, spk, err := f.secrets.SignedPrekey(b.SignedPrekey.ID, testNow)
	if err != nil || priv.Public() != b.SignedPrekey.Key || *spk != b.SignedPrekey {
		t.Fatalf("signed prekey lookup: %v", err)
	}
	kpriv, kem, err := f.secrets.KEMPrekey(b.KEMPrekey.ID, testNow)
	if err != nil || !kpriv.Public().Equal(b.KEMPrekey.Key) || kem.ID != b.KEMPrekey.ID || kem.LastResort {
		t.Fatalf("KEM prekey lookup: %v", err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"signed unknown", lookupSigned(f.secrets, 999, testNow), prekey.ErrUnknownPrekey},
		{"signed id of a KEM prekey", lookupSigned(f.secrets, b.KEMPrekey.ID, testNow), prekey.ErrUnknownPrekey},
		{"signed expired", lookupSigned(f.secrets, b.SignedPrekey.ID, exp), prekey.ErrExpired},
		{"signed zero clock", lookupSigned(f.secrets, b.SignedPrekey.ID, time.Time{}), prekey.ErrClock},
		{"KEM unknown", lookupKEM(f.secrets, 0, testNow), prekey.ErrUnknownPrekey},
		{"KEM id of the signed prekey", lookupKEM(f.secrets, b.SignedPrekey.ID, testNow), prekey.ErrUnknownPrekey},
		{"KEM expired", lookupKEM(f.secrets, b.KEMPrekey.ID, exp.Add(time.Hour)), prekey.ErrExpired},
		{"KEM zero clock", lookupKEM(f.secrets, b.KEMPrekey.ID, time.Time{}), prekey.ErrClock},
	}
	for _, tc := range tests {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, err := f.secrets.Bundle(exp); !errors.Is(err, prekey.ErrExpired) {
		t.Errorf("bundle with expired current prekeys: %v", err)
	}
	if _, err := f.secrets.Bundle(time.Time{}); !errors.Is(err, prekey.ErrClock) {
		t.Errorf("bundle with zero clock: %v", err)
	}
}

func lookupSigned(s *prekey.Secrets, id uint32, now time.Time) error {
	_, _, err := s.SignedPrekey(id, now)
	return err
}

func lookupKEM(s *prekey.Secrets, id uint32, now time.Time) error {
	_, _, err := s.KEMPrekey(id, now)
	return err
}

// TestRotate: the new prekeys become current, the old ones still answer
// until they expire, at most MaxSignedPrekeys are kept, and ids are never
// reused.
func TestRotate(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 0)
	r := testrand.New("rotate")
	first := mustBundle(t, f.secrets)
	later := testNow.Add(24 * time.Hour)
	if err := f.secrets.Rotate(r, f.id, later, testLifetime); err != nil {
		t.Fatal(err)
	}
	second, err := f.secrets.Bundle(later)
	if err != nil {
		t.Fatal(err)
	}
	if second.SignedPrekey.ID == first.SignedPrekey.ID || second.KEMPrekey.ID == first.KEMPrekey.ID {
		t.Fatal("rotation kept the old prekeys current")
	}
	if err := lookupSigned(f.secrets, first.SignedPrekey.ID, later); err != nil {
		t.Fatalf("old signed prekey refused before expiry: %v", err)
	}
	if err := lookupKEM(f.secrets, first.KEMPrekey.ID, later); err != nil {
		t.Fatalf("old last-resort prekey refused before expiry: %v", err)
	}
	ids := map[uint32]bool{}
	for i := range 2 * prekey.MaxSignedPrekeys {
		if err := f.secrets.Rotate(r, f.id, later.Add(time.Duration(i)*time.Minute), testLifetime); err != nil {
			t.Fatal(err)
		}
		b, err := f.secrets.Bundle(later.Add(time.Duration(i) * time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if ids[b.SignedPrekey.ID] || ids[b.KEMPrekey.ID] {
			t.Fatal("id reused")
		}
		ids[b.SignedPrekey.ID], ids[b.KEMPrekey.ID] = true, true
	}
	if err := lookupSigned(f.secrets, second.SignedPrekey.ID, later); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("more than MaxSignedPrekeys kept: %v", err)
	}
	// After everything but the current prekeys expired, Rotate prunes.
	end := first.SignedPrekey.Expires.Add(2 * testLifetime)
	if err := f.secrets.Rotate(r, f.id, end, testLifetime); err != nil {
		t.Fatal(err)
	}
	p, err := prekey.ParseSecrets(f.secrets.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(p.Marshal()); n != len(f.secrets.Marshal()) || n > 400 {
		t.Fatalf("expired prekeys not pruned: %d bytes", n)
	}
	other, _ := identity.Generate(testrand.New("other"))
	if err := f.secrets.Rotate(r, other, end, testLifetime); err == nil {
		t.Fatal("rotated with another identity")
	}
	if err := f.secrets.Rotate(r, f.id, time.Time{}, testLifetime); !errors.Is(err, prekey.ErrClock) {
		t.Fatalf("zero clock: %v", err)
	}
}

func TestRefill(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 2)
	r := testrand.New("refill")
	if err := f.secrets.Refill(r, f.id, testNow, testLifetime, prekey.MaxOneTimePrekeys-1); err == nil {
		t.Fatal("pool over MaxOneTimePrekeys accepted")
	}
	if got := f.secrets.OneTimeAvailable(testNow); got != 2 {
		t.Fatalf("failed refill changed the pool: %d", got)
	}
	if err := f.secrets.Refill(r, f.id, testNow, testLifetime, 3); err != nil {
		t.Fatal(err)
	}
	if got := f.secrets.OneTimeAvailable(testNow); got != 5 {
		t.Fatalf("available %d, want 5", got)
	}
	// Refill after the first batch expired drops it.
	later := testNow.Add(testLifetime)
	if err := f.secrets.Refill(r, f.id, later, testLifetime, 1); err != nil {
		t.Fatal(err)
	}
	if got := f.secrets.OneTimeAvailable(later); got != 1 {
		t.Fatalf("available %d after expiry, want 1", got)
	}
	other, _ := identity.Generate(testrand.New("other"))
	if err := f.secrets.Refill(r, other, later, testLifetime, 1); err == nil {
		t.Fatal("refilled with another identity")
	}
}

func TestSecretsRoundTrip(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 3)
	mustBundle(t, f.secrets) // mark one issued
	enc := f.secrets.Marshal()
	p, err := prekey.ParseSecrets(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Marshal(), enc) {
		t.Fatal("round trip changed the encoding")
	}
	if !p.Owner().Equal(f.id.Public()) || p.OneTimeAvailable(testNow) != 2 {
		t.Fatal("round trip changed the content")
	}
	b1, b2 := mustBundle(t, p), mustBundle(t, f.secrets)
	if !bytes.Equal(b1.Marshal(), b2.Marshal()) {
		t.Fatal("reloaded secrets give another bundle")
	}
	if len(enc) > prekey.MaxSecretsSize {
		t.Fatal("encoding over MaxSecretsSize")
	}
}

func TestSecretsMaxSize(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey max", prekey.MaxOneTimePrekeys)
	for i := range prekey.MaxSignedPrekeys - 1 {
		if err := f.secrets.Rotate(testrand.New("max"), f.id, testNow.Add(time.Duration(i+1)*time.Second), testLifetime); err != nil {
			t.Fatal(err)
		}
	}
	enc := f.secrets.Marshal()
	if len(enc) != prekey.MaxSecretsSize {
		t.Fatalf("full store is %d bytes, MaxSecretsSize %d", len(enc), prekey.MaxSecretsSize)
	}
	if _, err := prekey.ParseSecrets(enc); err != nil {
		t.Fatal(err)
	}
	if _, err := prekey.ParseSecrets(append(enc, 0)); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("over max: %v", err)
	}
}

// Offsets into a Secrets encoding made by newFixture(…, 2) (one signed,
// one last-resort, two one-time prekeys).
const (
	offNextID   = wire.HeaderSize + identity.PublicSize
	offNSigned  = offNextID + 4
	offSigned   = offNSigned + 1
	offNLast    = offSigned + 108
	offLast     = offNLast + 1
	offNOne     = offLast + 108
	offOne      = offNOne + 2
	offIssued   = offOne + 108
	offOneTwoID = offIssued + 1
)

func TestParseSecretsRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 2)
	valid := f.secrets.Marshal()
	if len(valid) != offOneTwoID+109 {
		t.Fatalf("layout changed: %d bytes", len(valid))
	}
	set := func(fn func(b []byte)) []byte {
		b := bytes.Clone(valid)
		fn(b)
		return b
	}
	tests := []struct {
		name string
		b    []byte
	}{
		{"next id zero", set(func(b []byte) { binary.BigEndian.PutUint32(b[offNextID:], 0) })},
		{"next id not above ids", set(func(b []byte) { binary.BigEndian.PutUint32(b[offNextID:], 4) })},
		{"no signed prekey", set(func(b []byte) { b[offNSigned] = 0 })},
		{"too many signed prekeys", set(func(b []byte) { b[offNSigned] = prekey.MaxSignedPrekeys + 1 })},
		{"signed id zero", set(func(b []byte) { binary.BigEndian.PutUint32(b[offSigned:], 0) })},
		{"expiry over int64", set(func(b []byte) { b[offSigned+4] = 0x80 })},
		{"no last-resort prekey", set(func(b []byte) { b[offNLast] = 0 })},
		{"too many last-resort prekeys", set(func(b []byte) { b[offNLast] = prekey.MaxLastResortPrekeys + 1 })},
		{"too many one-time prekeys", set(func(b []byte) { binary.BigEndian.PutUint16(b[offNOne:], prekey.MaxOneTimePrekeys+1) })},
		{"one-time count short", set(func(b []byte) { binary.BigEndian.PutUint16(b[offNOne:], 1) })},
		{"issued flag not boolean", set(func(b []byte) { b[offIssued] = 2 })},
		{"duplicate KEM id", set(func(b []byte) { copy(b[offOneTwoID:], b[offLast:offLast+4]) })},
		{"one-time id of last resort", set(func(b []byte) { copy(b[offOne:], b[offLast:offLast+4]) })},
		{"owner binding", set(func(b []byte) { b[wire.HeaderSize+100] ^= 1 })},
		{"wrong tag", set(func(b []byte) { b[0] = byte(wire.TagBundle) })},
		{"wrong version", set(func(b []byte) { b[1] = 0 })},
	}
	for _, tc := range tests {
		s, err := prekey.ParseSecrets(tc.b)
		if err == nil || s != nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	for n := range len(valid) {
		if s, err := prekey.ParseSecrets(valid[:n]); err == nil || s != nil {
			t.Fatalf("truncated to %d: accepted", n)
		}
	}
	for _, c := range []byte{0, 1, 0xff} {
		if s, err := prekey.ParseSecrets(append(bytes.Clone(valid), c)); !errors.Is(err, wire.ErrMalformed) || s != nil {
			t.Fatalf("extended by %#x: %v", c, err)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	id, _ := identity.Generate(testrand.New("bench"))
	for _, n := range []int{0, 100} {
		b.Run(map[int]string{0: "one-time=0", 100: "one-time=100"}[n], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := prekey.Generate(nil, id, testNow, testLifetime, n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseSecrets(b *testing.B) {
	f := newFixture(b, "prekey max", prekey.MaxOneTimePrekeys)
	enc := f.secrets.Marshal()
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := prekey.ParseSecrets(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	f := newFixture(b, "prekey max", prekey.MaxOneTimePrekeys)
	last := mustBundle(b, f.secrets).KEMPrekey.ID + prekey.MaxOneTimePrekeys - 1 // worst case: end of the pool
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := f.secrets.KEMPrekey(last, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEmptySecrets: a zero or cleared Secrets fails cleanly, never panics.
func TestEmptySecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "prekey", 1)
	f.secrets.Clear()
	for name, s := range map[string]*prekey.Secrets{"zero": {}, "cleared": f.secrets} {
		if _, err := s.Bundle(testNow); err == nil {
			t.Errorf("%s: Bundle succeeded", name)
		}
		if err := lookupSigned(s, 1, testNow); !errors.Is(err, prekey.ErrUnknownPrekey) {
			t.Errorf("%s: lookup: %v", name, err)
		}
		if err := s.ConsumeOneTime(3); !errors.Is(err, prekey.ErrUnknownPrekey) {
			t.Errorf("%s: consume: %v", name, err)
		}
		s.Prune(testNow)
		if _, err := prekey.ParseSecrets(s.Marshal()); err == nil {
			t.Errorf("%s: empty store parsed", name)
		}
	}
	if err := (&prekey.Secrets{}).Refill(nil, f.id, testNow, testLifetime, 1); err == nil {
		t.Error("refilled a zero Secrets")
	}
}
