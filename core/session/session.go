// Package session joins Parley's core into conversations (docs/PROTOCOL.md
// §Session): first contact from an invite (handshake + first ratchet
// message in a first-contact envelope), then messages through the Double
// Ratchet, sealed in padded envelopes and addressed by rotating mailbox
// tokens.
//
// A Conversation is what the bridge persists per contact (Marshal, stored
// encrypted). Every method that changes it is transactional: on error the
// Conversation is unchanged, so a forged, replayed or corrupted blob costs
// nothing but the time to reject it.
package session

import (
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/envelope"
	"github.com/parley-im/parley/core/handshake"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/ratchet"
	"github.com/parley-im/parley/core/wire"
)

// Limits (docs/PROTOCOL.md §Session).
const (
	// FirstContactOverhead is what a first-contact body adds to the ratchet
	// message: header and the two u32 length prefixes around the init
	// message and the ratchet message.
	FirstContactOverhead = wire.HeaderSize + 4 + handshake.InitMessageSize + 4
	// MaxTextSize is the longest text a message may carry. It is the same for
	// every message, the first included, and whether or not the message
	// carries a PQ ratchet step, so a user meets one limit.
	MaxTextSize = envelope.MaxBodySize - FirstContactOverhead - ratchetOverheadPQ - PayloadOverhead
	// MaxStateSize bounds an encoded Conversation.
	MaxStateSize = wire.HeaderSize + 1 + identity.PublicSize + address.SecretSize + 4 + ratchet.MaxStateSize

	// ratchetOverheadPQ is ratchet.MessageOverhead(true) as a constant.
	ratchetOverheadPQ = ratchet.MaxMessageSize - ratchet.MaxPlaintextSize
)

// Sentinel errors.
var (
	// ErrTooLarge: the text does not fit the largest envelope.
	ErrTooLarge = errors.New("session: message too large")
	// ErrBadText: the text is not valid UTF-8.
	ErrBadText = errors.New("session: text is not valid UTF-8")
	// ErrClock: the time given is zero or before 1970.
	ErrClock = errors.New("session: clock not set")
	// ErrNotForUs: the blob does not open under any mailbox this
	// conversation polls (wrong token, forged, corrupted). Drop it.
	ErrNotForUs = errors.New("session: blob does not belong to this conversation")
	// ErrDuplicate: the message was already received (a resend or a
	// replay). Drop it silently.
	ErrDuplicate = errors.New("session: duplicate message")
)

// Role is which side of the first contact this party was.
type Role uint8

// Roles.
const (
	Initiator Role = 0
	Responder Role = 1
)

// sendDirection is the mailbox direction this role deposits to.
func (r Role) sendDirection() address.Direction {
	if r == Initiator {
		return address.InitiatorToResponder
	}
	return address.ResponderToInitiator
}

// Outgoing is a blob ready for the relay: deposit Blob under Token.
type Outgoing struct {
	Token address.Token
	Blob  []byte
}

// Conversation is one end of a 1:1 conversation.
type Conversation struct {
	role   Role
	peer   identity.PublicIdentity
	secret *address.ConversationSecret
	r      *ratchet.State
}

// Peer returns the other party's identity.
func (c *Conversation) Peer() *identity.PublicIdentity {
	p := c.peer
	return &p
}

// Role returns which side of the first contact this party was.
func (c *Conversation) Role() Role { return c.role }

