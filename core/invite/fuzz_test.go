package invite

import (
	"bytes"
	"strings"
	"testing"

	"github.com/parley-im/parley/internal/vectortest"
)

// The fuzz targets parse at t0, the vectors' creation time.

// FuzzParse checks that Parse never panics, returns nil on error, and that
// any text it accepts is exactly what Text produces.
func FuzzParse(f *testing.F) {
	for _, v := range readVectors(f) {
		f.Add(v.Text)
	}
	f.Add("")                                // empty
	f.Add(Prefix)                            // prefix only
	f.Add("PARLEY:")                         // upper-case prefix
	f.Add(Prefix + "aaaa")                   // too short for a checksum
	f.Add(Prefix + "aaaaaaa")                // 4 bytes: checksum only
	f.Add(Prefix + "mfrgg===")               // padded
	f.Add(Prefix + "mfrg\ngzdf")             // line break
	f.Add(Prefix + strings.Repeat("7", 100)) // all ones
	f.Fuzz(func(t *testing.T, text string) {
		inv, err := Parse(text, t0)
		if err != nil {
			if inv != nil {
				t.Fatal("non-nil invite with an error")
			}
			return
		}
		if inv.Text() != text {
			t.Fatalf("re-encoding differs:\n%s\n%s", inv.Text(), text)
		}
	})
}

// FuzzParseBinary feeds ParseBytes twice: the input as given (the checksum
// rejects almost everything, as it should), and the input with its checksum
// appended, so the fuzzer reaches the structure and signature checks behind
// it. Anything accepted must re-encode byte for byte.
func FuzzParseBinary(f *testing.F) {
	for _, v := range readVectors(f) {
		b := vectortest.Unhex(f, v.Bytes)
		f.Add(b[:len(b)-ChecksumSize]) // the signed binary, checksum stripped
	}
	f.Add([]byte{})                                  // empty
	f.Add([]byte{0x60, 0x01})                        // header only
	f.Add([]byte{0x60, 0x02})                        // unknown version
	f.Add([]byte{0x12, 0x01})                        // a bundle's tag
	f.Add(bytes.Repeat([]byte{0xff}, MaxInviteSize)) // largest, all ones
	f.Fuzz(func(t *testing.T, m []byte) {
		for _, b := range [][]byte{m, withChecksum(m)} {
			inv, err := ParseBytes(b, t0)
			if err != nil {
				if inv != nil {
					t.Fatal("non-nil invite with an error")
				}
				continue
			}
			if !bytes.Equal(inv.Bytes(), b) {
				t.Fatalf("re-encoding differs")
			}
		}
	})
}
