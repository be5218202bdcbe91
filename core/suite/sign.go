package suite

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
)

// Ed25519 sizes (RFC 8032).
const (
	// SignPublicKeySize is the size of an Ed25519 public key.
	SignPublicKeySize = ed25519.PublicKeySize
	// SignSeedSize is the size of an Ed25519 private key seed.
	SignSeedSize = ed25519.SeedSize
	// SignatureSize is the size of an Ed25519 signature.
	SignatureSize = ed25519.SignatureSize
)

// ErrSignKey is returned for a malformed Ed25519 key.
var ErrSignKey = errors.New("suite: invalid Ed25519 key")

// SignPublicKey is an Ed25519 public key.
type SignPublicKey [SignPublicKeySize]byte

// Signature is an Ed25519 signature.
type Signature [SignatureSize]byte

// SignPrivateKey is an Ed25519 private key.
type SignPrivateKey struct {
	_   incomparable
	k   ed25519.PrivateKey
	pub SignPublicKey
}

// GenerateSign reads a 32-byte seed from rand (crypto/rand if nil) and
// returns the Ed25519 key derived from it.
func GenerateSign(rand io.Reader) (*SignPrivateKey, error) {
	var seed [SignSeedSize]byte
	defer clear(seed[:])
	if err := ReadRandom(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("suite: generate Ed25519 key: %w", err)
	}
	return NewSignPrivateKey(seed[:])
}

// NewSignPrivateKey derives an Ed25519 key from its 32-byte seed.
func NewSignPrivateKey(seed []byte) (*SignPrivateKey, error) {
	if len(seed) != SignSeedSize {
		return nil, ErrSignKey
	}
	k := ed25519.NewKeyFromSeed(seed)
	p := &SignPrivateKey{k: k}
	copy(p.pub[:], k[SignSeedSize:])
	return p, nil
}

// Public returns the public key.
func (p *SignPrivateKey) Public() SignPublicKey { return p.pub }

// Seed returns the 32-byte seed, for encrypted persistence only.
func (p *SignPrivateKey) Seed() [SignSeedSize]byte {
	var out [SignSeedSize]byte
	copy(out[:], p.k.Seed())
	return out
}

// Sign signs msg (pure Ed25519, RFC 8032 §5.1.6). Callers prefix msg with a
// domain-separation label.
func (p *SignPrivateKey) Sign(msg []byte) Signature {
	var s Signature
	copy(s[:], ed25519.Sign(p.k, msg))
	return s
}

// Clear wipes the private key.
func (p *SignPrivateKey) Clear() { clear(p.k) }

// Verify reports whether sig is a valid signature of msg by pub. It uses the
// standard library's cofactorless, strict (non-malleable) verification.
func Verify(pub SignPublicKey, msg []byte, sig Signature) bool {
	return ed25519.Verify(pub[:], msg, sig[:])
}
