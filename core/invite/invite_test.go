package invite

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/internal/vectortest"
)

const vectorFile = "../../testdata/vectors/invite.json"

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const relay = "parley-relay://aaaabbbbccccddddeeeeffffgggghhhhiiiijjjjkkkkllllmmmm@relay.example:7070"

type fix struct {
	id      *identity.PrivateIdentity
	secrets *prekey.Secrets
	bundle  *prekey.Bundle
}

// fixture makes an identity, its prekeys (30 days, oneTime one-time
// prekeys) and one bundle, all from the named deterministic source.
func fixture(t testing.TB, name string, oneTime int) *fix {
	t.Helper()
	r := testrand.New(name)
	id, err := identity.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	s, err := prekey.Generate(r, id, t0, 30*24*time.Hour, oneTime)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Bundle(t0)
	if err != nil {
		t.Fatal(err)
	}
	return &fix{id: id, secrets: s, bundle: b}
}

func newInvite(t testing.TB, f *fix, name string) (*Invite, *address.InviteSecret) {
	t.Helper()
	inv, sec, err := New(testrand.New(name), f.id, f.bundle, relay, t0, DefaultLifetime)
	if err != nil {
		t.Fatal(err)
	}
	return inv, sec
}

// withChecksum appends the checksum of m, so a test can reach the checks
// behind it.
func withChecksum(m []byte) []byte {
	c := checksum(m)
	return append(bytes.Clone(m), c[:]...)
}

// resign signs inv's current fields with f's identity, for tests that need
// a correctly signed invite New would not make.
func resign(f *fix, inv *Invite) {
	inv.sig = f.id.Sign(suite.LabelInviteSignature, inv.signedPart())
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/roundtrip", 2)
	inv, sec := newInvite(t, f, "invite/test/roundtrip/secret")
	text := inv.Text()
	if !strings.HasPrefix(text, Prefix) || strings.ToLower(text) != text || len(text) > MaxTextSize {
		t.Fatalf("text form %.40q…", text)
	}
	if len(inv.marshal()) > MaxInviteSize || len(inv.Bytes()) != len(inv.marshal())+ChecksumSize {
		t.Fatalf("sizes %d %d", len(inv.marshal()), len(inv.Bytes()))
	}
	for _, parse := range []func() (*Invite, error){
		func() (*Invite, error) { return Parse(text, t0) },
		func() (*Invite, error) { return ParseBytes(inv.Bytes(), t0.Add(time.Hour)) },
	} {
		got, err := parse()
		if err != nil {
			t.Fatal(err)
		}
		if got.Text() != text || !bytes.Equal(got.Bytes(), inv.Bytes()) {
			t.Fatal("re-encoding differs")
		}
		if !got.Inviter().Equal(f.id.Public()) || got.RelayAddress() != relay || !got.Expires().Equal(t0.Add(DefaultLifetime)) {
			t.Fatalf("fields: %v %q %v", got.Inviter(), got.RelayAddress(), got.Expires())
		}
		if got.Secret().Bytes() != sec.Bytes() || got.ID() != sec.FirstContactToken() {
			t.Fatal("secret / ID")
		}
		if !bytes.Equal(got.Bundle().Marshal(), f.bundle.Marshal()) {
			t.Fatal("bundle")
		}
		if got.Fingerprint() != Fingerprint(f.id.Public()) {
			t.Fatal("fingerprint")
		}
	}
	// Changing what the accessors return leaves the invite alone.
	inv.Secret().Clear()
	inv.Bundle().SignedPrekey.ID++
	if _, err := Parse(inv.Text(), t0); err != nil || inv.Text() != text {
		t.Fatalf("accessors share storage: %v", err)
	}
}

