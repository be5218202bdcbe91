package identity_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/wire"
)

// parsers lists every encoding of this package with a valid sample and its
// parser, for the generic negative tests.
func parsers(t *testing.T) []struct {
	name  string
	valid []byte
	parse func([]byte) error
} {
	a := mustGenerate(t, "identity 1")
	b := mustGenerate(t, "identity 2")
	return []struct {
		name  string
		valid []byte
		parse func([]byte) error
	}{
		{"public", a.Public().Marshal(), func(x []byte) error { _, err := identity.ParsePublic(x); return err }},
		{"private", a.MarshalPrivate(), func(x []byte) error { _, err := identity.ParsePrivate(x); return err }},
		{"rotation", identity.NewRotation(a, b, 1).Marshal(), func(x []byte) error { _, err := identity.ParseRotation(x); return err }},
	}
}

// TestBadLengths: every truncation and every one-byte extension of every
// encoding is rejected with a wire sentinel.
func TestBadLengths(t *testing.T) {
	t.Parallel()
	for _, p := range parsers(t) {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			if err := p.parse(p.valid); err != nil {
				t.Fatalf("valid encoding rejected: %v", err)
			}
			for n := range len(p.valid) {
				err := p.parse(p.valid[:n])
				if err == nil || !(errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrWrongType) ||
					errors.Is(err, wire.ErrVersion)) {
					t.Fatalf("truncation to %d bytes: %v", n, err)
				}
			}
			for _, c := range []byte{0x00, 0x01, 0xff} {
				ext := append(bytes.Clone(p.valid), c)
				if err := p.parse(ext); err == nil || !(errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrTooLarge)) {
					t.Fatalf("extension by %#x: %v", c, err)
				}
			}
		})
	}
}

// TestHeaderRejected: a wrong tag or version is reported as such.
func TestHeaderRejected(t *testing.T) {
	t.Parallel()
	for _, p := range parsers(t) {
		b := bytes.Clone(p.valid)
		b[0] ^= 0x40
		if err := p.parse(b); !errors.Is(err, wire.ErrWrongType) {
			t.Errorf("%s: wrong tag: %v", p.name, err)
		}
		b = bytes.Clone(p.valid)
		b[1] = 2
		if err := p.parse(b); !errors.Is(err, wire.ErrVersion) {
			t.Errorf("%s: wrong version: %v", p.name, err)
		}
	}
}

// TestPublicBitFlips: flipping any bit of a public identity encoding makes
// ParsePublic fail (header → wire error, keys or binding → bad signature).
func TestPublicBitFlips(t *testing.T) {
	t.Parallel()
	valid := mustGenerate(t, "identity 1").Public().Marshal()
	for i := range len(valid) * 8 {
		b := bytes.Clone(valid)
		b[i/8] ^= 1 << (i % 8)
		p, err := identity.ParsePublic(b)
		if err == nil || p != nil {
			t.Fatalf("bit %d flipped: accepted", i)
		}
		if i >= 16 && !errors.Is(err, identity.ErrBadSignature) {
			t.Fatalf("bit %d flipped: %v, want ErrBadSignature", i, err)
		}
	}
}

// TestPrivateBitFlips: header flips are rejected. Key bytes are not
// authenticated in this encoding (it is only ever stored inside the
// encrypted, authenticated store), so a flipped key bit parses to a
// different identity — never to the same one.
func TestPrivateBitFlips(t *testing.T) {
	t.Parallel()
	id := mustGenerate(t, "identity 1")
	valid := id.MarshalPrivate()
	for i := range len(valid) * 8 {
		b := bytes.Clone(valid)
		b[i/8] ^= 1 << (i % 8)
		p, err := identity.ParsePrivate(b)
		if i < 16 {
			if err == nil || p != nil {
				t.Fatalf("header bit %d flipped: accepted", i)
			}
			continue
		}
		if err != nil {
			t.Fatalf("key bit %d flipped: %v", i, err)
		}
		// X25519 clamping ignores 5 bits of the scalar (RFC 7748 §5).
		scalarBit := i - 8*(2+32)
		clamped := scalarBit == 0 || scalarBit == 1 || scalarBit == 2 || scalarBit == 254 || scalarBit == 255
		if p.Public().Equal(id.Public()) && !clamped {
			t.Fatalf("key bit %d flipped: same identity", i)
		}
	}
}

