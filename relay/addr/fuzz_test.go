package addr

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, returns the zero Address on
// error, and that anything it accepts formats back to the same text.
func FuzzParse(f *testing.F) {
	k := "aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq" // key 00 01 … 1f
	f.Add("parley-relay://" + k + "@127.0.0.1:7777")            // IPv4
	f.Add("parley-relay://" + k + "@[::1]:1")                   // IPv6
	f.Add("parley-relay://" + k + "@relay.example.org:443")     // DNS name
	f.Add("parley-relay://" + k + "@" + onionName([32]byte{}) + ":9000")
	f.Add("parley-relay://" + k + "@[0::1]:80")     // non-canonical IPv6
	f.Add("parley-relay://" + k + "@10.1:80")       // numeric last label
	f.Add("parley-relay://" + k + "@host:080")      // leading zero
	f.Add("parley-relay://" + k[:51] + "r@host:80") // padding bits set
	f.Add("parley-relay://" + k + "@" + strings.Repeat("a", 300) + ":1")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			if a != (Address{}) {
				t.Fatalf("non-zero address with error %v", err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if a.String() != s {
			t.Fatalf("String() = %q, input %q", a.String(), s)
		}
		if len(s) > MaxSize || a.Port == 0 || a.Key.IsZero() {
			t.Fatalf("accepted out-of-range address %q", s)
		}
		if _, err := New(a.Key, a.Host, a.Port); err != nil {
			t.Fatalf("New rejects parsed address: %v", err)
		}
	})
}
