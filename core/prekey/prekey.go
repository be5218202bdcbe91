// Package prekey implements Parley prekeys (docs/PROTOCOL.md §Prekeys,
// byte-exact in docs/PROTOCOL.md §Prekeys): a signed X25519 prekey, signed
// X-Wing prekeys (one-time and last resort), the public Bundle a peer uses
// for first contact, and the Secrets the owner keeps.
//
// The shape follows Signal's PQXDH (revision 3, §2.4 "Publishing keys"):
// a signed curve prekey SPK, a pool of signed one-time post-quantum prekeys
// OPQPK and a signed last-resort post-quantum prekey PQSPK, with X-Wing
// (draft-connolly-cfrg-xwing-kem-05) as the KEM. Unlike PQXDH there are no
// one-time curve prekeys: the one-time X-Wing prekey already contains a
// one-time X25519 share.
//
// Every prekey carries an expiry. Bundle.Verify and the Secrets lookups
// reject expired material, and a zero or pre-1970 clock fails closed with
// ErrClock.
package prekey

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Encoded sizes. Every prekey structure has a fixed size.
const (
	// IDSize is the size of a prekey id on the wire (uint32).
	IDSize = 4
	// ExpirySize is the size of an expiry on the wire (uint64 Unix seconds).
	ExpirySize = 8
	// SignedPrekeySize is the size of an encoded SignedPrekey: header, id,
	// X25519 key, expiry, signature.
	SignedPrekeySize = wire.HeaderSize + IDSize + suite.DHPublicKeySize + ExpirySize + suite.SignatureSize
	// KEMPrekeySize is the size of an encoded KEMPrekey: header, id, X-Wing
	// key, last-resort flag, expiry, signature.
	KEMPrekeySize = wire.HeaderSize + IDSize + suite.KEMPublicKeySize + 1 + ExpirySize + suite.SignatureSize
	// BundleSize is the size of an encoded Bundle: header, public identity,
	// signed prekey, KEM prekey.
	BundleSize = wire.HeaderSize + identity.PublicSize + SignedPrekeySize + KEMPrekeySize
	// MaxBundleSize bounds ParseBundle's input; a bundle has exactly
	// BundleSize bytes.
	MaxBundleSize = BundleSize
)

// MaxExpiry is the largest expiry a prekey may carry, in Unix seconds:
// 9999-12-31T23:59:59Z. Larger values are malformed: above about 2^63 -
// 2^35.9 seconds time.Unix overflows, and the resulting time.Time would sort
// before every real time while its Unix value sorts after.
const MaxExpiry = 253402300799

// maxClock is the latest Unix time at which prekey operations run: a prekey
// made then with MaxPrekeyLifetime still expires by MaxExpiry. A later clock
// is broken and fails closed with ErrClock.
const maxClock = MaxExpiry - int64(MaxPrekeyLifetime/time.Second)

// Sentinel errors. Each is wrapped with context; test with errors.Is.
var (
	// ErrClock: the time passed in is zero, not after 1970, or so late
	// (within MaxPrekeyLifetime of MaxExpiry, i.e. past year 9998) that it
	// cannot be a working clock. Prekey checks fail closed without one.
	ErrClock = errors.New("prekey: clock not set")
	// ErrExpired: a prekey's expiry is at or before the time passed in.
	ErrExpired = errors.New("prekey: prekey expired")
	// ErrUnknownPrekey: no prekey with that id is held (never issued,
	// rotated away, or a one-time prekey already consumed).
	ErrUnknownPrekey = errors.New("prekey: unknown prekey")
)

// Bad signatures are reported by wrapping identity.ErrBadSignature.

// SignedPrekey is a medium-term X25519 prekey (PQXDH SPK) signed by the
// owner's identity key.
type SignedPrekey struct {
	ID      uint32
	Key     suite.DHPublicKey
	Expires time.Time
	Sig     suite.Signature
}

// KEMPrekey is an X-Wing prekey signed by the owner's identity key: a
// one-time prekey (PQXDH OPQPK) when LastResort is false, the last-resort
// prekey (PQXDH PQSPK) when it is true.
type KEMPrekey struct {
	ID         uint32
	Key        *suite.KEMPublicKey
	LastResort bool
	Expires    time.Time
	Sig        suite.Signature
}

// Bundle is what an initiator needs for first contact: the responder's
// identity, its signed X25519 prekey and exactly one X-Wing prekey — a
// one-time one if the owner had any left when the bundle was made, else the
// last-resort one.
type Bundle struct {
	Identity     identity.PublicIdentity
	SignedPrekey SignedPrekey
	KEMPrekey    KEMPrekey
}

// checkClock fails closed on a zero, pre-1970 or post-maxClock time.
func checkClock(now time.Time) error {
	if now.IsZero() || now.Unix() <= 0 || now.Unix() > maxClock {
		return ErrClock
	}
	return nil
}

