package suite

import (
	"errors"

	"golang.org/x/crypto/chacha20poly1305"
)

// ChaCha20-Poly1305 sizes (RFC 8439).
const (
	// NonceSize is the AEAD nonce size.
	NonceSize = chacha20poly1305.NonceSize
	// TagSize is the Poly1305 tag size.
	TagSize = chacha20poly1305.Overhead
)

// ErrOpen is the single opaque error for every AEAD authentication failure.
var ErrOpen = errors.New("suite: message authentication failed")

// Seal encrypts and authenticates plaintext with associated data ad under key
// and nonce (RFC 8439 §2.8), appending the result to dst. A (key, nonce) pair
// must never be used twice: every caller derives a fresh key per message or
// a unique nonce, as docs/PROTOCOL.md states for each use.
func Seal(dst []byte, key *[KeySize]byte, nonce *[NonceSize]byte, plaintext, ad []byte) []byte {
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("suite: chacha20poly1305: " + err.Error()) // key size is fixed by the type
	}
	return a.Seal(dst, nonce[:], plaintext, ad)
}

// Open authenticates and decrypts ciphertext (RFC 8439 §2.8), appending the
// plaintext to dst. Every failure returns ErrOpen and no plaintext.
func Open(dst []byte, key *[KeySize]byte, nonce *[NonceSize]byte, ciphertext, ad []byte) ([]byte, error) {
	if len(ciphertext) < TagSize {
		return nil, ErrOpen
	}
	a, err := chacha20poly1305.New(key[:])
	if err != nil {
		panic("suite: chacha20poly1305: " + err.Error())
	}
	out, err := a.Open(dst, nonce[:], ciphertext, ad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}
