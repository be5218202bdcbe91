package suite

import (
	"crypto/ecdh"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
)

// X25519 sizes (RFC 7748).
const (
	// DHPublicKeySize is the size of an X25519 public key.
	DHPublicKeySize = 32
	// DHPrivateKeySize is the size of an X25519 private key (scalar).
	DHPrivateKeySize = 32
	// DHSharedSize is the size of an X25519 shared secret.
	DHSharedSize = 32
)

// ErrZeroDH is returned when an X25519 exchange yields the all-zero value,
// which happens exactly when the peer's public key has small order.
var ErrZeroDH = errors.New("suite: all-zero X25519 output")

// ErrDHKey is returned for a malformed X25519 key.
var ErrDHKey = errors.New("suite: invalid X25519 key")

// DHPublicKey is an X25519 public key. Public keys are comparable values.
type DHPublicKey [DHPublicKeySize]byte

// DHPrivateKey is an X25519 private key. It keeps the crypto/ecdh object so
// each exchange costs one scalar multiplication.
type DHPrivateKey struct {
	_   incomparable
	k   *ecdh.PrivateKey
	pub DHPublicKey
}

// GenerateDH reads a 32-byte scalar from rand (crypto/rand if nil) and returns
// the X25519 key built from it.
func GenerateDH(rand io.Reader) (*DHPrivateKey, error) {
	var seed [DHPrivateKeySize]byte
	defer clear(seed[:])
	if err := ReadRandom(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("suite: generate X25519 key: %w", err)
	}
	return NewDHPrivateKey(seed[:])
}

// NewDHPrivateKey builds an X25519 private key from its 32-byte encoding.
func NewDHPrivateKey(b []byte) (*DHPrivateKey, error) {
	if len(b) != DHPrivateKeySize {
		return nil, ErrDHKey
	}
	k, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, ErrDHKey
	}
	p := &DHPrivateKey{k: k}
	copy(p.pub[:], k.PublicKey().Bytes())
	return p, nil
}

// Public returns the public key.
func (p *DHPrivateKey) Public() DHPublicKey { return p.pub }

// Bytes returns the 32-byte private scalar, for encrypted persistence only.
func (p *DHPrivateKey) Bytes() [DHPrivateKeySize]byte {
	var out [DHPrivateKeySize]byte
	copy(out[:], p.k.Bytes())
	return out
}

// DH computes X25519(p, peer) (RFC 7748 §6.1). It returns ErrZeroDH when the
// result is all zeros, so a small-order peer key can never yield a known
// secret.
func (p *DHPrivateKey) DH(peer DHPublicKey) ([DHSharedSize]byte, error) {
	var out [DHSharedSize]byte
	pub, err := ecdh.X25519().NewPublicKey(peer[:])
	if err != nil {
		return out, ErrDHKey
	}
	s, err := p.k.ECDH(pub)
	if err != nil {
		// crypto/ecdh reports the all-zero output as an error.
		return out, ErrZeroDH
	}
	copy(out[:], s)
	clear(s)
	var zero [DHSharedSize]byte
	if subtle.ConstantTimeCompare(out[:], zero[:]) == 1 {
		return out, ErrZeroDH
	}
	return out, nil
}

// DHPublicKeyFromBytes checks the length of b and returns it as a public key.
func DHPublicKeyFromBytes(b []byte) (DHPublicKey, error) {
	var k DHPublicKey
	if len(b) != DHPublicKeySize {
		return k, ErrDHKey
	}
	copy(k[:], b)
	return k, nil
}
