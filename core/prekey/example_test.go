package prekey_test

import (
	"fmt"
	"time"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
)

// The owner generates prekeys and hands out a bundle; the initiator parses
// and verifies it before first contact.
func ExampleSecrets_Bundle() {
	r := testrand.New("example prekeys") // real code passes nil
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	owner, _ := identity.Generate(r)
	secrets, _ := prekey.Generate(r, owner, now, 7*24*time.Hour, 1)

	first, _ := secrets.Bundle(now)  // carries the one-time prekey
	second, _ := secrets.Bundle(now) // none left: the last-resort prekey
	enc := first.Marshal()

	b, err := prekey.ParseBundle(enc)
	if err != nil {
		panic(err)
	}
	fmt.Println(len(enc), b.Verify(now), b.KEMPrekey.LastResort, second.KEMPrekey.LastResort)
	fmt.Println(b.Verify(now.Add(8 * 24 * time.Hour)))
	// Output:
	// 1537 <nil> false true
	// prekey: bundle: signed prekey 1: prekey: prekey expired
}
