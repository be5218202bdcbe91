package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// TestStateRoundTrip runs a conversation with reordering, loss and
// duplicates and, before every call, checks Marshal → ParseState → Marshal
// is exact and that the parsed copy does exactly what the original does
// (same messages from the same randomness, same plaintexts and errors).
// The run continues on the parsed copies.
func TestStateRoundTrip(t *testing.T) {
	t.Parallel()
	steps := 600
	if runtime.GOOS == "js" {
		steps = 200
	}
	cfg := Config{MaxSkipPerStep: 20, MaxSkipTotal: 30, PQInterval: 2}
	rng := rand.New(rand.NewPCG(7, 7))
	cr := testrand.New("state round trip")
	alice, bob := newSession(t, cr).pair(t, cr, cfg)
	parties := [2]*State{alice, bob}
	var inFlight [2][][]byte // to party i
	maxSeen := map[string]int{}

	clone := func(s *State) *State {
		t.Helper()
		b := s.Marshal()
		if len(b) > MaxStateSize {
			t.Fatalf("state of %d bytes", len(b))
		}
		c, err := ParseState(b)
		if err != nil {
			t.Fatalf("ParseState: %v", err)
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatal("Marshal(ParseState(b)) != b")
		}
		return c
	}
	for step := range steps {
		i := rng.IntN(2)
		deliver := rng.IntN(3) == 0
		if deliver && len(inFlight[i]) == 0 {
			deliver = false
		}
		if !deliver && i == 1 && !bob.hasDHR {
			i, deliver = 0, false // the responder cannot send first
		}
		s := parties[i]
		c := clone(s)
		if !deliver {
			// Send from party i, with the same randomness for both.
			seed := make([]byte, 128)
			must(t, suite.ReadRandom(cr, seed))
			pt := fmt.Sprint("step ", step)
			m1, err1 := s.Encrypt(bytes.NewReader(seed), []byte(pt))
			m2, err2 := c.Encrypt(bytes.NewReader(seed), []byte(pt))
			if err1 != nil || err2 != nil || !bytes.Equal(m1, m2) {
				t.Fatalf("step %d: encrypt differs after round trip: %v, %v", step, err1, err2)
			}
			if rng.IntN(10) > 0 {
				inFlight[1-i] = append(inFlight[1-i], m1)
			}
		} else {
			// Deliver a random in-flight message to party i, keeping it
			// in flight a third of the time (a later duplicate).
			j := rng.IntN(len(inFlight[i]))
			m := inFlight[i][j]
			if rng.IntN(3) > 0 {
				inFlight[i] = slices.Delete(inFlight[i], j, j+1)
			}
			p1, err1 := s.Decrypt(m)
			p2, err2 := c.Decrypt(m)
			if !bytes.Equal(p1, p2) || fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("step %d: decrypt differs after round trip: %q %v / %q %v", step, p1, err1, p2, err2)
			}
			maxSeen[fmt.Sprint(err1)]++
		}
		if !bytes.Equal(s.Marshal(), c.Marshal()) {
			t.Fatalf("step %d: states differ after the same call", step)
		}
		parties[i] = c
		if i == 0 {
			alice = c
		} else {
			bob = c
		}
	}
	t.Logf("decrypt outcomes: %v", maxSeen)
	if maxSeen["<nil>"] == 0 || maxSeen[ErrDuplicate.Error()] == 0 {
		t.Fatal("the run did not exercise both opens and duplicates")
	}
}

// richState returns a State with every optional field present: a PQ
// sending chain, a receiving chain, peer and own X-Wing keys, previous
// chains and skipped keys.
func richState(t testing.TB) *State {
	t.Helper()
	r := testrand.New("rich state")
	a, b := newPair(t, "rich state", Config{MaxSkipPerStep: 50, MaxSkipTotal: 100, PQInterval: 1})
	for round := range 3 {
		var ms [4][]byte
		for i := range ms {
			ms[i] = send(t, a, r, fmt.Sprint(round, i))
		}
		recv(t, b, ms[3], fmt.Sprint(round, 3)) // 3 skipped
		recv(t, a, send(t, b, r, "ack"), "ack")
	}
	recv(t, b, send(t, a, r, "x"), "x")
	m0, m1 := send(t, b, r, "y0"), send(t, b, r, "y1")
	recv(t, a, m1, "y1") // 1 skipped
	_ = m0
	_ = send(t, a, r, "z") // a PQ sending chain
	if !a.sendPQ || !a.hasCKR || a.peerKEM == nil || len(a.own) == 0 || len(a.prev) == 0 || len(a.skipped) == 0 {
		t.Fatalf("state lacks a field: sendPQ=%v ckr=%v peer=%v own=%d prev=%d skipped=%d",
			a.sendPQ, a.hasCKR, a.peerKEM != nil, len(a.own), len(a.prev), len(a.skipped))
	}
	return a
}

