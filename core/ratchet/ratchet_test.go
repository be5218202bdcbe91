package ratchet

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	d := DefaultConfig()
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"default", d, true},
		{"minimal", Config{1, 1, 1}, true},
		{"maximal", Config{MaxSkipLimit, MaxSkipLimit, MaxPQInterval}, true},
		{"zero", Config{}, false},
		{"zero per step", Config{0, 10, 4}, false},
		{"negative per step", Config{-1, 10, 4}, false},
		{"zero total", Config{1, 0, 4}, false},
		{"negative total", Config{1, -5, 4}, false},
		{"zero interval", Config{1, 1, 0}, false},
		{"negative interval", Config{1, 1, -4}, false},
		{"per step above total", Config{11, 10, 4}, false},
		{"total above limit", Config{1, MaxSkipLimit + 1, 4}, false},
		{"per step above limit", Config{MaxSkipLimit + 1, MaxSkipLimit + 1, 4}, false},
		{"interval above limit", Config{1, 1, MaxPQInterval + 1}, false},
	}
	se := newSession(t, testrand.New("config"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, errConfig) {
				t.Fatalf("error %v does not wrap errConfig", err)
			}
			_, errI := NewInitiator(testrand.New("c"), se.ss, se.ad, se.bobDH.Public(), se.aliceKEM, tt.cfg)
			_, errR := NewResponder(se.ss, se.ad, se.bobDH, se.aliceKEM.Public(), tt.cfg)
			if (errI == nil) != tt.ok || (errR == nil) != tt.ok {
				t.Fatalf("constructors: %v, %v; want ok=%v", errI, errR, tt.ok)
			}
		})
	}
}

func TestConstructorErrors(t *testing.T) {
	t.Parallel()
	se := newSession(t, testrand.New("ctor"))
	cfg := DefaultConfig()
	var zero [32]byte
	var smallOrder suite.DHPublicKey // the all-zero point has small order
	tests := []struct {
		name string
		f    func() (*State, error)
	}{
		{"initiator empty ad", func() (*State, error) {
			return NewInitiator(nil, se.ss, nil, se.bobDH.Public(), se.aliceKEM, cfg)
		}},
		{"initiator long ad", func() (*State, error) {
			return NewInitiator(nil, se.ss, make([]byte, MaxADSize+1), se.bobDH.Public(), se.aliceKEM, cfg)
		}},
		{"initiator zero secret", func() (*State, error) {
			return NewInitiator(nil, zero, se.ad, se.bobDH.Public(), se.aliceKEM, cfg)
		}},
		{"initiator nil kem", func() (*State, error) {
			return NewInitiator(nil, se.ss, se.ad, se.bobDH.Public(), nil, cfg)
		}},
		{"initiator small-order peer", func() (*State, error) {
			return NewInitiator(nil, se.ss, se.ad, smallOrder, se.aliceKEM, cfg)
		}},
		{"initiator rand fails", func() (*State, error) {
			return NewInitiator(&failReader{r: testrand.New("x"), n: 31}, se.ss, se.ad, se.bobDH.Public(), se.aliceKEM, cfg)
		}},
		{"responder empty ad", func() (*State, error) {
			return NewResponder(se.ss, []byte{}, se.bobDH, se.aliceKEM.Public(), cfg)
		}},
		{"responder zero secret", func() (*State, error) {
			return NewResponder(zero, se.ad, se.bobDH, se.aliceKEM.Public(), cfg)
		}},
		{"responder nil dh", func() (*State, error) {
			return NewResponder(se.ss, se.ad, nil, se.aliceKEM.Public(), cfg)
		}},
		{"responder nil kem", func() (*State, error) {
			return NewResponder(se.ss, se.ad, se.bobDH, nil, cfg)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.f()
			if err == nil || s != nil {
				t.Fatalf("got %v, %v; want nil state and an error", s, err)
			}
		})
	}
	// The limits themselves are accepted.
	if _, err := NewInitiator(nil, se.ss, make([]byte, MaxADSize), se.bobDH.Public(), se.aliceKEM, cfg); err != nil {
		t.Fatal(err)
	}
}

