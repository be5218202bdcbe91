package handshake_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/parley-im/parley/core/handshake"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
)

// Alice makes first contact with Bob from his bundle; Bob responds to her
// init message; both hold the same root key and associated data.
func ExampleInitiate() {
	r := testrand.New("example handshake") // real code passes nil
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	bob, _ := identity.Generate(r)
	bobKeys, _ := prekey.Generate(r, bob, now, 7*24*time.Hour, 10)
	bundle, _ := bobKeys.Bundle(now)

	alice, _ := identity.Generate(r)
	msg, aliceResult, err := handshake.Initiate(r, alice, bundle, now)
	if err != nil {
		panic(err)
	}
	wire := msg.Marshal()

	received, err := handshake.ParseInitMessage(wire)
	if err != nil {
		panic(err)
	}
	bobResult, err := handshake.Respond(bob, bobKeys, received, now)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(wire), aliceResult.SharedSecret == bobResult.SharedSecret, bytes.Equal(aliceResult.AD, bobResult.AD))
	fmt.Println(bobKeys.OneTimeAvailable(now)) // one of ten issued and consumed

	// The same message again: its one-time prekey is gone.
	_, err = handshake.Respond(bob, bobKeys, received, now)
	fmt.Println(err)
	// Output:
	// 2508 true true
	// 9
	// handshake: respond: prekey: KEM prekey 3: prekey: unknown prekey
}
