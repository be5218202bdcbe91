// Package invite implements Parley invites (docs/PROTOCOL.md §Invite,
// protocol version 1; DESIGN §8): compact, checksummed, signed, expiring,
// single-use capabilities for first contact, shared as a link or a QR code.
//
// An invite carries the inviter's prekey bundle (which embeds the inviter's
// identity and a one-time X-Wing prekey), the address of the relay where the
// inviter polls, a 32-byte invite secret and an expiry, all signed by the
// inviter's identity key. From the invite secret both sides derive the
// first-contact mailbox token and envelope seal key (package address).
//
// Encodings, one canonical form each:
//
//   - binary: the signed invite (docs/PROTOCOL.md §Invite) followed by a
//     4-byte checksum. Bytes returns it and ParseBytes parses it; a QR code
//     carries exactly these bytes in byte mode (8 bits per byte is denser
//     than base32 text in alphanumeric mode, 8.8 bits per byte).
//   - text: "parley:" followed by the binary in lower-case RFC 4648 base32
//     without padding. Text returns it; Parse accepts nothing else (no
//     upper case, no padding, no white space, no non-zero trailing bits).
//
// # Single use
//
// Parsing cannot make an invite single-use: anyone holding the text can use
// it. The inviter's bridge enforces it. It keeps the invite secret and the
// one-time prekey, polls the first-contact token (ID), and when the first
// envelope there opens and completes a handshake, it deletes the invite
// secret (so it stops polling that token and no later envelope opens) and
// consumes the one-time prekey (prekey.Secrets.ConsumeOneTime). An invite
// whose bundle carries a last-resort prekey is refused by New and Parse, so
// the one-time prekey always makes the handshake itself single-use too.
package invite

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Text form.
const (
	// Prefix starts every invite's text form.
	Prefix = "parley:"
	// RelayScheme starts every relay address an invite may carry.
	RelayScheme = "parley-relay://"
)

// Sizes and limits.
const (
	// ChecksumSize is the size of the checksum after the binary invite.
	ChecksumSize = 4
	// MaxInviteSize bounds the signed binary invite: header, bundle, relay
	// address (1-byte length and up to wire.MaxRelayAddressSize bytes),
	// invite secret, expiry, signature.
	MaxInviteSize = wire.HeaderSize + prekey.MaxBundleSize + 1 + wire.MaxRelayAddressSize +
		address.SecretSize + 8 + suite.SignatureSize
	// MaxBytesSize bounds ParseBytes' input: the binary invite and checksum.
	MaxBytesSize = MaxInviteSize + ChecksumSize
	// MaxTextSize bounds Parse's input: the prefix and the base32 of
	// MaxBytesSize bytes.
	MaxTextSize = len(Prefix) + (MaxBytesSize*8+4)/5
	// MinLifetime and MaxLifetime bound the lifetime given to New.
	MinLifetime = time.Minute
	MaxLifetime = 30 * 24 * time.Hour
	// DefaultLifetime is a week.
	DefaultLifetime = 7 * 24 * time.Hour
	// MaxClockSkew is how far beyond MaxLifetime an invite's expiry may lie
	// when it is parsed, to allow for an inviter whose clock runs ahead.
	MaxClockSkew = time.Hour
	// FingerprintDigits is the number of digits Fingerprint shows.
	FingerprintDigits = 20
)

// Errors callers branch on. Others wrap the wire sentinels.
var (
	// ErrChecksum: the invite's checksum does not match, i.e. the text or
	// QR payload was mistyped or damaged. The UI can say "typo in the
	// invite".
	ErrChecksum = errors.New("invite: checksum mismatch (typo in the invite?)")
	// ErrExpired: the invite's expiry is at or before now.
	ErrExpired = errors.New("invite: invite expired")
	// ErrClock: the time given is zero or not after the Unix epoch
	// (Unix time <= 0); fail closed.
	ErrClock = errors.New("invite: clock not set")
	// ErrLastResort: the bundle carries a last-resort prekey; an invite
	// needs a one-time prekey (refill the pool and try again).
	ErrLastResort = errors.New("invite: bundle has no one-time prekey")
)