// TestBothDirections runs rounds of several messages each way and checks
// sizes against MessageOverhead and NextMessagePQ on every message.
func TestBothDirections(t *testing.T) {
	t.Parallel()
	r := testrand.New("both directions")
	a, b := newPair(t, "both directions", DefaultConfig())
	for round := range 10 {
		for _, dir := range []struct {
			from, to *State
			name     string
		}{{a, b, "alice"}, {b, a, "bob"}} {
			for i := range 3 {
				pt := fmt.Sprintf("%s round %d message %d", dir.name, round, i)
				pq := dir.from.NextMessagePQ()
				m := send(t, dir.from, r, pt)
				if got, want := len(m)-len(pt), MessageOverhead(pq); got != want {
					t.Fatalf("%s: overhead %d, want %d (pq=%v)", pt, got, want, pq)
				}
				if hdr(t, m).pq != pq {
					t.Fatalf("%s: PQ part %v, NextMessagePQ said %v", pt, hdr(t, m).pq, pq)
				}
				recv(t, dir.to, m, pt)
			}
		}
	}
}

func TestResponderCannotSendFirst(t *testing.T) {
	t.Parallel()
	_, b := newPair(t, "responder first", DefaultConfig())
	before := b.Marshal()
	if m, err := b.Encrypt(testrand.New("r"), []byte("hi")); err == nil || m != nil {
		t.Fatalf("responder sent before receiving: %x, %v", m, err)
	}
	if !bytes.Equal(before, b.Marshal()) {
		t.Fatal("state changed")
	}
}

func TestOutOfOrder(t *testing.T) {
	t.Parallel()
	r := testrand.New("out of order")
	a, b := newPair(t, "out of order", DefaultConfig())
	var a1 [5][]byte
	for i := range a1 {
		a1[i] = send(t, a, r, fmt.Sprint("a1.", i))
	}
	// Within one chain: 3, 0, 4, 1.
	for _, i := range []int{3, 0, 4, 1} {
		recv(t, b, a1[i], fmt.Sprint("a1.", i))
	}
	b1 := send(t, b, r, "b1.0") // bob's PQ chain
	recv(t, a, b1, "b1.0")
	a2 := send(t, a, r, "a2.0") // alice's new chain, PN = 5
	// The new chain arrives before the old chain's last message.
	recv(t, b, a2, "a2.0")
	recv(t, b, a1[2], "a1.2")
	if len(b.skipped) != 0 {
		t.Fatalf("%d skipped keys left", len(b.skipped))
	}
	// Two chains late: messages of bob's next chains arrive in reverse.
	b2 := [2][]byte{send(t, b, r, "b2.0"), send(t, b, r, "b2.1")}
	recv(t, a, b2[1], "b2.1")
	a3 := send(t, a, r, "a3.0")
	recv(t, b, a3, "a3.0")
	b3 := send(t, b, r, "b3.0")
	recv(t, a, b3, "b3.0")
	recv(t, a, b2[0], "b2.0")
}

func TestLoss(t *testing.T) {
	t.Parallel()
	r := testrand.New("loss")
	a, b := newPair(t, "loss", DefaultConfig())
	lost := 0
	for round := range 6 {
		for i := range 5 {
			m := send(t, a, r, fmt.Sprint(round, i))
			if (round+i)%3 == 0 {
				lost++
				continue
			}
			recv(t, b, m, fmt.Sprint(round, i))
		}
		recv(t, a, send(t, b, r, "ack"), "ack")
	}
	// Every lost message left exactly one skipped key, except a chain's
	// trailing losses, which are stored only when the next chain arrives.
	if len(b.skipped) == 0 || len(b.skipped) > lost {
		t.Fatalf("%d skipped keys for %d lost messages", len(b.skipped), lost)
	}
}

