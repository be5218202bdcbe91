package proto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// seedVectors adds every known-answer message to f.
func seedVectors(f *testing.F) {
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		f.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(b, &vs); err != nil {
		f.Fatal(err)
	}
	for _, v := range vs {
		raw, err := hex.DecodeString(v.Message)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte{})                                              // empty
	f.Add([]byte{0x82, 0x01})                                    // deposit header only
	f.Add([]byte{0x84, 0x01, 0x00, 0x01, 0x40})                  // fetch claiming 64 tokens, none present
	f.Add([]byte{0x85, 0x01, 0x00, 0xff, 0xff})                  // items claiming 65535 items
	f.Add([]byte{0x86, 0x01})                                    // ack header only
	f.Add([]byte{0x8f, 0x01, 0x00, 0x00})                        // error code 0
	f.Add(append([]byte{0x81, 0x01, 0, 0}, make([]byte, 21)...)) // welcome with zero fields
}

// roundTrip checks the fuzz contract: nil on error, exact re-encoding on
// success.
func roundTrip[T interface{ Marshal() []byte }](t *testing.T, in []byte, m T, err error, isNil func(T) bool) {
	t.Helper()
	if err != nil {
		if !isNil(m) {
			t.Fatal("non-nil message with an error")
		}
		return
	}
	if !bytes.Equal(m.Marshal(), in) {
		t.Fatalf("re-encoding %x differs from input %x", m.Marshal(), in)
	}
}

// FuzzParseRequest checks ParseRequest: no panic, nil on error, exact
// re-encoding of whatever it accepts.
func FuzzParseRequest(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseRequest(b)
		roundTrip(t, b, m, err, func(r Request) bool { return r == nil })
	})
}

// FuzzParseResponse checks ParseResponse the same way.
func FuzzParseResponse(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseResponse(b)
		roundTrip(t, b, m, err, func(r Response) bool { return r == nil })
	})
}

// FuzzParseHello checks ParseHello the same way.
func FuzzParseHello(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseHello(b)
		roundTrip(t, b, m, err, func(h *Hello) bool { return h == nil })
	})
}

// FuzzParseWelcome checks ParseWelcome the same way.
func FuzzParseWelcome(f *testing.F) {
	seedVectors(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseWelcome(b)
		roundTrip(t, b, m, err, func(w *Welcome) bool { return w == nil })
	})
}

// FuzzParseAccessKey checks that ParseAccessKey never panics, returns nil
// on error, and re-encodes anything it accepts (less the optional newline).
func FuzzParseAccessKey(f *testing.F) {
	text, _ := fixedAccessKey().MarshalText()
	f.Add(text)                                 // valid
	f.Add(bytes.TrimSuffix(text, []byte("\n"))) // valid without newline
	f.Add([]byte(AccessKeyPrefix))              // prefix only
	f.Add(append(bytes.Clone(text), '\n'))      // two newlines
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseAccessKey(b)
		if err != nil {
			if k != nil {
				t.Fatal("key with an error")
			}
			return
		}
		out, _ := k.MarshalText()
		if !bytes.Equal(out, b) && !bytes.Equal(out, append(bytes.Clone(b), '\n')) {
			t.Fatalf("re-encoding %q differs from %q", out, b)
		}
	})
}
