// Package envelope seals Parley's relay-visible blobs (docs/PROTOCOL.md
// §Envelope, protocol version 1; DESIGN §6).
//
// An envelope carries one body (a first-contact message or a ratchet
// message) padded to a size bucket, so the relay learns only which of five
// sizes a message has. The padded plaintext is
//
//	u8 TagEnvelopeInner || u8 version || u8 kind || u32 len(body) || body || zeros
//
// exactly one bucket long (256, 1024, 4096, 16384 or 65536 bytes), and the
// blob the relay stores is
//
//	nonce (12 random bytes) || ChaCha20-Poly1305(key, nonce, padded, ad = LabelEnvelope || token)
//
// The key is the mailbox's seal key (package address), so an envelope opens
// only under the epoch and direction it was made for, and the associated data
// binds it to the token it is deposited under: a relay that moves a blob to
// another mailbox makes it fail to open.
//
// # Nonces
//
// Nonces are random. A seal key serves one mailbox (one direction of one
// conversation for one epoch, or one invite), so it seals only the messages
// one sender sends there in a day. With random 96-bit nonces, q envelopes
// under one key collide with probability below q²/2^97; Parley requires
// fewer than 2^32 envelopes per key (probability below 2^-33), and relay
// quotas keep real mailboxes under 2^20 (below 2^-57). Random nonces need no
// state, so a sender restored from a backup or crashed mid-send can never
// reuse one the way a counter would.
package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Size buckets: the only lengths a padded plaintext may have.
const (
	Bucket256 = 256       // 256 B: short texts
	Bucket1K  = 1024      // 1 KiB: longer texts, first contact without a PQ step
	Bucket4K  = 4096      // 4 KiB: messages carrying a PQ ratchet step, first contact
	Bucket16K = 16384     // 16 KiB
	Bucket64K = 65536     // 64 KiB: the largest
	MinBucket = Bucket256 // the smallest bucket
	MaxBucket = Bucket64K // the largest bucket
)

// Buckets returns the bucket sizes in increasing order.
func Buckets() []int { return []int{Bucket256, Bucket1K, Bucket4K, Bucket16K, Bucket64K} }

// Sizes, in bytes.
const (
	// InnerOverhead is what the padded plaintext adds before the body:
	// header (2), kind (1), body length (4).
	InnerOverhead = wire.HeaderSize + 1 + 4
	// SealOverhead is what sealing adds to the padded plaintext: the nonce
	// and the Poly1305 tag.
	SealOverhead = suite.NonceSize + suite.TagSize
	// MaxBodySize is the largest body: the largest bucket less InnerOverhead.
	MaxBodySize = MaxBucket - InnerOverhead
	// MinBlobSize is the size of a blob in the smallest bucket.
	MinBlobSize = MinBucket + SealOverhead
	// MaxBlobSize is the size of a blob in the largest bucket; Open rejects
	// anything longer before looking at it.
	MaxBlobSize = MaxBucket + SealOverhead
	// adSize is the size of the associated data.
	adSize = len(suite.LabelEnvelope) + address.TokenSize
)

// The largest envelope must fit the relay's blob limit.
var _ [wire.MaxBlobSize - MaxBlobSize]struct{}

// Kind says what an envelope's body is.
type Kind uint8

// Kinds. Values 0 and 3–255 are reserved: Seal refuses them and Open
// rejects them.
const (
	// KindFirstContact carries a first-contact body: a handshake init
	// message and the first ratchet message (package session).
	KindFirstContact Kind = 1
	// KindMessage carries one ratchet message.
	KindMessage Kind = 2
)

// Valid reports whether k is a defined kind.
func (k Kind) Valid() bool { return k == KindFirstContact || k == KindMessage }

// ErrOpen is the single opaque error for an envelope that does not
// authenticate: wrong key, wrong token, or any modified byte. It is
// suite.ErrOpen.
var ErrOpen = suite.ErrOpen

// ErrTooLarge is wrapped by every "too large" error of this package. It is
// wire.ErrTooLarge, so either name works with errors.Is.
var ErrTooLarge = wire.ErrTooLarge