// TestExpiryClamped checks that an invite never outlives its bundle's
// prekeys.
func TestExpiryClamped(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/clamp", 1)
	now := t0.Add(29 * 24 * time.Hour)
	inv, _, err := New(nil, f.id, f.bundle, relay, now, DefaultLifetime)
	if err != nil {
		t.Fatal(err)
	}
	want := t0.Add(30 * 24 * time.Hour)
	if !inv.Expires().Equal(want) || !inv.Expires().Equal(f.bundle.SignedPrekey.Expires) {
		t.Fatalf("expires %v, want %v", inv.Expires(), want)
	}
	if _, err := Parse(inv.Text(), want); !errors.Is(err, ErrExpired) {
		t.Fatalf("at prekey expiry: %v", err)
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/new", 1)
	other := fixture(t, "invite/test/new/other", 1)
	lastResort := fixture(t, "invite/test/new/last-resort", 0)
	if !lastResort.bundle.KEMPrekey.LastResort {
		t.Fatal("fixture: expected a last-resort bundle")
	}
	noKey := *f.bundle
	noKey.KEMPrekey.Key = nil
	for _, tc := range []struct {
		name     string
		rand     []byte
		id       *identity.PrivateIdentity
		bundle   *prekey.Bundle
		relay    string
		now      time.Time
		lifetime time.Duration
		err      error
	}{
		{"zero now", nil, f.id, f.bundle, relay, time.Time{}, DefaultLifetime, ErrClock},
		{"pre-1970 now", nil, f.id, f.bundle, relay, time.Unix(-1, 0), DefaultLifetime, ErrClock},
		{"lifetime too short", nil, f.id, f.bundle, relay, t0, MinLifetime - time.Second, nil},
		{"lifetime too long", nil, f.id, f.bundle, relay, t0, MaxLifetime + time.Second, nil},
		{"negative lifetime", nil, f.id, f.bundle, relay, t0, -time.Hour, nil},
		{"no scheme", nil, f.id, f.bundle, "relay.example:7070", t0, DefaultLifetime, wire.ErrMalformed},
		{"scheme only", nil, f.id, f.bundle, RelayScheme, t0, DefaultLifetime, wire.ErrMalformed},
		{"upper-case scheme", nil, f.id, f.bundle, "PARLEY-RELAY://x@y:1", t0, DefaultLifetime, wire.ErrMalformed},
		{"space", nil, f.id, f.bundle, RelayScheme + "a b", t0, DefaultLifetime, wire.ErrMalformed},
		{"control byte", nil, f.id, f.bundle, RelayScheme + "a\nb", t0, DefaultLifetime, wire.ErrMalformed},
		{"non-ASCII", nil, f.id, f.bundle, RelayScheme + "é", t0, DefaultLifetime, wire.ErrMalformed},
		{"too long", nil, f.id, f.bundle, RelayScheme + strings.Repeat("a", wire.MaxRelayAddressSize-len(RelayScheme)+1), t0, DefaultLifetime, wire.ErrMalformed},
		{"bundle without key", nil, f.id, &noKey, relay, t0, DefaultLifetime, wire.ErrMalformed},
		{"another identity's bundle", nil, f.id, other.bundle, relay, t0, DefaultLifetime, nil},
		{"last-resort bundle", nil, lastResort.id, lastResort.bundle, relay, t0, DefaultLifetime, ErrLastResort},
		{"expired bundle", nil, f.id, f.bundle, relay, t0.Add(30 * 24 * time.Hour), DefaultLifetime, prekey.ErrExpired},
		{"random source fails", make([]byte, 31), f.id, f.bundle, relay, t0, DefaultLifetime, suite.ErrRandom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var r *bytes.Reader
			if tc.rand != nil {
				r = bytes.NewReader(tc.rand)
			}
			var inv *Invite
			var sec *address.InviteSecret
			var err error
			if r != nil {
				inv, sec, err = New(r, tc.id, tc.bundle, tc.relay, tc.now, tc.lifetime)
			} else {
				inv, sec, err = New(nil, tc.id, tc.bundle, tc.relay, tc.now, tc.lifetime)
			}
			if err == nil || inv != nil || sec != nil || (tc.err != nil && !errors.Is(err, tc.err)) {
				t.Fatalf("New = %v, %v; want error %v", inv, err, tc.err)
			}
		})
	}
	// The longest relay address is accepted.
	long := RelayScheme + strings.Repeat("a", wire.MaxRelayAddressSize-len(RelayScheme))
	inv, _, err := New(nil, f.id, f.bundle, long, t0, MaxLifetime)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(inv.Bytes()); n != MaxBytesSize {
		t.Fatalf("largest invite %d bytes, MaxBytesSize %d", n, MaxBytesSize)
	}
	if n := len(inv.Text()); n != MaxTextSize {
		t.Fatalf("largest text %d, MaxTextSize %d", n, MaxTextSize)
	}
	if _, err := Parse(inv.Text(), t0); err != nil {
		t.Fatal(err)
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/time", 1)
	inv, _ := newInvite(t, f, "invite/test/time/secret")
	text := inv.Text()
	exp := t0.Add(DefaultLifetime)
	for _, tc := range []struct {
		name string
		now  time.Time
		err  error
	}{
		{"zero now", time.Time{}, ErrClock},
		{"pre-1970", time.Unix(-100, 0), ErrClock},
		{"unix zero", time.Unix(0, 0), ErrClock},
		{"at creation", t0, nil},
		{"last second", exp.Add(-time.Second), nil},
		{"at expiry", exp, ErrExpired},
		{"after expiry", exp.Add(time.Hour), ErrExpired},
		{"long before creation", t0.Add(-MaxLifetime), wire.ErrMalformed},
	} {
		_, err := Parse(text, tc.now)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
		_, err = ParseBytes(inv.Bytes(), tc.now)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s (bytes): %v, want %v", tc.name, err, tc.err)
		}
	}
}

