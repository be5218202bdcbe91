package addr

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"strings"
	"testing"

	"github.com/parley-im/parley/core/wire"
)

// testKey is the key 00 01 02 … 1f.
func testKey(t testing.TB) RelayKey {
	t.Helper()
	b := make([]byte, KeySize)
	for i := range b {
		b[i] = byte(i)
	}
	k, err := RelayKeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// onionName returns the v3 onion name of pub.
func onionName(pub [32]byte) string {
	h := sha3.New256()
	h.Write([]byte(".onion checksum"))
	h.Write(pub[:])
	h.Write([]byte{3})
	sum := h.Sum(nil)
	return encoding.EncodeToString(append(append(pub[:], sum[:2]...), 3)) + ".onion"
}

func TestKeyEncoding(t *testing.T) {
	k := testKey(t)
	const want = "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq"
	if got := k.String(); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
	if len(want) != EncodedKeySize {
		t.Fatalf("EncodedKeySize = %d, encoding is %d", EncodedKeySize, len(want))
	}
	back, err := ParseRelayKey(want)
	if err != nil || back != k {
		t.Fatalf("ParseRelayKey round trip: %v", err)
	}
	bad := []string{
		strings.ToUpper(want),   // upper case
		want[:51],               // short
		want + "a",              // long
		want[:51] + "r",         // non-zero padding bits in the last character
		want[:51] + "1",         // not in the alphabet
		want[:50] + "==",        // padding
		strings.Repeat(" ", 52), // spaces
	}
	for _, s := range bad {
		if _, err := ParseRelayKey(s); !errors.Is(err, wire.ErrMalformed) || !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRelayKey(%q) = %v, want ErrMalformed", s, err)
		}
	}
	if _, err := RelayKeyFromBytes(make([]byte, 31)); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("RelayKeyFromBytes(31 bytes) = %v", err)
	}
	if b := k.Bytes(); b[31] != 31 {
		t.Fatal("Bytes")
	} else {
		b[0] = 0xff
		if k.Bytes()[0] != 0 {
			t.Fatal("Bytes aliases the key")
		}
	}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	k := testKey(t).String()
	var pub [32]byte
	pub[0] = 7
	onion := onionName(pub)
	tests := []struct {
		in   string
		host string
		port uint16
	}{
		{"parley-relay://" + k + "@127.0.0.1:7777", "127.0.0.1", 7777},
		{"parley-relay://" + k + "@[::1]:1", "::1", 1},
		{"parley-relay://" + k + "@[2001:db8::1]:65535", "2001:db8::1", 65535},
		{"parley-relay://" + k + "@relay.example.org:443", "relay.example.org", 443},
		{"parley-relay://" + k + "@a:80", "a", 80},
		{"parley-relay://" + k + "@xn--bcher-kva.example:80", "xn--bcher-kva.example", 80},
		{"parley-relay://" + k + "@" + onion + ":9000", onion, 9000},
		{"parley-relay://" + k + "@1host.example:9", "1host.example", 9},
	}
	for _, tc := range tests {
		a, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if a.Host != tc.host || a.Port != tc.port || a.Key.String() != k {
			t.Errorf("Parse(%q) = %+v", tc.in, a)
		}
		if a.String() != tc.in {
			t.Errorf("String() = %q, want %q", a.String(), tc.in)
		}
		b, err := a.MarshalText()
		if err != nil || string(b) != tc.in {
			t.Errorf("MarshalText = %q, %v", b, err)
		}
		var u Address
		if err := u.UnmarshalText(b); err != nil || u != a {
			t.Errorf("UnmarshalText = %+v, %v", u, err)
		}
		n, err := New(a.Key, a.Host, a.Port)
		if err != nil || n != a {
			t.Errorf("New(%+v) = %v", a, err)
		}
	}
	if got := (Address{Host: "::1", Port: 5}).HostPort(); got != "[::1]:5" {
		t.Errorf("HostPort = %q", got)
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	k := testKey(t).String()
	p := "parley-relay://" + k + "@"
	var pub [32]byte
	onion := onionName(pub)
	badOnion := []byte(onion)
	badOnion[3] ^= 1 // checksum mismatch
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", wire.ErrMalformed},
		{"too long", p + strings.Repeat("a", MaxSize) + ":1", wire.ErrTooLarge},
		{"scheme upper", "PARLEY-RELAY://" + k + "@127.0.0.1:1", wire.ErrMalformed},
		{"other scheme", "parley-invite://" + k + "@127.0.0.1:1", wire.ErrMalformed},
		{"no at", "parley-relay://" + k + "127.0.0.1:1", wire.ErrMalformed},
		{"bad key", "parley-relay://" + k[:51] + "@127.0.0.1:1", wire.ErrMalformed},
		{"upper key", "parley-relay://" + strings.ToUpper(k) + "@127.0.0.1:1", wire.ErrMalformed},
		{"no port", p + "127.0.0.1", wire.ErrMalformed},
		{"empty port", p + "127.0.0.1:", wire.ErrMalformed},
		{"port 0", p + "127.0.0.1:0", wire.ErrMalformed},
		{"port leading zero", p + "127.0.0.1:080", wire.ErrMalformed},
		{"port sign", p + "127.0.0.1:+80", wire.ErrMalformed},
		{"port too big", p + "127.0.0.1:65536", wire.ErrMalformed},
		{"port six digits", p + "127.0.0.1:100000", wire.ErrMalformed},
		{"empty host", p + ":80", wire.ErrMalformed},
		{"ipv4 leading zero", p + "127.0.0.01:80", wire.ErrMalformed},
		{"ipv4 short", p + "10.1:80", wire.ErrMalformed},
		{"numeric name", p + "1234:80", wire.ErrMalformed},
		{"ipv6 no brackets", p + "::1:80", wire.ErrMalformed},
		{"ipv6 not canonical", p + "[0::1]:80", wire.ErrMalformed},
		{"ipv6 upper", p + "[2001:DB8::1]:80", wire.ErrMalformed},
		{"ipv6 zone", p + "[fe80::1%eth0]:80", wire.ErrMalformed},
		{"ipv4 mapped", p + "[::ffff:127.0.0.1]:80", wire.ErrMalformed},
		{"ipv4 in brackets", p + "[127.0.0.1]:80", wire.ErrMalformed},
		{"unclosed bracket", p + "[::1:80", wire.ErrMalformed},
		{"upper host", p + "Relay.example:80", wire.ErrMalformed},
		{"underscore", p + "re_lay.example:80", wire.ErrMalformed},
		{"empty label", p + "relay..example:80", wire.ErrMalformed},
		{"trailing dot", p + "relay.example.:80", wire.ErrMalformed},
		{"hyphen start", p + "-relay.example:80", wire.ErrMalformed},
		{"hyphen end", p + "relay-.example:80", wire.ErrMalformed},
		{"long label", p + strings.Repeat("a", 64) + ".example:80", wire.ErrMalformed},
		{"space", p + "relay example:80", wire.ErrMalformed},
		{"userinfo", p + "a@b:80", wire.ErrMalformed},
		{"path", p + "relay.example:80/x", wire.ErrMalformed},
		{"onion checksum", p + string(badOnion) + ":80", wire.ErrMalformed},
		{"onion short", p + "abc.onion:80", wire.ErrMalformed},
		{"onion subdomain", p + "www." + onion + ":80", wire.ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := Parse(tc.in)
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse(%q) = %+v, %v; want %v", tc.in, a, err, tc.want)
			}
			if a != (Address{}) {
				t.Fatalf("non-zero address with error: %+v", a)
			}
		})
	}
}

