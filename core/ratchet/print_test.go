package ratchet

import (
	"testing"

	"github.com/parley-im/parley/core/internal/leaktest"
	"github.com/parley-im/parley/core/internal/testrand"
)

// TestStateDoesNotPrint checks that no fmt verb prints a State's root key,
// chain keys or skipped message keys.
func TestStateDoesNotPrint(t *testing.T) {
	t.Parallel()
	alice, bob := newPair(t, "print", DefaultConfig())
	r := testrand.New("print-msgs")
	m1 := send(t, alice, r, "one")
	_ = send(t, alice, r, "two") // skipped by bob below
	m3 := send(t, alice, r, "three")
	recv(t, bob, m3, "three")
	recv(t, bob, m1, "one")
	if len(bob.skipped) != 1 {
		t.Fatalf("%d skipped keys, want 1", len(bob.skipped))
	}
	for _, s := range []*State{alice, bob} {
		secrets := [][]byte{s.rk[:]}
		if s.sendReady {
			secrets = append(secrets, s.cks[:])
		}
		if s.hasCKR {
			secrets = append(secrets, s.ckr[:])
		}
		for i := range s.skipped {
			secrets = append(secrets, s.skipped[i].mk[:])
		}
		leaktest.Check(t, s, secrets...)
		leaktest.Check(t, *s, secrets...)
	}
}
