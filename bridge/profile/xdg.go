package profile

import (
	"errors"
	"path/filepath"
)

// xdgDataDir applies the XDG Base Directory rule: $XDG_DATA_HOME if it is an
// absolute path (the specification says relative values are ignored), else
// $HOME/.local/share; then appends app.
func xdgDataDir(getenv func(string) string, app string) (string, error) {
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, app), nil
	}
	home := getenv("HOME")
	if home == "" || !filepath.IsAbs(home) {
		return "", errors.New("profile: neither XDG_DATA_HOME nor HOME is set to an absolute path; set " + EnvHome)
	}
	return filepath.Join(home, ".local", "share", app), nil
}