// base32Encoding is RFC 4648 base32 in lower case, without padding: a
// constant table.
var base32Encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Invite is a parsed, verified invite. Its fields are read through methods
// so that a verified invite cannot be changed.
type Invite struct {
	_       [0]func() // incomparable: an Invite holds the invite secret
	bundle  prekey.Bundle
	relay   string
	secret  [address.SecretSize]byte
	expires uint64
	sig     suite.Signature
}

// checkClock returns now in Unix seconds, or ErrClock.
func checkClock(now time.Time) (uint64, error) {
	if now.IsZero() || now.Unix() <= 0 {
		return 0, ErrClock
	}
	return uint64(now.Unix()), nil
}

// CheckRelayAddress checks what an invite requires of a relay address: 1 to
// wire.MaxRelayAddressSize bytes of printable ASCII without spaces, starting
// with RelayScheme. Full validation is the relay client's.
func CheckRelayAddress(a string) error {
	if len(a) > wire.MaxRelayAddressSize || !strings.HasPrefix(a, RelayScheme) || len(a) == len(RelayScheme) {
		return fmt.Errorf("invite: relay address: %w", wire.ErrMalformed)
	}
	for i := range len(a) {
		if a[i] < 0x21 || a[i] > 0x7e {
			return fmt.Errorf("invite: relay address: byte %d not printable ASCII: %w", i, wire.ErrMalformed)
		}
	}
	return nil
}

// New makes an invite (docs/PROTOCOL.md §Invite, steps 1–3). bundle must
// belong to inviter, verify at now and carry a one-time X-Wing prekey
// (ErrLastResort otherwise). The invite expires at now + lifetime, or when
// the first of the bundle's prekeys expires if that is sooner; lifetime must
// lie in [MinLifetime, MaxLifetime]. The invite secret is read from rand
// (crypto/rand if nil); New returns it separately too, for the inviter to
// store (encrypted) until first contact.
func New(rand io.Reader, inviter *identity.PrivateIdentity, bundle *prekey.Bundle, relayAddr string, now time.Time, lifetime time.Duration) (*Invite, *address.InviteSecret, error) {
	t, err := checkClock(now)
	if err != nil {
		return nil, nil, err
	}
	if lifetime < MinLifetime || lifetime > MaxLifetime {
		return nil, nil, fmt.Errorf("invite: lifetime %v not in [%v, %v]", lifetime, MinLifetime, MaxLifetime)
	}
	if err := CheckRelayAddress(relayAddr); err != nil {
		return nil, nil, err
	}
	if bundle.KEMPrekey.Key == nil {
		return nil, nil, fmt.Errorf("invite: bundle without KEM key: %w", wire.ErrMalformed)
	}
	if !bundle.Identity.Equal(inviter.Public()) {
		return nil, nil, errors.New("invite: bundle belongs to another identity")
	}
	if bundle.KEMPrekey.LastResort {
		return nil, nil, ErrLastResort
	}
	if err := bundle.Verify(now); err != nil {
		return nil, nil, fmt.Errorf("invite: bundle: %w", err)
	}
	expires := t + uint64(lifetime/time.Second)
	for _, e := range []time.Time{bundle.SignedPrekey.Expires, bundle.KEMPrekey.Expires} {
		// Verify passed, so both expiries lie after now (and after 1970).
		expires = min(expires, uint64(e.Unix()))
	}
	secret, err := address.NewInviteSecret(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("invite: %w", err)
	}
	inv := &Invite{bundle: *bundle, relay: relayAddr, secret: secret.Bytes(), expires: expires}
	inv.sig = inviter.Sign(suite.LabelInviteSignature, inv.signedPart())
	return inv, secret, nil
}

// addSigned appends everything the signature covers: header (TagInvite,
// version) || bundle || u8 len(relay) || relay || secret || u64 expires.
func (inv *Invite) addSigned(b *cryptobyte.Builder) {
	wire.AddHeader(b, wire.TagInvite)
	inv.bundle.AddTo(b)
	b.AddUint8LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes([]byte(inv.relay)) })
	b.AddBytes(inv.secret[:])
	b.AddUint64(inv.expires)
}