func TestDuplicate(t *testing.T) {
	t.Parallel()
	r := testrand.New("duplicate")
	a, b := newPair(t, "duplicate", DefaultConfig())
	m0 := send(t, a, r, "m0")
	m1 := send(t, a, r, "m1")
	m2 := send(t, a, r, "m2")
	recv(t, b, m0, "m0")
	recvErr(t, b, m0, ErrDuplicate) // in order, replayed
	recv(t, b, m2, "m2")
	recvErr(t, b, m2, ErrDuplicate)
	recv(t, b, m1, "m1") // from the skipped store
	recvErr(t, b, m1, ErrDuplicate)
	recv(t, a, send(t, b, r, "b"), "b")
	recv(t, b, send(t, a, r, "a2"), "a2")
	// A chain that has ended.
	recvErr(t, b, m0, ErrDuplicate)
	recvErr(t, b, m1, ErrDuplicate)
}

// flipExpect is the error a bit flip in field must produce when recv
// decrypts the altered message whose header is h.
func flipExpect(s *State, field string, h header) error {
	current := s.hasCKR && h.dh == s.dhr
	max := uint32(s.cfg.MaxSkipPerStep)
	switch field {
	case "message tag", "header tag":
		return wire.ErrWrongType
	case "message version", "header version":
		return wire.ErrVersion
	case "flags", "ciphertext length":
		return wire.ErrMalformed
	case "N":
		switch {
		case h.n == math.MaxUint32:
			return ErrAuth
		case current && h.n < s.nr:
			return ErrDuplicate
		case current && h.n-s.nr > max, !current && h.n > max:
			return ErrTooManySkipped
		}
	case "PN":
		if !current && s.hasCKR && h.pn > s.nr && h.pn-s.nr > max {
			return ErrTooManySkipped
		}
	}
	return ErrAuth
}

// field is a named byte range of an encoded message.
type field struct {
	name       string
	start, end int
}

func messageFields(pq bool, msgLen int) []field {
	f := []field{
		{"message tag", 0, 1}, {"message version", 1, 2},
		{"header tag", 2, 3}, {"header version", 3, 4}, {"flags", 4, 5},
		{"DH key", 5, 37}, {"PN", 37, 41}, {"N", 41, 45},
	}
	off := 45
	if pq {
		f = append(f,
			field{"X-Wing key", 45, 45 + suite.KEMPublicKeySize},
			field{"X-Wing key id", 1261, 1265},
			field{"X-Wing ciphertext", 1265, 1265 + suite.KEMCiphertextSize},
			field{"target key id", 2385, 2389})
		off = 2389
	}
	return append(f, field{"ciphertext length", off, off + 2}, field{"ciphertext", off + 2, msgLen})
}

