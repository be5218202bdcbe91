//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package profile

import (
	"errors"
	"os"
)

// errLockUnsupported fails closed where no advisory lock is known to work:
// a bridge that cannot lock its profile must not open it.
var errLockUnsupported = errors.New("file locking is not supported on this system")

func lockFile(*os.File) error   { return errLockUnsupported }
func unlockFile(*os.File) error { return errLockUnsupported }
