// Package suite is Parley cipher suite v1: the primitives every other core
// package calls, and nothing else.
//
//   - X25519 (RFC 7748) through crypto/ecdh; all-zero outputs are rejected.
//   - Ed25519 (RFC 8032) through crypto/ed25519.
//   - SHA-256 (FIPS 180-4), HMAC-SHA256 (RFC 2104), HKDF-SHA256 (RFC 5869).
//   - ChaCha20-Poly1305 (RFC 8439) through golang.org/x/crypto.
//   - X-Wing (draft-connolly-cfrg-xwing-kem-05, X25519 + ML-KEM-768) through
//     github.com/cloudflare/circl/kem/xwing, keeping the expanded private key
//     in memory.
//
// Every key generator reads its seed from the io.Reader it is given and
// derives the key from that seed, so a deterministic reader yields
// deterministic keys (used only for known-answer vectors). A nil reader means
// crypto/rand.
//
// Go copies memory freely: Wipe and the Clear methods reduce how long a secret
// lingers but cannot promise it is gone.
package suite

import (
	"crypto/rand"
	"errors"
	"io"
)

// Sizes of the suite's primitives, in bytes.
const (
	// KeySize is the size of every symmetric key, chain key and root key.
	KeySize = 32
	// HashSize is the size of a SHA-256 digest and of an HMAC-SHA256 tag.
	HashSize = 32
)

// ErrRandom is returned (wrapped) when the random source fails.
var ErrRandom = errors.New("suite: random source failed")

// incomparable makes a struct unusable with ==, so secrets are never compared
// in variable time by accident.
type incomparable [0]func()

// reader returns r, or crypto/rand.Reader when r is nil.
func reader(r io.Reader) io.Reader {
	if r == nil {
		return rand.Reader
	}
	return r
}

// ReadRandom fills b from r (crypto/rand when r is nil).
func ReadRandom(r io.Reader, b []byte) error {
	if _, err := io.ReadFull(reader(r), b); err != nil {
		return errors.Join(ErrRandom, err)
	}
	return nil
}

// Wipe overwrites b with zeros.
func Wipe(b []byte) { clear(b) }