// TestRotationBitFlips: any bit flip in a rotation encoding makes
// ParseRotation or Verify fail. Under js/wasm and the race detector every
// 13th bit is tried (13 is odd: every bit position within a byte is hit).
func TestRotationBitFlips(t *testing.T) {
	t.Parallel()
	a, b := mustGenerate(t, "identity 1"), mustGenerate(t, "identity 2")
	valid := identity.NewRotation(a, b, 5).Marshal()
	none := func(*identity.PublicIdentity) bool { return false }
	step := 1
	if sampled() {
		step = 13
	}
	for i := 0; i < len(valid)*8; i += step {
		x := bytes.Clone(valid)
		x[i/8] ^= 1 << (i % 8)
		r, err := identity.ParseRotation(x)
		if err != nil {
			if r != nil {
				t.Fatalf("bit %d: non-nil result with error", i)
			}
			continue
		}
		// Flips that parse (Seq, the two signatures) must fail Verify:
		// both signatures cover Seq.
		if err := r.Verify(a.Public(), 4, none); err == nil {
			t.Fatalf("bit %d flipped: rotation verified", i)
		}
	}
}

// sampled reports whether long property tests should sample: under
// js/wasm and the race detector each signature check is 5-20× slower.
func sampled() bool { return runtime.GOOS == "js" || raceEnabled }

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	id := mustGenerate(t, "identity 1")
	p, err := identity.ParsePublic(id.Public().Marshal())
	if err != nil || *p != *id.Public() {
		t.Fatalf("public round trip: %v", err)
	}
	q, err := identity.ParsePrivate(id.MarshalPrivate())
	if err != nil || !bytes.Equal(q.MarshalPrivate(), id.MarshalPrivate()) || *q.Public() != *id.Public() {
		t.Fatalf("private round trip: %v", err)
	}
}

func TestSafetyNumberSymmetric(t *testing.T) {
	t.Parallel()
	a, b := mustGenerate(t, "identity 1").Public(), mustGenerate(t, "identity 2").Public()
	ab, ba := identity.NewSafetyNumber(a, b), identity.NewSafetyNumber(b, a)
	if ab != ba || ab.Digits() != ba.Digits() || strings.Join(ab.Emoji(), "") != strings.Join(ba.Emoji(), "") {
		t.Fatalf("asymmetric: %s vs %s", ab.Digits(), ba.Digits())
	}
}

func TestSafetyNumberFormat(t *testing.T) {
	t.Parallel()
	a, b := mustGenerate(t, "identity 1").Public(), mustGenerate(t, "identity 2").Public()
	sn := identity.NewSafetyNumber(a, b)
	groups := strings.Split(sn.Digits(), " ")
	if len(groups) != identity.SafetyNumberGroups || len(sn.Digits()) != 71 {
		t.Fatalf("digits %q: %d groups", sn.Digits(), len(groups))
	}
	for _, g := range groups {
		if len(g) != 5 || strings.Trim(g, "0123456789") != "" {
			t.Fatalf("bad group %q", g)
		}
	}
	if sn.String() != sn.Digits() {
		t.Fatal("String != Digits")
	}
	if e := sn.Emoji(); len(e) != identity.SafetyNumberEmojiCount {
		t.Fatalf("%d emoji", len(e))
	}
}

