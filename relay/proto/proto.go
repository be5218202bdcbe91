// Package proto encodes and parses the relay's messages (docs/PROTOCOL.md
// §Relay, "Messages", protocol version 1): the hello and welcome carried in
// the Noise handshake, the requests DEPOSIT, FETCH, ACK and PING, and their
// responses RECEIPT, ITEMS, ACKED, PONG and ERROR.
//
// Every message starts with the wire header (a tag from core/wire and the
// version). Integers are big-endian. Every count and length has a named
// maximum that is checked before the bytes it covers are touched; parsers
// use cryptobyte only, reject trailing bytes and return nil on error, so each
// message has exactly one encoding. Parsed messages alias the input buffer
// (blobs are not copied).
package proto

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/core/wire"
)

// Limits (docs/PROTOCOL.md §Relay, "Limits").
const (
	// MaxFetchTokens is the most tokens one FETCH may name.
	MaxFetchTokens = 64
	// MaxFetchItems is the largest FETCH limit and the most items in one
	// ITEMS response.
	MaxFetchItems = 256
	// MaxAckIDs is the most ids one ACK may carry.
	MaxAckIDs = 1024
	// DepositOverhead is a DEPOSIT's size without the blob: header, token,
	// stamp, u32 blob length.
	DepositOverhead = wire.HeaderSize + address.TokenSize + pow.StampSize + 4
	// MaxRequestSize is the largest request: a DEPOSIT of the largest blob.
	// A relay reads no bigger message.
	MaxRequestSize = DepositOverhead + wire.MaxBlobSize
	// ItemOverhead is an item's size in ITEMS without its blob: token, u64
	// id, u32 blob length.
	ItemOverhead = address.TokenSize + 8 + 4
	// ItemsOverhead is an ITEMS response's size without items: header, u8
	// more, u16 count.
	ItemsOverhead = wire.HeaderSize + 1 + 2
	// MaxResponseSize is the largest response: ITEMS is filled up to it. A
	// client reads no bigger message. It holds at least one item of the
	// largest blob.
	MaxResponseSize = 256 << 10
	// MaxHelloSize bounds the hello and welcome payloads.
	MaxHelloSize = 64
)

// Compile-time check that MaxResponseSize fits one item of the largest
// blob, and that requests fit the link's limits.
var (
	_ [MaxResponseSize - ItemsOverhead - ItemOverhead - wire.MaxBlobSize]struct{}
	_ [1<<20 - MaxResponseSize]struct{}
	_ [1<<20 - MaxRequestSize]struct{}
)

// ErrUnknownType is returned (wrapped, with wire.ErrWrongType) by
// ParseRequest and ParseResponse for a tag that names no message of that
// direction.
var ErrUnknownType = errors.New("proto: unknown message type")

// Request is a client-to-relay message: *Deposit, *Fetch, *Ack or *Ping.
type Request interface {
	Marshal() []byte
	isRequest()
}

// Response is a relay-to-client message: *Receipt, *Items, *Acked, *Pong or
// *Error.
type Response interface {
	Marshal() []byte
	isResponse()
}

// Deposit asks the relay to store Blob under Token. Stamp is the proof of
// work for (Token, SHA-256(Blob)).
type Deposit struct {
	Token address.Token
	Stamp pow.Stamp
	Blob  []byte
}

// Receipt answers a DEPOSIT once the blob is durable.
type Receipt struct {
	// ID names the stored item; the recipient acks it by this id.
	ID uint64
	// Expires is when the relay deletes the item unless acked, in Unix
	// seconds.
	Expires uint64
	// Duplicate is true when the relay already held this exact deposit
	// (same token, blob and stamp): nothing new was stored and ID and
	// Expires are the original's. A retried deposit gets this.
	Duplicate bool
}

// Fetch asks for up to Limit stored items under Tokens, oldest first per
// token, tokens in order. Items stay stored until acked.
type Fetch struct {
	Limit  uint16
	Tokens []address.Token
}

// Item is one stored blob.
type Item struct {
	Token address.Token
	ID    uint64
	Blob  []byte
}

// Items answers a FETCH. More is true when the relay holds further items
// under the tokens that did not fit the limit or MaxResponseSize.
type Items struct {
	More  bool
	Items []Item
}

// Ack deletes the items with IDs under Token. Unknown ids are ignored, so
// an ACK may be retried. IDs are strictly increasing.
type Ack struct {
	Token address.Token
	IDs   []uint64
}

