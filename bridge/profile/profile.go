// Package profile finds Parley's data directory and opens one profile
// directory under an exclusive lock, so that only one parley-bridge owns a
// profile at a time (docs/DESIGN.md §Bridge, issue 4 "Profile, keystore,
// store").
//
// The data directory follows each operating system's convention:
//
//	Linux, BSD  $XDG_DATA_HOME/parley, else ~/.local/share/parley
//	macOS       ~/Library/Application Support/Parley
//	Windows     %AppData%\Parley
//
// and $PARLEY_HOME replaces it when set. Profiles live in
// <data dir>/profiles/<name>; the lock is the file parley.lock inside the
// profile directory, held with flock(2) on Unix and LockFileEx on Windows.
// The operating system drops the lock when the process dies, so a crashed
// bridge never leaves a stale lock behind.
package profile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const (
	// EnvHome names the environment variable that, when set, replaces the
	// OS data directory. A relative value is taken relative to the working
	// directory.
	EnvHome = "PARLEY_HOME"

	// DefaultName is the profile a bridge uses unless told otherwise.
	DefaultName = "default"

	// MaxNameLen bounds a profile name, in bytes.
	MaxNameLen = 64

	// LockFileName is the lock file inside a profile directory. It is
	// created on first use and never removed (removing it would let two
	// processes lock two different files).
	LockFileName = "parley.lock"

	// profilesDir is the subdirectory of the data directory holding profiles.
	profilesDir = "profiles"
)

var (
	// ErrProfileLocked is returned by Open when another process (or another
	// Open in this process) holds the profile. The caller answers
	// `profile_locked` and exits cleanly.
	ErrProfileLocked = errors.New("profile: profile is in use by another parley-bridge")

	// ErrInvalidName is returned for a profile name outside [a-z0-9_-],
	// empty, longer than MaxNameLen, or starting with '-'.
	ErrInvalidName = errors.New("profile: invalid profile name")
)

// DataDir returns the directory that holds all profiles: $PARLEY_HOME made
// absolute when set, otherwise the operating system's convention (see the
// package doc). It does not create the directory.
func DataDir() (string, error) {
	return dataDir(os.Getenv)
}

func dataDir(getenv func(string) string) (string, error) {
	if home := getenv(EnvHome); home != "" {
		abs, err := filepath.Abs(home)
		if err != nil {
			return "", fmt.Errorf("profile: %s: %w", EnvHome, err)
		}
		return abs, nil
	}
	return osDataDir(getenv)
}

// Dir returns the directory of the named profile, <DataDir>/profiles/<name>.
// It does not create the directory.
func Dir(name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	base, err := DataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, profilesDir, name), nil
}

// CheckName reports whether name is a valid profile name: 1 to MaxNameLen
// bytes of [a-z0-9_-], not starting with '-'. Names are path elements, so
// anything that could climb out of the profiles directory is refused.
func CheckName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen || name[0] == '-' {
		return fmt.Errorf("%w %q", ErrInvalidName, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w %q", ErrInvalidName, name)
		}
	}
	return nil
}

// Profile is an open profile directory whose lock this process holds until
// Close.
type Profile struct {
	dir  string
	lock *os.File
}

// Open creates dir (mode 0700, with parents) if needed and takes the
// profile's exclusive lock without waiting. If another process or another
// Profile in this process holds it, Open returns ErrProfileLocked.
func Open(dir string) (*Profile, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("profile: create directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(abs, LockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("profile: open lock file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, ErrProfileLocked) {
			return nil, fmt.Errorf("%w (%s)", ErrProfileLocked, abs)
		}
		return nil, fmt.Errorf("profile: lock %s: %w", abs, err)
	}
	return &Profile{dir: abs, lock: f}, nil
}

// Dir returns the profile's absolute directory.
func (p *Profile) Dir() string { return p.dir }

// Path returns the path of a file inside the profile directory.
func (p *Profile) Path(elem ...string) string {
	return filepath.Join(append([]string{p.dir}, elem...)...)
}

// Close releases the lock. The Profile must not be used afterwards; a second
// Close returns an error.
func (p *Profile) Close() error {
	if p.lock == nil {
		return errors.New("profile: already closed")
	}
	f := p.lock
	p.lock = nil
	uerr := unlockFile(f)
	cerr := f.Close()
	if uerr != nil {
		return fmt.Errorf("profile: unlock: %w", uerr)
	}
	if cerr != nil {
		return fmt.Errorf("profile: close lock file: %w", cerr)
	}
	return nil
}