// TestSafetyNumberChangesWithAnyKey: changing any byte of either party's
// Ed25519 or X25519 key changes the digits and the emoji.
func TestSafetyNumberChangesWithAnyKey(t *testing.T) {
	t.Parallel()
	a, b := mustGenerate(t, "identity 1").Public(), mustGenerate(t, "identity 2").Public()
	base := identity.NewSafetyNumber(a, b)
	step := 1
	if sampled() {
		step = 5
	}
	for party := range 2 {
		for field := range 2 {
			for i := 0; i < 32; i += step {
				x, y := *a, *b
				target := &x
				if party == 1 {
					target = &y
				}
				if field == 0 {
					target.SigningKey[i] ^= 0x01
				} else {
					target.DHKey[i] ^= 0x80
				}
				sn := identity.NewSafetyNumber(&x, &y)
				if sn.Digits() == base.Digits() {
					t.Fatalf("party %d field %d byte %d: digits unchanged", party, field, i)
				}
				if strings.Join(sn.Emoji(), "") == strings.Join(base.Emoji(), "") {
					t.Fatalf("party %d field %d byte %d: emoji unchanged", party, field, i)
				}
			}
		}
	}
	// Each party owns its half: changing b leaves a's 30 digits alone.
	y := *b
	y.DHKey[0] ^= 1
	sn := identity.NewSafetyNumber(a, &y)
	first := func(s identity.SafetyNumber) string { return strings.ReplaceAll(s.Digits(), " ", "")[:30] }
	last := func(s identity.SafetyNumber) string { return strings.ReplaceAll(s.Digits(), " ", "")[30:] }
	if (first(sn) == first(base)) == (last(sn) == last(base)) {
		t.Fatal("changing one party should change exactly one half")
	}
}

// TestEmojiTable pins the emoji table: 256 distinct single code points,
// and the hash of the table as documented in docs/PROTOCOL.md §Identity.
func TestEmojiTable(t *testing.T) {
	t.Parallel()
	table := identity.EmojiTable()
	seen := map[string]bool{}
	h := sha256.New()
	for i, e := range table {
		r, n := utf8.DecodeRuneInString(e)
		if n != len(e) || r < 0x1F300 || r > 0x1F6FF {
			t.Errorf("entry %d %q is not one code point in U+1F300..U+1F6FF", i, e)
		}
		if seen[e] {
			t.Errorf("entry %d %q repeated", i, e)
		}
		seen[e] = true
		fmt.Fprintf(h, "%s\n", e)
	}
	const want = "f2bd26052832b8c28a274ce375c3dd441edead68912208d15ae58a5d47cc8b03"
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		t.Errorf("emoji table hash %s, want %s", got, want)
	}
}

