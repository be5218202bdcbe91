// Package addr parses and formats relay addresses (docs/PROTOCOL.md §Relay,
// "Relay address", protocol version 1):
//
//	parley-relay://<key>@<host>:<port>
//
// key is the relay's static Noise public key (X25519, 32 bytes) in
// lowercase RFC 4648 base32 without padding (52 characters); host is a DNS
// name, a v3 onion name, a dotted IPv4 address or a bracketed IPv6 address;
// port is a decimal number 1..65535. Each address has exactly one accepted
// spelling: Parse rejects upper case, leading zeros, non-canonical base32
// and non-canonical IP text, so Parse(s).String() == s for every accepted s.
//
// The key gets its own type, RelayKey, so it cannot be passed where an
// identity or prekey is expected, and the "parley-relay://" scheme marks it
// in text (STYLE.md §5).
package addr

import (
	"bytes"
	"crypto/sha3"
	"encoding/base32"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/parley-im/parley/core/wire"
)

// Sizes and limits.
const (
	// Scheme starts every relay address.
	Scheme = "parley-relay://"
	// KeySize is the size of a relay's static X25519 public key.
	KeySize = 32
	// EncodedKeySize is the length of a key in base32 without padding.
	EncodedKeySize = (KeySize*8 + 4) / 5
	// MaxSize is the longest accepted address, checked before any parsing.
	MaxSize = wire.MaxRelayAddressSize
	// MaxHostSize is the longest host that fits in MaxSize with the longest
	// port.
	MaxHostSize = MaxSize - len(Scheme) - EncodedKeySize - len("@") - len(":65535")
	// maxLabelSize is the longest DNS label (RFC 1035 §2.3.4).
	maxLabelSize = 63
	// onionV3Size is the length of a v3 onion service name without
	// ".onion" (Tor rend-spec-v3 §6): base32 of pubkey(32) || checksum(2)
	// || version(1).
	onionV3Size = 56
)

// ErrInvalid is wrapped by every error Parse and New return, together with
// wire.ErrMalformed or wire.ErrTooLarge.
var ErrInvalid = errors.New("addr: invalid relay address")

// encoding is lowercase RFC 4648 base32 without padding.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// RelayKey is a relay's static Noise public key. It is public: knowing it
// lets a client authenticate the relay, nothing more.
type RelayKey struct {
	b [KeySize]byte
}

// RelayKeyFromBytes returns b as a RelayKey; b must be exactly KeySize
// bytes.
func RelayKeyFromBytes(b []byte) (RelayKey, error) {
	var k RelayKey
	if len(b) != KeySize {
		return RelayKey{}, fmt.Errorf("addr: relay key of %d bytes, want %d: %w", len(b), KeySize, wire.ErrMalformed)
	}
	copy(k.b[:], b)
	return k, nil
}

// Bytes returns a copy of the key's 32 bytes.
func (k RelayKey) Bytes() []byte { return bytes.Clone(k.b[:]) }

// IsZero reports whether k is the zero value (no key).
func (k RelayKey) IsZero() bool { return k == RelayKey{} }

// String returns the key in the address's base32 form.
func (k RelayKey) String() string { return encoding.EncodeToString(k.b[:]) }

// ParseRelayKey parses the 52-character base32 form of a key. It rejects
// anything but the canonical lowercase spelling, and the all-zero key.
func ParseRelayKey(s string) (RelayKey, error) {
	if len(s) != EncodedKeySize {
		return RelayKey{}, invalid("key", wire.ErrMalformed)
	}
	b, err := encoding.DecodeString(s)
	if err != nil || len(b) != KeySize || encoding.EncodeToString(b) != s {
		// Re-encoding rejects set padding bits in the last character.
		return RelayKey{}, invalid("key", wire.ErrMalformed)
	}
	k, err := RelayKeyFromBytes(b)
	if err != nil || k.IsZero() {
		return RelayKey{}, invalid("key", wire.ErrMalformed)
	}
	return k, nil
}

// Address is a parsed relay address.
type Address struct {
	// Key is the relay's static Noise public key.
	Key RelayKey
	// Host is a DNS or onion name, or IP address text without brackets.
	Host string
	// Port is the TCP port, 1..65535.
	Port uint16
}

// New checks host and port and returns the address of a relay with key.
func New(key RelayKey, host string, port uint16) (Address, error) {
	a := Address{Key: key, Host: host, Port: port}
	if key.IsZero() {
		return Address{}, invalid("key", wire.ErrMalformed)
	}
	if port == 0 {
		return Address{}, invalid("port", wire.ErrMalformed)
	}
	if err := checkHost(host); err != nil {
		return Address{}, err
	}
	if len(a.String()) > MaxSize {
		return Address{}, invalid("length", wire.ErrTooLarge)
	}
	return a, nil
}

// String formats a as parley-relay://<key>@<host>:<port>.
func (a Address) String() string { return Scheme + a.Key.String() + "@" + a.HostPort() }

