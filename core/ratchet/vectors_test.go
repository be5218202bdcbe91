package ratchet

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"testing"

	"github.com/cloudflare/circl/kem/xwing"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/curve25519"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/internal/vectortest"
)

const vectorsPath = "../../testdata/vectors/ratchet.json"

// hexBytes is a byte string written as lowercase hex in JSON.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

// vectorFile is testdata/vectors/ratchet.json (see README-ratchet.md).
type vectorFile struct {
	Name                    string        `json:"name"`
	Comment                 string        `json:"comment"`
	MaxSkipPerStep          int           `json:"max_skip_per_step"`
	MaxSkipTotal            int           `json:"max_skip_total"`
	PQInterval              int           `json:"pq_interval"`
	SharedSecret            hexBytes      `json:"shared_secret"`
	AD                      hexBytes      `json:"ad"`
	ResponderRatchetPrivate hexBytes      `json:"responder_ratchet_private"`
	InitiatorKEMSeed        hexBytes      `json:"initiator_kem_seed"`
	InitiatorRand           hexBytes      `json:"initiator_rand"`
	Events                  []vectorEvent `json:"events"`
	InitiatorState          hexBytes      `json:"initiator_state"`
	ResponderState          hexBytes      `json:"responder_state"`
}

// vectorEvent is one call: an Encrypt (rand, plaintext → message) or a
// Decrypt of message id (→ plaintext, or error).
type vectorEvent struct {
	Op        string   `json:"op"`    // "encrypt" or "decrypt"
	Party     string   `json:"party"` // "initiator" or "responder"
	ID        int      `json:"id"`    // message number, in order of encryption
	Rand      hexBytes `json:"rand,omitempty"`
	PQ        bool     `json:"pq,omitempty"`
	Plaintext hexBytes `json:"plaintext,omitempty"`
	Message   hexBytes `json:"message,omitempty"`
	Error     string   `json:"error,omitempty"` // "duplicate"
}

// recorder copies what is read through it.
type recorder struct {
	r   io.Reader
	got []byte
}

func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.got = append(c.got, p[:n]...)
	return n, err
}

// vectorScript is the conversation the vectors record: out-of-order
// delivery, a loss, duplicates, old-chain messages arriving late, and PQ
// chains on both sides (PQInterval 2). "A>" is an initiator Encrypt, "B>" a
// responder Encrypt, "A<n" / "B<n" a Decrypt of message n.
var vectorScript = []struct {
	op string
	id int
}{
	{"A>", 0}, {"A>", 1}, {"A>", 2}, // initiator chain 0 (classical)
	{"B<", 2}, {"B<", 0}, {"B<", 0}, // 1 skipped; a duplicate
	{"B>", 3}, {"B>", 4}, // responder chain 0 (PQ)
	{"A<", 4},            // the PQ step from the chain's second message
	{"A>", 5},            // initiator chain 1 (PQ)
	{"B<", 1}, {"B<", 5}, // old chain from the skipped store, then the new chain
	{"A<", 3},            // skipped
	{"B>", 6}, {"A<", 6}, // responder chain 1 (classical)
	{"A>", 7}, {"A>", 8}, {"A>", 9}, // initiator chain 2 (classical); 7 is lost
	{"B<", 9}, {"B<", 8},
	{"B>", 10}, {"B>", 11}, // responder chain 2 (PQ)
	{"A<", 11}, {"A<", 10},
	{"A>", 12}, {"B<", 12}, // initiator chain 3 (PQ)
	{"B<", 9}, {"A<", 6}, {"A<", 4}, // duplicates, two of them from ended chains
}

func TestVectors(t *testing.T) {
	t.Parallel()
	vectortest.Check(t, vectorsPath, "  ", generateVectors(t))
	var v vectorFile
	vectortest.Read(t, vectorsPath, &v)
	replayVectors(t, &v)
}

