package link

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"net"
	"os"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

const vectorsPath = "../../testdata/vectors/relay-link.json"

// linkVector is testdata/vectors/relay-link.json: one complete link session
// with fixed keys, every byte each side wrote.
type linkVector struct {
	Prologue        string          `json:"prologue"`          // ASCII
	StaticPrivate   string          `json:"static_private"`    // relay's X25519 scalar
	StaticPublic    string          `json:"static_public"`     // its public key
	RelayKey        string          `json:"relay_key"`         // base32 as in the address
	ClientEphemeral string          `json:"client_ephemeral"`  // client's ephemeral scalar
	RelayEphemeral  string          `json:"relay_ephemeral"`   // relay's ephemeral scalar
	Hello           string          `json:"hello"`             // payload of handshake message 1
	Welcome         string          `json:"welcome"`           // payload of handshake message 2
	Handshake1      string          `json:"handshake_1_frame"` // u32 length || message 1
	Handshake2      string          `json:"handshake_2_frame"` // u32 length || message 2
	Transport       []transportStep `json:"transport"`
}

// transportStep is one message after the handshake, in order.
type transportStep struct {
	From      string `json:"from"`                // "client" or "relay"
	Plaintext string `json:"plaintext,omitempty"` // hex, or empty when Pattern is set
	Pattern   string `json:"pattern,omitempty"`   // "i mod 251 for i < N": the plaintext rule for long messages
	Length    int    `json:"length"`
	Frame     string `json:"frame,omitempty"`        // hex of the whole frame
	FrameHash string `json:"frame_sha256,omitempty"` // SHA-256 of the frame, for long ones
}

// recorder is a net.Conn that keeps a copy of everything written.
type recorder struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	r.out.Write(b)
	r.mu.Unlock()
	return r.Conn.Write(b)
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := bytes.Clone(r.out.Bytes())
	r.out.Reset()
	return b
}

func counting(start byte) []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

func makeVector(t *testing.T) linkVector {
	static, err := newPrivateKey(counting(0x01))
	if err != nil {
		t.Fatal(err)
	}
	cEph, rEph := counting(0x20), counting(0x40)
	hello, _ := hex.DecodeString("800100")
	welcome, _ := hex.DecodeString("81010000150001040000093a80000003e8000000006553f101")
	cp, sp := net.Pipe()
	cr, sr := &recorder{Conn: cp}, &recorder{Conn: sp}
	defer cp.Close()
	defer sp.Close()
	cfg := Config{MaxRead: MaxMessageSize, MaxWrite: MaxMessageSize}
	var server *Conn
	var serr error
	done := make(chan struct{})
	go func() {
		scfg := cfg
		scfg.Rand = bytes.NewReader(rEph)
		server, serr = Server(sr, static, scfg, func([]byte) ([]byte, bool) { return welcome, true })
		close(done)
	}()
	ccfg := cfg
	ccfg.Rand = bytes.NewReader(cEph)
	client, got, err := Client(cr, static.Public(), hello, ccfg)
	<-done
	if err != nil || serr != nil || !bytes.Equal(got, welcome) {
		t.Fatalf("handshake: %v %v", err, serr)
	}
	v := linkVector{
		Prologue:        Prologue,
		StaticPrivate:   hex.EncodeToString(static.k[:]),
		StaticPublic:    hex.EncodeToString(static.Public().Bytes()),
		RelayKey:        static.Public().String(),
		ClientEphemeral: hex.EncodeToString(cEph),
		RelayEphemeral:  hex.EncodeToString(rEph),
		Hello:           hex.EncodeToString(hello),
		Welcome:         hex.EncodeToString(welcome),
		Handshake1:      hex.EncodeToString(cr.take()),
		Handshake2:      hex.EncodeToString(sr.take()),
	}
	long := make([]byte, ChunkPayloadSize+1)
	for i := range long {
		long[i] = byte(i % 251)
	}
	steps := []struct {
		from string
		msg  []byte
	}{
		{"client", []byte{0x88, 0x01}},
		{"relay", []byte{0x89, 0x01, 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x02}},
		{"client", long},
		{"relay", []byte{0x8f, 0x01, 0x00, 0x01}},
	}
	for _, st := range steps {
		w, r, rec := client, server, cr
		if st.from == "relay" {
			w, r, rec = server, client, sr
		}
		errc := make(chan error, 1)
		go func() { errc <- w.WriteMessage(st.msg) }()
		got, err := r.ReadMessage()
		if err != nil || !bytes.Equal(got, st.msg) || <-errc != nil {
			t.Fatalf("transport from %s: %v", st.from, err)
		}
		frame := rec.take()
		step := transportStep{From: st.from, Length: len(st.msg)}
		if len(st.msg) > 64 {
			sum := sha256.Sum256(frame)
			step.Pattern = "i mod 251"
			step.FrameHash = hex.EncodeToString(sum[:])
		} else {
			step.Plaintext = hex.EncodeToString(st.msg)
			step.Frame = hex.EncodeToString(frame)
		}
		v.Transport = append(v.Transport, step)
	}
	return v
}

// TestVectors regenerates the link session (fixed static and ephemeral
// keys, payloads and messages) and compares every frame with
// testdata/vectors/relay-link.json, or rewrites the file with -update. Any
// other implementation of the link can replay it.
func TestVectors(t *testing.T) {
	got := makeVector(t)
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	var want linkVector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("link session differs from %s", vectorsPath)
	}
}