// HostPort returns host:port as net.Dial expects it (IPv6 in brackets).
func (a Address) HostPort() string {
	h := a.Host
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(int(a.Port))
}

// MarshalText implements encoding.TextMarshaler.
func (a Address) MarshalText() ([]byte, error) {
	if a.Key.IsZero() || a.Port == 0 || checkHost(a.Host) != nil {
		return nil, invalid("fields", wire.ErrMalformed)
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with Parse.
func (a *Address) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// Parse parses a relay address. It checks the length first, then each part
// strictly; every error wraps ErrInvalid and wire.ErrMalformed or
// wire.ErrTooLarge.
func Parse(s string) (Address, error) {
	if len(s) > MaxSize {
		return Address{}, invalid("length", wire.ErrTooLarge)
	}
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return Address{}, invalid("scheme", wire.ErrMalformed)
	}
	keyText, hostPort, ok := strings.Cut(rest, "@")
	if !ok {
		return Address{}, invalid("missing @", wire.ErrMalformed)
	}
	key, err := ParseRelayKey(keyText)
	if err != nil {
		return Address{}, err
	}
	colon := strings.LastIndexByte(hostPort, ':')
	if colon < 0 {
		return Address{}, invalid("missing port", wire.ErrMalformed)
	}
	hostText, portText := hostPort[:colon], hostPort[colon+1:]
	port, err := parsePort(portText)
	if err != nil {
		return Address{}, err
	}
	host := hostText
	if strings.HasPrefix(hostText, "[") {
		inner, ok := strings.CutSuffix(hostText[1:], "]")
		if !ok || strings.IndexByte(inner, ':') < 0 {
			return Address{}, invalid("host", wire.ErrMalformed)
		}
		host = inner
	} else if strings.IndexByte(hostText, ':') >= 0 {
		return Address{}, invalid("host: IPv6 needs brackets", wire.ErrMalformed)
	}
	if err := checkHost(host); err != nil {
		return Address{}, err
	}
	return Address{Key: key, Host: host, Port: port}, nil
}

// parsePort accepts 1..65535 in decimal without sign or leading zeros.
func parsePort(s string) (uint16, error) {
	if len(s) == 0 || len(s) > 5 || s[0] == '0' {
		return 0, invalid("port", wire.ErrMalformed)
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, invalid("port", wire.ErrMalformed)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, invalid("port", wire.ErrMalformed)
	}
	return uint16(n), nil
}

// checkHost accepts a canonical IPv4 or IPv6 address (no zone, no
// IPv4-mapped IPv6), a v3 onion name, or a lowercase DNS name whose last
// label is not numeric.
func checkHost(h string) error {
	if len(h) == 0 {
		return invalid("empty host", wire.ErrMalformed)
	}
	if len(h) > MaxHostSize {
		return invalid("host", wire.ErrTooLarge)
	}
	if strings.IndexByte(h, ':') >= 0 {
		ip, err := netip.ParseAddr(h)
		if err != nil || !ip.Is6() || ip.Is4In6() || ip.Zone() != "" || ip.String() != h {
			return invalid("IPv6 host", wire.ErrMalformed)
		}
		return nil
	}
	labels := strings.Split(h, ".")
	last := labels[len(labels)-1]
	if isDigits(last) {
		// A name ending in a number is an IPv4 address or nothing, so that
		// no resolver reads "10.1" as an address and another as a name.
		ip, err := netip.ParseAddr(h)
		if err != nil || !ip.Is4() || ip.String() != h {
			return invalid("IPv4 host", wire.ErrMalformed)
		}
		return nil
	}
	for _, l := range labels {
		if !validLabel(l) {
			return invalid("host name", wire.ErrMalformed)
		}
	}
	if last == "onion" {
		if len(labels) != 2 || !validOnionV3(labels[0]) {
			return invalid("onion host", wire.ErrMalformed)
		}
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validLabel accepts 1..63 characters of a-z 0-9 '-', not starting or
// ending with '-' (RFC 1123 §2.1, lowercase only).
func validLabel(l string) bool {
	if len(l) == 0 || len(l) > maxLabelSize || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := range len(l) {
		c := l[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// validOnionV3 checks a v3 onion service name (Tor rend-spec-v3 §6):
// base32(pubkey || checksum || 0x03) with checksum =
// SHA3-256(".onion checksum" || pubkey || 0x03)[:2].
func validOnionV3(name string) bool {
	if len(name) != onionV3Size {
		return false
	}
	b, err := encoding.DecodeString(name)
	if err != nil || len(b) != 35 || b[34] != 3 || encoding.EncodeToString(b) != name {
		return false
	}
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(b[:32])
	h.Write([]byte{3})
	sum := h.Sum(nil)
	return sum[0] == b[32] && sum[1] == b[33]
}

// invalid builds a parse error naming the part that failed.
func invalid(part string, sentinel error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalid, part, sentinel)
}