// Begin makes first contact with the owner of bundle, whose invite carried
// inviteSecret (docs/PROTOCOL.md §Session, first contact): it runs the
// handshake, encrypts first as the first ratchet message, and seals both in
// a first-contact envelope for the invite's first-contact mailbox. The
// caller verifies the invite (and so the bundle) before calling Begin.
func Begin(rand io.Reader, self *identity.PrivateIdentity, bundle *prekey.Bundle, inviteSecret *address.InviteSecret, first *Payload, now time.Time) (*Conversation, *Outgoing, error) {
	init, res, err := handshake.Initiate(rand, self, bundle, now)
	if err != nil {
		return nil, nil, fmt.Errorf("session: begin: %w", err)
	}
	defer res.Clear()
	r, err := ratchet.NewInitiator(rand, res.SharedSecret, res.AD, res.PeerRatchetKey, res.RatchetKEM, ratchet.DefaultConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("session: begin: %w", err)
	}
	msg, err := r.Encrypt(rand, first.Marshal())
	if err != nil {
		return nil, nil, fmt.Errorf("session: begin: %w", err)
	}
	body := firstContactBody(init.Marshal(), msg)
	key := inviteSecret.FirstContactSealKey()
	defer clear(key[:])
	token := inviteSecret.FirstContactToken()
	blob, err := envelope.Seal(rand, &key, token, envelope.KindFirstContact, body)
	if err != nil {
		return nil, nil, fmt.Errorf("session: begin: %w", err)
	}
	c := &Conversation{
		role:   Initiator,
		peer:   *res.Peer,
		secret: address.NewConversationSecret(res.SharedSecret, res.Transcript),
		r:      r,
	}
	return c, &Outgoing{Token: token, Blob: blob}, nil
}

// firstContactBody encodes 0x71 0x01 || len32(init message) || len32(ratchet message).
func firstContactBody(init, msg []byte) []byte {
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, wire.HeaderSize+8+len(init)+len(msg)))
	wire.AddHeader(b, wire.TagFirstContact)
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(init) })
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(msg) })
	return b.BytesOrPanic()
}

// Accepted is the result of a first contact received by the inviter.
type Accepted struct {
	// Conversation is the new conversation with the initiator.
	Conversation *Conversation
	// First is the initiator's first message.
	First *Payload
	// Keys is the inviter's prekey store after the contact: the one-time
	// prekey used is gone. Persist it in place of the old one.
	Keys *prekey.Secrets
	// Transcript is the handshake transcript hash. Reject a first contact
	// whose Transcript was already accepted (a replayed init message to a
	// last-resort prekey).
	Transcript [32]byte
}

// Accept opens a first-contact blob deposited at the first-contact mailbox
// of the invite that carried inviteSecret (docs/PROTOCOL.md §Session, first
// contact). keys is left untouched: on success the updated store is
// Accepted.Keys. Any failure returns an error and changes nothing.
func Accept(self *identity.PrivateIdentity, keys *prekey.Secrets, inviteSecret *address.InviteSecret, blob []byte, now time.Time) (*Accepted, error) {
	key := inviteSecret.FirstContactSealKey()
	defer clear(key[:])
	kind, body, err := envelope.Open(&key, inviteSecret.FirstContactToken(), blob)
	if err != nil {
		return nil, fmt.Errorf("session: accept: %w", ErrNotForUs)
	}
	if kind != envelope.KindFirstContact {
		return nil, fmt.Errorf("session: accept: envelope kind %d: %w", kind, wire.ErrMalformed)
	}
	s := cryptobyte.String(body)
	var initBytes, msg cryptobyte.String
	if err := wire.ReadHeader(&s, wire.TagFirstContact); err != nil {
		return nil, fmt.Errorf("session: accept: %w", err)
	}
	if !wire.ReadUint32Prefixed(&s, &initBytes, handshake.MaxInitMessageSize) || !wire.ReadUint32Prefixed(&s, &msg, ratchet.MaxMessageSize) || !s.Empty() {
		return nil, fmt.Errorf("session: accept: %w", wire.ErrMalformed)
	}
	init, err := handshake.ParseInitMessage(initBytes)
	if err != nil {
		return nil, fmt.Errorf("session: accept: %w", err)
	}
	// Work on a copy of the prekey store: Respond deletes the one-time
	// prekey, which must survive if the first message turns out forged.
	work, err := prekey.ParseSecrets(keys.Marshal())
	if err != nil {
		return nil, fmt.Errorf("session: accept: copy prekeys: %w", err)
	}
	res, err := handshake.Respond(self, work, init, now)
	if err != nil {
		return nil, fmt.Errorf("session: accept: %w", err)
	}
	defer res.Clear()
	r, err := ratchet.NewResponder(res.SharedSecret, res.AD, res.RatchetKey, res.PeerRatchetKEM, ratchet.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("session: accept: %w", err)
	}
	pt, err := r.Decrypt(msg)
	if err != nil {
		return nil, fmt.Errorf("session: accept: first message: %w", ErrNotForUs)
	}
	first, err := ParsePayload(pt)
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("session: accept: %w", err)
	}
	c := &Conversation{
		role:   Responder,
		peer:   *res.Peer,
		secret: address.NewConversationSecret(res.SharedSecret, res.Transcript),
		r:      r,
	}
	return &Accepted{Conversation: c, First: first, Keys: work, Transcript: res.Transcript}, nil
}

