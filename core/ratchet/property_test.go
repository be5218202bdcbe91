package ratchet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

// keyNonce is one AEAD (key, nonce) pair.
type keyNonce [suite.KeySize + suite.NonceSize]byte

// flight is one copy of a message on the network.
type flight struct {
	id       int
	msg      []byte
	deadline int
}

// sent records what the test knows about a message.
type sent struct {
	pt     string
	chain  int // the sender's chain ordinal
	opened bool
}

// propertyMessages is the conversation length: the full 10,000 natively,
// 2,000 under js/wasm to stay within a minute there.
func propertyMessages() int {
	if runtime.GOOS == "js" {
		return 2000
	}
	return 10000
}

// TestPropertyConversation runs long two-way conversations (10,000
// messages with the default config; 2,000 under js/wasm) over a network
// that reorders (each copy is delivered at a random tick up to 8 ticks
// later; 40 with tight caps), loses (5%) and duplicates (5%) messages, with reproducible
// randomness (math/rand/v2 PCG). It checks that every message delivered
// opens exactly once with its plaintext (strictly with the default config;
// with tight caps a first delivery may also be refused as evicted or as too
// many skips), that duplicates are rejected with ErrDuplicate, that the
// skipped-key caps hold after every call, and that no (key, nonce) pair is
// ever sealed twice or opened twice.
func TestPropertyConversation(t *testing.T) {
	t.Parallel()
	n := propertyMessages()
	tests := []struct {
		name     string
		cfg      Config
		strict   bool
		messages int
		delay    int // a copy is delivered up to delay-1 ticks late
	}{
		{"default", DefaultConfig(), true, n, 8},
		// Variants, shorter to keep the race-detector run reasonable.
		{"pq every chain", Config{MaxSkipPerStep: 1000, MaxSkipTotal: 2000, PQInterval: 1}, true, n * 2 / 5, 8},
		{"tight caps", Config{MaxSkipPerStep: 4, MaxSkipTotal: 6, PQInterval: 2}, false, n * 2 / 5, 40},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runConversation(t, tt.cfg, tt.strict, tt.messages, tt.delay, rand.NewPCG(uint64(i), 0x9a41e7))
		})
	}
}

func runConversation(t *testing.T, cfg Config, strict bool, total, delay int, src rand.Source) {
	rng := rand.New(src)
	cr := testrand.New("property " + t.Name())
	alice, bob := newSession(t, cr).pair(t, cr, cfg)
	parties := [2]*State{alice, bob}

	sealed := map[keyNonce]bool{}
	opened := [2]map[keyNonce]bool{{}, {}}
	for i, p := range parties {
		p.observe = func(sealing bool, k *[suite.KeySize]byte, n *[suite.NonceSize]byte) {
			var kn keyNonce
			copy(kn[:], k[:])
			copy(kn[suite.KeySize:], n[:])
			if sealing {
				if sealed[kn] {
					t.Fatal("a (key, nonce) pair was sealed twice")
				}
				sealed[kn] = true
				return
			}
			if opened[i][kn] || !sealed[kn] {
				t.Fatalf("party %d opened a pair twice or one never sealed", i)
			}
			opened[i][kn] = true
		}
	}

	var (
		msgs      []sent
		inFlight  [2][]flight // to party i
		chainOf   [2]map[suite.DHPublicKey]int
		seenChain [2]int // highest chain of the peer party i opened
		newest    [2]int // highest message id party i opened
		stats     = map[string]int{}
	)
	chainOf[0], chainOf[1] = map[suite.DHPublicKey]int{}, map[suite.DHPublicKey]int{}
	from := 0
	for tick := 0; len(msgs) < total || len(inFlight[0])+len(inFlight[1]) > 0; tick++ {
		if len(msgs) < total && rng.IntN(2) == 0 {
			if rng.IntN(10) < 3 {
				from = 1 - from // switching sides makes new chains
			}
			if from == 1 && !bob.hasDHR {
				from = 0
			}
			id := len(msgs)
			pt := fmt.Sprintf("message %d from %d", id, from)
			m, err := parties[from].Encrypt(cr, []byte(pt))
			if err != nil {
				t.Fatalf("encrypt %d: %v", id, err)
			}
			checkScratchWiped(t, parties[from])
			dh := hdr(t, m).dh
			if _, ok := chainOf[from][dh]; !ok {
				chainOf[from][dh] = len(chainOf[from])
			}
			msgs = append(msgs, sent{pt: pt, chain: chainOf[from][dh]})
			to := 1 - from
			copies := 1
			switch r := rng.IntN(100); {
			case r < 5:
				copies = 0
				stats["lost"]++
			case r < 10:
				copies = 2
			}
			for range copies {
				inFlight[to] = append(inFlight[to], flight{id: id, msg: m, deadline: tick + rng.IntN(delay)})
			}
		}
		for to := range 2 {
			// Deliver every due copy, in random order.
			var due []flight
			inFlight[to] = slices.DeleteFunc(inFlight[to], func(f flight) bool {
				if f.deadline <= tick {
					due = append(due, f)
					return true
				}
				return false
			})
			rng.Shuffle(len(due), func(i, j int) { due[i], due[j] = due[j], due[i] })
			for _, f := range due {
				deliver(t, parties[to], f, &msgs[f.id], &seenChain[to], &newest[to], strict, stats)
			}
		}
	}

	t.Logf("%d messages, %d sealed pairs, stats %v", len(msgs), len(sealed), stats)
	if len(sealed) != len(msgs) {
		t.Fatalf("%d pairs sealed for %d messages", len(sealed), len(msgs))
	}
	for _, k := range []string{"lost", "duplicate", "out of order", "late chain"} {
		if stats[k] == 0 {
			t.Fatalf("the run had no %s message: the test exercises nothing", k)
		}
	}
	if strict && stats["opened"]+stats["lost"] != len(msgs) {
		t.Fatalf("%d opened + %d lost != %d sent", stats["opened"], stats["lost"], len(msgs))
	}
	if !strict && (stats["refused: evicted"] == 0 || stats["refused: too many skipped"] == 0) {
		t.Fatal("tight caps never evicted a key or never refused too many skips")
	}
}

