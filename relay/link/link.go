// Package link is the relay's secure channel (docs/PROTOCOL.md §Relay,
// "Link", protocol version 1): the Noise NK handshake
// (Noise_NK_25519_ChaChaPoly_BLAKE2s, revision 34 of the Noise Protocol
// Framework, github.com/flynn/noise) over TCP, and length-prefixed frames
// carrying Noise transport messages.
//
// NK authenticates the relay by its static key, which the client knows from
// the relay address; the client stays anonymous (it has no static key). Both
// handshake messages carry a payload: the first the client's hello, the
// second the relay's welcome (package proto defines both).
//
// Every frame is a big-endian u32 length followed by that many bytes. The
// length is checked against a named maximum before anything is allocated:
// MaxHandshakeMessageSize during the handshake, and the maximum for the
// connection's role afterwards. After the handshake a frame carries one
// application message, encrypted as one or more Noise transport messages
// ("chunks") of at most noise.MaxMsgLen (65535) bytes each, so every Noise
// message stays within the Noise limit while a message may be larger.
//
// Any failure (I/O, a frame over the limit, a malformed frame, an
// authentication failure) is final: the Conn returns the same error from
// then on, and the caller closes it.
package link

import (
	"bufio"
	"crypto/ecdh"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/flynn/noise"

	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/addr"
)

// Protocol constants (docs/PROTOCOL.md §Relay, "Link").
const (
	// ProtocolName is the Noise protocol name; the handshake hashes it.
	ProtocolName = "Noise_NK_25519_ChaChaPoly_BLAKE2s"
	// Prologue is the Noise prologue: both sides hash it into the
	// handshake, so a peer speaking another protocol or version fails.
	Prologue = "parley/v1/relay/link"
	// FrameHeaderSize is the size of a frame's length prefix (u32).
	FrameHeaderSize = 4
	// DHSize is the size of an X25519 public key in a handshake message.
	DHSize = 32
	// TagSize is the size of a ChaCha20-Poly1305 tag.
	TagSize = 16
	// ChunkSize is the largest Noise transport message (noise.MaxMsgLen).
	ChunkSize = 65535
	// ChunkPayloadSize is the plaintext carried by a full chunk.
	ChunkPayloadSize = ChunkSize - TagSize
	// MaxHandshakeMessageSize bounds each handshake frame's body.
	MaxHandshakeMessageSize = 256
	// MinHandshakeMessageSize is an ephemeral key plus an empty payload's
	// tag; NK's two messages are never shorter.
	MinHandshakeMessageSize = DHSize + TagSize
	// MaxHelloSize is the largest handshake payload that fits.
	MaxHelloSize = MaxHandshakeMessageSize - MinHandshakeMessageSize
	// MaxMessageSize bounds any application message on a Conn; each side
	// also sets a smaller limit for what it reads (Config.MaxRead).
	MaxMessageSize = 1 << 20
	// DefaultHandshakeTimeout bounds the whole handshake. It allows a slow
	// Tor circuit; a server under attack may set less.
	DefaultHandshakeTimeout = 20 * time.Second
)

// Errors. Every Noise failure during the handshake is ErrHandshake; every
// authentication failure afterwards is ErrAuth. Neither says more.
var (
	// ErrHandshake: the handshake failed (bad or short message, wrong relay
	// key, wrong prologue, a low-order ephemeral key).
	ErrHandshake = errors.New("link: handshake failed")
	// ErrAuth: a transport message failed authentication.
	ErrAuth = errors.New("link: message authentication failed")
	// ErrFrameTooLarge: a frame's length prefix exceeds the limit; nothing
	// was allocated for it. It wraps wire.ErrTooLarge.
	ErrFrameTooLarge = fmt.Errorf("link: frame too large: %w", wire.ErrTooLarge)
	// ErrFrame: a frame's length cannot be a valid chunk sequence. It
	// wraps wire.ErrMalformed.
	ErrFrame = fmt.Errorf("link: malformed frame: %w", wire.ErrMalformed)
	// ErrRejected: the server's respond function refused the client; the
	// welcome was sent and the connection must be closed.
	ErrRejected = errors.New("link: client rejected")
)