// TestSignedFields changes each field behind the signature (with a correct
// checksum): each change fails the signature.
func TestSignedFields(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/signed", 1)
	inv, _ := newInvite(t, f, "invite/test/signed/secret")
	for _, tc := range []struct {
		name string
		mut  func(*Invite)
	}{
		{"relay address", func(i *Invite) { i.relay = strings.Replace(i.relay, "relay.example", "evil.example", 1) }},
		{"relay address length", func(i *Invite) { i.relay += "0" }},
		{"secret", func(i *Invite) { i.secret[0] ^= 1 }},
		{"expiry", func(i *Invite) { i.expires++ }},
		{"signature", func(i *Invite) { i.sig[10] ^= 0x40 }},
	} {
		c := *inv
		tc.mut(&c)
		got, err := ParseBytes(c.Bytes(), t0)
		if got != nil || !errors.Is(err, identity.ErrBadSignature) {
			t.Errorf("%s: %v, want a bad signature", tc.name, err)
		}
	}
	// A bundle from another identity, whose own signatures are fine, with
	// the original signature.
	other := fixture(t, "invite/test/signed/other", 1)
	c := *inv
	c.bundle = *other.bundle
	if _, err := ParseBytes(c.Bytes(), t0); !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("swapped bundle: %v", err)
	}
	// A swapped bundle signed by the other identity is a valid invite from
	// that identity: the signature binds the bundle's identity, not a name.
	resign(other, &c)
	if got, err := ParseBytes(c.Bytes(), t0); err != nil || !got.Inviter().Equal(other.id.Public()) {
		t.Errorf("re-signed: %v", err)
	}
}

