package handshake_test

import (
	"testing"

	"github.com/parley-im/parley/core/internal/leaktest"
)

// TestResultDoesNotPrint checks that no fmt verb prints a Result's root key.
func TestResultDoesNotPrint(t *testing.T) {
	t.Parallel()
	bob := newParty(t, "bob", 1)
	alice := newParty(t, "alice", 0)
	_, res := contact(t, alice.id, bob, "print")
	leaktest.Check(t, res, res.SharedSecret[:])
	leaktest.Check(t, *res, res.SharedSecret[:])
}
