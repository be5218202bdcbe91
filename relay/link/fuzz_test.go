package link

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/flynn/noise"
)

// memConn is a net.Conn that reads from r and writes to w.
type memConn struct {
	r io.Reader
	w bytes.Buffer
}

func (c *memConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *memConn) Write(b []byte) (int, error)      { return c.w.Write(b) }
func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return nil }
func (c *memConn) RemoteAddr() net.Addr             { return nil }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// fixedKeys are the transport keys of a deterministic NK handshake run
// once in memory: client-to-server and server-to-client.
type fixedKeys struct{ c2s, s2c [32]byte }

func newFixedKeys(t testing.TB) fixedKeys {
	key, err := GenerateKey(seeded("fuzz-relay"))
	if err != nil {
		t.Fatal(err)
	}
	init, _ := noise.NewHandshakeState(noise.Config{CipherSuite: cipherSuite, Pattern: noise.HandshakeNK, Initiator: true,
		Prologue: []byte(Prologue), PeerStatic: key.Public().Bytes(), Random: seeded("fuzz-init")})
	resp, _ := noise.NewHandshakeState(noise.Config{CipherSuite: cipherSuite, Pattern: noise.HandshakeNK,
		Prologue: []byte(Prologue), StaticKeypair: noise.DHKey{Private: key.k[:], Public: key.Public().Bytes()}, Random: seeded("fuzz-resp")})
	m1, _, _, _ := init.WriteMessage(nil, nil)
	if _, _, _, err := resp.ReadMessage(nil, m1); err != nil {
		t.Fatal(err)
	}
	m2, _, _, _ := resp.WriteMessage(nil, nil)
	_, i1, i2, err := init.ReadMessage(nil, m2)
	if err != nil {
		t.Fatal(err)
	}
	return fixedKeys{c2s: i1.UnsafeKey(), s2c: i2.UnsafeKey()}
}

// pair returns a sending Conn (client side) and a receiving Conn (server
// side) at nonce 0, over memConns.
func (k fixedKeys) pair(in io.Reader) (send, recv *Conn) {
	cfg := Config{MaxRead: 3 * ChunkPayloadSize, MaxWrite: 3 * ChunkPayloadSize}
	c2s := func() *noise.CipherState { return noise.UnsafeNewCipherState(cipherSuite, k.c2s, 0) }
	s2c := func() *noise.CipherState { return noise.UnsafeNewCipherState(cipherSuite, k.s2c, 0) }
	return newConn(&memConn{}, c2s(), s2c(), &cfg), newConn(&memConn{r: in}, s2c(), c2s(), &cfg)
}

// frameOf returns the frame the fixed client sends for msg.
func frameOf(t testing.TB, k fixedKeys, msg []byte) []byte {
	send, _ := k.pair(nil)
	if err := send.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	return send.nc.(*memConn).w.Bytes()
}

// FuzzReadMessage checks that ReadMessage never panics on any byte stream,
// returns nil with every error, and that any message it accepts is exactly
// what the fixed client would have sent: re-encrypting it reproduces the
// consumed frame byte for byte.
func FuzzReadMessage(f *testing.F) {
	k := newFixedKeys(f)
	f.Add(frameOf(f, k, []byte{0x88, 0x01}))                          // a ping
	f.Add(frameOf(f, k, bytes.Repeat([]byte{7}, ChunkPayloadSize+1))) // two chunks
	f.Add(frameOf(f, k, bytes.Repeat([]byte{7}, 2*ChunkPayloadSize))) // two full chunks
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})                             // 4 GiB header
	f.Add([]byte{0, 0, 0, 16})                                        // tag only
	f.Add(append([]byte{0, 0, 0, 20}, make([]byte, 20)...))           // garbage chunk
	f.Add([]byte{0, 0})                                               // short header
	f.Add(append([]byte{0, 1, 0, 0x0f}, make([]byte, 65535+15)...))   // last chunk too short
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := bytes.NewReader(stream)
		_, recv := k.pair(r)
		msg, err := recv.ReadMessage()
		if err != nil {
			if msg != nil {
				t.Fatal("message with an error")
			}
			return
		}
		consumed := stream[:len(stream)-r.Len()]
		if again := frameOf(t, k, msg); !bytes.Equal(again, consumed) {
			t.Fatal("accepted frame does not re-encode to the same bytes")
		}
	})
}