// cipherSuite is 25519 + ChaChaPoly + BLAKE2s, with X25519 from crypto/ecdh
// (twice as fast as x/crypto's, and it rejects an all-zero result too).
var cipherSuite = noise.NewCipherSuite(ecdhX25519{}, noise.CipherChaChaPoly, noise.HashBLAKE2s)

// ecdhX25519 is the Noise "25519" DH function (Noise §12.1) on crypto/ecdh.
type ecdhX25519 struct{}

// GenerateKeypair reads a 32-byte scalar from random and returns it with
// its public key (Noise §12.1 GENERATE_KEYPAIR).
func (ecdhX25519) GenerateKeypair(random io.Reader) (noise.DHKey, error) {
	var seed [32]byte
	if _, err := io.ReadFull(random, seed[:]); err != nil {
		return noise.DHKey{}, err
	}
	defer clear(seed[:])
	sk, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		return noise.DHKey{}, err
	}
	return noise.DHKey{Private: sk.Bytes(), Public: sk.PublicKey().Bytes()}, nil
}

// DH returns X25519(priv, pub) and an error for an all-zero result (a
// low-order pub), as RFC 7748 §6.1 allows and Noise §12.1 permits.
func (ecdhX25519) DH(priv, pub []byte) ([]byte, error) {
	sk, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return nil, err
	}
	pk, err := ecdh.X25519().NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	return sk.ECDH(pk)
}

// DHLen is 32 (Noise §12.1 DHLEN).
func (ecdhX25519) DHLen() int { return DHSize }

// DHName is "25519", the name in the Noise protocol name.
func (ecdhX25519) DHName() string { return "25519" }

// Config sets a side's limits.
type Config struct {
	// HandshakeTimeout bounds the whole handshake (read and write
	// deadlines). Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxRead is the largest application message this side accepts,
	// 1..MaxMessageSize. A frame that could carry more is rejected from
	// its length prefix alone.
	MaxRead int
	// MaxWrite is the largest application message this side sends,
	// 1..MaxMessageSize (the peer's MaxRead).
	MaxWrite int
	// Rand is the source of ephemeral keys; nil means crypto/rand.
	Rand io.Reader
}

func (c *Config) check() error {
	if c.MaxRead < 1 || c.MaxRead > MaxMessageSize || c.MaxWrite < 1 || c.MaxWrite > MaxMessageSize {
		return errors.New("link: config: message limits out of range")
	}
	if c.HandshakeTimeout < 0 {
		return errors.New("link: config: negative handshake timeout")
	}
	return nil
}

func (c *Config) handshakeTimeout() time.Duration {
	if c.HandshakeTimeout == 0 {
		return DefaultHandshakeTimeout
	}
	return c.HandshakeTimeout
}

// FrameSize returns the frame body size of an n-byte message: n plus one
// tag per chunk.
func FrameSize(n int) int {
	chunks := max(1, (n+ChunkPayloadSize-1)/ChunkPayloadSize)
	return n + chunks*TagSize
}

// chunkCount checks a transport frame length and returns its number of
// chunks: all but the last are ChunkSize bytes, and the last carries at
// least one byte of plaintext.
func chunkCount(frameLen int) (int, bool) {
	if frameLen <= TagSize {
		return 0, false
	}
	n := (frameLen + ChunkSize - 1) / ChunkSize
	last := frameLen - (n-1)*ChunkSize
	return n, last > TagSize
}

// Conn is an established link. It is not safe for concurrent use, except
// that Close may be called at any time.
type Conn struct {
	nc       net.Conn
	r        *bufio.Reader // over nc: a small frame's header and body in one read
	send     *noise.CipherState
	recv     *noise.CipherState
	maxFrame int
	maxWrite int
	maxRead  int
	rerr     error // sticky read error
	werr     error // sticky write error
	hdr      [FrameHeaderSize]byte
}