func TestParseStateRejects(t *testing.T) {
	t.Parallel()
	s := richState(t)
	enc := s.Marshal()
	if _, err := ParseState(enc); err != nil {
		t.Fatal(err)
	}
	for n := range len(enc) {
		if p, err := ParseState(enc[:n]); err == nil || p != nil {
			t.Fatalf("truncation to %d accepted", n)
		}
	}
	for _, x := range []byte{0, 0xff} {
		if _, err := ParseState(append(bytes.Clone(enc), x)); !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("extension by %#x: %v", x, err)
		}
	}
	if _, err := ParseState(make([]byte, MaxStateSize+1)); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversized: %v", err)
	}
	bad := bytes.Clone(enc)
	bad[0] = byte(wire.TagRatchetHeader)
	if _, err := ParseState(bad); !errors.Is(err, wire.ErrWrongType) {
		t.Fatalf("wrong tag: %v", err)
	}
	bad = bytes.Clone(enc)
	bad[1] = 2
	if _, err := ParseState(bad); !errors.Is(err, wire.ErrVersion) {
		t.Fatalf("wrong version: %v", err)
	}

	// Each mutation breaks one invariant; Marshal writes it as is and
	// ParseState must refuse it.
	mutations := []struct {
		name string
		f    func(s *State)
	}{
		{"zero MaxSkipPerStep", func(s *State) { s.cfg.MaxSkipPerStep = 0 }},
		{"MaxSkipTotal above limit", func(s *State) { s.cfg.MaxSkipTotal = MaxSkipLimit + 1 }},
		{"per step above total", func(s *State) { s.cfg.MaxSkipPerStep = s.cfg.MaxSkipTotal + 1 }},
		{"zero PQInterval", func(s *State) { s.cfg.PQInterval = 0 }},
		{"PQInterval above limit", func(s *State) { s.cfg.PQInterval = MaxPQInterval + 1 }},
		{"empty ad", func(s *State) { s.ad = nil }},
		{"ad above limit", func(s *State) { s.ad = make([]byte, MaxADSize+1) }},
		{"PQ chain without sending chain", func(s *State) { s.sendReady = false }},
		{"PQ chain without peer key", func(s *State) { s.peerKEM = nil }},
		{"receiving chain without DHr", func(s *State) { s.hasDHR, s.sendReady, s.sendPQ = false, false, false }},
		{"chains since PQ at interval", func(s *State) { s.chainsSincePQ = uint32(s.cfg.PQInterval) }},
		{"too many own keys", func(s *State) {
			for len(s.own) <= MaxOwnKEMKeys {
				s.own = append(s.own, ownKEM{id: s.nextKEMID, key: s.own[0].key})
				s.nextKEMID++
			}
		}},
		{"own key id not issued", func(s *State) { s.nextKEMID = s.own[len(s.own)-1].id }},
		{"own key ids out of order", func(s *State) {
			s.own = append(s.own, ownKEM{id: s.own[0].id, key: s.own[0].key})
		}},
		{"too many previous chains", func(s *State) {
			for len(s.prev) <= MaxPrevChains {
				s.prev = append(s.prev, suite.DHPublicKey{byte(len(s.prev))})
			}
		}},
		{"skipped above MaxSkipTotal", func(s *State) {
			for len(s.skipped) <= s.cfg.MaxSkipTotal {
				s.skipped = append(s.skipped, skippedKey{n: uint32(len(s.skipped))})
			}
		}},
		{"skipped key stored twice", func(s *State) {
			s.skipped = append(s.skipped, s.skipped[0])
		}},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			c, err := ParseState(enc)
			must(t, err)
			m.f(c)
			b := c.Marshal()
			if p, err := ParseState(b); !errors.Is(err, wire.ErrMalformed) || p != nil {
				t.Fatalf("accepted (%v)", err)
			}
		})
	}
	// Unknown flag bits. The flags byte follows the header, the config
	// and the length-prefixed ad.
	off := wire.HeaderSize + 12 + 2 + len(s.ad)
	if enc[off] != stHasDHR|stSendReady|stSendPQ|stHasCKR|stHasPeerKEM {
		t.Fatalf("flags byte at %d is %#x", off, enc[off])
	}
	for bit := 5; bit < 8; bit++ {
		bad := bytes.Clone(enc)
		bad[off] |= 1 << bit
		if _, err := ParseState(bad); !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("unknown flag bit %d: %v", bit, err)
		}
	}
}

// TestParseStateCountsBeforeAllocating: a state claiming MaxSkipLimit
// skipped keys with no bytes behind the count is refused without
// allocating room for them.
func TestParseStateCountsBeforeAllocating(t *testing.T) {
	// Not parallel: TotalAlloc counts every goroutine's allocations.
	_, b := newPair(t, "alloc", Config{MaxSkipPerStep: MaxSkipLimit, MaxSkipTotal: MaxSkipLimit, PQInterval: 4})
	good := b.Marshal() // no skipped keys: the count is the last 4 bytes
	if !bytes.Equal(good[len(good)-4:], []byte{0, 0, 0, 0}) {
		t.Fatal("unexpected layout")
	}
	bad := bytes.Clone(good)
	binary.BigEndian.PutUint32(bad[len(bad)-4:], MaxSkipLimit)
	allocated := func(enc []byte, wantErr bool) uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		const runs = 10
		for range runs {
			p, err := ParseState(enc)
			if wantErr != (err != nil) {
				t.Fatalf("ParseState: %v", err)
			}
			if wantErr && (!errors.Is(err, wire.ErrMalformed) || p != nil) {
				t.Fatalf("accepted: %v", err)
			}
		}
		runtime.ReadMemStats(&ms)
		return (ms.TotalAlloc - before) / runs
	}
	// Parsing the rest of the state (X-Wing keys re-derived from seeds)
	// allocates the same either way; room for MaxSkipLimit skipped keys
	// would add far more than a quarter of their size.
	base := allocated(good, false)
	perRun := allocated(bad, true)
	if perRun >= base+MaxSkipLimit*skippedKeySize/4 {
		t.Fatalf("%d bytes allocated per parse (valid state: %d): the count was not checked first", perRun, base)
	}
}
