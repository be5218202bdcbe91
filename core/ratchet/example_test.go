package ratchet_test

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/parley-im/parley/core/ratchet"
	"github.com/parley-im/parley/core/suite"
)

// Example runs a session from what the first-contact handshake hands to
// both sides: the shared secret, both identities as associated data, the
// responder's ratchet key and the initiator's X-Wing key.
func Example() {
	var ss [32]byte
	rand.Read(ss[:])
	ad := []byte("alice's public identity || bob's public identity")
	bobRatchet, _ := suite.GenerateDH(nil)
	aliceKEM, _ := suite.GenerateKEM(nil)

	alice, err := ratchet.NewInitiator(nil, ss, ad, bobRatchet.Public(), aliceKEM, ratchet.DefaultConfig())
	if err != nil {
		panic(err)
	}
	bob, err := ratchet.NewResponder(ss, ad, bobRatchet, aliceKEM.Public(), ratchet.DefaultConfig())
	if err != nil {
		panic(err)
	}

	m, _ := alice.Encrypt(nil, []byte("hello bob"))
	pt, _ := bob.Decrypt(m)
	fmt.Printf("%s (%d bytes)\n", pt, len(m))

	fmt.Println("bob's reply is a PQ step:", bob.NextMessagePQ())
	r, _ := bob.Encrypt(nil, []byte("hi alice"))
	pt, _ = alice.Decrypt(r)
	fmt.Printf("%s (%d bytes)\n", pt, len(r))

	_, err = alice.Decrypt(r)
	fmt.Println("replay is a duplicate:", errors.Is(err, ratchet.ErrDuplicate))
	// Output:
	// hello bob (72 bytes)
	// bob's reply is a PQ step: true
	// hi alice (2415 bytes)
	// replay is a duplicate: true
}

// ExampleMessageOverhead shows the exact sizes a UI uses to preview which
// envelope bucket a message will need.
func ExampleMessageOverhead() {
	fmt.Println(ratchet.MessageOverhead(false), ratchet.MessageOverhead(true))
	// Output: 63 2407
}

// ExampleParseState stores a session and restores it, as the bridge does
// (it keeps the encoding encrypted at rest).
func ExampleParseState() {
	var ss [32]byte
	rand.Read(ss[:])
	bobRatchet, _ := suite.GenerateDH(nil)
	aliceKEM, _ := suite.GenerateKEM(nil)
	alice, _ := ratchet.NewInitiator(nil, ss, []byte("ids"), bobRatchet.Public(), aliceKEM, ratchet.DefaultConfig())
	bob, _ := ratchet.NewResponder(ss, []byte("ids"), bobRatchet, aliceKEM.Public(), ratchet.DefaultConfig())

	stored := bob.Marshal()
	restored, err := ratchet.ParseState(stored)
	if err != nil {
		panic(err)
	}
	m, _ := alice.Encrypt(nil, []byte("still here"))
	pt, _ := restored.Decrypt(m)
	fmt.Println(string(pt))
	// Output: still here
}
