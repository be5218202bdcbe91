package session_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/envelope"
	"github.com/parley-im/parley/core/handshake"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/core/wire"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const relayAddr = "parley-relay://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@127.0.0.1:7070"

// pair is an inviter (responder) and an invitee (initiator) after first
// contact.
type pair struct {
	inviter, invitee       *identity.PrivateIdentity
	keys                   *prekey.Secrets
	inv                    *invite.Invite
	secret                 *address.InviteSecret
	alice, bob             *session.Conversation // alice = inviter, bob = invitee
	firstBlob              []byte
	firstToken             address.Token
	firstPayload, received *session.Payload
}

func text(t testing.TB, r *testrand.Reader, s string, now time.Time) *session.Payload {
	t.Helper()
	p, err := session.NewText(r, s, now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newPair runs invite → first contact → accept with deterministic
// randomness named name.
func newPair(t testing.TB, name string) *pair {
	t.Helper()
	r := testrand.New(name)
	p := &pair{}
	var err error
	if p.inviter, err = identity.Generate(r); err != nil {
		t.Fatal(err)
	}
	if p.invitee, err = identity.Generate(r); err != nil {
		t.Fatal(err)
	}
	if p.keys, err = prekey.Generate(r, p.inviter, t0, 30*24*time.Hour, 3); err != nil {
		t.Fatal(err)
	}
	bundle, err := p.keys.Bundle(t0)
	if err != nil {
		t.Fatal(err)
	}
	inv, secret, err := invite.New(r, p.inviter, bundle, relayAddr, t0, invite.DefaultLifetime)
	if err != nil {
		t.Fatal(err)
	}
	// The invitee receives the text form.
	p.inv, err = invite.Parse(inv.Text(), t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p.secret = secret
	p.firstPayload = text(t, r, "hello from bob", t0.Add(time.Minute))
	bob, out, err := session.Begin(r, p.invitee, p.inv.Bundle(), p.inv.Secret(), p.firstPayload, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if out.Token != p.inv.ID() {
		t.Fatal("first contact not addressed to the invite's first-contact token")
	}
	p.bob, p.firstBlob, p.firstToken = bob, out.Blob, out.Token
	acc, err := session.Accept(p.inviter, p.keys, secret, out.Blob, t0.Add(2*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p.alice, p.received, p.keys = acc.Conversation, acc.First, acc.Keys
	return p
}

// deliver sends text from one side and opens it on the other.
func deliver(t testing.TB, r *testrand.Reader, from, to *session.Conversation, s string, now time.Time) *session.Outgoing {
	t.Helper()
	out, err := from.Send(r, text(t, r, s, now), now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := to.Receive(out.Token, out.Blob, now)
	if err != nil {
		t.Fatalf("receive %q: %v", s, err)
	}
	if string(got.Body) != s {
		t.Fatalf("got %q, want %q", got.Body, s)
	}
	return out
}

func TestConversation(t *testing.T) {
	t.Parallel()
	p := newPair(t, "session conversation")
	if string(p.received.Body) != "hello from bob" || p.received.ID != p.firstPayload.ID {
		t.Fatalf("first message: %+v", p.received)
	}
	if !p.alice.Peer().Equal(p.invitee.Public()) || !p.bob.Peer().Equal(p.inviter.Public()) {
		t.Fatal("peers do not match identities")
	}
	if p.alice.Role() != session.Responder || p.bob.Role() != session.Initiator {
		t.Fatal("roles")
	}
	an := identity.NewSafetyNumber(p.inviter.Public(), p.alice.Peer())
	bn := identity.NewSafetyNumber(p.invitee.Public(), p.bob.Peer())
	if an.Digits() != bn.Digits() {
		t.Fatal("safety numbers differ")
	}
	r := testrand.New("session conversation messages")
	now := t0.Add(3 * time.Minute)
	for i := range 20 {
		deliver(t, r, p.alice, p.bob, fmt.Sprintf("a%d", i), now)
		deliver(t, r, p.bob, p.alice, fmt.Sprintf("b%d", i), now)
		if i%3 == 0 {
			deliver(t, r, p.bob, p.alice, fmt.Sprintf("b%d'", i), now)
		}
	}
	// The tokens of the two directions differ, and rotate with the epoch.
	a1 := deliver(t, r, p.alice, p.bob, "x", now)
	b1 := deliver(t, r, p.bob, p.alice, "y", now)
	later := now.Add(address.DefaultEpochLength)
	a2 := deliver(t, r, p.alice, p.bob, "x", later)
	if a1.Token == b1.Token || a1.Token == a2.Token {
		t.Fatal("tokens do not separate directions and epochs")
	}
}

func TestDuplicateAndForeign(t *testing.T) {
	t.Parallel()
	p := newPair(t, "session duplicate")
	r := testrand.New("session duplicate messages")
	now := t0.Add(3 * time.Minute)
	out := deliver(t, r, p.alice, p.bob, "once", now)
	if _, err := p.bob.Receive(out.Token, out.Blob, now); !errors.Is(err, session.ErrDuplicate) {
		t.Fatalf("replay: %v, want ErrDuplicate", err)
	}
	// A blob for another mailbox, or the right blob under another token.
	other := newPair(t, "session duplicate other")
	o2, err := other.alice.Send(r, text(t, r, "stranger", now), now)
	if err != nil {
		t.Fatal(err)
	}
	before := p.bob.Marshal()
	for _, c := range []struct {
		name  string
		token address.Token
		blob  []byte
	}{
		{"foreign token", o2.Token, o2.Blob},
		{"foreign blob on our token", out.Token, o2.Blob},
	} {
		if _, err := p.bob.Receive(c.token, c.blob, now); !errors.Is(err, session.ErrNotForUs) {
			t.Errorf("%s: %v, want ErrNotForUs", c.name, err)
		}
	}
	if !bytes.Equal(before, p.bob.Marshal()) {
		t.Fatal("rejected blobs changed the conversation")
	}
	// Our own blob is not a message to us.
	own, err := p.bob.Send(r, text(t, r, "mine", now), now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.bob.Receive(own.Token, own.Blob, now); !errors.Is(err, session.ErrNotForUs) {
		t.Errorf("own blob: %v, want ErrNotForUs", err)
	}
}

func TestBitFlipsChangeNothing(t *testing.T) {
	t.Parallel()
	p := newPair(t, "session bitflips")
	r := testrand.New("session bitflips messages")
	now := t0.Add(3 * time.Minute)
	out, err := p.alice.Send(r, text(t, r, "flip me", now), now)
	if err != nil {
		t.Fatal(err)
	}
	before := p.bob.Marshal()
	step := 1
	if testing.Short() {
		step = 7
	}
	for i := 0; i < len(out.Blob)*8; i += step {
		b := bytes.Clone(out.Blob)
		b[i/8] ^= 1 << (i % 8)
		if _, err := p.bob.Receive(out.Token, b, now); !errors.Is(err, session.ErrNotForUs) {
			t.Fatalf("bit %d: %v, want ErrNotForUs", i, err)
		}
	}
	for n := range len(out.Blob) {
		if _, err := p.bob.Receive(out.Token, out.Blob[:n], now); err == nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	if _, err := p.bob.Receive(out.Token, append(bytes.Clone(out.Blob), 0), now); err == nil {
		t.Fatal("extension accepted")
	}
	if !bytes.Equal(before, p.bob.Marshal()) {
		t.Fatal("rejected blobs changed the conversation")
	}
	if got, err := p.bob.Receive(out.Token, out.Blob, now); err != nil || string(got.Body) != "flip me" {
		t.Fatalf("original after flips: %v", err)
	}
}

func TestAcceptRejectsForgeriesAndKeepsKeys(t *testing.T) {
	t.Parallel()
	p := newPair(t, "session forged accept")
	r := testrand.New("session forged accept 2")
	// A fresh invite from the same inviter; a first contact to it whose
	// ratchet message is corrupted must not consume the one-time prekey.
	bundle, err := p.keys.Bundle(t0)
	if err != nil {
		t.Fatal(err)
	}
	inv, secret, err := invite.New(r, p.inviter, bundle, relayAddr, t0, invite.DefaultLifetime)
	if err != nil {
		t.Fatal(err)
	}
	avail := p.keys.OneTimeAvailable(t0)
	keysBefore := p.keys.Marshal()
	_, out, err := session.Begin(r, p.invitee, inv.Bundle(), secret, text(t, r, "hi", t0), t0)
	if err != nil {
		t.Fatal(err)
	}
	// Wrong invite secret: not for us.
	if _, err := session.Accept(p.inviter, p.keys, p.secret, out.Blob, t0); !errors.Is(err, session.ErrNotForUs) {
		t.Fatalf("wrong invite secret: %v", err)
	}
	// Flip a byte: not for us.
	bad := bytes.Clone(out.Blob)
	bad[len(bad)/2] ^= 0x40
	if _, err := session.Accept(p.inviter, p.keys, secret, bad, t0); err == nil {
		t.Fatal("corrupted first contact accepted")
	}
	if !bytes.Equal(keysBefore, p.keys.Marshal()) || p.keys.OneTimeAvailable(t0) != avail {
		t.Fatal("a failed Accept changed the prekey store")
	}
	acc, err := session.Accept(p.inviter, p.keys, secret, out.Blob, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(keysBefore, p.keys.Marshal()) {
		t.Fatal("Accept modified the caller's prekey store")
	}
	// The one-time prekey is gone from the returned store: a second accept
	// of the same blob with it fails.
	if _, err := session.Accept(p.inviter, acc.Keys, secret, out.Blob, t0); err == nil {
		t.Fatal("first contact accepted twice against the updated prekey store")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	p := newPair(t, "session marshal")
	r := testrand.New("session marshal messages")
	now := t0.Add(3 * time.Minute)
	for i := range 6 {
		deliver(t, r, p.alice, p.bob, fmt.Sprint("m", i), now)
		enc := p.bob.Marshal()
		c, err := session.ParseConversation(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.Marshal(), enc) {
			t.Fatal("round trip differs")
		}
		p.bob = c
		deliver(t, r, p.bob, p.alice, fmt.Sprint("r", i), now)
	}
	enc := p.alice.Marshal()
	for n := range len(enc) {
		if n%97 != 0 && n < len(enc)-64 {
			continue // every truncation near the end, a sample elsewhere
		}
		if c, err := session.ParseConversation(enc[:n]); err == nil || c != nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	if _, err := session.ParseConversation(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("extension accepted")
	}
	if _, err := session.ParseConversation(make([]byte, session.MaxStateSize+1)); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
}

func TestBlobSizeIsExact(t *testing.T) {
	t.Parallel()
	p := newPair(t, "session sizes")
	r := testrand.New("session sizes messages")
	now := t0.Add(3 * time.Minute)
	lengths := []int{0, 1, 100, 190, 200, 1000, 4000, 16000, 60000, session.MaxTextSize}
	for _, n := range lengths {
		for _, c := range []*session.Conversation{p.alice, p.bob} {
			pq := c.NextMessagePQ()
			want, err := session.BlobSize(n, pq)
			if err != nil {
				t.Fatal(err)
			}
			msg := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
			out, err := c.Send(r, text(t, r, msg, now), now)
			if err != nil {
				t.Fatalf("send %d: %v", n, err)
			}
			if len(out.Blob) != want || !envelope.IsBlobSize(len(out.Blob)) {
				t.Fatalf("text %d bytes pq=%v: blob %d, BlobSize %d", n, pq, len(out.Blob), want)
			}
			other := p.bob
			if c == p.bob {
				other = p.alice
			}
			if _, err := other.Receive(out.Token, out.Blob, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := session.BlobSize(session.MaxTextSize+1, false); !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("BlobSize over the limit: %v", err)
	}
	if _, err := session.NewText(r, strings.Repeat("x", session.MaxTextSize+1), now); !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("NewText over the limit: %v", err)
	}
	if _, err := session.NewText(r, "bad \xff utf-8", now); !errors.Is(err, session.ErrBadText) {
		t.Fatalf("invalid UTF-8: %v", err)
	}
	if _, err := session.NewText(r, "x", time.Time{}); !errors.Is(err, session.ErrClock) {
		t.Fatalf("zero clock: %v", err)
	}
	if _, err := p.alice.Send(r, text(t, r, "x", now), time.Time{}); !errors.Is(err, session.ErrClock) {
		t.Fatalf("send with zero clock: %v", err)
	}
}

func TestPayloadEncoding(t *testing.T) {
	t.Parallel()
	r := testrand.New("session payload")
	p := text(t, r, "héllo", t0)
	enc := p.Marshal()
	got, err := session.ParsePayload(enc)
	if err != nil || !bytes.Equal(got.Marshal(), enc) || !got.SentAt.Equal(p.SentAt) {
		t.Fatalf("round trip: %v", err)
	}
	for n := range len(enc) {
		if q, err := session.ParsePayload(enc[:n]); err == nil || q != nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	if _, err := session.ParsePayload(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatal("extension accepted")
	}
	bad := bytes.Clone(enc)
	bad[wire.HeaderSize+session.MessageIDSize+8] = 9 // unknown kind
	if _, err := session.ParsePayload(bad); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("unknown kind: %v", err)
	}
	bad = bytes.Clone(enc)
	bad[len(bad)-1] = 0xff // invalid UTF-8
	if _, err := session.ParsePayload(bad); !errors.Is(err, session.ErrBadText) {
		t.Fatalf("bad utf-8: %v", err)
	}
	bad = bytes.Clone(enc)
	clear(bad[wire.HeaderSize+session.MessageIDSize : wire.HeaderSize+session.MessageIDSize+8]) // time 0
	if _, err := session.ParsePayload(bad); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("zero time: %v", err)
	}
}

func BenchmarkSendReceive200B(b *testing.B) {
	p := newPair(b, "session bench")
	r := testrand.New("session bench messages")
	now := t0.Add(3 * time.Minute)
	pl := text(b, r, strings.Repeat("x", 200), now)
	b.ReportAllocs()
	b.SetBytes(200)
	for b.Loop() {
		out, err := p.alice.Send(r, pl, now)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := p.bob.Receive(out.Token, out.Blob, now); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOwnInviteRefused checks that a user who opens their own invite makes
// no conversation with themselves.
func TestOwnInviteRefused(t *testing.T) {
	t.Parallel()
	p := newPair(t, "session/own-invite")
	r := testrand.New("session/own-invite/begin")
	_, _, err := session.Begin(r, p.inviter, p.inv.Bundle(), p.inv.Secret(), text(t, r, "hi me", t0.Add(time.Minute)), t0.Add(time.Minute))
	if !errors.Is(err, handshake.ErrOwnIdentity) {
		t.Errorf("Begin with own invite: %v, want handshake.ErrOwnIdentity", err)
	}
}
