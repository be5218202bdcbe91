package profile

import (
	"errors"
	"path/filepath"
)

// osDataDir follows Apple's convention for per-user application data:
// ~/Library/Application Support/Parley.
func osDataDir(getenv func(string) string) (string, error) {
	home := getenv("HOME")
	if home == "" || !filepath.IsAbs(home) {
		return "", errors.New("profile: HOME is not set to an absolute path; set " + EnvHome)
	}
	return filepath.Join(home, "Library", "Application Support", "Parley"), nil
}
