// Package identity implements Parley identities (docs/PROTOCOL.md §Identity,
// byte-exact in docs/PROTOCOL.md §Identity): an Ed25519 signing key (RFC 8032)
// plus an X25519 key (RFC 7748) signed by it, the safety number two parties
// compare out of band (Signal's numeric fingerprint construction), and
// identity rotation signed by both the old and the new identity.
package identity

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Encoded sizes.
const (
	// PublicSize is the size of an encoded PublicIdentity:
	// header, Ed25519 key, X25519 key, binding signature.
	PublicSize = wire.HeaderSize + suite.SignPublicKeySize + suite.DHPublicKeySize + suite.SignatureSize
	// PrivateSize is the size of an encoded PrivateIdentity: header, Ed25519
	// seed, X25519 scalar. It is only ever stored encrypted.
	PrivateSize = wire.HeaderSize + suite.SignSeedSize + suite.DHPrivateKeySize
)

// ErrBadSignature is returned when an identity's binding signature (or any
// signature checked by this package) does not verify.
var ErrBadSignature = errors.New("identity: bad signature")

// PublicIdentity is what a peer learns about an identity: the Ed25519 key,
// the X25519 key and the Ed25519 signature binding the latter to the former.
// A PublicIdentity obtained from ParsePublic or Private.Public has a valid
// binding.
type PublicIdentity struct {
	SigningKey suite.SignPublicKey
	DHKey      suite.DHPublicKey
	Binding    suite.Signature
}

// bindingMessage is LabelIdentityBinding || Ed25519 key || X25519 key.
func bindingMessage(sk suite.SignPublicKey, dh suite.DHPublicKey) []byte {
	m := make([]byte, 0, len(suite.LabelIdentityBinding)+len(sk)+len(dh))
	m = append(m, suite.LabelIdentityBinding...)
	m = append(m, sk[:]...)
	return append(m, dh[:]...)
}

// Verify checks the binding signature.
func (p *PublicIdentity) Verify() error {
	if !suite.Verify(p.SigningKey, bindingMessage(p.SigningKey, p.DHKey), p.Binding) {
		return ErrBadSignature
	}
	return nil
}

// Equal reports whether two identities have the same keys.
func (p *PublicIdentity) Equal(o *PublicIdentity) bool {
	return p.SigningKey == o.SigningKey && p.DHKey == o.DHKey
}

// Marshal returns the PublicSize-byte encoding.
func (p *PublicIdentity) Marshal() []byte {
	var b cryptobyte.Builder
	p.AddTo(&b)
	return b.BytesOrPanic()
}

// AddTo appends the encoding to b, for structures that embed an identity.
func (p *PublicIdentity) AddTo(b *cryptobyte.Builder) {
	wire.AddHeader(b, wire.TagPublicIdentity)
	b.AddBytes(p.SigningKey[:])
	b.AddBytes(p.DHKey[:])
	b.AddBytes(p.Binding[:])
}

// ParsePublic parses an encoded PublicIdentity and verifies its binding.
func ParsePublic(b []byte) (*PublicIdentity, error) {
	if len(b) != PublicSize {
		return nil, fmt.Errorf("identity: parse public: %w", wire.ErrMalformed)
	}
	s := cryptobyte.String(b)
	p, err := ReadPublic(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, fmt.Errorf("identity: parse public: %w", wire.ErrMalformed)
	}
	return p, nil
}

// ReadPublic reads an embedded PublicIdentity from s and verifies it.
func ReadPublic(s *cryptobyte.String) (*PublicIdentity, error) {
	if err := wire.ReadHeader(s, wire.TagPublicIdentity); err != nil {
		return nil, fmt.Errorf("identity: parse public: %w", err)
	}
	var p PublicIdentity
	if !s.CopyBytes(p.SigningKey[:]) || !s.CopyBytes(p.DHKey[:]) || !s.CopyBytes(p.Binding[:]) {
		return nil, fmt.Errorf("identity: parse public: %w", wire.ErrMalformed)
	}
	if err := p.Verify(); err != nil {
		return nil, err
	}
	return &p, nil
}