// ErrKind is returned by Seal for a reserved Kind.
var ErrKind = errors.New("envelope: reserved kind")

// SizeError reports a body (or message text) too large for the largest
// bucket. It wraps ErrTooLarge.
type SizeError struct {
	// Size is the length asked for; Limit is the largest that fits.
	Size, Limit int
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("envelope: message too large: %d bytes, limit %d", e.Size, e.Limit)
}

// Unwrap returns ErrTooLarge.
func (e *SizeError) Unwrap() error { return ErrTooLarge }

// BucketFor returns the smallest bucket that holds a body of bodyLen bytes
// (docs/PROTOCOL.md §Envelope, step 1). It returns a *SizeError when
// bodyLen exceeds MaxBodySize, and wire.ErrMalformed (wrapped) when it is
// negative.
func BucketFor(bodyLen int) (int, error) {
	if bodyLen < 0 {
		return 0, fmt.Errorf("envelope: negative body length: %w", wire.ErrMalformed)
	}
	if bodyLen > MaxBodySize {
		return 0, &SizeError{Size: bodyLen, Limit: MaxBodySize}
	}
	for _, b := range Buckets() {
		if bodyLen+InnerOverhead <= b {
			return b, nil
		}
	}
	panic("envelope: unreachable: body fits no bucket")
}

// BlobSize returns the exact size of the blob that carries a body of
// bodyLen bytes. It needs no key and errs as BucketFor does.
func BlobSize(bodyLen int) (int, error) {
	b, err := BucketFor(bodyLen)
	if err != nil {
		return 0, err
	}
	return b + SealOverhead, nil
}

// BlobSizeFor returns the exact blob size for a plaintext of plaintextLen
// bytes that an inner layer wraps with overhead bytes (for a chat message:
// the session payload and ratchet message overheads). A too-large plaintext
// returns a *SizeError whose Limit is the largest plaintextLen that fits.
func BlobSizeFor(plaintextLen, overhead int) (int, error) {
	if plaintextLen < 0 || overhead < 0 {
		return 0, fmt.Errorf("envelope: negative length: %w", wire.ErrMalformed)
	}
	if overhead > MaxBodySize || plaintextLen > MaxBodySize-overhead {
		return 0, &SizeError{Size: plaintextLen, Limit: max(MaxBodySize-overhead, 0)}
	}
	return BlobSize(plaintextLen + overhead)
}

// MaxBody returns MaxBodySize, for callers that need a function (the
// WebAssembly preview API).
func MaxBody() int { return MaxBodySize }

// additionalData returns LabelEnvelope || token.
func additionalData(token *address.Token) []byte {
	ad := make([]byte, 0, adSize)
	ad = append(ad, suite.LabelEnvelope...)
	return append(ad, token[:]...)
}

// Seal pads body to its bucket and seals it under key for the mailbox token
// (docs/PROTOCOL.md §Envelope, steps 1–3), reading the 12-byte nonce from
// rand (crypto/rand if nil). It returns a *SizeError (wrapping ErrTooLarge)
// for a body over MaxBodySize, and ErrKind for a reserved kind.
func Seal(rand io.Reader, key *[suite.KeySize]byte, token address.Token, kind Kind, body []byte) ([]byte, error) {
	if !kind.Valid() {
		return nil, ErrKind
	}
	bucket, err := BucketFor(len(body))
	if err != nil {
		return nil, err
	}
	var nonce [suite.NonceSize]byte
	if err := suite.ReadRandom(rand, nonce[:]); err != nil {
		return nil, fmt.Errorf("envelope: seal: %w", err)
	}
	out := make([]byte, suite.NonceSize, bucket+SealOverhead)
	copy(out, nonce[:])
	// Build the padded plaintext in place after the nonce; make zeroed the
	// padding already.
	b := cryptobyte.NewFixedBuilder(out[suite.NonceSize:suite.NonceSize])
	wire.AddHeader(b, wire.TagEnvelopeInner)
	b.AddUint8(uint8(kind))
	b.AddUint32(uint32(len(body)))
	b.AddBytes(body)
	if _, err := b.Bytes(); err != nil {
		panic("envelope: build inner: " + err.Error()) // sizes checked above
	}
	padded := out[suite.NonceSize : suite.NonceSize+bucket]
	sealed := suite.Seal(out[:suite.NonceSize], key, &nonce, padded, additionalData(&token))
	return sealed, nil
}