// Send encrypts p and seals it for the current epoch's mailbox in this
// party's sending direction. The Conversation advances: persist it (Marshal)
// together with the Outgoing before depositing, so a crash resends the same
// blob and the receiver drops the duplicate.
func (c *Conversation) Send(rand io.Reader, p *Payload, now time.Time) (*Outgoing, error) {
	epoch, err := address.Epoch(now, address.DefaultEpochLength)
	if err != nil {
		return nil, fmt.Errorf("session: send: %w", ErrClock)
	}
	if p.Kind == KindText && len(p.Body) > MaxTextSize {
		return nil, fmt.Errorf("session: message too large: %d bytes, limit %d: %w", len(p.Body), MaxTextSize, ErrTooLarge)
	}
	// Encrypt is transactional. Once it succeeds the message key is spent;
	// should sealing then fail (only the random source can make it), the
	// receiver skips that message number, as for a lost message.
	msg, err := c.r.Encrypt(rand, p.Marshal())
	if err != nil {
		return nil, fmt.Errorf("session: send: %w", err)
	}
	d := c.role.sendDirection()
	key := c.secret.SealKey(epoch, d)
	defer clear(key[:])
	token := c.secret.Token(epoch, d)
	blob, err := envelope.Seal(rand, &key, token, envelope.KindMessage, msg)
	if err != nil {
		return nil, fmt.Errorf("session: send: %w", err)
	}
	return &Outgoing{Token: token, Blob: blob}, nil
}

// Mailboxes returns the mailboxes to poll at now for the peer's messages.
func (c *Conversation) Mailboxes(now time.Time) ([]address.Mailbox, error) {
	mb, err := c.secret.PollMailboxes(now, address.DefaultEpochLength, c.role.sendDirection().Reverse())
	if err != nil {
		return nil, fmt.Errorf("session: mailboxes: %w", ErrClock)
	}
	return mb, nil
}

// Receive opens a blob fetched from token. It returns ErrNotForUs when the
// token is not one of Mailboxes(now) or the blob does not open there, and
// ErrDuplicate for a message already received; in both cases drop the blob.
// On success the Conversation advances: persist it before acknowledging the
// blob to the relay.
func (c *Conversation) Receive(token address.Token, blob []byte, now time.Time) (*Payload, error) {
	mbs, err := c.Mailboxes(now)
	if err != nil {
		return nil, err
	}
	for _, mb := range mbs {
		if mb.Token != token {
			continue
		}
		key := c.secret.SealKey(mb.Epoch, mb.Direction)
		kind, msg, err := envelope.Open(&key, token, blob)
		clear(key[:])
		if err != nil {
			return nil, fmt.Errorf("session: receive: %w", ErrNotForUs)
		}
		if kind != envelope.KindMessage {
			return nil, fmt.Errorf("session: receive: envelope kind %d: %w", kind, wire.ErrMalformed)
		}
		return c.decrypt(msg)
	}
	return nil, fmt.Errorf("session: receive: unknown mailbox: %w", ErrNotForUs)
}