// PrivateIdentity holds an identity's private keys.
type PrivateIdentity struct {
	sign *suite.SignPrivateKey
	dh   *suite.DHPrivateKey
	pub  PublicIdentity
}

// Generate creates an identity from 64 bytes of rand (crypto/rand if nil):
// first the Ed25519 seed, then the X25519 scalar.
func Generate(rand io.Reader) (*PrivateIdentity, error) {
	sign, err := suite.GenerateSign(rand)
	if err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	dh, err := suite.GenerateDH(rand)
	if err != nil {
		return nil, fmt.Errorf("identity: generate: %w", err)
	}
	return newPrivate(sign, dh), nil
}

func newPrivate(sign *suite.SignPrivateKey, dh *suite.DHPrivateKey) *PrivateIdentity {
	id := &PrivateIdentity{sign: sign, dh: dh}
	id.pub = PublicIdentity{SigningKey: sign.Public(), DHKey: dh.Public()}
	id.pub.Binding = sign.Sign(bindingMessage(id.pub.SigningKey, id.pub.DHKey))
	return id
}

// Public returns the public identity.
func (id *PrivateIdentity) Public() *PublicIdentity {
	p := id.pub
	return &p
}

// Sign signs label || msg with the identity's Ed25519 key. label must be a
// suite label constant.
func (id *PrivateIdentity) Sign(label string, msg ...[]byte) suite.Signature {
	return id.sign.Sign(Message(label, msg...))
}

// DH returns X25519(identity DH key, peer).
func (id *PrivateIdentity) DH(peer suite.DHPublicKey) ([suite.DHSharedSize]byte, error) {
	return id.dh.DH(peer)
}

// Message concatenates a label and message parts into the bytes a signature
// covers.
func Message(label string, parts ...[]byte) []byte {
	n := len(label)
	for _, p := range parts {
		n += len(p)
	}
	m := make([]byte, 0, n)
	m = append(m, label...)
	for _, p := range parts {
		m = append(m, p...)
	}
	return m
}

// VerifySignature checks a signature made with PrivateIdentity.Sign.
func (p *PublicIdentity) VerifySignature(sig suite.Signature, label string, msg ...[]byte) error {
	if !suite.Verify(p.SigningKey, Message(label, msg...), sig) {
		return ErrBadSignature
	}
	return nil
}

// MarshalPrivate returns the PrivateSize-byte secret encoding. It must only
// ever be written encrypted (SQLCipher in the bridge).
func (id *PrivateIdentity) MarshalPrivate() []byte {
	seed := id.sign.Seed()
	scalar := id.dh.Bytes()
	var b cryptobyte.Builder
	wire.AddHeader(&b, wire.TagPrivateIdentity)
	b.AddBytes(seed[:])
	b.AddBytes(scalar[:])
	clear(seed[:])
	clear(scalar[:])
	return b.BytesOrPanic()
}

// ParsePrivate parses the encoding made by MarshalPrivate.
func ParsePrivate(b []byte) (*PrivateIdentity, error) {
	if len(b) != PrivateSize {
		return nil, fmt.Errorf("identity: parse private: %w", wire.ErrMalformed)
	}
	s := cryptobyte.String(b)
	if err := wire.ReadHeader(&s, wire.TagPrivateIdentity); err != nil {
		return nil, fmt.Errorf("identity: parse private: %w", err)
	}
	var seed [suite.SignSeedSize]byte
	var scalar [suite.DHPrivateKeySize]byte
	defer clear(seed[:])
	defer clear(scalar[:])
	if !s.CopyBytes(seed[:]) || !s.CopyBytes(scalar[:]) || !s.Empty() {
		return nil, fmt.Errorf("identity: parse private: %w", wire.ErrMalformed)
	}
	sign, err := suite.NewSignPrivateKey(seed[:])
	if err != nil {
		return nil, fmt.Errorf("identity: parse private: %w", err)
	}
	dh, err := suite.NewDHPrivateKey(scalar[:])
	if err != nil {
		return nil, fmt.Errorf("identity: parse private: %w", err)
	}
	return newPrivate(sign, dh), nil
}