// deliver decrypts one copy and checks the outcome and the skipped-key caps.
func deliver(t *testing.T, s *State, f flight, m *sent, seen, newest *int, strict bool, stats map[string]int) {
	t.Helper()
	before := skippedIDs(s)
	pt, err := s.Decrypt(f.msg)
	checkCaps(t, s, before)
	checkScratchWiped(t, s)
	if f.id < *newest {
		stats["out of order"]++
	}
	if m.chain < *seen {
		stats["late chain"]++
	}
	switch {
	case m.opened:
		stats["duplicate"]++
		if !errors.Is(err, ErrDuplicate) && !(errors.Is(err, ErrAuth) && *seen-m.chain > MaxPrevChains) {
			t.Fatalf("duplicate of message %q: %v", m.pt, err)
		}
	case err == nil:
		if string(pt) != m.pt {
			t.Fatalf("opened %q, want %q", pt, m.pt)
		}
		m.opened = true
		stats["opened"]++
		*seen = max(*seen, m.chain)
		*newest = max(*newest, f.id)
	case !strict && errors.Is(err, ErrDuplicate):
		stats["refused: evicted"]++
	case !strict && errors.Is(err, ErrTooManySkipped):
		stats["refused: too many skipped"]++
	default:
		t.Fatalf("first delivery of %q: %v", m.pt, err)
	}
}

// skippedIDs lists the stored keys' ids, oldest first.
func skippedIDs(s *State) []skippedID {
	ids := make([]skippedID, len(s.skipped))
	for i := range s.skipped {
		ids[i] = skippedID{s.skipped[i].dh, s.skipped[i].n}
	}
	return ids
}

// checkCaps checks MaxSkipTotal, and that the keys one Decrypt added number
// at most MaxSkipPerStep per chain. Stored keys keep their order and new
// ones are appended, so the keys that survived from before form a prefix.
func checkCaps(t *testing.T, s *State, before []skippedID) {
	t.Helper()
	if len(s.skipped) > s.cfg.MaxSkipTotal {
		t.Fatalf("%d skipped keys stored, cap %d", len(s.skipped), s.cfg.MaxSkipTotal)
	}
	kept := 0
	for _, id := range before {
		if kept < len(s.skipped) && s.skipped[kept].dh == id.dh && s.skipped[kept].n == id.n {
			kept++
		}
	}
	perChain := map[suite.DHPublicKey]int{}
	for _, k := range s.skipped[kept:] {
		perChain[k.dh]++
		if perChain[k.dh] > s.cfg.MaxSkipPerStep {
			t.Fatalf("one call skipped more than %d keys in a chain", s.cfg.MaxSkipPerStep)
		}
	}
}

// checkScratchWiped checks that no temporary key is left in the scratch
// space after a call.
func checkScratchWiped(t *testing.T, s *State) {
	t.Helper()
	if s.tmp != (scratch{}) {
		t.Fatal("scratch keys not wiped after a call")
	}
}
