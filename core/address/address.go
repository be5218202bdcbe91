// Package address derives Parley's rotating mailbox tokens and envelope seal
// keys (docs/PROTOCOL.md §Addressing, protocol version 1; DESIGN §7).
//
// A relay stores blobs under 32-byte tokens. Two peers share a
// ConversationSecret, derived once from the first-contact handshake; from it,
// each epoch and each direction of the conversation gets its own token (where
// the sender deposits and the recipient polls) and its own envelope seal key.
// Without the secret, the tokens of different epochs and directions are
// unrelated random strings, so the relay cannot link a conversation's
// mailboxes across epochs, nor the two directions of one conversation.
//
// The very first message goes to the first-contact token of the invite
// (InviteSecret), sealed under the invite's first-contact seal key.
//
// Every value here is HKDF-Expand (RFC 5869 §2.3) of a uniformly random
// 32-byte secret used directly as the pseudorandom key, with the info string
// label || context. It is computed as suite.MAC(secret, label, context ||
// 0x01), which is byte for byte HKDF-Expand for a 32-byte output.
package address

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parley-im/parley/core/suite"
)

// Sizes, in bytes.
const (
	// TokenSize is the size of a mailbox token.
	TokenSize = 32
	// SecretSize is the size of a ConversationSecret and of an InviteSecret.
	SecretSize = 32
	// SealKeySize is the size of an envelope seal key.
	SealKeySize = suite.KeySize
)

// Epochs (docs/PROTOCOL.md §Addressing, epochs).
const (
	// DefaultEpochLength is the epoch length of protocol version 1. Both peers
	// of a conversation MUST use it; other lengths exist for tests only.
	//
	// One day balances two costs. A shorter epoch links fewer messages under
	// one token at the relay, but every epoch boundary makes each client
	// poll one more token per conversation (PollMailboxes) and widens the
	// window in which a skewed clock matters. Within an epoch the relay can
	// already link a direction's messages (it is that direction's mailbox);
	// rotation stops it linking them from one day to the next. Boundaries
	// are the same instants (Unix time multiples of the length, i.e. UTC
	// midnight) for every user, so a rotation reveals nothing about whom it
	// belongs to.
	DefaultEpochLength = 24 * time.Hour
	// PollSkew is how close to the next epoch boundary a recipient's clock
	// must be for PollMailboxes to include the next epoch too, so a sender
	// whose clock runs up to PollSkew ahead is still heard.
	PollSkew = 15 * time.Minute
)

// ErrClock is returned when the time given is zero or not after the Unix
// epoch (Unix time <= 0): an unknown clock fails closed.
var ErrClock = errors.New("address: clock not set")

// ErrEpochLength is returned for an epoch length that is not a positive
// whole number of seconds.
var ErrEpochLength = errors.New("address: invalid epoch length")

// ErrSecret is returned when a stored secret has the wrong size.
var ErrSecret = errors.New("address: invalid secret")

// Token is a mailbox token: the name under which a relay stores blobs.
//
// Tokens are not keys, but they are metadata: whoever learns a conversation's
// tokens can watch its traffic at the relay. String therefore prints only a
// short prefix, enough to tell tokens apart in a debug log.
type Token [TokenSize]byte

// String returns "token:" and the first four bytes in hex, never the whole
// token.
func (t Token) String() string { return "token:" + hex.EncodeToString(t[:4]) + "…" }

// GoString is String, so %#v does not print the whole token either.
func (t Token) GoString() string { return t.String() }

// ParseToken checks that b is exactly TokenSize bytes and returns it as a
// Token.
func ParseToken(b []byte) (Token, error) {
	var t Token
	if len(b) != TokenSize {
		return t, fmt.Errorf("address: token of %d bytes, want %d", len(b), TokenSize)
	}
	copy(t[:], b)
	return t, nil
}

// Direction says which way a message travels in a conversation.
type Direction uint8

// Directions. The initiator is the party who made first contact (the one who
// accepted an invite); the responder is the inviter.
const (
	// InitiatorToResponder is direction 0.
	InitiatorToResponder Direction = 0
	// ResponderToInitiator is direction 1.
	ResponderToInitiator Direction = 1
)

// Valid reports whether d is one of the two directions.
func (d Direction) Valid() bool { return d == InitiatorToResponder || d == ResponderToInitiator }

