//go:build !linux && !darwin && !windows

package profile

// osDataDir uses the XDG convention on the other Unix systems (the BSDs),
// which follow it too.
func osDataDir(getenv func(string) string) (string, error) {
	return xdgDataDir(getenv, "parley")
}