func TestNewRejects(t *testing.T) {
	k := testKey(t)
	for _, tc := range []struct {
		key  RelayKey
		host string
		port uint16
	}{
		{RelayKey{}, "127.0.0.1", 1},
		{k, "127.0.0.1", 0},
		{k, "", 1},
		{k, "0.0.0.0.0", 1},
		{k, strings.Repeat("a.", 100) + "a", 1},
	} {
		if _, err := New(tc.key, tc.host, tc.port); !errors.Is(err, ErrInvalid) {
			t.Errorf("New(%v, %q, %d) = %v", tc.key, tc.host, tc.port, err)
		}
		if _, err := (Address{Key: tc.key, Host: tc.host, Port: tc.port}).MarshalText(); err == nil {
			t.Errorf("MarshalText accepted %q %d", tc.host, tc.port)
		}
	}
}

// TestMaxHostFits checks that the longest host New accepts still gives an
// address Parse accepts.
func TestMaxHostFits(t *testing.T) {
	k := testKey(t)
	host := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", MaxHostSize-128)
	if len(host) != MaxHostSize {
		t.Fatalf("host is %d bytes", len(host))
	}
	a, err := New(k, host, 65535)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.String()) != MaxSize {
		t.Fatalf("address is %d bytes, want %d", len(a.String()), MaxSize)
	}
	if b, err := Parse(a.String()); err != nil || b != a {
		t.Fatal(err)
	}
	if _, err := New(k, host+"c", 1); !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
}

func TestRelayKeyDistinctType(t *testing.T) {
	// A RelayKey is built only from exactly 32 bytes and prints as base32,
	// never as hex or a Go array, so it cannot be mistaken for a token or
	// an identity key in logs.
	k := testKey(t)
	if bytes.Contains([]byte(k.String()), []byte("[")) {
		t.Fatal(k.String())
	}
}

func TestZeroKeyRejected(t *testing.T) {
	zero := strings.Repeat("a", EncodedKeySize)
	if _, err := ParseRelayKey(zero); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("ParseRelayKey(zero) = %v", err)
	}
	if _, err := Parse("parley-relay://" + zero + "@127.0.0.1:1"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Parse(zero key) = %v", err)
	}
}
