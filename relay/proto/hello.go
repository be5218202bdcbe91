package proto

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/core/wire"
)

// AccessKeySize is the size of a private relay's access key.
const AccessKeySize = 32

// AccessKeyPrefix starts the text form of an access key, so the file says
// what it holds (STYLE.md §5).
const AccessKeyPrefix = "parley-relay-access-key:"

// accessKeyTextSize is the text form's length, newline included.
const accessKeyTextSize = len(AccessKeyPrefix) + (AccessKeySize*8+4)/5 + 1

var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrAccessKey is returned for a malformed access key text.
var ErrAccessKey = errors.New("proto: invalid access key")

type incomparable [0]func()

// AccessKey is the shared secret of a private relay: a client must present
// it in its hello. It is compared in constant time and never printed.
type AccessKey struct {
	_ incomparable
	k [AccessKeySize]byte
}

// GenerateAccessKey reads a new key from random (nil means crypto/rand).
func GenerateAccessKey(random io.Reader) (*AccessKey, error) {
	if random == nil {
		random = rand.Reader
	}
	k := new(AccessKey)
	if _, err := io.ReadFull(random, k.k[:]); err != nil {
		return nil, fmt.Errorf("proto: generate access key: %w", err)
	}
	return k, nil
}

// Equal reports whether k and o hold the same key, in constant time. A nil
// key equals nothing.
func (k *AccessKey) Equal(o *AccessKey) bool {
	if k == nil || o == nil {
		return false
	}
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

// MarshalText returns AccessKeyPrefix, the key in lowercase unpadded base32,
// and a newline: the access key file's content.
func (k *AccessKey) MarshalText() ([]byte, error) {
	out := append(make([]byte, 0, accessKeyTextSize), AccessKeyPrefix...)
	out = keyEncoding.AppendEncode(out, k.k[:])
	return append(out, '\n'), nil
}

// String never prints the key.
func (k *AccessKey) String() string { return "proto.AccessKey(redacted)" }

// GoString never prints the key.
func (k *AccessKey) GoString() string { return k.String() }

// ParseAccessKey parses the MarshalText form exactly; the trailing newline
// is optional so a key may be pasted on a command line.
func ParseAccessKey(text []byte) (*AccessKey, error) {
	t := strings.TrimSuffix(string(text), "\n")
	body, ok := strings.CutPrefix(t, AccessKeyPrefix)
	if !ok || len(t) != accessKeyTextSize-1 {
		return nil, ErrAccessKey
	}
	k := new(AccessKey)
	n, err := keyEncoding.Decode(k.k[:], []byte(body))
	if err != nil || n != AccessKeySize || keyEncoding.EncodeToString(k.k[:]) != body {
		return nil, ErrAccessKey
	}
	return k, nil
}

// Hello is the client's payload in the first handshake message:
// header || u8 n || access key (n is 0 or AccessKeySize).
type Hello struct {
	// AccessKey is nil for a public relay.
	AccessKey *AccessKey
}

// Marshal encodes the hello.
func (h *Hello) Marshal() []byte {
	return build(func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayHello)
		if h.AccessKey == nil {
			b.AddUint8(0)
			return
		}
		b.AddUint8(AccessKeySize)
		b.AddBytes(h.AccessKey.k[:])
	})
}

// ParseHello parses a hello.
func ParseHello(b []byte) (*Hello, error) {
	if err := wire.Check(b, MaxHelloSize); err != nil {
		return nil, fmt.Errorf("proto: parse hello: %w", err)
	}
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayHello, "hello"); err != nil {
		return nil, err
	}
	var n uint8
	if !s.ReadUint8(&n) || n != 0 && n != AccessKeySize {
		return nil, malformed("hello")
	}
	h := new(Hello)
	if n == AccessKeySize {
		h.AccessKey = new(AccessKey)
		if !s.CopyBytes(h.AccessKey.k[:]) {
			return nil, malformed("hello")
		}
	}
	if !s.Empty() {
		return nil, malformed("hello")
	}
	return h, nil
}

// Welcome is the relay's payload in the second handshake message. With
// Code CodeOK it carries the relay's policy and clock:
//
//	header || u16 0 || u8 pow bits || u32 max blob || u32 ttl seconds ||
//	u32 quota per token || u64 time
//
// otherwise only header || u16 code, and the relay closes the connection.
type Welcome struct {
	Code Code
	// PowBits is the stamp difficulty the relay requires, 1..pow.MaxBits.
	PowBits uint8
	// MaxBlob is the largest blob the relay stores, 1..wire.MaxBlobSize.
	MaxBlob uint32
	// TTL is how long an unacked item is kept, in seconds (at least 1).
	TTL uint32
	// QuotaPerToken is the most items one token may hold (at least 1).
	QuotaPerToken uint32
	// Time is the relay's clock in Unix seconds (non-zero), so a client
	// with a skewed clock can stamp in the relay's time.
	Time uint64
}

// Marshal encodes the welcome.
func (w *Welcome) Marshal() []byte {
	return build(func(b *cryptobyte.Builder) {
		wire.AddHeader(b, wire.TagRelayWelcome)
		b.AddUint16(uint16(w.Code))
		if w.Code != CodeOK {
			return
		}
		b.AddUint8(w.PowBits)
		b.AddUint32(w.MaxBlob)
		b.AddUint32(w.TTL)
		b.AddUint32(w.QuotaPerToken)
		b.AddUint64(w.Time)
	})
}

// ParseWelcome parses a welcome and checks every policy field's range.
func ParseWelcome(b []byte) (*Welcome, error) {
	if err := wire.Check(b, MaxHelloSize); err != nil {
		return nil, fmt.Errorf("proto: parse welcome: %w", err)
	}
	s := cryptobyte.String(b)
	if err := header(&s, wire.TagRelayWelcome, "welcome"); err != nil {
		return nil, err
	}
	w := new(Welcome)
	var c uint16
	if !s.ReadUint16(&c) {
		return nil, malformed("welcome")
	}
	w.Code = Code(c)
	if w.Code != CodeOK {
		if !s.Empty() {
			return nil, malformed("welcome")
		}
		return w, nil
	}
	if !s.ReadUint8(&w.PowBits) || !s.ReadUint32(&w.MaxBlob) || !s.ReadUint32(&w.TTL) ||
		!s.ReadUint32(&w.QuotaPerToken) || !s.ReadUint64(&w.Time) || !s.Empty() {
		return nil, malformed("welcome")
	}
	if w.PowBits < 1 || w.PowBits > pow.MaxBits || w.MaxBlob < 1 || w.MaxBlob > wire.MaxBlobSize ||
		w.TTL < 1 || w.QuotaPerToken < 1 || w.Time == 0 {
		return nil, malformed("welcome")
	}
	return w, nil
}