// Acked answers an ACK with the number of items it deleted.
type Acked struct {
	Count uint16
}

// Ping checks that the link is alive.
type Ping struct{}

// Pong answers a PING with the relay's clock, Unix seconds.
type Pong struct {
	Time uint64
}

// Error answers a request the relay refused.
type Error struct {
	Code Code
}

func (*Deposit) isRequest()  {}
func (*Fetch) isRequest()    {}
func (*Ack) isRequest()      {}
func (*Ping) isRequest()     {}
func (*Receipt) isResponse() {}
func (*Items) isResponse()   {}
func (*Acked) isResponse()   {}
func (*Pong) isResponse()    {}
func (*Error) isResponse()   {}

// Unwrap returns the code, so errors.Is(err, proto.CodeX) matches an Error.
func (e *Error) Unwrap() error { return e.Code }

// Error returns the code's message.
func (e *Error) Error() string { return e.Code.Error() }

func build(f func(b *cryptobyte.Builder)) []byte { return buildSized(64, f) }

// buildSized builds into a buffer of capacity size, so a large message is
// not copied while it grows.
func buildSized(size int, f func(b *cryptobyte.Builder)) []byte {
	b := cryptobyte.NewBuilder(make([]byte, 0, size))
	f(b)
	return b.BytesOrPanic() // builders here never set an error
}

func boolByte(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// Marshal encodes a DEPOSIT: header || token[32] || stamp[19] || u32 len ||
// blob.
func (d *Deposit) Marshal() []byte {
	return buildSized(DepositOverhead+len(d.Blob), func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayDeposit)
		b.AddBytes(d.Token[:])
		d.Stamp.AddTo(b)
		b.AddUint32(uint32(len(d.Blob)))
		b.AddBytes(d.Blob)
	})
}

// Marshal encodes a RECEIPT: header || u64 id || u64 expires || u8
// duplicate.
func (r *Receipt) Marshal() []byte {
	return build(func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayReceipt)
		b.AddUint64(r.ID)
		b.AddUint64(r.Expires)
		b.AddUint8(boolByte(r.Duplicate))
	})
}

// Marshal encodes a FETCH: header || u16 limit || u8 n || n tokens.
func (f *Fetch) Marshal() []byte {
	return buildSized(5+len(f.Tokens)*address.TokenSize, func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayFetch)
		b.AddUint16(f.Limit)
		b.AddUint8(uint8(len(f.Tokens)))
		for i := range f.Tokens {
			b.AddBytes(f.Tokens[i][:])
		}
	})
}

// Marshal encodes ITEMS: header || u8 more || u16 n || n × (token[32] ||
// u64 id || u32 len || blob).
func (it *Items) Marshal() []byte {
	return buildSized(it.Size(), func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayItems)
		b.AddUint8(boolByte(it.More))
		b.AddUint16(uint16(len(it.Items)))
		for i := range it.Items {
			item := &it.Items[i]
			b.AddBytes(item.Token[:])
			b.AddUint64(item.ID)
			b.AddUint32(uint32(len(item.Blob)))
			b.AddBytes(item.Blob)
		}
	})
}

// Size returns the encoded size of it.
func (it *Items) Size() int {
	n := ItemsOverhead
	for i := range it.Items {
		n += ItemOverhead + len(it.Items[i].Blob)
	}
	return n
}

// Marshal encodes an ACK: header || token[32] || u16 n || n × u64 id.
func (a *Ack) Marshal() []byte {
	return buildSized(36+8*len(a.IDs), func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayAck)
		b.AddBytes(a.Token[:])
		b.AddUint16(uint16(len(a.IDs)))
		for _, id := range a.IDs {
			b.AddUint64(id)
		}
	})
}

// Marshal encodes ACKED: header || u16 count.
func (a *Acked) Marshal() []byte {
	return build(func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayAcked)
		b.AddUint16(a.Count)
	})
}

// Marshal encodes a PING: the header alone.
func (*Ping) Marshal() []byte {
	return build(func(b *cryptobyte.Builder) { wire.AddHeader(b, wire.TagRelayPing) })
}

// Marshal encodes a PONG: header || u64 time.
func (p *Pong) Marshal() []byte {
	return build(func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayPong)
		b.AddUint64(p.Time)
	})
}

// Marshal encodes an ERROR: header || u16 code.
func (e *Error) Marshal() []byte {
	return build(func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayError)
		b.AddUint16(uint16(e.Code))
	})
}

