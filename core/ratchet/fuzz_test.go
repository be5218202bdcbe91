package ratchet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/internal/vectortest"
)

// fuzzVectors loads the known-answer vectors to seed the fuzzers.
func fuzzVectors(f *testing.F) *vectorFile {
	f.Helper()
	var v vectorFile
	vectortest.Read(f, vectorsPath, &v)
	return &v
}

// vectorMessages returns every encrypted message of the vectors.
func vectorMessages(v *vectorFile) [][]byte {
	var out [][]byte
	for _, ev := range v.Events {
		if ev.Op == "encrypt" {
			out = append(out, ev.Message)
		}
	}
	return out
}

// messageHeader returns the encoded header inside a message.
func messageHeader(m []byte) []byte {
	n := HeaderSize
	if m[4]&flagPQ != 0 {
		n = HeaderSizePQ
	}
	return m[wire.HeaderSize : wire.HeaderSize+n]
}

func FuzzParseHeader(f *testing.F) {
	v := fuzzVectors(f)
	for _, m := range vectorMessages(v) {
		f.Add(messageHeader(m))
	}
	f.Add([]byte{})                                                                    // empty
	f.Add([]byte{byte(wire.TagRatchetHeader), 1})                                      // tag and version only
	f.Add(append([]byte{byte(wire.TagRatchetHeader), 1, 0x02}, make([]byte, 40)...))   // unknown flag bit
	f.Add(append([]byte{byte(wire.TagRatchetHeader), 1, flagPQ}, make([]byte, 40)...)) // PQ flag, PQ part missing
	f.Add(append([]byte{byte(wire.TagRatchetMessage), 1, 0}, make([]byte, 40)...))     // wrong tag
	f.Fuzz(func(t *testing.T, b []byte) {
		var h header
		if err := parseHeader(b, &h); err != nil {
			if h.pq || h.kemPub != nil || h.ct != nil || h.n != 0 || h.pn != 0 {
				t.Fatal("header filled on error")
			}
			return
		}
		if !bytes.Equal(appendHeader(nil, &h), b) {
			t.Fatal("accepted header does not re-encode to its input")
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	v := fuzzVectors(f)
	for _, m := range vectorMessages(v) {
		f.Add([]byte(m))
	}
	f.Add([]byte{})                                     // empty
	f.Add([]byte{byte(wire.TagRatchetMessage), 1})      // tag and version only
	f.Add(bytes.Repeat([]byte{0xff}, MaxMessageSize+1)) // over the limit
	if m := vectorMessages(v)[0]; len(m) > 20 {
		short := bytes.Clone(m[:len(m)-1]) // length prefix promises one byte more
		f.Add(short)
		f.Add(append(bytes.Clone(m), 0)) // a trailing byte
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var h header
		ct, err := parseMessage(b, &h)
		if err != nil {
			if ct != nil || h.pq || h.kemPub != nil {
				t.Fatal("result filled on error")
			}
			return
		}
		out := append([]byte{byte(wire.TagRatchetMessage), wire.Version}, appendHeader(nil, &h)...)
		out = binary.BigEndian.AppendUint16(out, uint16(len(ct)))
		if !bytes.Equal(append(out, ct...), b) {
			t.Fatal("accepted message does not re-encode to its input")
		}
	})
}

func FuzzParseState(f *testing.F) {
	v := fuzzVectors(f)
	f.Add([]byte(v.InitiatorState))
	f.Add([]byte(v.ResponderState))
	f.Add([]byte{})                                           // empty
	f.Add([]byte{byte(wire.TagRatchetState), 1})              // tag and version only
	f.Add([]byte(v.InitiatorState[:len(v.InitiatorState)-1])) // truncated
	f.Add(append(bytes.Clone(v.ResponderState), 0, 0))        // trailing bytes
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseState(b)
		if err != nil {
			if s != nil {
				t.Fatal("state returned with an error")
			}
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("accepted state does not re-encode to its input")
		}
	})
}

// FuzzDecrypt decrypts arbitrary bytes with the responder's final state of
// the vectors (which still holds the key of the lost message 7): any error
// leaves the state unchanged, and a message that opens is refused as a
// duplicate the second time.
func FuzzDecrypt(f *testing.F) {
	v := fuzzVectors(f)
	for _, m := range vectorMessages(v) {
		f.Add([]byte(m))
	}
	f.Add([]byte{}) // empty
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseState(v.ResponderState)
		if err != nil {
			t.Fatal(err)
		}
		before := s.Marshal()
		pt, err := s.Decrypt(b)
		if err != nil {
			if pt != nil || !bytes.Equal(before, s.Marshal()) {
				t.Fatalf("error %v changed the state or returned plaintext", err)
			}
			return
		}
		if _, err := s.Decrypt(b); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("second decrypt: %v", err)
		}
	})
}
