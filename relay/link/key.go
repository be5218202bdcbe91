package link

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/addr"
)

// PrivateKeyPrefix starts the text form of a relay's static private key, so
// a key file says what it holds (STYLE.md §5).
const PrivateKeyPrefix = "parley-relay-private-key:"

// PrivateKeySize is the size of a relay's static X25519 private key.
const PrivateKeySize = 32

// privateKeyTextSize is the length of the text form, newline included.
const privateKeyTextSize = len(PrivateKeyPrefix) + addr.EncodedKeySize + 1

// keyEncoding is the relay address's base32 alphabet.
var keyEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// ErrPrivateKey is returned for a private key that cannot be used: a
// malformed key file, or a scalar whose public key is the all-zero point.
var ErrPrivateKey = errors.New("link: invalid relay private key")

// incomparable makes a struct unusable with ==.
type incomparable [0]func()

// PrivateKey is a relay's static Noise key pair (X25519). The relay address
// publishes its public half. It must be stored with file mode 0600.
type PrivateKey struct {
	_   incomparable
	k   [PrivateKeySize]byte
	pub addr.RelayKey
}

// GenerateKey reads a 32-byte X25519 scalar from rand (nil means
// crypto/rand) and returns the key pair.
func GenerateKey(random io.Reader) (*PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	var k [PrivateKeySize]byte
	if _, err := io.ReadFull(random, k[:]); err != nil {
		return nil, fmt.Errorf("link: generate key: %w", err)
	}
	defer clear(k[:])
	return newPrivateKey(k[:])
}

func newPrivateKey(b []byte) (*PrivateKey, error) {
	sk, err := ecdh.X25519().NewPrivateKey(b)
	if err != nil {
		return nil, ErrPrivateKey
	}
	pub, err := addr.RelayKeyFromBytes(sk.PublicKey().Bytes())
	if err != nil || pub.IsZero() {
		return nil, ErrPrivateKey
	}
	p := &PrivateKey{pub: pub}
	copy(p.k[:], b)
	return p, nil
}

// Public returns the relay key clients put in the address.
func (k *PrivateKey) Public() addr.RelayKey { return k.pub }

// Equal reports whether k and o are the same key, in constant time.
func (k *PrivateKey) Equal(o *PrivateKey) bool {
	return subtle.ConstantTimeCompare(k.k[:], o.k[:]) == 1
}

// MarshalText returns the key file form: PrivateKeyPrefix, the scalar in
// lowercase unpadded base32, and a newline.
func (k *PrivateKey) MarshalText() ([]byte, error) {
	out := make([]byte, 0, privateKeyTextSize)
	out = append(out, PrivateKeyPrefix...)
	out = keyEncoding.AppendEncode(out, k.k[:])
	return append(out, '\n'), nil
}

// String never prints the key.
func (k *PrivateKey) String() string { return "link.PrivateKey(public " + k.pub.String() + ")" }

// GoString never prints the key.
func (k *PrivateKey) GoString() string { return k.String() }

// ParsePrivateKey parses the MarshalText form exactly: a wrong prefix,
// length, alphabet or padding bits, or a missing newline, is rejected.
func ParsePrivateKey(text []byte) (*PrivateKey, error) {
	if len(text) != privateKeyTextSize {
		return nil, fmt.Errorf("%w: %w", ErrPrivateKey, wire.ErrMalformed)
	}
	body, ok := strings.CutPrefix(string(text), PrivateKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrPrivateKey, wire.ErrMalformed)
	}
	body, ok = strings.CutSuffix(body, "\n")
	if !ok {
		return nil, fmt.Errorf("%w: %w", ErrPrivateKey, wire.ErrMalformed)
	}
	var k [PrivateKeySize]byte
	defer clear(k[:])
	n, err := keyEncoding.Decode(k[:], []byte(body))
	if err != nil || n != PrivateKeySize || keyEncoding.EncodeToString(k[:]) != body {
		return nil, fmt.Errorf("%w: %w", ErrPrivateKey, wire.ErrMalformed)
	}
	return newPrivateKey(k[:])
}
