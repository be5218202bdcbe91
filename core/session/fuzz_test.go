package session_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/session"
)

func FuzzParsePayload(f *testing.F) {
	r := testrand.New("session fuzz payload")
	f.Add(text(f, r, "hello", t0).Marshal())
	f.Add(text(f, r, "", t0).Marshal()) // empty text
	_, rot := rotation(f, r, t0)
	f.Add(rot.Marshal())      // a rotation statement
	f.Add([]byte{0x70, 0x01}) // header only
	f.Add([]byte{0x70, 0x02}) // unknown version
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := session.ParsePayload(b)
		if err != nil {
			if p != nil {
				t.Fatal("non-nil payload with error")
			}
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("accepted payload does not re-encode byte for byte")
		}
	})
}

func FuzzParseConversation(f *testing.F) {
	p := newPair(f, "session fuzz conversation")
	f.Add(p.alice.Marshal())
	f.Add(p.bob.Marshal())
	f.Add([]byte{0x72, 0x01, 0x00}) // header and role only
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := session.ParseConversation(b)
		if err != nil {
			if c != nil {
				t.Fatal("non-nil conversation with error")
			}
			return
		}
		if !bytes.Equal(c.Marshal(), b) {
			t.Fatal("accepted conversation does not re-encode byte for byte")
		}
	})
}

// FuzzReceive feeds arbitrary blobs to a conversation at its own mailbox:
// nothing may panic, and nothing but the real blob may change the state.
func FuzzReceive(f *testing.F) {
	p := newPair(f, "session fuzz receive")
	r := testrand.New("session fuzz receive messages")
	now := t0.Add(3 * time.Minute)
	out, err := p.alice.Send(r, text(f, r, "seed", now), now)
	if err != nil {
		f.Fatal(err)
	}
	enc := p.bob.Marshal()
	f.Add(out.Blob)
	f.Add(out.Blob[:len(out.Blob)/2]) // truncated
	f.Add([]byte{})                   // empty
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := session.ParseConversation(enc)
		if err != nil {
			t.Fatal(err)
		}
		pl, err := c.Receive(address.Token(out.Token), b, now)
		if err != nil {
			if pl != nil {
				t.Fatal("payload with error")
			}
			if !bytes.Equal(c.Marshal(), enc) {
				t.Fatal("a rejected blob changed the conversation")
			}
			return
		}
		if !bytes.Equal(b, out.Blob) {
			t.Fatal("a blob other than the one sent was accepted")
		}
	})
}