// NetConn returns the underlying connection, for deadlines.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Close closes the underlying connection.
func (c *Conn) Close() error { return c.nc.Close() }

// ReadMessage reads one frame and returns the decrypted message. The
// returned slice is the caller's.
func (c *Conn) ReadMessage() ([]byte, error) {
	if c.rerr != nil {
		return nil, c.rerr
	}
	msg, err := c.readMessage()
	if err != nil {
		c.rerr = err
		return nil, err
	}
	return msg, nil
}

func (c *Conn) readMessage() ([]byte, error) {
	if _, err := io.ReadFull(c.r, c.hdr[:]); err != nil {
		return nil, fmt.Errorf("link: read frame header: %w", err)
	}
	size := binary.BigEndian.Uint32(c.hdr[:])
	if uint64(size) > uint64(c.maxFrame) {
		return nil, ErrFrameTooLarge
	}
	n, ok := chunkCount(int(size))
	if !ok {
		return nil, ErrFrame
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, fmt.Errorf("link: read frame: %w", err)
	}
	out := buf[:0]
	for i := range n {
		ct := buf[i*ChunkSize : min((i+1)*ChunkSize, len(buf))]
		pt, err := c.recv.Decrypt(ct[:0], nil, ct)
		if err != nil {
			clear(buf)
			return nil, ErrAuth
		}
		out = append(out, pt...) // moves the plaintext down over earlier tags
	}
	if len(out) > c.maxRead {
		return nil, ErrFrameTooLarge
	}
	return out, nil
}

// WriteMessage encrypts msg into one frame and writes it with a single
// Write. msg must be 1..MaxWrite bytes.
func (c *Conn) WriteMessage(msg []byte) error {
	if c.werr != nil {
		return c.werr
	}
	if len(msg) == 0 || len(msg) > c.maxWrite {
		return fmt.Errorf("link: write: message of %d bytes out of range 1..%d", len(msg), c.maxWrite)
	}
	size := FrameSize(len(msg))
	buf := make([]byte, FrameHeaderSize, FrameHeaderSize+size)
	binary.BigEndian.PutUint32(buf, uint32(size))
	var err error
	for p := msg; len(p) > 0; {
		chunk := p[:min(len(p), ChunkPayloadSize)]
		p = p[len(chunk):]
		if buf, err = c.send.Encrypt(buf, nil, chunk); err != nil {
			c.werr = fmt.Errorf("link: encrypt: %w", err)
			return c.werr
		}
	}
	if _, err := c.nc.Write(buf); err != nil {
		c.werr = fmt.Errorf("link: write frame: %w", err)
		return c.werr
	}
	return nil
}

