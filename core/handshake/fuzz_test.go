package handshake_test

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/core/handshake"
	"github.com/parley-im/parley/internal/vectortest"
)

func FuzzParseInitMessage(f *testing.F) {
	var v handshakeVectors
	vectortest.Read(f, vectorDir+"handshake.json", &v)
	for _, c := range v.Cases {
		f.Add(vectortest.Unhex(f, c.InitMessage))
	}
	f.Add([]byte{})                                                   // empty
	f.Add([]byte{0x20, 0x01})                                         // header only
	f.Add(make([]byte, handshake.InitMessageSize))                    // right size, zero tag
	f.Add(bytes.Repeat([]byte{0x20}, handshake.MaxInitMessageSize+1)) // over the limit
	bob := newParty(f, "fuzz bob", 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := handshake.ParseInitMessage(b)
		if err != nil {
			if m != nil {
				t.Fatal("non-nil result with error")
			}
			return
		}
		if !bytes.Equal(m.Marshal(), b) {
			t.Fatal("accepted encoding does not round-trip")
		}
		// Responding to any parsed message never panics.
		if r, err := handshake.Respond(bob.id, bob.secrets, m, testNow); err != nil && r != nil {
			t.Fatal("non-nil result with error")
		}
	})
}
