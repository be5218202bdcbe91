package profile_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/parley-im/parley/bridge/profile"
)

// One bridge per profile: a second Open of the same directory is refused
// until the first is closed.
func ExampleOpen() {
	home, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(home)
	os.Setenv(profile.EnvHome, home)
	defer os.Unsetenv(profile.EnvHome)

	dir, _ := profile.Dir(profile.DefaultName)
	p, err := profile.Open(dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	_, err = profile.Open(dir)
	fmt.Println(errors.Is(err, profile.ErrProfileLocked))
	p.Close()
	p, err = profile.Open(dir)
	fmt.Println(err)
	p.Close()
	// Output:
	// true
	// <nil>
}