// malformed wraps wire.ErrMalformed for message name.
func malformed(name string) error {
	return fmt.Errorf("proto: parse %s: %w", name, wire.ErrMalformed)
}

// header reads and checks the header of a message named name.
func header(s *cryptobyte.String, t wire.Tag, name string) error {
	if err := wire.ReadHeader(s, t); err != nil {
		return fmt.Errorf("proto: parse %s: %w", name, err)
	}
	return nil
}

func readToken(s *cryptobyte.String, t *address.Token) bool {
	return s.CopyBytes(t[:])
}

func readBool(s *cryptobyte.String, v *bool) bool {
	var b uint8
	if !s.ReadUint8(&b) || b > 1 {
		return false
	}
	*v = b == 1
	return true
}

// readBlob reads u32 len || blob with 1 <= len <= wire.MaxBlobSize. The
// length is checked before the bytes are sliced.
func readBlob(s *cryptobyte.String, name string) ([]byte, error) {
	var n uint32
	if !s.ReadUint32(&n) {
		return nil, malformed(name)
	}
	if n > wire.MaxBlobSize {
		return nil, fmt.Errorf("proto: parse %s: blob of %d bytes: %w", name, n, wire.ErrTooLarge)
	}
	var blob []byte
	if n == 0 || !s.ReadBytes(&blob, int(n)) {
		return nil, malformed(name)
	}
	return blob, nil
}

// ParseDeposit parses a DEPOSIT. A blob longer than wire.MaxBlobSize is
// wire.ErrTooLarge; an empty one is malformed.
func ParseDeposit(b []byte) (*Deposit, error) {
	if err := wire.Check(b, MaxRequestSize); err != nil {
		return nil, fmt.Errorf("proto: parse deposit: %w", err)
	}
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayDeposit, "deposit"); err != nil {
		return nil, err
	}
	var d Deposit
	if !readToken(&s, &d.Token) {
		return nil, malformed("deposit")
	}
	st, err := pow.ReadStamp(&s)
	if err != nil {
		return nil, fmt.Errorf("proto: parse deposit: %w", err)
	}
	d.Stamp = *st
	if d.Blob, err = readBlob(&s, "deposit"); err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed("deposit")
	}
	return &d, nil
}

// ParseReceipt parses a RECEIPT.
func ParseReceipt(b []byte) (*Receipt, error) {
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayReceipt, "receipt"); err != nil {
		return nil, err
	}
	var r Receipt
	if !s.ReadUint64(&r.ID) || !s.ReadUint64(&r.Expires) || !readBool(&s, &r.Duplicate) || !s.Empty() {
		return nil, malformed("receipt")
	}
	return &r, nil
}

// ParseFetch parses a FETCH: 1 <= limit <= MaxFetchItems, 1 <= n <=
// MaxFetchTokens, no token twice.
func ParseFetch(b []byte) (*Fetch, error) {
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayFetch, "fetch"); err != nil {
		return nil, err
	}
	var f Fetch
	var n uint8
	if !s.ReadUint16(&f.Limit) || !s.ReadUint8(&n) {
		return nil, malformed("fetch")
	}
	if f.Limit < 1 || f.Limit > MaxFetchItems || n < 1 || n > MaxFetchTokens {
		return nil, malformed("fetch")
	}
	if len(s) != int(n)*address.TokenSize {
		return nil, malformed("fetch")
	}
	f.Tokens = make([]address.Token, n)
	for i := range f.Tokens {
		if !readToken(&s, &f.Tokens[i]) {
			return nil, malformed("fetch")
		}
		for j := range i {
			if f.Tokens[j] == f.Tokens[i] {
				return nil, malformed("fetch")
			}
		}
	}
	if !s.Empty() {
		return nil, malformed("fetch")
	}
	return &f, nil
}

// ParseItems parses ITEMS: at most MaxFetchItems items, each blob 1 ..
// wire.MaxBlobSize bytes, MaxResponseSize in all.
func ParseItems(b []byte) (*Items, error) {
	if err := wire.Check(b, MaxResponseSize); err != nil {
		return nil, fmt.Errorf("proto: parse items: %w", err)
	}
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayItems, "items"); err != nil {
		return nil, err
	}
	var it Items
	var n uint16
	if !readBool(&s, &it.More) || !s.ReadUint16(&n) {
		return nil, malformed("items")
	}
	if n > MaxFetchItems || len(s) < int(n)*(ItemOverhead+1) {
		return nil, malformed("items")
	}
	it.Items = make([]Item, n)
	for i := range it.Items {
		item := &it.Items[i]
		if !readToken(&s, &item.Token) || !s.ReadUint64(&item.ID) {
			return nil, malformed("items")
		}
		var err error
		if item.Blob, err = readBlob(&s, "items"); err != nil {
			return nil, err
		}
	}
	if !s.Empty() {
		return nil, malformed("items")
	}
	return &it, nil
}