// TestParseRules covers invites New never makes but a forger could sign.
func TestParseRules(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/rules", 1)
	inv, _ := newInvite(t, f, "invite/test/rules/secret")

	far := *inv
	far.expires = uint64(t0.Add(MaxLifetime + MaxClockSkew + time.Second).Unix())
	resign(f, &far)
	if _, err := ParseBytes(far.Bytes(), t0); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("expiry too far: %v", err)
	}
	edge := *inv
	edge.expires = uint64(t0.Add(MaxLifetime + MaxClockSkew).Unix())
	resign(f, &edge)
	if _, err := ParseBytes(edge.Bytes(), t0); err != nil {
		t.Errorf("expiry at the limit: %v", err)
	}

	// An invite outliving its prekeys fails once they expire.
	outlive := *inv
	outlive.expires = uint64(t0.Add(31 * 24 * time.Hour).Unix())
	resign(f, &outlive)
	if _, err := ParseBytes(outlive.Bytes(), t0.Add(30*24*time.Hour+time.Second)); !errors.Is(err, prekey.ErrExpired) {
		t.Errorf("expired prekeys: %v", err)
	}

	lr := fixture(t, "invite/test/rules/last-resort", 0)
	lrInv := &Invite{bundle: *lr.bundle, relay: relay, expires: inv.expires}
	resign(lr, lrInv)
	if _, err := ParseBytes(lrInv.Bytes(), t0); !errors.Is(err, ErrLastResort) {
		t.Errorf("last-resort bundle: %v", err)
	}

	for _, a := range []string{"", "x", RelayScheme, "https://relay.example", RelayScheme + "a b", RelayScheme + "\x7f"} {
		bad := *inv
		bad.relay = a
		resign(f, &bad)
		if _, err := ParseBytes(bad.Bytes(), t0); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("relay address %q: %v", a, err)
		}
	}
	// A bundle whose prekey signature is bad, under a good invite signature.
	badBundle := *inv
	badBundle.bundle.SignedPrekey.Sig[0] ^= 1
	resign(f, &badBundle)
	if _, err := ParseBytes(badBundle.Bytes(), t0); !errors.Is(err, identity.ErrBadSignature) {
		t.Errorf("bad prekey signature: %v", err)
	}
}

// TestBinaryLengths checks every truncation and one-byte extension of the
// binary invite, with the checksum recomputed so the structure is what
// rejects it, and without, where the checksum does.
func TestBinaryLengths(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/lengths", 1)
	inv, _ := newInvite(t, f, "invite/test/lengths/secret")
	m, b := inv.marshal(), inv.Bytes()
	for n := range len(m) {
		if got, err := ParseBytes(withChecksum(m[:n]), t0); got != nil || err == nil {
			t.Fatalf("truncation to %d accepted", n)
		} else if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrWrongType) {
			t.Fatalf("truncation to %d: %v", n, err)
		}
	}
	for n := range len(b) {
		if got, err := ParseBytes(b[:n], t0); got != nil || err == nil {
			t.Fatalf("raw truncation to %d accepted", n)
		}
	}
	for _, x := range []byte{0, 1, 0xff} {
		if got, err := ParseBytes(withChecksum(append(bytes.Clone(m), x)), t0); got != nil || !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("extension by %#x: %v", x, err)
		}
		if got, err := ParseBytes(append(bytes.Clone(b), x), t0); got != nil || !errors.Is(err, ErrChecksum) {
			t.Fatalf("raw extension by %#x: %v", x, err)
		}
	}
	if _, err := ParseBytes(make([]byte, MaxBytesSize+1), t0); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
}

// TestBinaryBitFlips flips bits of the binary invite. Without a recomputed
// checksum every flip is ErrChecksum. With one, every flip is still
// rejected: by the structure, the signature or the bundle checks. Under
// js/wasm and the race detector the second pass flips one bit per byte.
func TestBinaryBitFlips(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/flips", 1)
	inv, _ := newInvite(t, f, "invite/test/flips/secret")
	m, b := inv.marshal(), inv.Bytes()
	for i := range len(b) * 8 {
		c := bytes.Clone(b)
		c[i/8] ^= 1 << (i % 8)
		if got, err := ParseBytes(c, t0); got != nil || !errors.Is(err, ErrChecksum) {
			t.Fatalf("flip of bit %d: %v", i, err)
		}
	}
	for i := range len(m) * 8 {
		if (runtime.GOOS == "js" || raceEnabled || testing.Short()) && i%8 != (i/8)%8 {
			continue
		}
		c := bytes.Clone(m)
		c[i/8] ^= 1 << (i % 8)
		if got, err := ParseBytes(withChecksum(c), t0); got != nil || err == nil {
			t.Fatalf("flip of bit %d (byte %d) accepted", i, i/8)
		}
	}
}

