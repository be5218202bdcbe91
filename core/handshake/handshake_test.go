package handshake_test

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/parley-im/parley/core/handshake"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// testNow is the fixed clock of every handshake test and vector.
var testNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const testLifetime = 30 * 24 * time.Hour

// party is an identity with its prekeys.
type party struct {
	id      *identity.PrivateIdentity
	secrets *prekey.Secrets
}

// newParty draws an identity and then its prekeys from testrand.New(name).
func newParty(t testing.TB, name string, oneTime int) party {
	t.Helper()
	r := testrand.New(name)
	id, err := identity.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	s, err := prekey.Generate(r, id, testNow, testLifetime, oneTime)
	if err != nil {
		t.Fatal(err)
	}
	return party{id, s}
}

// withKeys gives id prekeys drawn from another stream: same ids, other keys.
func withKeys(t testing.TB, id *identity.PrivateIdentity, name string, oneTime int) *prekey.Secrets {
	t.Helper()
	s, err := prekey.Generate(testrand.New(name), id, testNow, testLifetime, oneTime)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bundleOf(t testing.TB, p party) *prekey.Bundle {
	t.Helper()
	b, err := p.secrets.Bundle(testNow)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// contact runs Initiate from a to b's next bundle.
func contact(t testing.TB, a *identity.PrivateIdentity, b party, seed string) (*handshake.InitMessage, *handshake.Result) {
	t.Helper()
	msg, res, err := handshake.Initiate(testrand.New(seed), a, bundleOf(t, b), testNow)
	if err != nil {
		t.Fatal(err)
	}
	return msg, res
}

func TestAgreement(t *testing.T) {
	t.Parallel()
	for _, oneTime := range []int{1, 0} {
		name := map[int]string{1: "one-time", 0: "last-resort"}[oneTime]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bob := newParty(t, "bob", oneTime)
			alice := newParty(t, "alice", 0)
			bundle := bundleOf(t, bob)
			msg, ra, err := handshake.Initiate(nil, alice.id, bundle, testNow)
			if err != nil {
				t.Fatal(err)
			}
			// Over the wire.
			parsed, err := handshake.ParseInitMessage(msg.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			rb, err := handshake.Respond(bob.id, bob.secrets, parsed, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if ra.SharedSecret != rb.SharedSecret || ra.Transcript != rb.Transcript || !bytes.Equal(ra.AD, rb.AD) {
				t.Fatal("parties disagree")
			}
			if ra.SharedSecret == ([32]byte{}) {
				t.Fatal("all-zero secret")
			}
			wantAD := append(alice.id.Public().Marshal(), bob.id.Public().Marshal()...)
			if !bytes.Equal(ra.AD, wantAD) {
				t.Fatal("AD is not initiator || responder identity")
			}
			if !ra.Peer.Equal(bob.id.Public()) || !rb.Peer.Equal(alice.id.Public()) {
				t.Fatal("wrong peers")
			}
			if ra.LastResort != (oneTime == 0) || rb.LastResort != ra.LastResort {
				t.Fatal("wrong LastResort")
			}
			if ra.PeerRatchetKey != bundle.SignedPrekey.Key || rb.RatchetKey.Public() != bundle.SignedPrekey.Key {
				t.Fatal("DH ratchet keys are not the signed prekey")
			}
			if !ra.RatchetKEM.Public().Equal(msg.RatchetKEM) || !rb.PeerRatchetKEM.Equal(msg.RatchetKEM) {
				t.Fatal("KEM ratchet keys differ")
			}
			ra.Clear()
			if ra.SharedSecret != ([32]byte{}) || ra.RatchetKEM.Seed() != ([32]byte{}) {
				t.Fatal("Clear left secrets")
			}
		})
	}
}

// TestMessageTampering: changing any field of the init message either makes
// Respond fail or yields a different shared secret and transcript.
func TestMessageTampering(t *testing.T) {
	t.Parallel()
	carol := newParty(t, "carol", 0)
	otherEK, err := suite.GenerateDH(testrand.New("other ephemeral"))
	if err != nil {
		t.Fatal(err)
	}
	otherKEM, err := suite.GenerateKEM(testrand.New("other ratchet"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fn   func(m *handshake.InitMessage)
		want error // nil: Respond succeeds but must disagree
	}{
		{"initiator identity", func(m *handshake.InitMessage) { m.Initiator = *carol.id.Public() }, nil},
		{"initiator binding", func(m *handshake.InitMessage) { m.Initiator.Binding[9] ^= 1 }, identity.ErrBadSignature},
		{"initiator DH key", func(m *handshake.InitMessage) { m.Initiator.DHKey[0] ^= 1 }, identity.ErrBadSignature},
		{"ephemeral key", func(m *handshake.InitMessage) { m.Ephemeral = otherEK.Public() }, nil},
		{"ephemeral low order", func(m *handshake.InitMessage) { m.Ephemeral = suite.DHPublicKey{} }, suite.ErrZeroDH},
		{"signed prekey id", func(m *handshake.InitMessage) { m.SignedPrekeyID += 100 }, prekey.ErrUnknownPrekey},
		{"KEM prekey id: other one-time", func(m *handshake.InitMessage) { m.KEMPrekeyID++ }, nil},
		{"KEM prekey id: last resort", func(m *handshake.InitMessage) { m.KEMPrekeyID = 2 }, nil},
		{"KEM prekey id: unknown", func(m *handshake.InitMessage) { m.KEMPrekeyID = 1000 }, prekey.ErrUnknownPrekey},
		{"ciphertext", func(m *handshake.InitMessage) { m.KEMCiphertext[100] ^= 4 }, nil},
		{"ciphertext X25519 part", func(m *handshake.InitMessage) { m.KEMCiphertext[suite.KEMCiphertextSize-1] ^= 1 }, nil},
		{"ratchet KEM key", func(m *handshake.InitMessage) { m.RatchetKEM = otherKEM.Public() }, nil},
		{"ratchet KEM key missing", func(m *handshake.InitMessage) { m.RatchetKEM = nil }, wire.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bob := newParty(t, "bob", 2) // ids: SPK 1, last resort 2, one-time 3, 4
			alice := newParty(t, "alice", 0)
			msg, ra := contact(t, alice.id, bob, "initiate")
			if msg.KEMPrekeyID != 3 {
				t.Fatalf("fixture changed: KEM prekey id %d", msg.KEMPrekeyID)
			}
			before := bob.secrets.Marshal()
			tc.fn(msg)
			rb, err := handshake.Respond(bob.id, bob.secrets, msg, testNow)
			if tc.want != nil {
				if !errors.Is(err, tc.want) || rb != nil {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
				if !bytes.Equal(bob.secrets.Marshal(), before) {
					t.Fatal("a failed Respond changed the prekeys")
				}
				return
			}
			if err != nil {
				t.Fatalf("Respond: %v", err)
			}
			if rb.SharedSecret == ra.SharedSecret || rb.Transcript == ra.Transcript {
				t.Fatal("tampered message still agrees")
			}
		})
	}
}

// TestResponderSideChanges: a responder whose identity or prekeys differ
// from the bundle's (same ids, other keys) never agrees.
func TestResponderSideChanges(t *testing.T) {
	t.Parallel()
	alice := newParty(t, "alice", 0)
	for _, oneTime := range []int{1, 0} {
		bob := newParty(t, "bob", oneTime)
		msg, ra := contact(t, alice.id, bob, "initiate")

		// Same identity, prekeys regenerated from another stream.
		rb, err := handshake.Respond(bob.id, withKeys(t, bob.id, "bob other keys", oneTime), msg, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if rb.SharedSecret == ra.SharedSecret {
			t.Fatal("other prekeys agree")
		}
		// Another identity with prekeys of the same ids.
		carol := newParty(t, "carol", oneTime)
		rc, err := handshake.Respond(carol.id, carol.secrets, msg, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if rc.SharedSecret == ra.SharedSecret {
			t.Fatal("another responder identity agrees")
		}
		// Prekeys of another identity.
		if _, err := handshake.Respond(bob.id, carol.secrets, msg, testNow); err == nil {
			t.Fatal("responded with another identity's prekeys")
		}
	}
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestInitiateRejectsBundle: a bundle that is expired, badly signed or
// checked without a clock is refused before any randomness is drawn.
func TestInitiateRejectsBundle(t *testing.T) {
	t.Parallel()
	bob := newParty(t, "bob", 1)
	alice := newParty(t, "alice", 0)
	good := bundleOf(t, bob)
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
		{"zero clock", good, time.Time{}, prekey.ErrClock},
		{"expired", good, good.SignedPrekey.Expires, prekey.ErrExpired},
		{"expired long ago", good, testNow.Add(365 * 24 * time.Hour), prekey.ErrExpired},
		{"bad signed prekey signature", mut(func(b *prekey.Bundle) { b.SignedPrekey.Sig[0] ^= 1 }), testNow, identity.ErrBadSignature},
		{"bad KEM prekey signature", mut(func(b *prekey.Bundle) { b.KEMPrekey.Sig[0] ^= 1 }), testNow, identity.ErrBadSignature},
		{"substituted signed prekey", mut(func(b *prekey.Bundle) { b.SignedPrekey.Key[0] ^= 1 }), testNow, identity.ErrBadSignature},
		{"bad identity binding", mut(func(b *prekey.Bundle) { b.Identity.DHKey[0] ^= 1 }), testNow, identity.ErrBadSignature},
		{"missing KEM key", mut(func(b *prekey.Bundle) { b.KEMPrekey.Key = nil }), testNow, wire.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := &countingReader{r: testrand.New("initiate")}
			msg, res, err := handshake.Initiate(r, alice.id, tc.b, tc.now)
			if !errors.Is(err, tc.want) || msg != nil || res != nil {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if r.n != 0 {
				t.Fatalf("%d random bytes drawn before the bundle was checked", r.n)
			}
		})
	}
}

// TestOneTimePrekeyConsumed: a one-time prekey is deleted when used, so
// the same init message (or any other to that prekey) fails afterwards.
func TestOneTimePrekeyConsumed(t *testing.T) {
	t.Parallel()
	bob := newParty(t, "bob", 1)
	alice := newParty(t, "alice", 0)
	msg, _ := contact(t, alice.id, bob, "initiate")
	if _, err := handshake.Respond(bob.id, bob.secrets, msg, testNow); err != nil {
		t.Fatal(err)
	}
	if _, _, err := bob.secrets.KEMPrekey(msg.KEMPrekeyID, testNow); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("one-time prekey still held: %v", err)
	}
	if _, err := handshake.Respond(bob.id, bob.secrets, msg, testNow); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("second Respond: %v", err)
	}
	// Also after a storage round trip.
	reloaded, err := prekey.ParseSecrets(bob.secrets.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handshake.Respond(bob.id, reloaded, msg, testNow); !errors.Is(err, prekey.ErrUnknownPrekey) {
		t.Fatalf("Respond after reload: %v", err)
	}
}

// TestLastResortReplay: the last-resort prekey is never consumed, so a
// replayed init message succeeds again — with the same Transcript, which is
// what the caller's replay check keys on — while a fresh one differs.
func TestLastResortReplay(t *testing.T) {
	t.Parallel()
	bob := newParty(t, "bob", 0)
	alice := newParty(t, "alice", 0)
	msg, ra := contact(t, alice.id, bob, "initiate")
	r1, err := handshake.Respond(bob.id, bob.secrets, msg, testNow)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := handshake.Respond(bob.id, bob.secrets, msg, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !r1.LastResort || r1.Transcript != r2.Transcript || r1.Transcript != ra.Transcript {
		t.Fatal("replay not recognisable by transcript")
	}
	msg2, _ := contact(t, alice.id, bob, "initiate again")
	r3, err := handshake.Respond(bob.id, bob.secrets, msg2, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if r3.Transcript == r1.Transcript || r3.SharedSecret == r1.SharedSecret {
		t.Fatal("fresh init message repeats the transcript")
	}
}

func TestRespondErrors(t *testing.T) {
	t.Parallel()
	bob := newParty(t, "bob", 1)
	alice := newParty(t, "alice", 0)
	msg, _ := contact(t, alice.id, bob, "initiate")
	exp := bundleOf(t, bob).SignedPrekey.Expires
	before := bob.secrets.Marshal()
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"zero clock", time.Time{}, prekey.ErrClock},
		{"clock before 1970", time.Unix(-1, 0), prekey.ErrClock},
		{"prekeys expired", exp, prekey.ErrExpired},
	}
	for _, tc := range tests {
		if _, err := handshake.Respond(bob.id, bob.secrets, msg, tc.now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := handshake.Respond(alice.id, bob.secrets, msg, testNow); err == nil {
		t.Error("responded with prekeys of another identity")
	}
	if _, err := handshake.Respond(bob.id, bob.secrets, nil, testNow); err == nil {
		t.Error("nil message accepted")
	}
	if !bytes.Equal(before, bob.secrets.Marshal()) {
		t.Error("failed Respond calls changed the prekeys")
	}
	if _, _, err := handshake.Initiate(nil, nil, bundleOf(t, bob), testNow); err == nil {
		t.Error("nil identity accepted")
	}
}

func TestInitMessageSize(t *testing.T) {
	t.Parallel()
	msg, _ := contact(t, newParty(t, "alice", 0).id, newParty(t, "bob", 0), "initiate")
	if n := len(msg.Marshal()); n != handshake.InitMessageSize || handshake.InitMessageSize != 2508 {
		t.Fatalf("init message is %d bytes", n)
	}
}

// TestInitMessageBadLengths: every truncation and one-byte extension is
// rejected.
func TestInitMessageBadLengths(t *testing.T) {
	t.Parallel()
	msg, _ := contact(t, newParty(t, "alice", 0).id, newParty(t, "bob", 0), "initiate")
	enc := msg.Marshal()
	for n := range len(enc) {
		m, err := handshake.ParseInitMessage(enc[:n])
		if m != nil || !(errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrWrongType)) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for _, c := range []byte{0, 1, 0xff} {
		m, err := handshake.ParseInitMessage(append(bytes.Clone(enc), c))
		if m != nil || !errors.Is(err, wire.ErrTooLarge) {
			t.Fatalf("extended by %#x: %v", c, err)
		}
	}
	for _, off := range []int{0, wire.HeaderSize} {
		b := bytes.Clone(enc)
		b[off] ^= 0x80
		if _, err := handshake.ParseInitMessage(b); !errors.Is(err, wire.ErrWrongType) {
			t.Errorf("tag at %d: %v", off, err)
		}
		b = bytes.Clone(enc)
		b[off+1] = 0
		if _, err := handshake.ParseInitMessage(b); !errors.Is(err, wire.ErrVersion) {
			t.Errorf("version at %d: %v", off+1, err)
		}
	}
}

// TestInitMessageBitFlips: a bit flip anywhere in the init message makes
// ParseInitMessage or Respond fail, or the shared secret differ. The
// initiator identity is authenticated at parse time by its binding; the
// other fields are not authenticated by the message itself (it has no MAC)
// but every one of them feeds the transcript or a DH/KEM input, so the
// responder derives another key and the first ratchet message fails to
// open. Every bit of the header, identity, ephemeral key and ids is tried;
// in the ciphertext and ratchet key one bit per byte (rotating), and under
// js/wasm or the race detector every 13th bit overall.
func TestInitMessageBitFlips(t *testing.T) {
	t.Parallel()
	bob := newParty(t, "bob", 0)
	msg, ra := contact(t, newParty(t, "alice", 0).id, bob, "initiate")
	enc := msg.Marshal()
	const bulk = wire.HeaderSize + identity.PublicSize + suite.DHPublicKeySize + 8
	for i := 0; i < len(enc)*8; i++ {
		if runtime.GOOS == "js" || raceEnabled {
			if i%13 != 0 {
				continue
			}
		} else if i/8 >= bulk && i%8 != (i/8)%8 {
			continue
		}
		x := bytes.Clone(enc)
		x[i/8] ^= 1 << (i % 8)
		m, err := handshake.ParseInitMessage(x)
		if err != nil {
			if m != nil {
				t.Fatalf("bit %d: result with error", i)
			}
			continue
		}
		rb, err := handshake.Respond(bob.id, bob.secrets, m, testNow)
		if err == nil && rb.SharedSecret == ra.SharedSecret {
			t.Fatalf("bit %d (byte %d) flipped: still agrees", i, i/8)
		}
	}
}

// TestOwnIdentityRefused checks that neither side runs a first contact with
// itself: an initiator refuses its own bundle, and a responder refuses an
// init message whose initiator shares its Ed25519 or its X25519 key (a
// reflected message, or another signing key bound to our X25519 key).
func TestOwnIdentityRefused(t *testing.T) {
	t.Parallel()
	bob := newParty(t, "bob", 2)
	alice := newParty(t, "alice", 0)
	if _, _, err := handshake.Initiate(testrand.New("self"), bob.id, bundleOf(t, bob), testNow); !errors.Is(err, handshake.ErrOwnIdentity) {
		t.Errorf("Initiate to own bundle: %v, want ErrOwnIdentity", err)
	}

	eve, err := identity.Generate(testrand.New("eve"))
	if err != nil {
		t.Fatal(err)
	}
	bobPub := bob.id.Public()
	// Eve's signing key bound (validly, by Eve) to Bob's X25519 key.
	boundToBob := identity.PublicIdentity{SigningKey: eve.Public().SigningKey, DHKey: bobPub.DHKey}
	boundToBob.Binding = eve.Sign(suite.LabelIdentityBinding, boundToBob.SigningKey[:], boundToBob.DHKey[:])
	if err := boundToBob.Verify(); err != nil {
		t.Fatal(err)
	}
	msg, _ := contact(t, alice.id, bob, "initiate")
	before := bob.secrets.Marshal()
	for _, tc := range []struct {
		name string
		id   identity.PublicIdentity
	}{
		{"reflected (Bob as initiator)", *bobPub},
		{"Bob's X25519 key under another signing key", boundToBob},
	} {
		m := *msg
		m.Initiator = tc.id
		// A parsed message takes the same path as one built by hand.
		parsed, err := handshake.ParseInitMessage(m.Marshal())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, in := range []*handshake.InitMessage{&m, parsed} {
			if _, err := handshake.Respond(bob.id, bob.secrets, in, testNow); !errors.Is(err, handshake.ErrOwnIdentity) {
				t.Errorf("%s: Respond: %v, want ErrOwnIdentity", tc.name, err)
			}
		}
	}
	if !bytes.Equal(before, bob.secrets.Marshal()) {
		t.Error("refused init messages changed the prekeys")
	}
	// The genuine message still works.
	if _, err := handshake.Respond(bob.id, bob.secrets, msg, testNow); err != nil {
		t.Fatal(err)
	}
}