// decrypt runs the ratchet (transactional: a message that does not
// authenticate changes nothing) and parses the payload. A payload that
// authenticates but does not parse came from the peer itself; its message
// key is spent and the error reported.
func (c *Conversation) decrypt(msg []byte) (*Payload, error) {
	pt, err := c.r.Decrypt(msg)
	switch {
	case errors.Is(err, ratchet.ErrDuplicate):
		return nil, fmt.Errorf("session: receive: %w", ErrDuplicate)
	case err != nil:
		return nil, fmt.Errorf("session: receive: %w", ErrNotForUs)
	}
	p, err := ParsePayload(pt)
	clear(pt)
	if err != nil {
		return nil, fmt.Errorf("session: receive: %w", err)
	}
	return p, nil
}

// NextMessagePQ reports whether the next Send carries a post-quantum ratchet
// step (and so a larger envelope). It is public information: the relay sees
// the size.
func (c *Conversation) NextMessagePQ() bool { return c.r.NextMessagePQ() }

// BlobSize returns the exact size of the blob a text of textLen bytes makes,
// with or without a PQ ratchet step. It needs no key, so the extension
// computes it through WebAssembly for a live preview; ErrTooLarge when the
// text does not fit.
func BlobSize(textLen int, pq bool) (int, error) {
	if textLen < 0 {
		return 0, fmt.Errorf("session: blob size: negative length: %w", wire.ErrMalformed)
	}
	if textLen > MaxTextSize {
		return 0, fmt.Errorf("session: message too large: %d bytes, limit %d: %w", textLen, MaxTextSize, ErrTooLarge)
	}
	n, err := envelope.BlobSize(textLen + PayloadOverhead + ratchet.MessageOverhead(pq))
	if err != nil {
		return 0, fmt.Errorf("session: blob size: %w", err)
	}
	return n, nil
}

// Marshal encodes the conversation for encrypted storage:
//
//	0x72 0x01 || u8 role || public identity of the peer || conversation
//	secret[32] || len32(ratchet state)
func (c *Conversation) Marshal() []byte {
	rs := c.r.Marshal()
	sec := c.secret.Bytes()
	b := cryptobyte.NewFixedBuilder(make([]byte, 0, wire.HeaderSize+1+identity.PublicSize+len(sec)+4+len(rs)))
	wire.AddHeader(b, wire.TagConversation)
	b.AddUint8(uint8(c.role))
	c.peer.AddTo(b)
	b.AddBytes(sec[:])
	b.AddUint32LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(rs) })
	clear(sec[:])
	clear(rs)
	return b.BytesOrPanic()
}

// ParseConversation parses what Marshal wrote.
func ParseConversation(b []byte) (*Conversation, error) {
	if len(b) > MaxStateSize {
		return nil, fmt.Errorf("session: parse conversation: %w", wire.ErrTooLarge)
	}
	s := cryptobyte.String(b)
	if err := wire.ReadHeader(&s, wire.TagConversation); err != nil {
		return nil, fmt.Errorf("session: parse conversation: %w", err)
	}
	var role uint8
	if !s.ReadUint8(&role) || (Role(role) != Initiator && Role(role) != Responder) {
		return nil, fmt.Errorf("session: parse conversation: %w", wire.ErrMalformed)
	}
	peer, err := identity.ReadPublic(&s)
	if err != nil {
		return nil, fmt.Errorf("session: parse conversation: %w", err)
	}
	var sec [address.SecretSize]byte
	defer clear(sec[:])
	var rs cryptobyte.String
	if !s.CopyBytes(sec[:]) || !wire.ReadUint32Prefixed(&s, &rs, ratchet.MaxStateSize) || !s.Empty() {
		return nil, fmt.Errorf("session: parse conversation: %w", wire.ErrMalformed)
	}
	secret, err := address.ConversationSecretFromBytes(sec[:])
	if err != nil {
		return nil, fmt.Errorf("session: parse conversation: %w", err)
	}
	r, err := ratchet.ParseState(rs)
	if err != nil {
		return nil, fmt.Errorf("session: parse conversation: %w", err)
	}
	return &Conversation{role: Role(role), peer: *peer, secret: secret, r: r}, nil
}