// TestText checks the strictness of the text form: every truncation, every
// one-character extension, case, padding, white space, bit flips and a
// single-character typo anywhere.
func TestText(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/text", 1)
	inv, _ := newInvite(t, f, "invite/test/text/secret")
	text := inv.Text()
	for n := range len(text) {
		if got, err := Parse(text[:n], t0); got != nil || err == nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for _, c := range alphabet + "=A \n" {
		if got, err := Parse(text+string(c), t0); got != nil || err == nil {
			t.Fatalf("extension by %q accepted", c)
		}
	}
	body := text[len(Prefix):]
	for _, tc := range []struct {
		name, text string
		err        error
	}{
		{"upper-case prefix", "PARLEY:" + body, wire.ErrMalformed},
		{"upper-case text", strings.ToUpper(text), wire.ErrMalformed},
		{"upper-case body", Prefix + strings.ToUpper(body), wire.ErrMalformed},
		{"no prefix", body, wire.ErrMalformed},
		{"URL prefix", "parley://" + body, wire.ErrMalformed},
		{"leading space", " " + text, wire.ErrMalformed},
		{"trailing newline", text + "\n", wire.ErrMalformed},
		{"line break inside", text[:100] + "\n" + text[100:], wire.ErrMalformed},
		{"CRLF inside", text[:100] + "\r\n" + text[100:], wire.ErrMalformed},
		{"padding", text + strings.Repeat("=", (8-len(body)%8)%8), wire.ErrMalformed},
		{"oversized", Prefix + strings.Repeat("a", MaxTextSize), wire.ErrTooLarge},
		{"empty", "", wire.ErrMalformed},
		{"prefix only", Prefix, wire.ErrMalformed},
	} {
		if got, err := Parse(tc.text, t0); got != nil || !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	// Non-zero trailing bits in the last character decode to the same bytes
	// but are not canonical.
	last := strings.IndexByte(alphabet, body[len(body)-1])
	if unused := len(body) * 5 % 8; unused == 0 {
		t.Fatalf("fixture: %d base32 characters leave no unused bits", len(body))
	}
	alt := text[:len(text)-1] + string(alphabet[last^1]) // flips the lowest, unused bit
	if got, err := Parse(alt, t0); got != nil || !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("non-zero trailing bits: %v", err)
	}
	// Every bit flip of every character is refused: the prefix no longer
	// matches, the character leaves the alphabet, or the checksum fails.
	// Under js/wasm and the race detector, every fifth character.
	for i := range len(text) {
		if (runtime.GOOS == "js" || raceEnabled || testing.Short()) && i%5 != 0 {
			continue
		}
		for bit := range 8 {
			flipped := []byte(text)
			flipped[i] ^= 1 << bit
			if got, err := Parse(string(flipped), t0); got != nil || err == nil {
				t.Fatalf("flip of bit %d of character %d accepted", bit, i)
			}
		}
	}
	// A one-character typo anywhere after the prefix is a checksum error
	// (or, in the last character, a non-canonical encoding). Under js/wasm,
	// every seventh position.
	for i := len(Prefix); i < len(text); i++ {
		if (runtime.GOOS == "js" || testing.Short()) && i%7 != 0 && i != len(text)-1 {
			continue
		}
		c := alphabet[(strings.IndexByte(alphabet, text[i])+9)%32]
		typo := text[:i] + string(c) + text[i+1:]
		_, err := Parse(typo, t0)
		if !errors.Is(err, ErrChecksum) && !(i == len(text)-1 && errors.Is(err, wire.ErrMalformed)) {
			t.Fatalf("typo at %d: %v", i, err)
		}
	}
}

// TestFingerprint checks that the fingerprint is the first 20 digits of the
// identity's half of the safety number, so the UI's preview reappears when
// the users verify.
func TestFingerprint(t *testing.T) {
	t.Parallel()
	a := fixture(t, "invite/test/fp/a", 0).id.Public()
	b := fixture(t, "invite/test/fp/b", 0).id.Public()
	fa, fb := Fingerprint(a), Fingerprint(b)
	if len(fa) != FingerprintDigits+FingerprintDigits/5-1 || fa == fb {
		t.Fatalf("fingerprints %q %q", fa, fb)
	}
	for _, d := range strings.Split(fa, " ") {
		if len(d) != 5 || strings.Trim(d, "0123456789") != "" {
			t.Fatalf("group %q", d)
		}
	}
	digits := func(x, y *identity.PublicIdentity) string {
		sn := identity.NewSafetyNumber(x, y)
		return strings.ReplaceAll(sn.Digits(), " ", "")
	}
	flat := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	if got := digits(a, a); got[:FingerprintDigits] != flat(fa) || got[30:30+FingerprintDigits] != flat(fa) {
		t.Fatalf("fingerprint %s is not in the safety number %s", fa, got)
	}
	ab := digits(a, b)
	halves := []string{ab[:30], ab[30:]}
	if !(halves[0][:20] == flat(fa) && halves[1][:20] == flat(fb)) && !(halves[1][:20] == flat(fa) && halves[0][:20] == flat(fb)) {
		t.Fatalf("fingerprints %s / %s not the halves of %s", fa, fb, ab)
	}
}

// TestNoSecretPrinted checks that formatting an invite prints neither its
// secret nor its text.
func TestNoSecretPrinted(t *testing.T) {
	t.Parallel()
	f := fixture(t, "invite/test/print", 1)
	inv, sec := newInvite(t, f, "invite/test/print/secret")
	sb := sec.Bytes()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, x := range []any{inv, *inv} {
			out := fmt.Sprintf(verb, x)
			if strings.Contains(out, hex.EncodeToString(sb[:8])) || strings.Contains(out, fmt.Sprint(sb[:4])) ||
				strings.Contains(out, inv.Text()[len(Prefix):len(Prefix)+20]) || !strings.Contains(out, inv.Fingerprint()) {
				t.Errorf("%s prints %q", verb, out)
			}
		}
	}
}