func (inv *Invite) signedPart() []byte {
	var b cryptobyte.Builder
	inv.addSigned(&b)
	return b.BytesOrPanic()
}

// marshal returns the signed binary invite without its checksum: the signed
// part followed by the 64-byte signature. At most MaxInviteSize bytes.
func (inv *Invite) marshal() []byte {
	var b cryptobyte.Builder
	inv.addSigned(&b)
	b.AddBytes(inv.sig[:])
	return b.BytesOrPanic()
}

// checksum is the first ChecksumSize bytes of
// SHA-256(LabelInviteChecksum || binary).
func checksum(binary []byte) [ChecksumSize]byte {
	h := sha256.New()
	h.Write([]byte(suite.LabelInviteChecksum))
	h.Write(binary)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return [ChecksumSize]byte(sum[:ChecksumSize])
}

// Bytes returns the binary invite followed by its checksum: the payload of
// the invite's QR code, and what Text encodes. It contains the invite
// secret: treat it as the invite itself.
func (inv *Invite) Bytes() []byte {
	m := inv.marshal()
	c := checksum(m)
	return append(m, c[:]...)
}

// Text returns the invite's link: Prefix followed by the lower-case base32
// of Bytes. It contains the invite secret: share it only with the intended
// contact.
func (inv *Invite) Text() string {
	return Prefix + base32Encoding.EncodeToString(inv.Bytes())
}

// Parse parses and verifies an invite's text form at time now
// (docs/PROTOCOL.md §Invite, steps 4–6). It fails with ErrClock for a zero
// now; wire.ErrTooLarge for text over MaxTextSize; wire.ErrMalformed for a
// missing prefix or non-canonical base32; ErrChecksum for a checksum
// mismatch; and otherwise as ParseBytes.
func Parse(text string, now time.Time) (*Invite, error) {
	if _, err := checkClock(now); err != nil {
		return nil, err
	}
	if len(text) > MaxTextSize {
		return nil, fmt.Errorf("invite: parse: %d characters: %w", len(text), wire.ErrTooLarge)
	}
	enc, ok := strings.CutPrefix(text, Prefix)
	if !ok {
		return nil, fmt.Errorf("invite: parse: not a parley invite (want prefix %q): %w", Prefix, wire.ErrMalformed)
	}
	b, err := base32Encoding.DecodeString(enc)
	// The decoder skips line breaks and may accept non-zero trailing bits:
	// only the encoding Text would produce is canonical.
	if err != nil || base32Encoding.EncodeToString(b) != enc {
		return nil, fmt.Errorf("invite: parse: invalid base32: %w", wire.ErrMalformed)
	}
	return ParseBytes(b, now)
}

// ParseBytes parses and verifies the binary invite with its checksum (a QR
// code's payload) at time now. It checks, cheapest first: the clock
// (ErrClock), the size (wire.ErrTooLarge), the checksum (ErrChecksum), the
// structure (wire.ErrMalformed, ErrWrongType, ErrVersion; a last-resort
// prekey is ErrLastResort; an invalid relay address wire.ErrMalformed), the
// expiry (ErrExpired, or wire.ErrMalformed when it lies more than
// MaxLifetime + MaxClockSkew ahead), the invite signature by the bundle's
// identity (identity.ErrBadSignature), then the bundle (prekey signatures and
// expiries, as prekey.Bundle.Verify).
func ParseBytes(b []byte, now time.Time) (*Invite, error) {
	t, err := checkClock(now)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBytesSize {
		return nil, fmt.Errorf("invite: parse: %d bytes: %w", len(b), wire.ErrTooLarge)
	}
	if len(b) < ChecksumSize {
		return nil, fmt.Errorf("invite: parse: %w", wire.ErrMalformed)
	}
	m, sum := b[:len(b)-ChecksumSize], b[len(b)-ChecksumSize:]
	if want := checksum(m); subtle.ConstantTimeCompare(want[:], sum) != 1 {
		return nil, ErrChecksum
	}
	inv, err := parseBinary(m)
	if err != nil {
		return nil, err
	}
	if inv.expires <= t {
		return nil, ErrExpired
	}
	if inv.expires-t > uint64((MaxLifetime+MaxClockSkew)/time.Second) {
		return nil, fmt.Errorf("invite: parse: expiry too far in the future: %w", wire.ErrMalformed)
	}
	if err := inv.bundle.Identity.VerifySignature(inv.sig, suite.LabelInviteSignature, inv.signedPart()); err != nil {
		return nil, fmt.Errorf("invite: signature: %w", err)
	}
	if err := inv.bundle.Verify(now); err != nil {
		return nil, fmt.Errorf("invite: bundle: %w", err)
	}
	return inv, nil
}

