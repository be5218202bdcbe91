package identity_test

import (
	"fmt"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
)

// Both parties compute the same safety number from the two public
// identities, whichever order they pass them in.
func ExampleNewSafetyNumber() {
	// Deterministic identities for the example; real code passes nil.
	alice, _ := identity.Generate(testrand.New("example alice"))
	bob, _ := identity.Generate(testrand.New("example bob"))

	onAlice := identity.NewSafetyNumber(alice.Public(), bob.Public())
	onBob := identity.NewSafetyNumber(bob.Public(), alice.Public())
	fmt.Println(onAlice.Digits() == onBob.Digits())
	fmt.Println(len(onAlice.Digits()), len(onAlice.Emoji()))
	// Output:
	// true
	// 71 16
}

// A contact moves to a new identity; the peer accepts the rotation once and
// refuses its replay.
func ExampleRotation_Verify() {
	oldID, _ := identity.Generate(testrand.New("example old"))
	newID, _ := identity.Generate(testrand.New("example new"))
	r := identity.NewRotation(oldID, newID, 1)

	noneRetired := func(*identity.PublicIdentity) bool { return false }
	fmt.Println(r.Verify(oldID.Public(), 0, noneRetired))
	fmt.Println(r.Verify(oldID.Public(), 1, noneRetired))
	// Output:
	// <nil>
	// identity: verify rotation: sequence 1 not above 1: identity: rotation replayed
}