// generateVectors runs the scripted conversation from deterministic
// randomness and records it as testdata/vectors/ratchet.json holds it.
func generateVectors(t *testing.T) *vectorFile {
	r := testrand.New("ratchet")
	cfg := Config{MaxSkipPerStep: 1000, MaxSkipTotal: 2000, PQInterval: 2}
	se := newSession(t, r)
	v := vectorFile{
		Name:           "ratchet",
		Comment:        "Parley ratchet v1: a two-party conversation with out-of-order delivery, loss, duplicates and PQ steps; see README-ratchet.md",
		MaxSkipPerStep: cfg.MaxSkipPerStep, MaxSkipTotal: cfg.MaxSkipTotal, PQInterval: cfg.PQInterval,
		SharedSecret: se.ss[:], AD: se.ad,
	}
	bobDH := se.bobDH.Bytes()
	aliceKEM := se.aliceKEM.Seed()
	v.ResponderRatchetPrivate, v.InitiatorKEMSeed = bobDH[:], aliceKEM[:]
	rec := &recorder{r: r}
	alice, bob := se.pair(t, rec, cfg)
	v.InitiatorRand = rec.got
	parties := map[byte]*State{'A': alice, 'B': bob}
	msgs := map[int][]byte{}
	for _, step := range vectorScript {
		s := parties[step.op[0]]
		ev := vectorEvent{Party: partyName(step.op[0]), ID: step.id}
		if step.op[1] == '>' {
			rec := &recorder{r: r}
			ev.Op, ev.PQ = "encrypt", s.NextMessagePQ()
			ev.Plaintext = []byte("message " + string(rune('A'+step.id)))
			m, err := s.Encrypt(rec, ev.Plaintext)
			must(t, err)
			ev.Rand, ev.Message = rec.got, m
			msgs[step.id] = m
		} else {
			ev.Op = "decrypt"
			pt, err := s.Decrypt(msgs[step.id])
			switch {
			case errors.Is(err, ErrDuplicate):
				ev.Error = "duplicate"
			case err != nil:
				t.Fatalf("decrypt %d: %v", step.id, err)
			default:
				ev.Plaintext = pt
			}
		}
		v.Events = append(v.Events, ev)
	}
	v.InitiatorState, v.ResponderState = alice.Marshal(), bob.Marshal()
	return &v
}

func partyName(c byte) string {
	if c == 'A' {
		return "initiator"
	}
	return "responder"
}

// replayVectors rebuilds both parties from the file and checks every
// message byte for byte, the randomness each Encrypt consumed, every
// plaintext and error, and both final states.
func replayVectors(t *testing.T, v *vectorFile) {
	cfg := Config{MaxSkipPerStep: v.MaxSkipPerStep, MaxSkipTotal: v.MaxSkipTotal, PQInterval: v.PQInterval}
	bobDH, err := suite.NewDHPrivateKey(v.ResponderRatchetPrivate)
	must(t, err)
	aliceKEM, err := suite.NewKEMPrivateKey(v.InitiatorKEMSeed)
	must(t, err)
	var ss [32]byte
	if copy(ss[:], v.SharedSecret) != 32 || len(v.SharedSecret) != 32 {
		t.Fatal("shared secret size")
	}
	ir := bytes.NewReader(v.InitiatorRand)
	alice, err := NewInitiator(ir, ss, v.AD, bobDH.Public(), aliceKEM, cfg)
	must(t, err)
	bob, err := NewResponder(ss, v.AD, bobDH, aliceKEM.Public(), cfg)
	must(t, err)
	if ir.Len() != 0 {
		t.Fatal("NewInitiator left randomness unread")
	}
	parties := map[string]*State{"initiator": alice, "responder": bob}
	msgs := map[int][]byte{}
	pqSeen, dupSeen := 0, 0
	for i, ev := range v.Events {
		s := parties[ev.Party]
		if s == nil {
			t.Fatalf("event %d: unknown party %q", i, ev.Party)
		}
		switch ev.Op {
		case "encrypt":
			if s.NextMessagePQ() != ev.PQ {
				t.Fatalf("event %d: NextMessagePQ %v, want %v", i, !ev.PQ, ev.PQ)
			}
			rr := bytes.NewReader(ev.Rand)
			m, err := s.Encrypt(rr, ev.Plaintext)
			must(t, err)
			if !bytes.Equal(m, ev.Message) {
				t.Fatalf("event %d: message %d differs from the vector", i, ev.ID)
			}
			if rr.Len() != 0 {
				t.Fatalf("event %d: %d random bytes unread", i, rr.Len())
			}
			if len(m)-len(ev.Plaintext) != MessageOverhead(ev.PQ) {
				t.Fatalf("event %d: overhead", i)
			}
			if ev.PQ {
				pqSeen++
			}
			msgs[ev.ID] = ev.Message
		case "decrypt":
			pt, err := s.Decrypt(msgs[ev.ID])
			switch ev.Error {
			case "duplicate":
				dupSeen++
				if !errors.Is(err, ErrDuplicate) {
					t.Fatalf("event %d: got %v, want ErrDuplicate", i, err)
				}
			case "":
				if err != nil || !bytes.Equal(pt, ev.Plaintext) {
					t.Fatalf("event %d: got %q, %v; want %q", i, pt, err, ev.Plaintext)
				}
			default:
				t.Fatalf("event %d: unknown error %q", i, ev.Error)
			}
		default:
			t.Fatalf("event %d: unknown op %q", i, ev.Op)
		}
	}
	if pqSeen < 4 || dupSeen < 3 {
		t.Fatalf("vectors hold %d PQ messages and %d duplicates", pqSeen, dupSeen)
	}
	if !bytes.Equal(alice.Marshal(), v.InitiatorState) || !bytes.Equal(bob.Marshal(), v.ResponderState) {
		t.Fatal("final states differ from the vector")
	}
}