// Reverse returns the other direction.
func (d Direction) Reverse() Direction { return d ^ 1 }

// String names the direction.
func (d Direction) String() string {
	switch d {
	case InitiatorToResponder:
		return "initiator-to-responder"
	case ResponderToInitiator:
		return "responder-to-initiator"
	}
	return fmt.Sprintf("direction(%d)", uint8(d))
}

// incomparable makes a struct unusable with ==.
type incomparable [0]func()

// expand is HKDF-Expand(PRK = secret, info = label || context, L = 32)
// (RFC 5869 §2.3). For L = 32 it is a single block:
// HMAC-SHA256(secret, label || context || 0x01).
func expand(secret *[SecretSize]byte, label string, context []byte) [32]byte {
	return suite.MAC(secret[:], label, context, []byte{0x01})
}

// ConversationSecret is the per-conversation addressing secret both peers
// derive from the first-contact handshake. It must be stored encrypted.
type ConversationSecret struct {
	_ incomparable
	k [SecretSize]byte
}

// NewConversationSecret derives the conversation secret from the handshake's
// shared secret and transcript hash (docs/PROTOCOL.md §Addressing, step 1):
//
//	secret = KDF(32, handshakeShared, salt = transcript, LabelConversationSecret)
func NewConversationSecret(handshakeShared, transcript [32]byte) *ConversationSecret {
	c := new(ConversationSecret)
	suite.KDF(c.k[:], handshakeShared[:], transcript[:], suite.LabelConversationSecret)
	return c
}

// ConversationSecretFromBytes restores a secret saved with Bytes.
func ConversationSecretFromBytes(b []byte) (*ConversationSecret, error) {
	if len(b) != SecretSize {
		return nil, ErrSecret
	}
	c := new(ConversationSecret)
	copy(c.k[:], b)
	return c, nil
}

// Bytes returns the secret, for encrypted persistence only.
func (c *ConversationSecret) Bytes() [SecretSize]byte { return c.k }

// Clear wipes the secret.
func (c *ConversationSecret) Clear() { clear(c.k[:]) }

// mailboxContext is epoch (u64, big-endian) || direction (u8).
func mailboxContext(epoch uint64, d Direction) []byte {
	if !d.Valid() {
		panic("address: invalid direction") // directions are never read from the network
	}
	var ctx [9]byte
	binary.BigEndian.PutUint64(ctx[:8], epoch)
	ctx[8] = byte(d)
	return ctx[:]
}

// Token returns the mailbox token for epoch and direction d
// (docs/PROTOCOL.md §Addressing, step 2):
//
//	token = HKDF-Expand(secret, LabelMailboxToken || u64(epoch) || u8(d), 32)
//
// It panics if d is not a valid Direction (a programmer error).
func (c *ConversationSecret) Token(epoch uint64, d Direction) Token {
	return Token(expand(&c.k, suite.LabelMailboxToken, mailboxContext(epoch, d)))
}

// SealKey returns the envelope seal key for epoch and direction d
// (docs/PROTOCOL.md §Addressing, step 3):
//
//	key = HKDF-Expand(secret, LabelMailboxSeal || u64(epoch) || u8(d), 32)
//
// It panics if d is not a valid Direction (a programmer error).
func (c *ConversationSecret) SealKey(epoch uint64, d Direction) [SealKeySize]byte {
	return expand(&c.k, suite.LabelMailboxSeal, mailboxContext(epoch, d))
}

// Epoch returns the epoch that contains now: floor(unix seconds / length
// seconds) (docs/PROTOCOL.md §Addressing, epochs). A zero time, or one at or
// before the Unix epoch, returns ErrClock; a length that is not a positive whole number of
// seconds returns ErrEpochLength.
func Epoch(now time.Time, length time.Duration) (uint64, error) {
	if length < time.Second || length%time.Second != 0 {
		return 0, ErrEpochLength
	}
	if now.IsZero() || now.Unix() <= 0 {
		return 0, ErrClock
	}
	return uint64(now.Unix()) / uint64(length/time.Second), nil
}

// Mailbox is one (epoch, direction) mailbox of a conversation: where to
// fetch, and which key opens what is found there.
type Mailbox struct {
	Epoch     uint64
	Direction Direction
	Token     Token
}

// MaxPollMailboxes is the most mailboxes PollMailboxes returns.
const MaxPollMailboxes = 3