func TestRotationVerify(t *testing.T) {
	t.Parallel()
	a, b, c := mustGenerate(t, "identity 1"), mustGenerate(t, "identity 2"), mustGenerate(t, "identity 3")
	none := func(*identity.PublicIdentity) bool { return false }
	retiredB := func(p *identity.PublicIdentity) bool { return p.Equal(b.Public()) }
	good := identity.NewRotation(a, b, 3)

	badOld := *good
	badOld.SigOld[0] ^= 1
	badNew := *good
	badNew.SigNew[63] ^= 0x10
	onlyA := *good // SigNew made by the old key: no proof of possession
	onlyA.SigNew = good.SigOld
	badBinding := *good
	badBinding.New.Binding[0] ^= 1
	swapped := *good
	swapped.New = *c.Public()

	tests := []struct {
		name    string
		r       *identity.Rotation
		pinned  *identity.PublicIdentity
		lastSeq uint64
		retired func(*identity.PublicIdentity) bool
		want    error
	}{
		{"ok", good, a.Public(), 2, none, nil},
		{"ok from zero", good, a.Public(), 0, none, nil},
		{"not pinned", good, c.Public(), 2, none, identity.ErrRotationMismatch},
		{"no change", identity.NewRotation(a, a, 3), a.Public(), 2, none, identity.ErrRotationMismatch},
		{"replayed seq", good, a.Public(), 3, none, identity.ErrRotationReplay},
		{"old seq", good, a.Public(), 9, none, identity.ErrRotationReplay},
		{"reversal to retired", good, a.Public(), 2, retiredB, identity.ErrRotationReplay},
		{"bad old signature", &badOld, a.Public(), 2, none, identity.ErrBadSignature},
		{"bad new signature", &badNew, a.Public(), 2, none, identity.ErrBadSignature},
		{"new key did not sign", &onlyA, a.Public(), 2, none, identity.ErrBadSignature},
		{"bad new binding", &badBinding, a.Public(), 2, none, identity.ErrBadSignature},
		{"new identity substituted", &swapped, a.Public(), 2, none, identity.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.r.Verify(tc.pinned, tc.lastSeq, tc.retired)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := good.Verify(a.Public(), 0, nil); err == nil {
		t.Fatal("nil retired set accepted")
	}
}

// TestRotationChain: A→B then B→A is refused once A is retired, even with
// both signatures and a higher sequence number.
func TestRotationChain(t *testing.T) {
	t.Parallel()
	a, b := mustGenerate(t, "identity 1"), mustGenerate(t, "identity 2")
	retired := map[suiteKey]bool{}
	isRetired := func(p *identity.PublicIdentity) bool { return retired[keyOf(p)] }

	pinned, lastSeq := a.Public(), uint64(0)
	r1 := identity.NewRotation(a, b, 1)
	if err := r1.Verify(pinned, lastSeq, isRetired); err != nil {
		t.Fatal(err)
	}
	retired[keyOf(pinned)] = true
	pinned, lastSeq = b.Public(), 1
	if err := r1.Verify(pinned, lastSeq, isRetired); !errors.Is(err, identity.ErrRotationMismatch) {
		t.Fatalf("replayed rotation: %v", err)
	}
	back := identity.NewRotation(b, a, 2)
	if err := back.Verify(pinned, lastSeq, isRetired); !errors.Is(err, identity.ErrRotationReplay) {
		t.Fatalf("reversal: %v", err)
	}
}

type suiteKey [64]byte

func keyOf(p *identity.PublicIdentity) suiteKey {
	var k suiteKey
	copy(k[:], p.SigningKey[:])
	copy(k[32:], p.DHKey[:])
	return k
}

func BenchmarkSafetyNumber(b *testing.B) {
	x, y := mustGenerate(b, "identity 1").Public(), mustGenerate(b, "identity 2").Public()
	b.ReportAllocs()
	for b.Loop() {
		identity.NewSafetyNumber(x, y)
	}
}

func BenchmarkParsePublic(b *testing.B) {
	enc := mustGenerate(b, "identity 1").Public().Marshal()
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := identity.ParsePublic(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRotationVerify(b *testing.B) {
	x, y := mustGenerate(b, "identity 1"), mustGenerate(b, "identity 2")
	r := identity.NewRotation(x, y, 1)
	none := func(*identity.PublicIdentity) bool { return false }
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Verify(x.Public(), 0, none); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSafetyNumberSpec recomputes one safety number from the text of
// docs/PROTOCOL.md §Identity with independent code (math/big, plain
// SHA-256), so the implementation and the specification cannot drift.
func TestSafetyNumberSpec(t *testing.T) {
	t.Parallel()
	a, b := mustGenerate(t, "identity 1").Public(), mustGenerate(t, "identity 2").Public()
	fp := func(p *identity.PublicIdentity) []byte {
		key := append(append([]byte{}, p.SigningKey[:]...), p.DHKey[:]...)
		h := append([]byte("parley/v1/safety-number"), 0x00, 0x01)
		h = append(h, key...)
		for range 5200 {
			s := sha256.Sum256(append(h, key...))
			h = s[:]
		}
		return h
	}
	digits := func(f []byte) string {
		var s string
		for i := range 6 {
			v := new(big.Int).SetBytes(f[5*i : 5*i+5])
			s += fmt.Sprintf("%05d", v.Mod(v, big.NewInt(100000)).Int64())
		}
		return s
	}
	first, second := a, b
	if bytes.Compare(a.SigningKey[:], b.SigningKey[:]) > 0 {
		first, second = b, a
	}
	f1, f2 := fp(first), fp(second)
	all := digits(f1) + digits(f2)
	var groups []string
	for i := 0; i < 60; i += 5 {
		groups = append(groups, all[i:i+5])
	}
	sn := identity.NewSafetyNumber(a, b)
	if want := strings.Join(groups, " "); sn.Digits() != want {
		t.Fatalf("digits %q, spec gives %q", sn.Digits(), want)
	}
	e := sha256.Sum256(append(append([]byte("parley/v1/safety-emoji"), f1...), f2...))
	table := identity.EmojiTable()
	for i, got := range sn.Emoji() {
		if got != table[e[i]] {
			t.Fatalf("emoji %d: %q, spec gives %q", i, got, table[e[i]])
		}
	}
}