// TestVectorsIndependent recomputes the first messages of the vectors from
// docs/PROTOCOL.md §Message ratchet alone, with independent code: x/crypto's
// curve25519, the standard library's HKDF and HMAC, x/crypto's
// ChaCha20-Poly1305 and circl's X-Wing. It opens message 0 and 1 (the
// initiator's first chain) and message 3 (the responder's first chain, a PQ
// chain whose randomness and X-Wing ciphertext it also rebuilds).
func TestVectorsIndependent(t *testing.T) {
	t.Parallel()
	var v vectorFile
	vectortest.Read(t, vectorsPath, &v)
	msg := func(id int) vectorEvent {
		for _, ev := range v.Events {
			if ev.Op == "encrypt" && ev.ID == id {
				return ev
			}
		}
		t.Fatalf("no message %d", id)
		return vectorEvent{}
	}
	x25519 := func(scalar, point []byte) []byte {
		out, err := curve25519.X25519(scalar, point)
		must(t, err)
		return out
	}
	hkdfKey := func(secret, salt []byte, label string, n int) []byte {
		out, err := hkdf.Key(sha256.New, secret, salt, label, n)
		must(t, err)
		return out
	}
	hmacOf := func(key []byte, label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	// open opens message m with chain key ck (message number n in its chain).
	open := func(ck []byte, m vectorEvent, n int) {
		t.Helper()
		for range n {
			ck = hmacOf(ck, "parley/v1/ratchet/chain/next")
		}
		mk := hmacOf(ck, "parley/v1/ratchet/chain/message")
		kn := hkdfKey(mk, nil, "parley/v1/ratchet/message-keys", 44)
		hdrLen := 43
		if m.PQ {
			hdrLen += 2344
		}
		header := m.Message[2 : 2+hdrLen]
		ad := append([]byte{byte(len(v.AD) >> 8), byte(len(v.AD))}, v.AD...)
		ad = append(ad, header...)
		aead, err := chacha20poly1305.New(kn[:32])
		must(t, err)
		ct := m.Message[2+hdrLen+2:]
		pt, err := aead.Open(nil, kn[32:], ct, ad)
		if err != nil || !bytes.Equal(pt, m.Plaintext) {
			t.Fatalf("message %d: independent open: %q, %v", m.ID, pt, err)
		}
	}

	// Initiator's first chain: DH(initiator's first key, responder's key).
	a0 := v.InitiatorRand[:32]
	a0pub := x25519(a0, curve25519.Basepoint)
	b0pub := x25519(v.ResponderRatchetPrivate, curve25519.Basepoint)
	m0 := msg(0)
	if !bytes.Equal(m0.Message[5:37], a0pub) {
		t.Fatal("message 0 does not carry the initiator's first ratchet key")
	}
	out := hkdfKey(x25519(a0, b0pub), v.SharedSecret, "parley/v1/ratchet/root", 64)
	rk1, ckA0 := out[:32], out[32:]
	open(ckA0, m0, 0)
	open(ckA0, msg(1), 1)

	// Responder's first chain, a PQ chain: DH seed, encapsulation seed and
	// new X-Wing seed, in that order.
	m3 := msg(3)
	if !m3.PQ || len(m3.Rand) != 128 {
		t.Fatal("message 3 is not the first message of a PQ chain")
	}
	b1 := m3.Rand[:32]
	if !bytes.Equal(m3.Message[5:37], x25519(b1, curve25519.Basepoint)) {
		t.Fatal("message 3 does not carry the responder's new ratchet key")
	}
	aliceKEMPriv, aliceKEMPub := xwing.DeriveKeyPairPacked(v.InitiatorKEMSeed)
	ss, ct, err := xwing.Encapsulate(aliceKEMPub, m3.Rand[32:96])
	must(t, err)
	_, bobKEMPub := xwing.DeriveKeyPairPacked(m3.Rand[96:128])
	pq := m3.Message[45 : 45+2344]
	if !bytes.Equal(pq[:1216], bobKEMPub) || !bytes.Equal(pq[1216:1220], []byte{0, 0, 0, 0}) ||
		!bytes.Equal(pq[1220:2340], ct) || !bytes.Equal(pq[2340:], []byte{0, 0, 0, 0}) {
		t.Fatal("message 3's PQ part differs from the independent one")
	}
	if !bytes.Equal(xwing.Decapsulate(ct, aliceKEMPriv), ss) {
		t.Fatal("X-Wing decapsulation disagrees")
	}
	rk2 := hkdfKey(ss, rk1, "parley/v1/ratchet/pq", 32)
	out = hkdfKey(x25519(b1, a0pub), rk2, "parley/v1/ratchet/root", 64)
	open(out[32:], m3, 0)
	open(out[32:], msg(4), 1)
}
