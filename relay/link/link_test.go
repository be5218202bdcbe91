package link

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flynn/noise"

	"github.com/parley-im/parley/core/wire"
)

// seeded returns a deterministic random source for tests.
func seeded(name string) io.Reader {
	var seed [32]byte
	copy(seed[:], name)
	return rand.NewChaCha8(seed)
}

func testKey(t testing.TB, name string) *PrivateKey {
	t.Helper()
	k, err := GenerateKey(seeded(name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var testConfig = Config{HandshakeTimeout: 5 * time.Second, MaxRead: MaxMessageSize, MaxWrite: MaxMessageSize}

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { client.Close(); r.c.Close() })
	return client, r.c
}

// handshake connects a client and a server over loopback TCP.
func handshake(t testing.TB, key *PrivateKey, hello []byte, cfg Config) (*Conn, *Conn, []byte, []byte) {
	t.Helper()
	cn, sn := tcpPair(t)
	type res struct {
		c     *Conn
		hello []byte
		err   error
	}
	ch := make(chan res, 1)
	go func() {
		var got []byte
		c, err := Server(sn, key, cfg, func(h []byte) ([]byte, bool) {
			got = bytes.Clone(h)
			return []byte("welcome"), true
		})
		ch <- res{c, got, err}
	}()
	cc, welcome, err := Client(cn, key.Public(), hello, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return cc, r.c, welcome, r.hello
}

func TestProtocolName(t *testing.T) {
	if got := "Noise_NK_" + string(cipherSuite.Name()); got != ProtocolName {
		t.Fatalf("protocol name %q, want %q", got, ProtocolName)
	}
}

// TestNoiseVector replays the Noise_NK_25519_ChaChaPoly_BLAKE2s vector of
// the cacophony test suite (as shipped in flynn/noise's vectors.txt, empty
// prologue) through this package's cipher suite, including its crypto/ecdh
// X25519.
func TestNoiseVector(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	respStatic := h("0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
	initEph := h("202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
	respEph := h("4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60")
	msgs := []struct{ payload, ct string }{
		{"", "358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd166254c796bf92e018434c9b2146fab78f30d0"},
		{"", "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466cb3abc71944afc6463300a32ba99b33d"},
		{"79656c6c6f777375626d6172696e65", "56a475d3db0d0d5931542a93e3cd57c7dc51b29fc6d0a7cea41aea05d99fe5"},
		{"7375626d6172696e6579656c6c6f77", "5c239eb65b5f0d0641f6c6c20aec65646626249f9194e4211a2f8e761c2d72"},
	}
	staticKP, err := ecdhX25519{}.GenerateKeypair(bytes.NewReader(respStatic))
	if err != nil {
		t.Fatal(err)
	}
	init, err := noise.NewHandshakeState(noise.Config{CipherSuite: cipherSuite, Pattern: noise.HandshakeNK, Initiator: true,
		PeerStatic: staticKP.Public, Random: bytes.NewReader(initEph)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noise.NewHandshakeState(noise.Config{CipherSuite: cipherSuite, Pattern: noise.HandshakeNK,
		StaticKeypair: staticKP, Random: bytes.NewReader(respEph)})
	if err != nil {
		t.Fatal(err)
	}
	m0, _, _, err := init.WriteMessage(nil, h(msgs[0].payload))
	if err != nil || !bytes.Equal(m0, h(msgs[0].ct)) {
		t.Fatalf("msg 0 = %x, %v", m0, err)
	}
	if _, _, _, err := resp.ReadMessage(nil, m0); err != nil {
		t.Fatal(err)
	}
	m1, rs1, rs2, err := resp.WriteMessage(nil, h(msgs[1].payload))
	if err != nil || !bytes.Equal(m1, h(msgs[1].ct)) {
		t.Fatalf("msg 1 = %x, %v", m1, err)
	}
	_, is1, is2, err := init.ReadMessage(nil, m1)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := is1.Encrypt(nil, nil, h(msgs[2].payload))
	if !bytes.Equal(m2, h(msgs[2].ct)) {
		t.Fatalf("msg 2 = %x", m2)
	}
	if p, err := rs1.Decrypt(nil, nil, m2); err != nil || !bytes.Equal(p, h(msgs[2].payload)) {
		t.Fatal("msg 2 decrypt", err)
	}
	m3, _ := rs2.Encrypt(nil, nil, h(msgs[3].payload))
	if !bytes.Equal(m3, h(msgs[3].ct)) {
		t.Fatalf("msg 3 = %x", m3)
	}
	if p, err := is2.Decrypt(nil, nil, m3); err != nil || !bytes.Equal(p, h(msgs[3].payload)) {
		t.Fatal("msg 3 decrypt", err)
	}
}

// TestDHRejectsLowOrder checks that the DH function refuses the all-zero
// output of a low-order public key.
func TestDHRejectsLowOrder(t *testing.T) {
	kp, err := ecdhX25519{}.GenerateKeypair(seeded("dh"))
	if err != nil {
		t.Fatal(err)
	}
	zero := make([]byte, 32)
	one := make([]byte, 32)
	one[0] = 1
	for _, pub := range [][]byte{zero, one} {
		if out, err := (ecdhX25519{}).DH(kp.Private, pub); err == nil {
			t.Fatalf("DH with low-order %x = %x, want error", pub, out)
		}
	}
	if _, err := (ecdhX25519{}).DH(kp.Private, make([]byte, 31)); err == nil {
		t.Fatal("DH accepted a 31-byte key")
	}
	if _, err := (ecdhX25519{}).GenerateKeypair(bytes.NewReader(nil)); err == nil {
		t.Fatal("GenerateKeypair with an empty source")
	}
}

// TestDHMatchesXCrypto compares crypto/ecdh X25519 with flynn/noise's own
// x/crypto DH on random keys.
func TestDHMatchesXCrypto(t *testing.T) {
	r := seeded("dh-match")
	for range 50 {
		a, _ := ecdhX25519{}.GenerateKeypair(r)
		b, _ := noise.DH25519.GenerateKeypair(r)
		mine, err1 := ecdhX25519{}.DH(a.Private, b.Public)
		theirs, err2 := noise.DH25519.DH(a.Private, b.Public)
		if err1 != nil || err2 != nil || !bytes.Equal(mine, theirs) {
			t.Fatalf("DH mismatch: %x %x %v %v", mine, theirs, err1, err2)
		}
		pub2, _ := noise.DH25519.GenerateKeypair(bytes.NewReader(a.Private))
		if !bytes.Equal(pub2.Public, a.Public) {
			t.Fatal("public key mismatch")
		}
	}
}

func TestRoundTrip(t *testing.T) {
	key := testKey(t, "relay")
	cc, sc, welcome, hello := handshake(t, key, []byte("hello"), testConfig)
	if string(welcome) != "welcome" || string(hello) != "hello" {
		t.Fatalf("payloads %q %q", welcome, hello)
	}
	sizes := []int{1, 2, ChunkPayloadSize - 1, ChunkPayloadSize, ChunkPayloadSize + 1,
		2 * ChunkPayloadSize, 2*ChunkPayloadSize + 1, 70000, MaxMessageSize}
	r := seeded("payload")
	for _, n := range sizes {
		msg := make([]byte, n)
		r.Read(msg)
		for _, dir := range []struct {
			name string
			w, r *Conn
		}{{"client->server", cc, sc}, {"server->client", sc, cc}} {
			errc := make(chan error, 1)
			go func() { errc <- dir.w.WriteMessage(msg) }()
			got, err := dir.r.ReadMessage()
			if err != nil {
				t.Fatalf("%s %d bytes: %v", dir.name, n, err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatalf("%s %d bytes: mismatch", dir.name, n)
			}
		}
	}
}

func TestFrameSize(t *testing.T) {
	for _, tc := range []struct{ n, want int }{
		{0, TagSize}, {1, 1 + TagSize}, {ChunkPayloadSize, ChunkSize},
		{ChunkPayloadSize + 1, ChunkPayloadSize + 1 + 2*TagSize},
	} {
		if got := FrameSize(tc.n); got != tc.want {
			t.Errorf("FrameSize(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		size int
		n    int
		ok   bool
	}{
		{0, 0, false}, {TagSize, 0, false}, {TagSize + 1, 1, true}, {ChunkSize, 1, true},
		{ChunkSize + TagSize, 2, false}, {ChunkSize + TagSize + 1, 2, true},
		{2*ChunkSize + 5, 3, false},
	} {
		n, ok := chunkCount(tc.size)
		if ok != tc.ok || ok && n != tc.n {
			t.Errorf("chunkCount(%d) = %d, %v; want %d, %v", tc.size, n, ok, tc.n, tc.ok)
		}
	}
}

// TestWriteLimits checks that a side refuses to send empty or oversized
// messages.
func TestWriteLimits(t *testing.T) {
	cfg := testConfig
	cfg.MaxWrite = 100
	cc, _, _, _ := handshake(t, testKey(t, "relay"), nil, cfg)
	if err := cc.WriteMessage(nil); err == nil {
		t.Fatal("empty message accepted")
	}
	if err := cc.WriteMessage(make([]byte, 101)); err == nil {
		t.Fatal("101-byte message accepted with MaxWrite 100")
	}
}

// rawFrame writes a frame header and body straight to a socket.
func rawFrame(t testing.TB, w io.Writer, size uint32, body []byte) {
	t.Helper()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], size)
	if _, err := w.Write(append(hdr[:], body...)); err != nil {
		t.Fatal(err)
	}
}

// TestHugeFrameHeader checks that a frame claiming 4 GiB is refused from its
// header alone: nothing near its size is allocated, and the error sticks.
func TestHugeFrameHeader(t *testing.T) {
	cfg := testConfig
	cfg.MaxRead = 70000
	cc, sc, _, _ := handshake(t, testKey(t, "relay"), nil, cfg)
	rawFrame(t, cc.NetConn(), 0xffffffff, nil)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := sc.ReadMessage()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("ReadMessage = %v, want ErrFrameTooLarge", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 64<<10 {
		t.Fatalf("allocated %d bytes for a rejected frame", d)
	}
	if _, err2 := sc.ReadMessage(); !errors.Is(err2, ErrFrameTooLarge) {
		t.Fatalf("error not sticky: %v", err2)
	}
	// One byte over the limit is refused the same way.
	cc2, sc2, _, _ := handshake(t, testKey(t, "relay"), nil, cfg)
	rawFrame(t, cc2.NetConn(), uint32(FrameSize(70000)+1), nil)
	if _, err := sc2.ReadMessage(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("limit+1: %v", err)
	}
}

func TestMalformedFrames(t *testing.T) {
	for _, size := range []uint32{0, 1, TagSize, ChunkSize + TagSize} {
		cc, sc, _, _ := handshake(t, testKey(t, "relay"), nil, testConfig)
		rawFrame(t, cc.NetConn(), size, make([]byte, size))
		if _, err := sc.ReadMessage(); !errors.Is(err, ErrFrame) || !errors.Is(err, wire.ErrMalformed) {
			t.Fatalf("size %d: %v, want ErrFrame", size, err)
		}
	}
}

// TestTamper flips each of a few bits of a frame in flight and truncates it;
// the reader must fail with ErrAuth (or a short read), never return data.
func TestTamper(t *testing.T) {
	msg := bytes.Repeat([]byte("x"), 100)
	for _, pos := range []int{4, 5, 50, 4 + 100, 4 + 115} {
		cc, sc, _, _ := handshake(t, testKey(t, "relay"), nil, testConfig)
		// Encrypt through a Conn that writes into a buffer.
		var buf bytes.Buffer
		saved := cc.nc
		cc.nc = writerConn{Conn: saved, w: &buf}
		if err := cc.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		frame := buf.Bytes()
		frame[pos] ^= 0x01
		if _, err := saved.Write(frame); err != nil {
			t.Fatal(err)
		}
		got, err := sc.ReadMessage()
		if !errors.Is(err, ErrAuth) || got != nil {
			t.Fatalf("flip at %d: %q, %v; want ErrAuth", pos, got, err)
		}
		if _, err := sc.ReadMessage(); !errors.Is(err, ErrAuth) {
			t.Fatalf("error not sticky: %v", err)
		}
	}
	// A replayed frame fails too: the nonce has moved on.
	cc, sc, _, _ := handshake(t, testKey(t, "relay"), nil, testConfig)
	var buf bytes.Buffer
	saved := cc.nc
	cc.nc = writerConn{Conn: saved, w: &buf}
	if err := cc.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	frame := buf.Bytes()
	saved.Write(frame)
	saved.Write(frame)
	if _, err := sc.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.ReadMessage(); !errors.Is(err, ErrAuth) {
		t.Fatalf("replayed frame: %v", err)
	}
}

type writerConn struct {
	net.Conn
	w io.Writer
}

func (c writerConn) Write(b []byte) (int, error) { return c.w.Write(b) }

// TestWrongRelayKey checks that a client holding another relay's key cannot
// complete a handshake: the server fails with the opaque ErrHandshake.
func TestWrongRelayKey(t *testing.T) {
	cn, sn := tcpPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := Server(sn, testKey(t, "relay"), testConfig, func([]byte) ([]byte, bool) { return nil, true })
		sn.Close()
		errc <- err
	}()
	_, _, cerr := Client(cn, testKey(t, "other").Public(), []byte("hi"), testConfig)
	if err := <-errc; !errors.Is(err, ErrHandshake) {
		t.Fatalf("server: %v, want ErrHandshake", err)
	}
	if cerr == nil {
		t.Fatal("client completed a handshake with the wrong key")
	}
}

// TestWrongPrologue checks that the prologue is bound: a Noise NK client with
// another prologue fails.
func TestWrongPrologue(t *testing.T) {
	key := testKey(t, "relay")
	cn, sn := tcpPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := Server(sn, key, testConfig, func([]byte) ([]byte, bool) { return nil, true })
		errc <- err
	}()
	hs, _ := noise.NewHandshakeState(noise.Config{CipherSuite: cipherSuite, Pattern: noise.HandshakeNK, Initiator: true,
		Prologue: []byte("parley/v2/relay/link"), PeerStatic: key.Public().Bytes()})
	m, _, _, _ := hs.WriteMessage(nil, nil)
	writeHandshakeFrame(cn, m)
	if err := <-errc; !errors.Is(err, ErrHandshake) {
		t.Fatalf("server: %v, want ErrHandshake", err)
	}
}

// TestBadHandshakes feeds the server garbage: random bytes, a header
// claiming 4 GiB, short messages and a low-order ephemeral key.
func TestBadHandshakes(t *testing.T) {
	key := testKey(t, "relay")
	lowOrder := make([]byte, MinHandshakeMessageSize) // all-zero e
	tests := []struct {
		name string
		raw  []byte
		want error
	}{
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), ErrFrameTooLarge},
		{"4 GiB", []byte{0xff, 0xff, 0xff, 0xff}, ErrFrameTooLarge},
		{"257", []byte{0, 0, 1, 1}, ErrFrameTooLarge},
		{"short", append([]byte{0, 0, 0, 10}, make([]byte, 10)...), ErrHandshake},
		{"random", append([]byte{0, 0, 0, 80}, bytes.Repeat([]byte{0x5a}, 80)...), ErrHandshake},
		{"low order e", append([]byte{0, 0, 0, byte(len(lowOrder))}, lowOrder...), ErrHandshake},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cn, sn := tcpPair(t)
			errc := make(chan error, 1)
			go func() {
				_, err := Server(sn, key, testConfig, func([]byte) ([]byte, bool) { return nil, true })
				errc <- err
			}()
			cn.Write(tc.raw)
			if err := <-errc; !errors.Is(err, tc.want) {
				t.Fatalf("server: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestHandshakeTimeout checks that a client sending nothing, or dribbling
// bytes, is cut off after the handshake timeout (slowloris).
func TestHandshakeTimeout(t *testing.T) {
	cfg := testConfig
	cfg.HandshakeTimeout = 300 * time.Millisecond
	for _, dribble := range []bool{false, true} {
		cn, sn := tcpPair(t)
		errc := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := Server(sn, testKey(t, "relay"), cfg, func([]byte) ([]byte, bool) { return nil, true })
			errc <- err
		}()
		if dribble {
			go func() {
				cn.Write([]byte{0, 0, 0, 80})
				for range 20 {
					if _, err := cn.Write([]byte{1}); err != nil {
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
		err := <-errc
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("dribble=%v: %v, want a timeout", dribble, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("timed out after %v", d)
		}
	}
}

func TestRejected(t *testing.T) {
	cn, sn := tcpPair(t)
	errc := make(chan error, 1)
	go func() {
		_, err := Server(sn, testKey(t, "relay"), testConfig, func([]byte) ([]byte, bool) { return []byte("no"), false })
		errc <- err
	}()
	_, welcome, err := Client(cn, testKey(t, "relay").Public(), nil, testConfig)
	if err != nil || string(welcome) != "no" {
		t.Fatalf("client: %q %v", welcome, err)
	}
	if err := <-errc; !errors.Is(err, ErrRejected) {
		t.Fatalf("server: %v", err)
	}
}

func TestConfigChecks(t *testing.T) {
	cn, _ := tcpPair(t)
	for _, cfg := range []Config{{}, {MaxRead: 1}, {MaxRead: MaxMessageSize + 1, MaxWrite: 1}, {MaxRead: 1, MaxWrite: 1, HandshakeTimeout: -1}} {
		if _, _, err := Client(cn, testKey(t, "r").Public(), nil, cfg); err == nil {
			t.Errorf("Client accepted %+v", cfg)
		}
		if _, err := Server(cn, testKey(t, "r"), cfg, nil); err == nil {
			t.Errorf("Server accepted %+v", cfg)
		}
	}
	if _, _, err := Client(cn, testKey(t, "r").Public(), make([]byte, MaxHelloSize+1), testConfig); err == nil {
		t.Error("oversized hello accepted")
	}
}

func TestPrivateKeyText(t *testing.T) {
	k := testKey(t, "relay")
	text, err := k.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(text), PrivateKeyPrefix) || text[len(text)-1] != '\n' {
		t.Fatalf("text %q", text)
	}
	back, err := ParsePrivateKey(text)
	if err != nil || !back.Equal(k) || back.Public() != k.Public() {
		t.Fatalf("round trip: %v", err)
	}
	if strings.Contains(k.String(), string(text[len(PrivateKeyPrefix):len(text)-1])) {
		t.Fatal("String prints the private key")
	}
	bad := [][]byte{
		nil,
		text[:len(text)-1],              // no newline
		append(bytes.Clone(text), '\n'), // extra newline
		bytes.ToUpper(text),             // upper case
		[]byte(strings.Replace(string(text), "private", "public!", 1)),
		append([]byte("parley-relay-private-key:"), append(bytes.Repeat([]byte("a"), 51), 'b', '\n')...), // padding bits
	}
	for _, b := range bad {
		if _, err := ParsePrivateKey(b); !errors.Is(err, ErrPrivateKey) {
			t.Errorf("ParsePrivateKey(%q) = %v", b, err)
		}
	}
	if _, err := GenerateKey(bytes.NewReader(make([]byte, 5))); err == nil {
		t.Fatal("GenerateKey with a short source")
	}
}