// parseBinary parses the structure of a binary invite without checksum,
// signature or time checks.
func parseBinary(m []byte) (*Invite, error) {
	if len(m) > MaxInviteSize {
		return nil, fmt.Errorf("invite: parse: %w", wire.ErrTooLarge)
	}
	s := cryptobyte.String(m)
	if err := wire.ReadHeader(&s, wire.TagInvite); err != nil {
		return nil, fmt.Errorf("invite: parse: %w", err)
	}
	bundle, err := prekey.ReadBundle(&s)
	if err != nil {
		return nil, fmt.Errorf("invite: parse: %w", err)
	}
	if bundle.KEMPrekey.LastResort {
		return nil, ErrLastResort
	}
	inv := &Invite{bundle: *bundle}
	var relay cryptobyte.String
	if !s.ReadUint8LengthPrefixed(&relay) || !s.CopyBytes(inv.secret[:]) ||
		!s.ReadUint64(&inv.expires) || !s.CopyBytes(inv.sig[:]) || !s.Empty() {
		return nil, fmt.Errorf("invite: parse: %w", wire.ErrMalformed)
	}
	inv.relay = string(relay)
	if err := CheckRelayAddress(inv.relay); err != nil {
		return nil, err
	}
	return inv, nil
}

// Bundle returns a copy of the inviter's prekey bundle, for first contact.
func (inv *Invite) Bundle() *prekey.Bundle {
	b := inv.bundle
	return &b
}

// Inviter returns the inviter's identity.
func (inv *Invite) Inviter() *identity.PublicIdentity {
	p := inv.bundle.Identity
	return &p
}

// RelayAddress returns the address of the relay where the inviter polls.
func (inv *Invite) RelayAddress() string { return inv.relay }

// Expires returns when the invite stops being accepted (whole seconds).
func (inv *Invite) Expires() time.Time { return time.Unix(int64(inv.expires), 0).UTC() }

// Secret returns a copy of the invite secret: the first-contact token and
// seal key come from it.
func (inv *Invite) Secret() *address.InviteSecret {
	s, err := address.InviteSecretFromBytes(inv.secret[:])
	if err != nil {
		panic("invite: secret size: " + err.Error()) // fixed by the array type
	}
	return s
}

// ID returns the invite's first-contact token: the mailbox the inviter polls
// for the first contact, and a name for the invite in the inviter's store.
func (inv *Invite) ID() address.Token {
	s := inv.Secret()
	defer s.Clear()
	return s.FirstContactToken()
}

// Fingerprint returns the inviter's fingerprint (see Fingerprint).
func (inv *Invite) Fingerprint() string { return Fingerprint(&inv.bundle.Identity) }

// String describes the invite without its secret: the inviter's fingerprint
// and the expiry.
func (inv Invite) String() string {
	return fmt.Sprintf("parley invite from %s, expires %s", inv.Fingerprint(), inv.Expires().Format(time.RFC3339))
}

// GoString is String, so %#v does not print the secret either.
func (inv Invite) GoString() string { return inv.String() }

// Format prints String for every verb: fmt calls String only for some verbs
// (not %d), and would print the secret for the others.
func (inv Invite) Format(f fmt.State, _ rune) { io.WriteString(f, inv.String()) }