// Vectors.

type vector struct {
	Name          string `json:"name"`
	Now           int64  `json:"now,string"`
	Text          string `json:"text"`
	Bytes         string `json:"bytes"`
	Relay         string `json:"relay_address"`
	InviteSecret  string `json:"invite_secret"`
	Expires       int64  `json:"expires,string"`
	Inviter       string `json:"inviter_identity"`
	Fingerprint   string `json:"fingerprint"`
	FirstContact  string `json:"first_contact_token"`
	FirstSealKey  string `json:"first_contact_seal_key"`
	BundleEncoded string `json:"bundle"`
}

func generateVectors(t testing.TB) []vector {
	var out []vector
	for i, addr := range []string{relay, "parley-relay://k@abcdefghijklmnopqrstuvwxyz234567abcdefghijklmnopqrstuvw.onion:443"} {
		name := fmt.Sprintf("invite/%d", i+1)
		f := fixture(t, name, 1)
		lifetime := DefaultLifetime * time.Duration(i+1)
		inv, sec, err := New(testrand.New(name+"/secret"), f.id, f.bundle, addr, t0, lifetime)
		if err != nil {
			t.Fatal(err)
		}
		sb, tok, key := sec.Bytes(), sec.FirstContactToken(), sec.FirstContactSealKey()
		out = append(out, vector{Name: name, Now: t0.Unix(), Text: inv.Text(), Bytes: hex.EncodeToString(inv.Bytes()),
			Relay: addr, InviteSecret: hex.EncodeToString(sb[:]), Expires: inv.Expires().Unix(),
			Inviter: hex.EncodeToString(f.id.Public().Marshal()), Fingerprint: inv.Fingerprint(),
			FirstContact: hex.EncodeToString(tok[:]), FirstSealKey: hex.EncodeToString(key[:]),
			BundleEncoded: hex.EncodeToString(f.bundle.Marshal())})
	}
	return out
}