// readHandshakeFrame reads one handshake frame, checking its length before
// allocating.
func readHandshakeFrame(r io.Reader) ([]byte, error) {
	var hdr [FrameHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("link: read handshake: %w", err)
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > MaxHandshakeMessageSize {
		return nil, ErrFrameTooLarge
	}
	if size < MinHandshakeMessageSize {
		return nil, ErrHandshake
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("link: read handshake: %w", err)
	}
	return buf, nil
}

func writeHandshakeFrame(w io.Writer, msg []byte) error {
	buf := make([]byte, FrameHeaderSize, FrameHeaderSize+len(msg))
	binary.BigEndian.PutUint32(buf, uint32(len(msg)))
	if _, err := w.Write(append(buf, msg...)); err != nil {
		return fmt.Errorf("link: write handshake: %w", err)
	}
	return nil
}

// readBufferSize is the read buffer of a Conn: a deposit of a small
// envelope arrives in one read system call, header and body.
const readBufferSize = 4096

func newConn(nc net.Conn, send, recv *noise.CipherState, cfg *Config) *Conn {
	return &Conn{
		nc: nc, r: bufio.NewReaderSize(nc, readBufferSize), send: send, recv: recv,
		maxFrame: FrameSize(cfg.MaxRead), maxRead: cfg.MaxRead, maxWrite: cfg.MaxWrite,
	}
}

// Client runs the initiator side of the handshake on nc with the relay whose
// static key is relay, sending hello (at most MaxHelloSize bytes) in the
// first message. It returns the Conn and the relay's welcome payload. On
// error the caller closes nc.
func Client(nc net.Conn, relay addr.RelayKey, hello []byte, cfg Config) (*Conn, []byte, error) {
	if err := cfg.check(); err != nil {
		return nil, nil, err
	}
	if len(hello) > MaxHelloSize {
		return nil, nil, fmt.Errorf("link: hello of %d bytes exceeds %d", len(hello), MaxHelloSize)
	}
	if err := nc.SetDeadline(time.Now().Add(cfg.handshakeTimeout())); err != nil {
		return nil, nil, fmt.Errorf("link: set deadline: %w", err)
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite: cipherSuite,
		Random:      cfg.Rand,
		Pattern:     noise.HandshakeNK,
		Initiator:   true,
		Prologue:    []byte(Prologue),
		PeerStatic:  relay.Bytes(),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("link: handshake state: %w", err)
	}
	// -> e, es
	msg1, _, _, err := hs.WriteMessage(nil, hello)
	if err != nil {
		return nil, nil, ErrHandshake
	}
	if err := writeHandshakeFrame(nc, msg1); err != nil {
		return nil, nil, err
	}
	// <- e, ee
	msg2, err := readHandshakeFrame(nc)
	if err != nil {
		return nil, nil, err
	}
	welcome, cs1, cs2, err := hs.ReadMessage(nil, msg2)
	if err != nil || cs1 == nil {
		return nil, nil, ErrHandshake
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, nil, fmt.Errorf("link: clear deadline: %w", err)
	}
	return newConn(nc, cs1, cs2, &cfg), welcome, nil
}

// Respond computes the welcome payload for a client's hello. ok false
// refuses the client: the welcome is still sent (so the client learns why),
// then Server returns ErrRejected.
type Respond func(hello []byte) (welcome []byte, ok bool)

// Server runs the responder side of the handshake on nc with the relay's
// static key. On error the caller closes nc.
func Server(nc net.Conn, key *PrivateKey, cfg Config, respond Respond) (*Conn, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := nc.SetDeadline(time.Now().Add(cfg.handshakeTimeout())); err != nil {
		return nil, fmt.Errorf("link: set deadline: %w", err)
	}
	pub := key.pub.Bytes()
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   cipherSuite,
		Random:        cfg.Rand,
		Pattern:       noise.HandshakeNK,
		Initiator:     false,
		Prologue:      []byte(Prologue),
		StaticKeypair: noise.DHKey{Private: key.k[:], Public: pub},
	})
	if err != nil {
		return nil, fmt.Errorf("link: handshake state: %w", err)
	}
	// -> e, es
	msg1, err := readHandshakeFrame(nc)
	if err != nil {
		return nil, err
	}
	hello, _, _, err := hs.ReadMessage(nil, msg1)
	if err != nil {
		return nil, ErrHandshake
	}
	welcome, ok := respond(hello)
	if len(welcome) > MaxHelloSize {
		return nil, fmt.Errorf("link: welcome of %d bytes exceeds %d", len(welcome), MaxHelloSize)
	}
	// <- e, ee
	msg2, cs1, cs2, err := hs.WriteMessage(nil, welcome)
	if err != nil || cs1 == nil {
		return nil, ErrHandshake
	}
	if err := writeHandshakeFrame(nc, msg2); err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrRejected
	}
	if err := nc.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("link: clear deadline: %w", err)
	}
	return newConn(nc, cs2, cs1, &cfg), nil
}
