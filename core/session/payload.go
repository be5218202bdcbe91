package session

import (
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Payload sizes (docs/PROTOCOL.md §Session, payload).
const (
	// MessageIDSize is the size of a message id.
	MessageIDSize = 16
	// PayloadOverhead is what a Payload adds to its body: header, id,
	// sent-at time, kind and the body's u32 length.
	PayloadOverhead = wire.HeaderSize + MessageIDSize + 8 + 1 + 4
)

// PayloadKind says what a payload's body is.
type PayloadKind uint8

// Payload kinds. A receiver rejects unknown kinds.
const (
	// KindText is a UTF-8 chat message.
	KindText PayloadKind = 1
	// KindRotation carries an encoded identity.Rotation (exactly
	// identity.RotationSize bytes): the sender's statement that its
	// identity moved (docs/PROTOCOL.md §Identity §Rotation). The session
	// checks only its encoding; the receiver verifies it against the
	// identity it pinned (identity.Rotation.Verify).
	KindRotation PayloadKind = 2
)

// MessageID names a message end to end: the receiver drops a second message
// with an id it has seen (a resend after a crash), and receipts refer to it.
type MessageID [MessageIDSize]byte

// Payload is what a ratchet message carries: an application message.
type Payload struct {
	// ID is chosen at random by the sender, once per message.
	ID MessageID
	// SentAt is the sender's clock when the message was written, in
	// milliseconds. It is the sender's claim, for display only.
	SentAt time.Time
	// Kind says what Body holds.
	Kind PayloadKind
	// Body is the message; for KindText, valid UTF-8 of at most MaxTextSize
	// bytes.
	Body []byte
}

// NewText returns a text payload with a fresh random id (from rand; nil means
// crypto/rand). It rejects text that is not valid UTF-8 or is too long for
// the largest envelope (ErrTooLarge).
func NewText(rand io.Reader, text string, now time.Time) (*Payload, error) {
	if now.IsZero() || now.UnixMilli() <= 0 {
		return nil, fmt.Errorf("session: new text: %w", ErrClock)
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("session: new text: %w", ErrBadText)
	}
	if len(text) > MaxTextSize {
		return nil, fmt.Errorf("session: message too large: %d bytes, limit %d: %w", len(text), MaxTextSize, ErrTooLarge)
	}
	p := &Payload{SentAt: time.UnixMilli(now.UnixMilli()), Kind: KindText, Body: []byte(text)}
	if err := suite.ReadRandom(rand, p.ID[:]); err != nil {
		return nil, fmt.Errorf("session: new text: %w", err)
	}
	return p, nil
}

// NewRotation returns a rotation payload carrying r with a fresh random id
// (from rand; nil means crypto/rand).
func NewRotation(rand io.Reader, r *identity.Rotation, now time.Time) (*Payload, error) {
	if now.IsZero() || now.UnixMilli() <= 0 {
		return nil, fmt.Errorf("session: new rotation: %w", ErrClock)
	}
	if r == nil {
		return nil, fmt.Errorf("session: new rotation: no rotation: %w", wire.ErrMalformed)
	}
	p := &Payload{SentAt: time.UnixMilli(now.UnixMilli()), Kind: KindRotation, Body: r.Marshal()}
	if err := suite.ReadRandom(rand, p.ID[:]); err != nil {
		return nil, fmt.Errorf("session: new rotation: %w", err)
	}
	return p, nil
}

// Marshal encodes the payload:
//
//	0x70 0x01 || id[16] || u64 sent-at (Unix ms) || u8 kind || u32 len || body
func (p *Payload) Marshal() []byte {
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, PayloadOverhead+len(p.Body)))
	wire.AddHeader(b, wire.TagPayload)
	b.AddBytes(p.ID[:])
	b.AddUint64(uint64(p.SentAt.UnixMilli()))
	b.AddUint8(uint8(p.Kind))
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(p.Body) })
	return b.BytesOrPanic()
}

// ParsePayload parses and validates an encoded payload.
func ParsePayload(b []byte) (*Payload, error) {
	if len(b) > PayloadOverhead+MaxTextSize {
		return nil, fmt.Errorf("session: parse payload: %w", wire.ErrTooLarge)
	}
	s := cryptobyte.String(b)
	if err := wire.ReadHeader(&s, wire.TagPayload); err != nil {
		return nil, fmt.Errorf("session: parse payload: %w", err)
	}
	var p Payload
	var ms uint64
	var kind uint8
	var body cryptobyte.String
	if !s.CopyBytes(p.ID[:]) || !s.ReadUint64(&ms) || !s.ReadUint8(&kind) ||
		!wire.ReadUint32Prefixed(&s, &body, MaxTextSize) || !s.Empty() {
		return nil, fmt.Errorf("session: parse payload: %w", wire.ErrMalformed)
	}
	if ms == 0 || ms > maxUnixMilli {
		return nil, fmt.Errorf("session: parse payload: bad time: %w", wire.ErrMalformed)
	}
	p.SentAt = time.UnixMilli(int64(ms))
	p.Kind = PayloadKind(kind)
	switch p.Kind {
	case KindText:
		if len(body) > MaxTextSize || !utf8.Valid(body) {
			return nil, fmt.Errorf("session: parse payload: %w", ErrBadText)
		}
	case KindRotation:
		if len(body) != identity.RotationSize {
			return nil, fmt.Errorf("session: parse payload: rotation size %d: %w", len(body), wire.ErrMalformed)
		}
		if _, err := identity.ParseRotation(body); err != nil {
			return nil, fmt.Errorf("session: parse payload: %w", err)
		}
	default:
		return nil, fmt.Errorf("session: parse payload: unknown kind %d: %w", kind, wire.ErrMalformed)
	}
	p.Body = append([]byte(nil), body...)
	return &p, nil
}

// maxUnixMilli bounds a payload time to year 9999 so every accepted time
// round-trips through time.Time exactly.
const maxUnixMilli = 253402300799999
