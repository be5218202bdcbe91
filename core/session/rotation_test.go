package session_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/core/wire"
)

// rotation returns a rotation payload from a fresh pair of identities.
func rotation(t testing.TB, r *testrand.Reader, now time.Time) (*identity.Rotation, *session.Payload) {
	t.Helper()
	oldID, err := identity.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	newID, err := identity.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	rot := identity.NewRotation(oldID, newID, 1)
	p, err := session.NewRotation(r, rot, now)
	if err != nil {
		t.Fatal(err)
	}
	return rot, p
}

// TestRotationPayload: a KindRotation payload carries exactly one encoded
// identity.Rotation; any other body, every truncation and every extension
// is rejected.
func TestRotationPayload(t *testing.T) {
	t.Parallel()
	r := testrand.New("session rotation payload")
	rot, p := rotation(t, r, t0)
	enc := p.Marshal()
	if len(enc) != session.PayloadOverhead+identity.RotationSize {
		t.Fatalf("size %d", len(enc))
	}
	got, err := session.ParsePayload(enc)
	if err != nil || got.Kind != session.KindRotation || !bytes.Equal(got.Body, rot.Marshal()) || !bytes.Equal(got.Marshal(), enc) {
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
	bodyAt := session.PayloadOverhead
	// A text body under the rotation kind, a rotation body one byte short
	// or long (with a matching length prefix), and a body with a broken
	// rotation header are all malformed.
	cases := map[string]*session.Payload{
		"text body":   {ID: p.ID, SentAt: p.SentAt, Kind: session.KindRotation, Body: []byte("hello")},
		"short body":  {ID: p.ID, SentAt: p.SentAt, Kind: session.KindRotation, Body: p.Body[:len(p.Body)-1]},
		"long body":   {ID: p.ID, SentAt: p.SentAt, Kind: session.KindRotation, Body: append(bytes.Clone(p.Body), 0)},
		"empty body":  {ID: p.ID, SentAt: p.SentAt, Kind: session.KindRotation},
		"bad binding": {ID: p.ID, SentAt: p.SentAt, Kind: session.KindRotation, Body: flip(p.Body, wire.HeaderSize+identity.PublicSize-1)},
	}
	for name, q := range cases {
		if got, err := session.ParsePayload(q.Marshal()); err == nil || got != nil {
			t.Errorf("%s: accepted", name)
		}
	}
	bad := bytes.Clone(enc)
	bad[bodyAt] ^= 0xff // rotation tag
	if _, err := session.ParsePayload(bad); err == nil {
		t.Fatal("bad rotation header accepted")
	}
	// The kind byte is authenticated by the ratchet, not here: a rotation
	// body relabelled as text is a (binary) text, which is rejected unless
	// it happens to be UTF-8.
	bad = bytes.Clone(enc)
	bad[wire.HeaderSize+session.MessageIDSize+8] = uint8(session.KindText)
	if _, err := session.ParsePayload(bad); !errors.Is(err, session.ErrBadText) {
		t.Fatalf("rotation as text: %v", err)
	}
	if _, err := session.NewRotation(r, rot, time.Time{}); !errors.Is(err, session.ErrClock) {
		t.Fatalf("zero clock: %v", err)
	}
	if _, err := session.NewRotation(r, nil, t0); err == nil {
		t.Fatal("nil rotation accepted")
	}
}

// TestRotationThroughConversation: a rotation payload travels the ratchet
// like a text and arrives byte for byte.
func TestRotationThroughConversation(t *testing.T) {
	t.Parallel()
	pr := newPair(t, "session rotation conversation")
	r := testrand.New("session rotation conversation messages")
	now := t0.Add(3 * time.Minute)
	rot, p := rotation(t, r, now)
	out, err := pr.alice.Send(r, p, now)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pr.bob.Receive(out.Token, out.Blob, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kind != session.KindRotation || got.ID != p.ID {
		t.Fatalf("kind %d", got.Kind)
	}
	back, err := identity.ParseRotation(got.Body)
	if err != nil || !bytes.Equal(back.Marshal(), rot.Marshal()) {
		t.Fatalf("rotation: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}
