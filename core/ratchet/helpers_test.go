package ratchet

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

// testADSize is the size of the associated data tests bind: two encoded
// public identities, as the handshake passes.
const testADSize = 2 * 130

// session is the material a handshake would hand to both sides.
type session struct {
	ss       [32]byte
	ad       []byte
	bobDH    *suite.DHPrivateKey
	aliceKEM *suite.KEMPrivateKey
}

// newSession draws a session from rand in a fixed order: shared secret
// (32), ad (testADSize), responder ratchet seed (32), initiator X-Wing seed
// (32).
func newSession(t testing.TB, rand io.Reader) *session {
	t.Helper()
	var se session
	se.ad = make([]byte, testADSize)
	must(t, suite.ReadRandom(rand, se.ss[:]))
	must(t, suite.ReadRandom(rand, se.ad))
	var err error
	se.bobDH, err = suite.GenerateDH(rand)
	must(t, err)
	se.aliceKEM, err = suite.GenerateKEM(rand)
	must(t, err)
	return &se
}

// pair returns an initiator (alice, whose NewInitiator reads from rand) and
// a responder (bob).
func (se *session) pair(t testing.TB, rand io.Reader, cfg Config) (alice, bob *State) {
	t.Helper()
	alice, err := NewInitiator(rand, se.ss, se.ad, se.bobDH.Public(), se.aliceKEM, cfg)
	must(t, err)
	bob, err = NewResponder(se.ss, se.ad, se.bobDH, se.aliceKEM.Public(), cfg)
	must(t, err)
	return alice, bob
}

// newPair is a fresh deterministic session named name.
func newPair(t testing.TB, name string, cfg Config) (alice, bob *State) {
	t.Helper()
	r := testrand.New(name)
	return newSession(t, r).pair(t, r, cfg)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// send encrypts pt and fails the test on error.
func send(t testing.TB, s *State, rand io.Reader, pt string) []byte {
	t.Helper()
	m, err := s.Encrypt(rand, []byte(pt))
	if err != nil {
		t.Fatalf("encrypt %q: %v", pt, err)
	}
	return m
}

// recv decrypts m, expecting pt.
func recv(t testing.TB, s *State, m []byte, pt string) {
	t.Helper()
	got, err := s.Decrypt(m)
	if err != nil {
		t.Fatalf("decrypt %q: %v", pt, err)
	}
	if string(got) != pt {
		t.Fatalf("decrypt: got %q, want %q", got, pt)
	}
}

// recvErr decrypts m expecting want, and checks the state did not change.
func recvErr(t testing.TB, s *State, m []byte, want error) {
	t.Helper()
	before := s.Marshal()
	pt, err := s.Decrypt(m)
	if !errors.Is(err, want) {
		t.Fatalf("decrypt: got error %v, want %v", err, want)
	}
	if pt != nil {
		t.Fatalf("decrypt: got plaintext %q with error", pt)
	}
	if !bytes.Equal(before, s.Marshal()) {
		t.Fatal("decrypt: state changed on error")
	}
}

// hdr parses the header of an encoded message.
func hdr(t testing.TB, m []byte) header {
	t.Helper()
	var h header
	if _, err := parseMessage(m, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// failReader returns err after n bytes.
type failReader struct {
	r io.Reader
	n int
}

var errRandFailed = errors.New("test: rand failed")

func (f *failReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errRandFailed
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}