func readVectors(t testing.TB) []vector {
	t.Helper()
	var vs []vector
	vectortest.Read(t, vectorFile, &vs)
	return vs
}

// TestVectors regenerates the vectors and compares them byte for byte with
// the file, then replays the file: each text parses at its time to the
// recorded fields and re-encodes identically.
func TestVectors(t *testing.T) {
	vectortest.Check(t, vectorFile, "\t", generateVectors(t))
	vs := readVectors(t)
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for _, v := range vs {
		now := time.Unix(v.Now, 0)
		inv, err := Parse(v.Text, now)
		if err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
		fromBytes, err := ParseBytes(vectortest.Unhex(t, v.Bytes), now)
		if err != nil || fromBytes.Text() != v.Text {
			t.Fatalf("%s: bytes: %v", v.Name, err)
		}
		sb, tok := inv.Secret().Bytes(), inv.ID()
		key := inv.Secret().FirstContactSealKey()
		switch {
		case inv.Text() != v.Text:
			t.Errorf("%s: re-encoding", v.Name)
		case inv.RelayAddress() != v.Relay, inv.Expires().Unix() != v.Expires, inv.Fingerprint() != v.Fingerprint:
			t.Errorf("%s: fields", v.Name)
		case !bytes.Equal(sb[:], vectortest.Unhex(t, v.InviteSecret)), !bytes.Equal(tok[:], vectortest.Unhex(t, v.FirstContact)),
			!bytes.Equal(key[:], vectortest.Unhex(t, v.FirstSealKey)):
			t.Errorf("%s: secret", v.Name)
		case !bytes.Equal(inv.Inviter().Marshal(), vectortest.Unhex(t, v.Inviter)), !bytes.Equal(inv.Bundle().Marshal(), vectortest.Unhex(t, v.BundleEncoded)):
			t.Errorf("%s: inviter / bundle", v.Name)
		}
		if _, err := Parse(v.Text, time.Unix(v.Expires, 0)); !errors.Is(err, ErrExpired) {
			t.Errorf("%s: at expiry: %v", v.Name, err)
		}
	}
}

func ExampleNew() {
	// The inviter's identity and prekeys (a deterministic source stands in
	// for crypto/rand).
	r := testrand.New("example")
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	id, _ := identity.Generate(r)
	keys, _ := prekey.Generate(r, id, now, 30*24*time.Hour, 10)
	bundle, _ := keys.Bundle(now)

	inv, secret, err := New(r, id, bundle, "parley-relay://key@relay.example:7070", now, DefaultLifetime)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = secret // the inviter stores it, encrypted, until first contact
	text := inv.Text()
	fmt.Println(text[:20]+"…", len(text), "characters")

	// The invitee parses it and sees whom it is from before accepting.
	got, err := Parse(text, now.Add(time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got)
	fmt.Println(got.RelayAddress())

	// A typo is reported as such.
	typo := text[:100] + "q" + text[101:]
	if text[100] == 'q' {
		typo = text[:100] + "r" + text[101:]
	}
	_, err = Parse(typo, now)
	fmt.Println(errors.Is(err, ErrChecksum))
	// Output:
	// parley:maareaibafico… 2703 characters
	// parley invite from 31699 95737 77316 48703, expires 2025-01-08T12:00:00Z
	// parley-relay://key@relay.example:7070
	// true
}

func BenchmarkParse(b *testing.B) {
	f := fixture(b, "invite/bench", 1)
	inv, _ := newInvite(b, f, "invite/bench/secret")
	text := inv.Text()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(text, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	f := fixture(b, "invite/bench", 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := New(nil, f.id, f.bundle, relay, t0, DefaultLifetime); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFingerprint(b *testing.B) {
	id := fixture(b, "invite/bench", 0).id.Public()
	b.ReportAllocs()
	for b.Loop() {
		Fingerprint(id)
	}
}