// TestBitFlips flips bits in every field of messages of each kind and checks
// the error and that the receiver's state did not change. In the key and
// ciphertext fields of a new PQ chain's header (32 bytes and more, where each
// attempt costs a decapsulation) every bit of the first and last byte and
// one bit of every 16th byte are flipped; everywhere else every bit is.
func TestBitFlips(t *testing.T) {
	t.Parallel()
	r := testrand.New("bit flips")
	// A small MaxSkipPerStep keeps the flips of N's low bits (which make
	// the receiver walk the chain up to N) cheap, and lets flips of higher
	// bits hit ErrTooManySkipped.
	a, b := newPair(t, "bit flips", Config{MaxSkipPerStep: 16, MaxSkipTotal: 64, PQInterval: 4})
	// Alice's first chain: 3 messages, bob has seen only the first.
	a1 := [3][]byte{send(t, a, r, "a1.0"), send(t, a, r, "a1.1"), send(t, a, r, "a1.2")}
	recv(t, b, a1[0], "a1.0")
	kinds := []struct {
		name   string
		to     *State
		msg    []byte
		pt     string
		expand bool // every bit even in the large PQ fields
	}{{name: "current chain", to: b, msg: a1[1], pt: "a1.1", expand: true}}
	// Bob's first chain is PQ: a new PQ chain for alice, then a message of
	// the now current PQ chain.
	b1 := [2][]byte{send(t, b, r, "b1.0"), send(t, b, r, "b1.1")}
	kinds = append(kinds, struct {
		name   string
		to     *State
		msg    []byte
		pt     string
		expand bool
	}{"new PQ chain", a, b1[0], "b1.0", false})
	for _, k := range kinds {
		flipAll(t, k.name, k.to, k.msg, k.expand)
		recv(t, k.to, k.msg, k.pt)
	}
	flipAll(t, "current PQ chain", a, b1[1], true)
	recv(t, a, b1[1], "b1.1")
	// Alice's second chain (PQ) and third (classical): new chains for bob
	// with PN > Nr (bob missed a1[2]).
	a2 := send(t, a, r, "a2.0")
	flipAll(t, "new PQ chain with skips", b, a2, false)
	recv(t, b, a2, "a2.0")
	recv(t, a, send(t, b, r, "b2.0"), "b2.0")
	a3 := send(t, a, r, "a3.0")
	if hdr(t, a3).pq {
		t.Fatal("expected a classical chain")
	}
	flipAll(t, "new classical chain", b, a3, true)
	recv(t, b, a3, "a3.0")
	recv(t, b, a1[2], "a1.2")
}

func flipAll(t *testing.T, kind string, s *State, msg []byte, expand bool) {
	t.Helper()
	h := hdr(t, msg)
	before := s.Marshal()
	m := bytes.Clone(msg)
	counts := map[error]int{}
	for _, f := range messageFields(h.pq, len(msg)) {
		large := f.end-f.start >= suite.DHPublicKeySize && f.name != "ciphertext"
		for i := f.start; i < f.end; i++ {
			for bit := range 8 {
				edge := i == f.start || i == f.end-1
				if large && !expand && !edge && (i%16 != 0 || bit != (i/16)%8) {
					continue
				}
				m[i] ^= 1 << bit
				var fh header
				_, perr := parseMessage(m, &fh)
				want := flipExpect(s, f.name, fh)
				pt, err := s.Decrypt(m)
				if !errors.Is(err, want) || pt != nil {
					t.Fatalf("%s: %s byte %d bit %d: got %v (pt %q), want %v (parse: %v)", kind, f.name, i, bit, err, pt, want, perr)
				}
				counts[want]++
				m[i] ^= 1 << bit
			}
		}
	}
	if !bytes.Equal(before, s.Marshal()) {
		t.Fatalf("%s: state changed", kind)
	}
	if counts[ErrAuth] == 0 {
		t.Fatalf("%s: no flip reached authentication", kind)
	}
}

// TestTruncationsAndExtensions: every truncation and every one-byte
// extension of a message is rejected without a state change.
func TestTruncationsAndExtensions(t *testing.T) {
	t.Parallel()
	r := testrand.New("truncations")
	a, b := newPair(t, "truncations", DefaultConfig())
	recv(t, b, send(t, a, r, "first"), "first")
	pqMsg := send(t, b, r, "pq")
	recv(t, a, pqMsg, "pq")
	pqMsg2 := send(t, b, r, "pq2")
	m := send(t, a, r, "classical")
	for _, tc := range []struct {
		to  *State
		msg []byte
	}{{b, m}, {a, pqMsg2}} {
		before := tc.to.Marshal()
		for n := range len(tc.msg) {
			if pt, err := tc.to.Decrypt(tc.msg[:n]); err == nil || pt != nil {
				t.Fatalf("truncation to %d accepted", n)
			} else if n < len(tc.msg)-suite.TagSize-2 && !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrWrongType) && !errors.Is(err, wire.ErrVersion) {
				t.Fatalf("truncation to %d: %v", n, err)
			}
		}
		for _, x := range []byte{0, 1, 0xff} {
			if _, err := tc.to.Decrypt(append(bytes.Clone(tc.msg), x)); !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("extension by %#x: %v", x, err)
			}
		}
		if !bytes.Equal(before, tc.to.Marshal()) {
			t.Fatal("state changed")
		}
	}
	recv(t, b, m, "classical")
	recv(t, a, pqMsg2, "pq2")
	// Oversized input is refused before parsing.
	if _, err := a.Decrypt(make([]byte, MaxMessageSize+1)); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversized message: %v", err)
	}
}

