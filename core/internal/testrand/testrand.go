// Package testrand provides the deterministic randomness used to generate
// Parley's known-answer vectors. It is for tests and vector generation only:
// production code always passes nil (crypto/rand).
//
// A Reader is the ChaCha20 keystream (RFC 8439, zero nonce) under the key
// SHA-256(name). Any implementation can reproduce the same bytes from the
// vector's name (docs/PROTOCOL.md §Vectors).
package testrand

import (
	"crypto/sha256"

	"golang.org/x/crypto/chacha20"
)

// Reader is a deterministic io.Reader.
type Reader struct {
	c *chacha20.Cipher
}

// New returns the keystream named name.
func New(name string) *Reader {
	key := sha256.Sum256([]byte(name))
	c, err := chacha20.NewUnauthenticatedCipher(key[:], make([]byte, chacha20.NonceSize))
	if err != nil {
		panic(err)
	}
	return &Reader{c: c}
}

// Read fills p with the next keystream bytes; it never fails.
func (r *Reader) Read(p []byte) (int, error) {
	clear(p)
	r.c.XORKeyStream(p, p)
	return len(p), nil
}