// PollEpochs returns the epochs a recipient polls at now, in increasing
// order (docs/PROTOCOL.md §Addressing, grace rule):
//
//   - the current epoch e = Epoch(now, length);
//   - the previous epoch e-1 (when e > 0), so a message deposited just
//     before a boundary, or by a sender whose clock runs behind, is still
//     fetched during the whole of the next epoch;
//   - the next epoch e+1 when now + PollSkew already falls in it, so a
//     sender whose clock runs ahead by up to PollSkew is heard too.
//
// A sender always deposits under Epoch(its now). A message deposited at
// sender time t is therefore found by a recipient whose clock reads between
// t - PollSkew and the end of the epoch after t's: at least one full epoch
// of late delivery. (This holds for lengths of at least PollSkew, as
// DefaultEpochLength is.)
func PollEpochs(now time.Time, length time.Duration) ([]uint64, error) {
	e, err := Epoch(now, length)
	if err != nil {
		return nil, err
	}
	out := make([]uint64, 0, MaxPollMailboxes)
	if e > 0 {
		out = append(out, e-1)
	}
	out = append(out, e)
	next, err := Epoch(now.Add(PollSkew), length)
	if err != nil {
		return nil, err
	}
	if next > e {
		out = append(out, e+1)
	}
	return out, nil
}

// PollMailboxes returns the mailboxes a recipient polls at now for messages
// travelling in direction d, one per epoch of PollEpochs, in the same order.
func (c *ConversationSecret) PollMailboxes(now time.Time, length time.Duration, d Direction) ([]Mailbox, error) {
	epochs, err := PollEpochs(now, length)
	if err != nil {
		return nil, err
	}
	out := make([]Mailbox, len(epochs))
	for i, e := range epochs {
		out[i] = Mailbox{Epoch: e, Direction: d, Token: c.Token(e, d)}
	}
	return out, nil
}

// InviteSecret is the 32-byte random secret an invite carries. Whoever holds
// it can deposit to, and open envelopes at, the invite's first-contact
// mailbox. The inviter deletes it after the first contact (single use).
type InviteSecret struct {
	_ incomparable
	k [SecretSize]byte
}

// NewInviteSecret reads 32 bytes from rand (crypto/rand if nil).
func NewInviteSecret(rand io.Reader) (*InviteSecret, error) {
	s := new(InviteSecret)
	if err := suite.ReadRandom(rand, s.k[:]); err != nil {
		return nil, fmt.Errorf("address: new invite secret: %w", err)
	}
	return s, nil
}

// InviteSecretFromBytes returns the invite secret encoded in b.
func InviteSecretFromBytes(b []byte) (*InviteSecret, error) {
	if len(b) != SecretSize {
		return nil, ErrSecret
	}
	s := new(InviteSecret)
	copy(s.k[:], b)
	return s, nil
}

// Bytes returns the secret, to be written into an invite or stored encrypted.
func (s *InviteSecret) Bytes() [SecretSize]byte { return s.k }

// Clear wipes the secret.
func (s *InviteSecret) Clear() { clear(s.k[:]) }

// FirstContactToken returns the invite's first-contact token
// (docs/PROTOCOL.md §Addressing, step 4):
//
//	token = HKDF-Expand(invite secret, LabelFirstContactToken, 32)
func (s *InviteSecret) FirstContactToken() Token {
	return Token(expand(&s.k, suite.LabelFirstContactToken, nil))
}

// FirstContactSealKey returns the key that seals the first-contact envelope
// (docs/PROTOCOL.md §Addressing, step 5):
//
//	key = HKDF-Expand(invite secret, LabelFirstContactSeal, 32)
func (s *InviteSecret) FirstContactSealKey() [SealKeySize]byte {
	return expand(&s.k, suite.LabelFirstContactSeal, nil)
}

// Format prints Token.String for every verb, so that no verb (%d, %x on a
// field, …) prints the whole token.
func (t Token) Format(f fmt.State, _ rune) { io.WriteString(f, t.String()) }

// Format prints "address.ConversationSecret{redacted}" for every verb.
func (ConversationSecret) Format(f fmt.State, _ rune) {
	io.WriteString(f, "address.ConversationSecret{redacted}")
}

// Format prints "address.InviteSecret{redacted}" for every verb.
func (InviteSecret) Format(f fmt.State, _ rune) { io.WriteString(f, "address.InviteSecret{redacted}") }