// TestHeaderEncoding checks the header codec: round trip, every truncation
// and extension, unknown flags, wrong tag and version.
func TestHeaderEncoding(t *testing.T) {
	t.Parallel()
	r := testrand.New("header")
	kem, err := suite.GenerateKEM(r)
	must(t, err)
	ct, _, err := suite.Encapsulate(r, kem.Public())
	must(t, err)
	hs := []header{
		{dh: suite.DHPublicKey{1, 2, 3}, pn: 7, n: 9},
		{dh: suite.DHPublicKey{4}, pn: math.MaxUint32, n: 0, pq: true, kemPub: kem.Public().Bytes()[:], kemID: 3, ct: ct[:], target: 2},
	}
	for _, h := range hs {
		enc := appendHeader(nil, &h)
		want := HeaderSize
		if h.pq {
			want = HeaderSizePQ
		}
		if len(enc) != want {
			t.Fatalf("header size %d, want %d", len(enc), want)
		}
		var got header
		must(t, parseHeader(enc, &got))
		if !bytes.Equal(appendHeader(nil, &got), enc) {
			t.Fatal("header round trip differs")
		}
		for n := range len(enc) {
			if err := parseHeader(enc[:n], &got); err == nil {
				t.Fatalf("truncation to %d accepted", n)
			}
		}
		if err := parseHeader(append(bytes.Clone(enc), 0), &got); err == nil {
			t.Fatal("extension accepted")
		}
		for bit := 1; bit < 8; bit++ {
			bad := bytes.Clone(enc)
			bad[2] ^= 1 << bit
			if err := parseHeader(bad, &got); !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("unknown flag bit %d: %v", bit, err)
			}
		}
		bad := bytes.Clone(enc)
		bad[0] = byte(wire.TagRatchetMessage)
		if err := parseHeader(bad, &got); !errors.Is(err, wire.ErrWrongType) {
			t.Fatalf("wrong tag: %v", err)
		}
		bad = bytes.Clone(enc)
		bad[1] = wire.Version + 1
		if err := parseHeader(bad, &got); !errors.Is(err, wire.ErrVersion) {
			t.Fatalf("wrong version: %v", err)
		}
	}
}

// TestADBinding flips every bit of the associated data on the receiving
// side: every message fails to authenticate.
func TestADBinding(t *testing.T) {
	t.Parallel()
	r := testrand.New("ad binding")
	a, b := newPair(t, "ad binding", DefaultConfig())
	recv(t, b, send(t, a, r, "one"), "one")
	m := send(t, a, r, "two")
	for i := range b.ad {
		for bit := range 8 {
			b.ad[i] ^= 1 << bit
			b.initADBuf()
			recvErr(t, b, m, ErrAuth)
			b.ad[i] ^= 1 << bit
		}
	}
	b.initADBuf()
	recv(t, b, m, "two")
}