// expiryField is the wire value of an expiry: Unix seconds, with anything
// before 1970 written as 0 (always expired).
func expiryField(t time.Time) uint64 {
	u := t.Unix()
	if u < 0 {
		return 0
	}
	return uint64(u)
}

// expiredAt reports whether a prekey with expiry exp is expired at now. It
// compares against the signed wire value, so sub-second parts of exp never
// matter: the prekey is valid while now < expiry.
func expiredAt(exp, now time.Time) bool {
	return now.Unix() >= int64(expiryField(exp))
}

// readExpiry reads a uint64 expiry. Values above MaxExpiry are malformed.
func readExpiry(s *cryptobyte.String, out *time.Time) bool {
	var v uint64
	if !s.ReadUint64(&v) || v > MaxExpiry {
		return false
	}
	*out = time.Unix(int64(v), 0).UTC()
	return true
}

// signedPrekeyBody is what a SignedPrekey signature covers after
// LabelSignedPrekey: owner Ed25519 key || id || X25519 key || expiry.
func signedPrekeyBody(owner suite.SignPublicKey, id uint32, key suite.DHPublicKey, exp time.Time) []byte {
	m := make([]byte, 0, suite.SignPublicKeySize+IDSize+suite.DHPublicKeySize+ExpirySize)
	m = append(m, owner[:]...)
	m = binary.BigEndian.AppendUint32(m, id)
	m = append(m, key[:]...)
	return binary.BigEndian.AppendUint64(m, expiryField(exp))
}

// kemPrekeyBody is what a KEMPrekey signature covers after LabelKEMPrekey:
// owner Ed25519 key || id || X-Wing key || last-resort flag || expiry.
func kemPrekeyBody(owner suite.SignPublicKey, id uint32, key *suite.KEMPublicKey, lastResort bool, exp time.Time) []byte {
	m := make([]byte, 0, suite.SignPublicKeySize+IDSize+suite.KEMPublicKeySize+1+ExpirySize)
	m = append(m, owner[:]...)
	m = binary.BigEndian.AppendUint32(m, id)
	m = append(m, key.Bytes()[:]...)
	m = append(m, flag(lastResort))
	return binary.BigEndian.AppendUint64(m, expiryField(exp))
}

