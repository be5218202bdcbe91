package ratchet

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

// TestPostCompromise: an attacker copies the victim's whole State at step t
// (Marshal), keeps evolving the copy on every message it sees, and learns
// every X25519 private key the victim generates from t on (it replays the
// victim's X25519 seeds), but not the X-Wing randomness (encapsulation
// seeds and new X-Wing key seeds). The attacker reads every message up to
// the victim's next PQ chain and none from that chain on, in both
// directions. Two controls show the test's attacker is the real thing:
// given the X-Wing randomness too it reads everything, and without a PQ
// step after t (a classical ratchet) knowing the DH keys alone suffices to
// read everything. With PQInterval 1 the victim's first chain after t is
// already a PQ chain, so the attacker reads nothing.
func TestPostCompromise(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		victim      int // 0 alice (initiator), 1 bob (responder)
		pqInterval  int
		attackerKEM bool // the attacker also learns the X-Wing randomness
		wantHeal    bool
	}{
		{"initiator victim heals at PQ step", 0, 4, false, true},
		{"responder victim heals at PQ step", 1, 4, false, true},
		{"PQ every chain", 1, 1, false, true},
		{"control: attacker knows X-Wing randomness", 0, 4, true, false},
		{"control: classical ratchet, attacker follows", 0, MaxPQInterval, false, false},
		{"control: classical ratchet, responder victim", 1, MaxPQInterval, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			runCompromise(t, tt.victim, tt.pqInterval, tt.attackerKEM, tt.wantHeal)
		})
	}
}

func runCompromise(t *testing.T, victimIdx, pqInterval int, attackerKEM, wantHeal bool) {
	cfg := DefaultConfig()
	cfg.PQInterval = pqInterval
	r := testrand.New("pcs " + t.Name())
	alice, bob := newSession(t, r).pair(t, r, cfg)
	parties := [2]*State{alice, bob}
	victim, peer := parties[victimIdx], parties[1-victimIdx]

	turn := func(from, to *State, label string) {
		for i := range 2 {
			pt := fmt.Sprintf("%s %d", label, i)
			recv(t, to, send(t, from, r, pt), pt)
		}
	}
	// Warm up past the initial PQ chains of both sides, then one more
	// round, so that the victim's next PQ chain lies some chains ahead.
	for round := range 3 {
		turn(alice, bob, fmt.Sprint("warm-up a", round))
		turn(bob, alice, fmt.Sprint("warm-up b", round))
	}
	if victimIdx == 1 {
		turn(alice, bob, "warm-up a last")
	}

	// Step t: the attacker copies the victim's state.
	attacker, err := ParseState(victim.Marshal())
	must(t, err)
	var key [suite.KeySize]byte
	var nonce [suite.NonceSize]byte
	attacker.observe = func(sealing bool, k *[suite.KeySize]byte, n *[suite.NonceSize]byte) {
		if sealing {
			key, nonce = *k, *n
		}
	}
	attackerRand := testrand.New("attacker's own randomness")

	healed := false
	var before, after, beforeOK, afterOK int
	record := func(ok bool) {
		if healed {
			after++
			if ok {
				afterOK++
			}
		} else {
			before++
			if ok {
				beforeOK++
			}
		}
	}
	for round := range 12 {
		// The victim sends; the attacker mirrors each Encrypt on its copy
		// with the same X25519 seed, and opens the victim's message with
		// the key and nonce its copy derived.
		for i := range 2 {
			var dhSeed, kemRand []byte
			if !victim.sendReady {
				dhSeed = make([]byte, suite.DHPrivateKeySize)
				must(t, suite.ReadRandom(r, dhSeed))
				if victim.NextMessagePQ() {
					healed = healed || !attackerKEM
					kemRand = make([]byte, suite.KEMEncapsSeedSize+suite.KEMSeedSize)
					must(t, suite.ReadRandom(r, kemRand))
				}
			}
			pt := fmt.Sprintf("victim round %d message %d", round, i)
			m, err := victim.Encrypt(io.MultiReader(bytes.NewReader(dhSeed), bytes.NewReader(kemRand)), []byte(pt))
			must(t, err)
			var attackerKEMRand io.Reader = attackerRand
			if attackerKEM {
				attackerKEMRand = bytes.NewReader(kemRand)
			}
			key, nonce = [suite.KeySize]byte{}, [suite.NonceSize]byte{}
			_, err = attacker.Encrypt(io.MultiReader(bytes.NewReader(dhSeed), attackerKEMRand), []byte(pt))
			ok := err == nil && attackerOpens(attacker, m, &key, &nonce, pt)
			record(ok)
			recv(t, peer, m, pt)
		}
		// The peer answers; the attacker's copy decrypts as the victim.
		for i := range 2 {
			pt := fmt.Sprintf("peer round %d message %d", round, i)
			m := send(t, peer, r, pt)
			got, err := attacker.Decrypt(m)
			record(err == nil && string(got) == pt)
			recv(t, victim, m, pt)
		}
	}
	t.Logf("before heal %d/%d read, after %d/%d read", beforeOK, before, afterOK, after)
	if (before == 0 && pqInterval > 1) || beforeOK != before {
		t.Fatalf("attacker read %d of %d messages before the PQ step, want all (and some)", beforeOK, before)
	}
	if !wantHeal {
		if healed || afterOK != after {
			t.Fatalf("control: attacker read %d of %d messages after t, want all", afterOK, after)
		}
		return
	}
	if !healed || after < 4 {
		t.Fatalf("no PQ chain after t (healed=%v, %d messages after)", healed, after)
	}
	if afterOK != 0 {
		t.Fatalf("attacker read %d of %d messages after the PQ step", afterOK, after)
	}
}

// attackerOpens tries to open the victim's message m with the key and nonce
// the attacker's copy derived for the same position.
func attackerOpens(s *State, m []byte, key *[suite.KeySize]byte, nonce *[suite.NonceSize]byte, want string) bool {
	var h header
	ct, err := parseMessage(m, &h)
	if err != nil {
		return false
	}
	pt, err := suite.Open(nil, key, nonce, ct, s.aeadAD(&h))
	return err == nil && string(pt) == want
}
