package keystore_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/parley-im/parley/bridge/keystore"
)

// A profile without an OS keystore: the user chooses a passphrase, and the
// next start needs it again.
func ExampleCreatePassphrase() {
	dir, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(dir)
	params := keystore.Params{Time: keystore.MinTime, MemoryKiB: keystore.MinMemoryKiB, Threads: 1} // real use: DefaultParams()

	created, err := keystore.CreatePassphrase(dir, []byte("a long passphrase"), params, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	mode, _ := keystore.ConfiguredMode(dir)
	fmt.Println(mode)

	_, err = keystore.Open(dir, nil)
	fmt.Println(errors.Is(err, keystore.ErrPassphraseRequired))
	_, err = keystore.Open(dir, []byte("a wrong passphrase"))
	fmt.Println(err)

	reopened, _ := keystore.Open(dir, []byte("a long passphrase"))
	k1, _ := created.Key()
	k2, _ := reopened.Key()
	fmt.Println(k1.Equal(k2), k1)
	// Output:
	// passphrase
	// true
	// keystore: wrong passphrase
	// true keystore.Key(redacted)
}