// TestKeyAndNonceBinding shows the AEAD key and nonce derived from a message
// key are both needed: flipping any bit of either fails to open.
func TestKeyAndNonceBinding(t *testing.T) {
	t.Parallel()
	r := testrand.New("nonce")
	a, _ := newPair(t, "nonce", DefaultConfig())
	var key [suite.KeySize]byte
	var nonce [suite.NonceSize]byte
	a.observe = func(_ bool, k *[suite.KeySize]byte, n *[suite.NonceSize]byte) { key, nonce = *k, *n }
	m := send(t, a, r, "payload")
	h := hdr(t, m)
	ad := a.aeadAD(&h)
	ct := m[wire.HeaderSize+HeaderSize+2:]
	if pt, err := suite.Open(nil, &key, &nonce, ct, ad); err != nil || string(pt) != "payload" {
		t.Fatalf("open with derived key and nonce: %q, %v", pt, err)
	}
	for i := range 8 * suite.NonceSize {
		nonce[i/8] ^= 1 << (i % 8)
		if _, err := suite.Open(nil, &key, &nonce, ct, ad); err == nil {
			t.Fatalf("nonce bit %d flipped: opened", i)
		}
		nonce[i/8] ^= 1 << (i % 8)
	}
	for i := range 8 * suite.KeySize {
		key[i/8] ^= 1 << (i % 8)
		if _, err := suite.Open(nil, &key, &nonce, ct, ad); err == nil {
			t.Fatalf("key bit %d flipped: opened", i)
		}
		key[i/8] ^= 1 << (i % 8)
	}
}

func TestSkipLimits(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxSkipPerStep: 5, MaxSkipTotal: 8, PQInterval: 4}
	r := testrand.New("skip limits")
	a, b := newPair(t, "skip limits", cfg)

	var c1 [8][]byte
	for i := range c1 {
		c1[i] = send(t, a, r, fmt.Sprint("c1.", i))
	}
	recvErr(t, b, c1[6], ErrTooManySkipped) // 6 skips in the first chain
	recv(t, b, c1[5], "c1.5")               // exactly 5
	if len(b.skipped) != 5 {
		t.Fatalf("%d skipped keys, want 5", len(b.skipped))
	}
	recv(t, b, c1[7], "c1.7") // c1[6] skipped too
	recv(t, b, c1[0], "c1.0")

	// A new chain whose PN asks for too many skips of the old chain:
	// bob replies, alice sends 20 more in c1's successor... first, make
	// alice's old chain long and unseen.
	recv(t, a, send(t, b, r, "b1"), "b1")
	var c2 [7][]byte
	for i := range c2 {
		c2[i] = send(t, a, r, fmt.Sprint("c2.", i))
	}
	recv(t, b, c2[0], "c2.0")
	recv(t, a, send(t, b, r, "b2"), "b2")
	c3 := send(t, a, r, "c3.0") // PN = 7, bob has Nr = 1: 6 skips
	recvErr(t, b, c3, ErrTooManySkipped)
	recv(t, b, c2[1], "c2.1") // now 5 skips of c2 remain
	// Total cap: c1 left 1..4, 6 (5 keys, c1[6] was skipped), and now c2
	// adds 2..6 (5 keys): 10 > 8, so the two oldest (c1.1, c1.2) go.
	recv(t, b, c3, "c3.0")
	if len(b.skipped) != cfg.MaxSkipTotal {
		t.Fatalf("%d skipped keys, want %d", len(b.skipped), cfg.MaxSkipTotal)
	}
	recvErr(t, b, c1[1], ErrDuplicate)
	recvErr(t, b, c1[2], ErrDuplicate)
	for _, i := range []int{3, 4, 6} {
		recv(t, b, c1[i], fmt.Sprint("c1.", i))
	}
	for i := 2; i < 7; i++ {
		recv(t, b, c2[i], fmt.Sprint("c2.", i))
	}
	if len(b.skipped) != 0 {
		t.Fatalf("%d skipped keys left", len(b.skipped))
	}
}