// FuzzServerHandshake checks that the responder never panics on any first
// handshake message and never calls respond for one that fails.
func FuzzServerHandshake(f *testing.F) {
	key, err := GenerateKey(seeded("fuzz-relay"))
	if err != nil {
		f.Fatal(err)
	}
	init, _ := noise.NewHandshakeState(noise.Config{CipherSuite: cipherSuite, Pattern: noise.HandshakeNK, Initiator: true,
		Prologue: []byte(Prologue), PeerStatic: key.Public().Bytes(), Random: seeded("fuzz-init")})
	m1, _, _, _ := init.WriteMessage(nil, []byte("hello"))
	f.Add(append([]byte{0, 0, 0, byte(len(m1))}, m1...))    // a valid first message
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})                   // 4 GiB
	f.Add(append([]byte{0, 0, 0, 48}, make([]byte, 48)...)) // zero ephemeral
	f.Fuzz(func(t *testing.T, stream []byte) {
		nc := &memConn{r: bytes.NewReader(stream)}
		called := false
		c, err := Server(nc, key, Config{MaxRead: 100, MaxWrite: 100}, func(h []byte) ([]byte, bool) {
			called = true
			if len(h) > MaxHelloSize {
				t.Fatalf("hello of %d bytes", len(h))
			}
			return nil, true
		})
		if err != nil && c != nil {
			t.Fatal("conn with an error")
		}
		if err == nil && !called {
			t.Fatal("handshake completed without respond")
		}
	})
}

// FuzzParsePrivateKey checks that ParsePrivateKey never panics, returns nil
// on error, and re-encodes anything it accepts byte for byte.
func FuzzParsePrivateKey(f *testing.F) {
	k, err := GenerateKey(seeded("fuzz-key"))
	if err != nil {
		f.Fatal(err)
	}
	text, _ := k.MarshalText()
	f.Add(text)                                         // valid
	f.Add(text[:len(text)-1])                           // no newline
	f.Add([]byte(PrivateKeyPrefix))                     // prefix only
	f.Add(bytes.ToUpper(text))                          // upper case
	f.Add(append([]byte(PrivateKeyPrefix), 0xff, '\n')) // binary
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePrivateKey(b)
		if err != nil {
			if k != nil {
				t.Fatal("key with an error")
			}
			return
		}
		out, _ := k.MarshalText()
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding %q differs from %q", out, b)
		}
	})
}

// BenchmarkMessage encrypts, frames, reads and decrypts one message in
// memory (no network): the link's own cost per message.
func BenchmarkMessage(b *testing.B) {
	k := newFixedKeys(b)
	for _, size := range []int{1024, 66617} {
		b.Run(map[int]string{1024: "1KiB", 66617: "deposit-max"}[size], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(size))
			msg := make([]byte, size)
			pipe := &loopConn{}
			cfg := Config{MaxRead: MaxMessageSize, MaxWrite: MaxMessageSize}
			c2s := noise.UnsafeNewCipherState(cipherSuite, k.c2s, 0)
			c2s2 := noise.UnsafeNewCipherState(cipherSuite, k.c2s, 0)
			send := newConn(pipe, c2s, nil, &cfg)
			recv := newConn(pipe, nil, c2s2, &cfg)
			for b.Loop() {
				if err := send.WriteMessage(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := recv.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopConn reads back what was written to it.
type loopConn struct {
	memConn
	buf bytes.Buffer
}

func (c *loopConn) Read(b []byte) (int, error)  { return c.buf.Read(b) }
func (c *loopConn) Write(b []byte) (int, error) { return c.buf.Write(b) }
