package pow

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/internal/vectortest"
)

// FuzzParseStamp checks that ParseStamp never panics, returns nil on error,
// and re-encodes anything it accepts byte for byte.
func FuzzParseStamp(f *testing.F) {
	for _, v := range readVectors(f) {
		f.Add(vectortest.Unhex(f, v.Stamp))
	}
	f.Add([]byte{})                                                               // empty
	f.Add([]byte{0x50, 0x01})                                                     // header only
	f.Add(bytes.Repeat([]byte{0xff}, StampSize))                                  // bits 255, wrong tag
	f.Add(append([]byte{0x50, 0x01}, make([]byte, 17)...))                        // all-zero fields
	f.Add(append([]byte{0x50, 0x02}, make([]byte, 17)...))                        // unknown version
	f.Add(append([]byte{0x50, 0x01}, make([]byte, 18)...))                        // one trailing byte
	f.Add([]byte{0x50, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 33, 0, 0, 0, 0, 0, 0, 0, 0}) // bits MaxBits+1
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ParseStamp(b)
		if err != nil {
			if st != nil {
				t.Fatal("non-nil stamp with an error")
			}
			return
		}
		if !bytes.Equal(st.Marshal(), b) {
			t.Fatalf("re-encoding %x differs from input %x", st.Marshal(), b)
		}
		if st.Bits > MaxBits {
			t.Fatalf("accepted bits %d", st.Bits)
		}
	})
}
