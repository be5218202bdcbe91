// Package keystore holds the key that encrypts a Parley profile's database
// (docs/DESIGN.md §Bridge; issue 4 "Profile, keystore, store").
//
// The key is 32 random bytes. By default it lives in the operating system's
// keystore (Secret Service on Linux, Keychain on macOS, Credential Manager on
// Windows) through go-keyring, under service "parley", base64-encoded. Where
// no OS keystore works the user must choose a passphrase, and the key is
// derived from it with Argon2id (RFC 9106). There is never a silent
// fallback: a profile records its mode in a small public file beside the
// database (ConfigFile), and a profile in OS mode whose keystore has gone
// away reports ErrNoKeystore instead of trying anything else.
//
// Go cannot promise that a key leaves no copies in memory (the runtime moves
// and copies values, and go-keyring returns the stored value as a string);
// Key.Wipe clears the copy it holds.
package keystore

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

const (
	// Service is the go-keyring service name of every Parley entry.
	Service = "parley"

	// KeySize is the size of a database key in bytes.
	KeySize = 32
)

// Mode says where a profile's key comes from.
type Mode string

const (
	// ModeNone: the profile has no key yet (no ConfigFile).
	ModeNone Mode = ""
	// ModeOS: the key is stored in the OS keystore.
	ModeOS Mode = "os"
	// ModePassphrase: the key is derived from the user's passphrase.
	ModePassphrase Mode = "passphrase"
)

var (
	// ErrNoKeystore means no OS keystore answered: none is installed or
	// running, the session bus is missing, or the collection stays locked.
	// The bridge reports it in `status`; the user must then choose a
	// passphrase. Errors wrapping it add the underlying reason.
	ErrNoKeystore = errors.New("keystore: no OS keystore")

	// ErrNotFound means the OS keystore works but holds no key for the
	// account.
	ErrNotFound = errors.New("keystore: key not found")

	// ErrNotConfigured means the profile directory has no ConfigFile: the
	// profile is new and needs CreateOS or CreatePassphrase.
	ErrNotConfigured = errors.New("keystore: profile has no key yet")

	// ErrExists is returned by CreateOS and CreatePassphrase when the
	// profile already has a ConfigFile; nothing is changed.
	ErrExists = errors.New("keystore: profile already has a key")

	// ErrPassphraseRequired is returned by Open for a passphrase profile when
	// no passphrase was given.
	ErrPassphraseRequired = errors.New("keystore: this profile needs its passphrase")

	// ErrWrongPassphrase is returned when the passphrase does not derive the
	// profile's key (or the public config was altered).
	ErrWrongPassphrase = errors.New("keystore: wrong passphrase")

	// ErrCorrupt is returned for a ConfigFile or a stored key that does not
	// parse or is outside the accepted bounds.
	ErrCorrupt = errors.New("keystore: corrupt key configuration")
)

// Key is a database key. It is not comparable with ==; use Equal. Printing
// it with any fmt verb shows "keystore.Key(redacted)".
type Key struct {
	_ [0]func() // incomparable
	b [KeySize]byte
}

// NewKey reads a fresh key from r (nil means crypto/rand).
func NewKey(r io.Reader) (*Key, error) {
	if r == nil {
		r = rand.Reader
	}
	k := new(Key)
	if _, err := io.ReadFull(r, k.b[:]); err != nil {
		return nil, fmt.Errorf("keystore: generate key: %w", err)
	}
	return k, nil
}

// KeyFromBytes returns a Key holding a copy of b, which must be KeySize
// bytes.
func KeyFromBytes(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("keystore: key is %d bytes, want %d", len(b), KeySize)
	}
	k := new(Key)
	copy(k.b[:], b)
	return k, nil
}

// Bytes returns the key's bytes. The slice aliases the Key: it is cleared by
// Wipe and must not be retained or logged.
func (k *Key) Bytes() []byte { return k.b[:] }

// Clone returns an independent copy of k.
func (k *Key) Clone() *Key {
	c := new(Key)
	c.b = k.b
	return c
}

// Equal reports in constant time whether k and o hold the same key.
func (k *Key) Equal(o *Key) bool {
	return subtle.ConstantTimeCompare(k.b[:], o.b[:]) == 1
}

// Wipe zeroes the key.
func (k *Key) Wipe() { clear(k.b[:]) }

// Format implements fmt.Formatter so that no verb prints the key (value
// receiver: a Key printed by value is redacted too).
func (Key) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// String returns "keystore.Key(redacted)".
func (Key) String() string { return redacted }

// GoString returns "keystore.Key(redacted)".
func (Key) GoString() string { return redacted }

const redacted = "keystore.Key(redacted)"

// Source yields a profile's database key. store.Open takes a Source so that
// it does not care whether the key comes from the OS keystore or a
// passphrase.
type Source interface {
	// Key returns a fresh copy of the key; the caller wipes it when done.
	Key() (*Key, error)
	// Mode reports where the key comes from.
	Mode() Mode
}

// Static is a Source holding a key in memory: what passphrase mode returns
// after the passphrase has been checked, and what tests use.
type Static struct {
	key   *Key
	mode  Mode
	wiped bool
}

// NewStatic returns a Source that yields copies of k (k itself is copied, so
// the caller may wipe it) and reports mode.
func NewStatic(k *Key, mode Mode) *Static {
	return &Static{key: k.Clone(), mode: mode}
}

// Key returns a copy of the held key, or an error after Wipe.
func (s *Static) Key() (*Key, error) {
	if s.wiped {
		return nil, errors.New("keystore: key source was wiped")
	}
	return s.key.Clone(), nil
}

// Mode returns the mode given to NewStatic.
func (s *Static) Mode() Mode { return s.mode }

// Wipe zeroes the held key; Key fails afterwards.
func (s *Static) Wipe() { s.key.Wipe(); s.wiped = true }