// Open authenticates and decrypts a blob deposited under token with key
// (docs/PROTOCOL.md §Envelope, steps 4–6) and returns its kind and body.
//
// It rejects, in this order: a blob over MaxBlobSize (ErrTooLarge, before
// anything else), a blob whose length is not a bucket plus SealOverhead
// (wire.ErrMalformed), a blob that does not authenticate under key and
// token (ErrOpen, the one opaque error), and an authenticated plaintext with
// a wrong header (wire.ErrWrongType, wire.ErrVersion), a reserved kind, a
// body length beyond the bucket or nonzero padding (wire.ErrMalformed). The
// last group can only come from a holder of the key. On error the kind is 0,
// the body nil, and the decrypted plaintext is wiped.
func Open(key *[suite.KeySize]byte, token address.Token, blob []byte) (Kind, []byte, error) {
	if len(blob) > MaxBlobSize {
		return 0, nil, fmt.Errorf("envelope: open: blob of %d bytes over %d: %w", len(blob), MaxBlobSize, ErrTooLarge)
	}
	if !IsBlobSize(len(blob)) {
		return 0, nil, fmt.Errorf("envelope: open: blob of %d bytes is no bucket size: %w", len(blob), wire.ErrMalformed)
	}
	nonce := (*[suite.NonceSize]byte)(blob[:suite.NonceSize])
	padded, err := suite.Open(make([]byte, 0, len(blob)-SealOverhead), key, nonce, blob[suite.NonceSize:], additionalData(&token))
	if err != nil {
		return 0, nil, ErrOpen
	}
	kind, body, err := parseInner(padded)
	if err != nil {
		clear(padded)
		return 0, nil, err
	}
	return kind, body, nil
}

// IsBlobSize reports whether n is the size of some envelope: a bucket plus
// SealOverhead. A relay may refuse deposits of any other size.
func IsBlobSize(n int) bool {
	for _, b := range Buckets() {
		if n == b+SealOverhead {
			return true
		}
	}
	return false
}

// allZero reports whether every byte of p is zero, comparing a block at a
// time: bytes.Equal is vectorised, a byte loop several times slower.
func allZero(p []byte) bool {
	var zeros [512]byte
	for len(p) > 0 {
		n := min(len(p), len(zeros))
		if !bytes.Equal(p[:n], zeros[:n]) {
			return false
		}
		p = p[n:]
	}
	return true
}

// parseInner parses an authenticated padded plaintext (docs/PROTOCOL.md
// §Envelope, step 6).
func parseInner(padded []byte) (Kind, []byte, error) {
	s := cryptobyte.String(padded)
	if err := wire.ReadHeader(&s, wire.TagEnvelopeInner); err != nil {
		return 0, nil, fmt.Errorf("envelope: parse inner: %w", err)
	}
	var k uint8
	var n uint32
	if !s.ReadUint8(&k) || !s.ReadUint32(&n) {
		return 0, nil, fmt.Errorf("envelope: parse inner: %w", wire.ErrMalformed)
	}
	if !Kind(k).Valid() {
		return 0, nil, fmt.Errorf("envelope: parse inner: reserved kind %d: %w", k, wire.ErrMalformed)
	}
	var body []byte
	if uint64(n) > uint64(len(s)) || !s.ReadBytes(&body, int(n)) {
		return 0, nil, fmt.Errorf("envelope: parse inner: body length: %w", wire.ErrMalformed)
	}
	// Padding: everything after the body is zero, and the body does not fit
	// a smaller bucket (one encoding per body).
	if !allZero(s) {
		return 0, nil, fmt.Errorf("envelope: parse inner: nonzero padding: %w", wire.ErrMalformed)
	}
	if b, _ := BucketFor(len(body)); b != len(padded) {
		return 0, nil, fmt.Errorf("envelope: parse inner: body fits a smaller bucket: %w", wire.ErrMalformed)
	}
	return Kind(k), body[:len(body):len(body)], nil
}