// TestPQSchedule checks which sending chains are PQ chains for several
// intervals: the responder's first, the initiator's first once it knows a
// peer key, then every PQInterval-th; and that every message of a PQ chain
// carries the PQ part.
func TestPQSchedule(t *testing.T) {
	t.Parallel()
	for _, interval := range []int{1, 2, 4, 7} {
		t.Run(fmt.Sprint(interval), func(t *testing.T) {
			t.Parallel()
			cfg := DefaultConfig()
			cfg.PQInterval = interval
			r := testrand.New("pq schedule")
			a, b := newPair(t, "pq schedule", cfg)
			var aChains, bChains []bool
			for range 3 * interval * 2 {
				for _, side := range []struct {
					from, to *State
					chains   *[]bool
				}{{a, b, &aChains}, {b, a, &bChains}} {
					pq := side.from.NextMessagePQ()
					*side.chains = append(*side.chains, pq)
					for i := range 3 {
						m := send(t, side.from, r, "x")
						if hdr(t, m).pq != pq || side.from.NextMessagePQ() != pq {
							t.Fatalf("message %d of a chain: PQ part %v, chain PQ %v", i, hdr(t, m).pq, pq)
						}
						recv(t, side.to, m, "x")
					}
				}
			}
			for i, pq := range bChains {
				if want := i%interval == 0; pq != want {
					t.Fatalf("responder chain %d: pq=%v, want %v (%v)", i, pq, want, bChains)
				}
			}
			for i, pq := range aChains {
				if want := i >= 1 && (i-1)%interval == 0; pq != want {
					t.Fatalf("initiator chain %d: pq=%v, want %v (%v)", i, pq, want, aChains)
				}
			}
		})
	}
}

// TestPQStepFromAnyMessage: the receiver processes a PQ chain's step from
// whichever of its messages arrives first.
func TestPQStepFromAnyMessage(t *testing.T) {
	t.Parallel()
	for first := range 3 {
		r := testrand.New("pq any message")
		a, b := newPair(t, "pq any message", DefaultConfig())
		recv(t, b, send(t, a, r, "hello"), "hello")
		var ms [3][]byte
		for i := range ms {
			ms[i] = send(t, b, r, fmt.Sprint(i))
			if !hdr(t, ms[i]).pq {
				t.Fatal("bob's first chain is not a PQ chain")
			}
		}
		recv(t, a, ms[first], fmt.Sprint(first))
		for i := range ms {
			if i != first {
				recv(t, a, ms[i], fmt.Sprint(i))
			}
		}
		if a.peerKEM == nil || a.peerKEMID != 0 {
			t.Fatal("alice did not learn bob's X-Wing key")
		}
	}
}

// TestOwnKEMKeys: a State never holds more than MaxOwnKEMKeys X-Wing keys,
// deletes the ones older than a key the peer targeted, and with PQInterval 1
// the peer targets a fresh key at every PQ step.
func TestOwnKEMKeys(t *testing.T) {
	t.Parallel()
	cfg := DefaultConfig()
	cfg.PQInterval = 1
	r := testrand.New("own kem")
	a, b := newPair(t, "own kem", cfg)
	targeted := map[*State]map[uint32]bool{a: {}, b: {}}
	for i := range 40 {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		m := send(t, from, r, "x")
		h := hdr(t, m)
		recv(t, to, m, "x")
		if !h.pq {
			if i != 0 {
				t.Fatalf("chain %d is not PQ", i)
			}
			continue
		}
		if targeted[to][h.target] {
			t.Fatalf("key %d targeted twice", h.target)
		}
		targeted[to][h.target] = true
		for _, s := range []*State{a, b} {
			if len(s.own) > MaxOwnKEMKeys {
				t.Fatalf("%d own keys", len(s.own))
			}
		}
		for _, k := range to.own {
			if k.id < h.target {
				t.Fatalf("key %d kept after key %d was targeted", k.id, h.target)
			}
		}
	}
}

// TestEncryptTransactional: a random source failing at any point of a
// (PQ) sending step changes nothing.
func TestEncryptTransactional(t *testing.T) {
	t.Parallel()
	r := testrand.New("encrypt tx")
	a, b := newPair(t, "encrypt tx", DefaultConfig())
	recv(t, b, send(t, a, r, "hi"), "hi")
	if !b.NextMessagePQ() {
		t.Fatal("expected a PQ step")
	}
	before := b.Marshal()
	for _, n := range []int{0, 31, 32, 95, 96, 127} {
		if m, err := b.Encrypt(&failReader{r: r, n: n}, []byte("x")); !errors.Is(err, errRandFailed) || m != nil {
			t.Fatalf("rand failing after %d bytes: %v", n, err)
		}
		if !bytes.Equal(before, b.Marshal()) {
			t.Fatalf("rand failing after %d bytes: state changed", n)
		}
	}
	recv(t, a, send(t, b, &failReader{r: r, n: 128}, "ok"), "ok")
}

