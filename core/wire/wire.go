// Package wire holds what every Parley encoding shares: the two-byte header
// (type tag, version), the named size limits, the sentinel errors, and small
// helpers over golang.org/x/crypto/cryptobyte.
//
// Every structure Parley puts on the wire or on disk starts with a one-byte
// Tag that says what it is and a one-byte Version, so an identity can never be
// parsed as a prekey bundle or an invite (docs/PROTOCOL.md §Encoding). All
// integers are big-endian. Variable-length fields carry a length prefix whose
// maximum is checked before anything is allocated, and parsers reject
// trailing bytes, so each value has exactly one encoding.
package wire

import (
	"errors"

	"golang.org/x/crypto/cryptobyte"
)

// Version is the only protocol version this code speaks.
const Version uint8 = 1

// HeaderSize is the size of the tag + version header.
const HeaderSize = 2

// Tag names the type of an encoded structure.
type Tag uint8

// Tags of every encoded structure. Values are fixed by docs/PROTOCOL.md.
const (
	TagPublicIdentity  Tag = 0x01 // identity.PublicIdentity
	TagPrivateIdentity Tag = 0x02 // identity.PrivateIdentity (encrypted storage only)
	TagRotation        Tag = 0x03 // identity.Rotation
	TagSignedPrekey    Tag = 0x10 // prekey.SignedPrekey
	TagKEMPrekey       Tag = 0x11 // prekey.KEMPrekey
	TagBundle          Tag = 0x12 // prekey.Bundle
	TagPrekeySecrets   Tag = 0x13 // prekey private material (encrypted storage only)
	TagInitMessage     Tag = 0x20 // handshake.InitMessage
	TagRatchetHeader   Tag = 0x30 // ratchet.Header
	TagRatchetMessage  Tag = 0x31 // ratchet.Message
	TagRatchetState    Tag = 0x32 // ratchet.State (encrypted storage only)
	TagEnvelopeInner   Tag = 0x40 // envelope plaintext before padding
	TagStamp           Tag = 0x50 // pow.Stamp
	TagInvite          Tag = 0x60 // invite.Invite
	TagPayload         Tag = 0x70 // session.Payload (inside a ratchet message)
	TagFirstContact    Tag = 0x71 // session first-contact body (inside an envelope)
	TagConversation    Tag = 0x72 // session.Conversation (encrypted storage only)
	TagRelayHello      Tag = 0x80 // relay/proto.Hello (Noise handshake payload)
	TagRelayWelcome    Tag = 0x81 // relay/proto.Welcome (Noise handshake payload)
	TagRelayDeposit    Tag = 0x82 // relay/proto.Deposit
	TagRelayReceipt    Tag = 0x83 // relay/proto.Receipt
	TagRelayFetch      Tag = 0x84 // relay/proto.Fetch
	TagRelayItems      Tag = 0x85 // relay/proto.Items
	TagRelayAck        Tag = 0x86 // relay/proto.Ack
	TagRelayAcked      Tag = 0x87 // relay/proto.Acked
	TagRelayPing       Tag = 0x88 // relay/proto.Ping
	TagRelayPong       Tag = 0x89 // relay/proto.Pong
	TagRelayError      Tag = 0x8f // relay/proto.Error
)

// Limits shared across packages. Package-specific limits live beside the
// structure they bound.
const (
	// MaxBlobSize is the largest relay-visible blob: the biggest envelope
	// bucket plus token and seal overhead. Anything larger is rejected
	// before it is read into memory.
	MaxBlobSize = 64*1024 + 1024
	// MaxRelayAddressSize bounds a relay address string.
	MaxRelayAddressSize = 255
)

// Sentinel errors. Parsers wrap these with the structure's name, so callers
// may branch with errors.Is.
var (
	// ErrMalformed: the bytes are not a valid encoding (truncated, trailing
	// data, bad length, bad field value).
	ErrMalformed = errors.New("wire: malformed encoding")
	// ErrWrongType: the tag names another structure.
	ErrWrongType = errors.New("wire: wrong structure type")
	// ErrVersion: the version is not one this code speaks.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrTooLarge: the input exceeds the structure's named maximum.
	ErrTooLarge = errors.New("wire: input too large")
)

// AddHeader writes the tag and the current version.
func AddHeader(b *cryptobyte.Builder, t Tag) {
	b.AddUint8(uint8(t))
	b.AddUint8(Version)
}

// ReadHeader reads and checks the tag and version.
func ReadHeader(s *cryptobyte.String, t Tag) error {
	var tag, v uint8
	if !s.ReadUint8(&tag) || !s.ReadUint8(&v) {
		return ErrMalformed
	}
	if Tag(tag) != t {
		return ErrWrongType
	}
	if v != Version {
		return ErrVersion
	}
	return nil
}

// ReadArray copies exactly len(out) bytes into out.
func ReadArray(s *cryptobyte.String, out []byte) bool {
	return s.CopyBytes(out)
}

// Check bounds an input before parsing: it returns ErrTooLarge when b is
// longer than limit.
func Check(b []byte, limit int) error {
	if len(b) > limit {
		return ErrTooLarge
	}
	return nil
}

// ReadUint32Prefixed reads a u32 length and that many bytes into out,
// refusing a length over max before touching the data. cryptobyte has no
// u32-prefixed reader of its own.
func ReadUint32Prefixed(s *cryptobyte.String, out *cryptobyte.String, max int) bool {
	var n uint32
	if !s.ReadUint32(&n) || uint64(n) > uint64(max) {
		return false
	}
	var b []byte
	if !s.ReadBytes(&b, int(n)) {
		return false
	}
	*out = b
	return true
}