func flag(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// Verify checks the prekey's signature by owner and its expiry at now
// (PQXDH §3.2: "verify the prekey signatures"). It does not check owner's
// own binding; Bundle.Verify does.
func (p *SignedPrekey) Verify(owner *identity.PublicIdentity, now time.Time) error {
	if err := checkClock(now); err != nil {
		return err
	}
	if expiredAt(p.Expires, now) {
		return fmt.Errorf("prekey: signed prekey %d: %w", p.ID, ErrExpired)
	}
	body := signedPrekeyBody(owner.SigningKey, p.ID, p.Key, p.Expires)
	if err := owner.VerifySignature(p.Sig, suite.LabelSignedPrekey, body); err != nil {
		return fmt.Errorf("prekey: signed prekey %d: %w", p.ID, err)
	}
	return nil
}

// Verify checks the prekey's signature by owner and its expiry at now.
func (p *KEMPrekey) Verify(owner *identity.PublicIdentity, now time.Time) error {
	if err := checkClock(now); err != nil {
		return err
	}
	if p.Key == nil {
		return fmt.Errorf("prekey: KEM prekey %d: missing key: %w", p.ID, wire.ErrMalformed)
	}
	if expiredAt(p.Expires, now) {
		return fmt.Errorf("prekey: KEM prekey %d: %w", p.ID, ErrExpired)
	}
	body := kemPrekeyBody(owner.SigningKey, p.ID, p.Key, p.LastResort, p.Expires)
	if err := owner.VerifySignature(p.Sig, suite.LabelKEMPrekey, body); err != nil {
		return fmt.Errorf("prekey: KEM prekey %d: %w", p.ID, err)
	}
	return nil
}

// Verify checks everything an initiator must check before using a bundle
// (PQXDH §3.2): the identity's binding signature, both prekey signatures
// by that identity, and both expiries. A zero now returns ErrClock, an
// expired prekey ErrExpired, a bad signature identity.ErrBadSignature.
// Cheap checks (clock, expiry) run before signature checks.
func (b *Bundle) Verify(now time.Time) error {
	if err := checkClock(now); err != nil {
		return err
	}
	if b.KEMPrekey.Key == nil {
		return fmt.Errorf("prekey: bundle: missing KEM key: %w", wire.ErrMalformed)
	}
	if expiredAt(b.SignedPrekey.Expires, now) {
		return fmt.Errorf("prekey: bundle: signed prekey %d: %w", b.SignedPrekey.ID, ErrExpired)
	}
	if expiredAt(b.KEMPrekey.Expires, now) {
		return fmt.Errorf("prekey: bundle: KEM prekey %d: %w", b.KEMPrekey.ID, ErrExpired)
	}
	if err := b.Identity.Verify(); err != nil {
		return fmt.Errorf("prekey: bundle: %w", err)
	}
	if err := b.SignedPrekey.Verify(&b.Identity, now); err != nil {
		return err
	}
	return b.KEMPrekey.Verify(&b.Identity, now)
}

// addTo appends the SignedPrekeySize-byte encoding.
func (p *SignedPrekey) addTo(b *cryptobyte.Builder) {
	wire.AddHeader(b, wire.TagSignedPrekey)
	b.AddUint32(p.ID)
	b.AddBytes(p.Key[:])
	b.AddUint64(expiryField(p.Expires))
	b.AddBytes(p.Sig[:])
}

// addTo appends the KEMPrekeySize-byte encoding. A nil Key is a programmer
// error and makes the builder fail.
func (p *KEMPrekey) addTo(b *cryptobyte.Builder) {
	if p.Key == nil {
		b.SetError(errors.New("prekey: marshal KEM prekey: missing key"))
		return
	}
	wire.AddHeader(b, wire.TagKEMPrekey)
	b.AddUint32(p.ID)
	b.AddBytes(p.Key.Bytes()[:])
	b.AddUint8(flag(p.LastResort))
	b.AddUint64(expiryField(p.Expires))
	b.AddBytes(p.Sig[:])
}

func readSignedPrekey(s *cryptobyte.String) (*SignedPrekey, error) {
	if err := wire.ReadHeader(s, wire.TagSignedPrekey); err != nil {
		return nil, fmt.Errorf("prekey: parse signed prekey: %w", err)
	}
	var p SignedPrekey
	if !s.ReadUint32(&p.ID) || !s.CopyBytes(p.Key[:]) || !readExpiry(s, &p.Expires) || !s.CopyBytes(p.Sig[:]) {
		return nil, fmt.Errorf("prekey: parse signed prekey: %w", wire.ErrMalformed)
	}
	return &p, nil
}

func readKEMPrekey(s *cryptobyte.String) (*KEMPrekey, error) {
	if err := wire.ReadHeader(s, wire.TagKEMPrekey); err != nil {
		return nil, fmt.Errorf("prekey: parse KEM prekey: %w", err)
	}
	var (
		p   KEMPrekey
		key []byte
		lr  uint8
	)
	if !s.ReadUint32(&p.ID) || !s.ReadBytes(&key, suite.KEMPublicKeySize) || !s.ReadUint8(&lr) ||
		!readExpiry(s, &p.Expires) || !s.CopyBytes(p.Sig[:]) || lr > 1 {
		return nil, fmt.Errorf("prekey: parse KEM prekey: %w", wire.ErrMalformed)
	}
	k, err := suite.ParseKEMPublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("prekey: parse KEM prekey: %w: %w", wire.ErrMalformed, err)
	}
	p.Key, p.LastResort = k, lr == 1
	return &p, nil
}

// Marshal returns the BundleSize-byte encoding. It panics if
// b.KEMPrekey.Key is nil (a Bundle built by hand without a key).
func (b *Bundle) Marshal() []byte {
	var bb cryptobyte.Builder
	b.AddTo(&bb)
	return bb.BytesOrPanic()
}

// AddTo appends the encoding to bb, for structures that embed a bundle
// (invites).
func (b *Bundle) AddTo(bb *cryptobyte.Builder) {
	wire.AddHeader(bb, wire.TagBundle)
	b.Identity.AddTo(bb)
	b.SignedPrekey.addTo(bb)
	b.KEMPrekey.addTo(bb)
}

// ParseBundle parses an encoded Bundle. It checks the size against
// MaxBundleSize before anything else, the structure, the X-Wing key
// encoding and the identity binding; the prekey signatures and expiries
// need a time and are checked by Verify.
func ParseBundle(b []byte) (*Bundle, error) {
	if err := wire.Check(b, MaxBundleSize); err != nil {
		return nil, fmt.Errorf("prekey: parse bundle: %w", err)
	}
	s := cryptobyte.String(b)
	bundle, err := ReadBundle(&s)
	if err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, fmt.Errorf("prekey: parse bundle: trailing data: %w", wire.ErrMalformed)
	}
	return bundle, nil
}

// ReadBundle reads an embedded Bundle from s (see ParseBundle). The
// embedding structure bounds its own size.
func ReadBundle(s *cryptobyte.String) (*Bundle, error) {
	if err := wire.ReadHeader(s, wire.TagBundle); err != nil {
		return nil, fmt.Errorf("prekey: parse bundle: %w", err)
	}
	id, err := identity.ReadPublic(s)
	if err != nil {
		return nil, fmt.Errorf("prekey: parse bundle: %w", err)
	}
	spk, err := readSignedPrekey(s)
	if err != nil {
		return nil, err
	}
	kem, err := readKEMPrekey(s)
	if err != nil {
		return nil, err
	}
	return &Bundle{Identity: *id, SignedPrekey: *spk, KEMPrekey: *kem}, nil
}