// ParseAck parses an ACK: 1 <= n <= MaxAckIDs, ids strictly increasing.
func ParseAck(b []byte) (*Ack, error) {
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayAck, "ack"); err != nil {
		return nil, err
	}
	var a Ack
	var n uint16
	if !readToken(&s, &a.Token) || !s.ReadUint16(&n) {
		return nil, malformed("ack")
	}
	if n < 1 || n > MaxAckIDs || len(s) != int(n)*8 {
		return nil, malformed("ack")
	}
	a.IDs = make([]uint64, n)
	for i := range a.IDs {
		if !s.ReadUint64(&a.IDs[i]) || i > 0 && a.IDs[i] <= a.IDs[i-1] {
			return nil, malformed("ack")
		}
	}
	if !s.Empty() {
		return nil, malformed("ack")
	}
	return &a, nil
}

// ParseAcked parses ACKED.
func ParseAcked(b []byte) (*Acked, error) {
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayAcked, "acked"); err != nil {
		return nil, err
	}
	var a Acked
	if !s.ReadUint16(&a.Count) || !s.Empty() || a.Count > MaxAckIDs {
		return nil, malformed("acked")
	}
	return &a, nil
}

// ParsePing parses a PING.
func ParsePing(b []byte) (*Ping, error) {
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayPing, "ping"); err != nil {
		return nil, err
	}
	if !s.Empty() {
		return nil, malformed("ping")
	}
	return &Ping{}, nil
}

// ParsePong parses a PONG.
func ParsePong(b []byte) (*Pong, error) {
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayPong, "pong"); err != nil {
		return nil, err
	}
	var p Pong
	if !s.ReadUint64(&p.Time) || !s.Empty() {
		return nil, malformed("pong")
	}
	return &p, nil
}

// ParseError parses an ERROR. Code 0 is malformed; codes this version does
// not know are accepted (a newer relay may send them).
func ParseError(b []byte) (*Error, error) {
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayError, "error"); err != nil {
		return nil, err
	}
	var c uint16
	if !s.ReadUint16(&c) || !s.Empty() || c == 0 {
		return nil, malformed("error")
	}
	return &Error{Code: Code(c)}, nil
}

// ParseRequest parses any request by its tag. A tag that names no request
// returns ErrUnknownType (with wire.ErrWrongType).
func ParseRequest(b []byte) (Request, error) {
	if err := wire.Check(b, MaxRequestSize); err != nil {
		return nil, fmt.Errorf("proto: parse request: %w", err)
	}
	if len(b) < wire.HeaderSize {
		return nil, malformed("request")
	}
	switch wire.Tag(b[0]) {
	case wire.TagRelayDeposit:
		m, err := ParseDeposit(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	case wire.TagRelayFetch:
		m, err := ParseFetch(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	case wire.TagRelayAck:
		m, err := ParseAck(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	case wire.TagRelayPing:
		m, err := ParsePing(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: tag 0x%02x: %w", ErrUnknownType, b[0], wire.ErrWrongType)
}

// ParseResponse parses any response by its tag. A tag that names no
// response returns ErrUnknownType (with wire.ErrWrongType).
func ParseResponse(b []byte) (Response, error) {
	if err := wire.Check(b, MaxResponseSize); err != nil {
		return nil, fmt.Errorf("proto: parse response: %w", err)
	}
	if len(b) < wire.HeaderSize {
		return nil, malformed("response")
	}
	switch wire.Tag(b[0]) {
	case wire.TagRelayReceipt:
		m, err := ParseReceipt(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	case wire.TagRelayItems:
		m, err := ParseItems(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	case wire.TagRelayAcked:
		m, err := ParseAcked(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	case wire.TagRelayPong:
		m, err := ParsePong(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	case wire.TagRelayError:
		m, err := ParseError(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: tag 0x%02x: %w", ErrUnknownType, b[0], wire.ErrWrongType)
}