func TestPlaintextLimit(t *testing.T) {
	t.Parallel()
	r := testrand.New("limit")
	a, b := newPair(t, "limit", DefaultConfig())
	if _, err := a.Encrypt(r, make([]byte, MaxPlaintextSize+1)); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversized plaintext: %v", err)
	}
	m, err := a.Encrypt(r, make([]byte, MaxPlaintextSize))
	must(t, err)
	if len(m) > MaxMessageSize {
		t.Fatalf("message of %d bytes", len(m))
	}
	recv(t, b, m, string(make([]byte, MaxPlaintextSize)))
	m, err = b.Encrypt(r, make([]byte, MaxPlaintextSize)) // a PQ message
	must(t, err)
	if len(m) != MaxMessageSize {
		t.Fatalf("largest PQ message is %d bytes, want %d", len(m), MaxMessageSize)
	}
	recv(t, a, m, string(make([]byte, MaxPlaintextSize)))
	recv(t, b, send(t, a, r, ""), "") // empty plaintexts are fine
}

// TestWipe checks that secrets the State no longer needs are overwritten:
// used and evicted skipped keys (in the store's backing array), the
// sending chain key once the peer has answered, X-Wing seeds of dropped
// own keys, and the scratch space after every call.
func TestWipe(t *testing.T) {
	t.Parallel()
	cfg := Config{MaxSkipPerStep: 4, MaxSkipTotal: 4, PQInterval: 1}
	r := testrand.New("wipe")
	a, b := newPair(t, "wipe", cfg)
	firstKEM := a.own[0].key

	var ms [5][]byte
	for i := range ms {
		ms[i] = send(t, a, r, fmt.Sprint(i))
	}
	recv(t, b, ms[4], "4")                // 4 skipped
	recv(t, a, send(t, b, r, "b0"), "b0") // bob's chain answers
	var ns [3][]byte
	for i := range ns {
		ns[i] = send(t, a, r, fmt.Sprint("n", i))
	}
	backing := b.skipped[:cap(b.skipped)]
	recv(t, b, ns[2], "n2") // 2 more: the 2 oldest are evicted
	if len(b.skipped) != cfg.MaxSkipTotal {
		t.Fatalf("%d skipped keys", len(b.skipped))
	}
	recvErr(t, b, ms[0], ErrDuplicate)
	recv(t, b, ns[1], "n1") // used: deleted
	live := b.skipped[:cap(b.skipped)]
	if &backing[0] != &live[0] {
		// The store grew: its old array must be wiped entirely.
		for _, k := range backing {
			if k.mk != (messageKey{}) {
				t.Fatal("the store's old array still holds a key")
			}
		}
	}
	for _, k := range live[len(b.skipped):] {
		if k.mk != (messageKey{}) {
			t.Fatal("an evicted or used key is still in memory")
		}
	}
	if b.tmp != (scratch{}) || a.tmp != (scratch{}) {
		t.Fatal("scratch not wiped")
	}

	recv(t, a, send(t, b, r, "b1"), "b1") // answers alice's chain
	if a.sendReady || a.cks != (chainKey{}) {
		t.Fatal("sending chain key kept after the peer answered")
	}
	// Alice's key 0 is dropped once bob targets her key 1.
	recv(t, b, send(t, a, r, "a2"), "a2")
	recv(t, a, send(t, b, r, "b2"), "b2")
	if a.findOwnKEM(0) != nil {
		t.Fatal("key 0 kept after key 1 was targeted")
	}
	if seed := firstKEM.Seed(); seed != [suite.KEMSeedSize]byte{} {
		t.Fatal("dropped X-Wing key's seed not wiped")
	}
}
