package nmhost

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// frame encodes payload as one native-messaging frame.
func frame(payload string) []byte {
	b := make([]byte, HeaderSize+len(payload))
	binary.NativeEndian.PutUint32(b, uint32(len(payload)))
	copy(b[HeaderSize:], payload)
	return b
}

func frames(payloads ...string) []byte {
	var b []byte
	for _, p := range payloads {
		b = append(b, frame(p)...)
	}
	return b
}

// msg is one decoded output frame with its exact member set.
type msg struct {
	members map[string]json.RawMessage
	raw     string
}

func (m msg) id() string     { return string(m.members["id"]) }
func (m msg) result() string { return string(m.members["result"]) }
func (m msg) code() string {
	var e Error
	if err := json.Unmarshal(m.members["error"], &e); err != nil {
		return ""
	}
	return e.Code
}
func (m msg) message() string {
	var e Error
	_ = json.Unmarshal(m.members["error"], &e)
	return e.Message
}

// readOutput decodes every frame in out and checks the reply/event shapes.
func readOutput(t testing.TB, out []byte) []msg {
	t.Helper()
	fr := NewFrameReader(bytes.NewReader(out))
	var msgs []msg
	for {
		p, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return msgs
		}
		if err != nil {
			t.Fatalf("output frame %d: %v", len(msgs), err)
		}
		if len(p) > MaxFrameSize {
			t.Fatalf("output frame of %d bytes", len(p))
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("output frame %d is not a JSON object: %v: %q", len(msgs), err, p)
		}
		_, hasID := m["id"]
		_, hasResult := m["result"]
		_, hasError := m["error"]
		_, hasEvent := m["event"]
		_, hasData := m["data"]
		switch {
		case hasID && hasResult && len(m) == 2:
		case hasID && hasError && len(m) == 2:
			var e map[string]json.RawMessage
			if err := json.Unmarshal(m["error"], &e); err != nil || len(e) != 2 || e["code"] == nil || e["message"] == nil {
				t.Fatalf("error member is not {code, message}: %s", m["error"])
			}
		case hasEvent && hasData && len(m) == 2:
		default:
			t.Fatalf("output frame has the wrong members: %s", p)
		}
		msgs = append(msgs, msg{m, string(p)})
	}
}

type echoParams struct {
	Text string `json:"text"`
	N    int    `json:"n,omitempty"`
}

func (p echoParams) Validate() error {
	if p.Text == "" {
		return errors.New("text is required")
	}
	return nil
}

// testRouter registers the methods the host tests use.
func testRouter() *Router {
	r := NewRouter()
	Handle(r, "ping", func(context.Context, struct{}) (string, error) { return "pong", nil })
	Handle(r, "echo", func(_ context.Context, p echoParams) (echoParams, error) { return p, nil })
	Handle(r, "fail.coded", func(context.Context, struct{}) (any, error) {
		return nil, fmt.Errorf("wrapped: %w", NewError("not_found", "no such contact"))
	})
	Handle(r, "fail.plain", func(context.Context, struct{}) (any, error) {
		return nil, errors.New("disk said SECRET-DETAIL")
	})
	Handle(r, "panic", func(context.Context, struct{}) (any, error) { panic("SECRET-PANIC-VALUE") })
	Handle(r, "panic.runtime", func(_ context.Context, p struct{}) (any, error) {
		s := []int{1}
		i := len(s) + 2 // index out of range at run time
		return s[i], nil
	})
	Handle(r, "big", func(context.Context, struct{}) (string, error) {
		return strings.Repeat("x", MaxFrameSize), nil
	})
	Handle(r, "unencodable", func(context.Context, struct{}) (any, error) { return make(chan int), nil })
	Handle(r, "html", func(context.Context, struct{}) (string, error) { return "<b>&</b>", nil })
	return r
}

// serve runs a Host over input until EOF and returns its output and log.
func serve(t testing.TB, r *Router, input []byte, opts Options) ([]msg, string) {
	t.Helper()
	var out, logBuf bytes.Buffer
	var logMu sync.Mutex
	opts.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logBuf, mu: &logMu}, nil))
	h := NewHost(bytes.NewReader(input), &out, r, opts)
	if err := h.Serve(context.Background()); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	return readOutput(t, out.Bytes()), logBuf.String()
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestFrameRoundTrip(t *testing.T) {
	t.Parallel()
	sizes := []int{0, 1, 100, 64 << 10, MaxFrameSize}
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf)
	var want [][]byte
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, p)
		if err := fw.WriteFrame(p); err != nil {
			t.Fatal(err)
		}
	}
	fr := NewFrameReader(&buf)
	for i, w := range want {
		got, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(got, w) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(w))
		}
	}
	if _, err := fr.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// The length prefix is the machine's native byte order, which is what
// Chromium and Firefox write (both run little-endian everywhere today).
func TestHeaderIsNativeEndian(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := NewFrameWriter(&buf).WriteFrame(make([]byte, 0x010203)); err != nil {
		t.Fatal(err)
	}
	hdr := buf.Bytes()[:HeaderSize]
	var want []byte
	switch runtime.GOARCH {
	case "amd64", "arm64", "386", "arm", "riscv64", "loong64", "wasm", "ppc64le", "mips64le", "mipsle":
		want = []byte{0x03, 0x02, 0x01, 0x00}
	case "s390x", "ppc64", "mips", "mips64":
		want = []byte{0x00, 0x01, 0x02, 0x03}
	default:
		t.Skipf("unknown byte order on %s", runtime.GOARCH)
	}
	if !bytes.Equal(hdr, want) {
		t.Fatalf("header % x, want % x", hdr, want)
	}
}

func TestFrameReaderTruncation(t *testing.T) {
	t.Parallel()
	full := frame(`{"id":1,"method":"ping"}`)
	for n := 0; n <= len(full); n++ {
		fr := NewFrameReader(bytes.NewReader(full[:n]))
		got, err := fr.ReadFrame()
		switch {
		case n == 0:
			if !errors.Is(err, io.EOF) {
				t.Errorf("empty input: %v, want io.EOF", err)
			}
		case n < len(full):
			if !errors.Is(err, io.ErrUnexpectedEOF) || got != nil {
				t.Errorf("%d of %d bytes: (%q, %v), want io.ErrUnexpectedEOF", n, len(full), got, err)
			}
		default:
			if err != nil {
				t.Errorf("whole frame: %v", err)
			}
		}
	}
}

func TestFrameWriterRefusesLarge(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	err := NewFrameWriter(&buf).WriteFrame(make([]byte, MaxFrameSize+1))
	if !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err = %v, want ErrFrameTooLarge", err)
	}
	if buf.Len() != 0 {
		t.Fatalf("%d bytes written for a refused frame", buf.Len())
	}
}

type flushCounter struct {
	bytes.Buffer
	writes, flushes int
}

func (f *flushCounter) Write(p []byte) (int, error) { f.writes++; return f.Buffer.Write(p) }
func (f *flushCounter) Flush() error                { f.flushes++; return nil }

func TestFrameWriterFlushesEachFrame(t *testing.T) {
	t.Parallel()
	var fc flushCounter
	fw := NewFrameWriter(&fc)
	for i := range 3 {
		if err := fw.WriteFrame([]byte("{}")); err != nil {
			t.Fatal(err)
		}
		if fc.writes != i+1 || fc.flushes != i+1 {
			t.Fatalf("after frame %d: %d writes, %d flushes", i+1, fc.writes, fc.flushes)
		}
	}
}

type failWriter struct{ n atomic.Int32 }

func (f *failWriter) Write(p []byte) (int, error) {
	f.n.Add(1)
	return 0, errors.New("broken pipe")
}

func TestFrameWriterStickyError(t *testing.T) {
	t.Parallel()
	var fw failWriter
	w := NewFrameWriter(&fw)
	if err := w.WriteFrame([]byte("{}")); err == nil {
		t.Fatal("write to a broken writer succeeded")
	}
	if err := w.WriteFrame([]byte("{}")); err == nil || fw.n.Load() != 1 {
		t.Fatalf("second write: err %v after %d writes; want the first error and no new write", err, fw.n.Load())
	}
}

// Concurrent writers never interleave frames.
func TestFrameWriterConcurrent(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	fw := NewFrameWriter(&buf)
	var wg sync.WaitGroup
	const writers, each = 8, 50
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := bytes.Repeat([]byte{byte('a' + w)}, 1+(i*997)%5000)
				if err := fw.WriteFrame(p); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	fr := NewFrameReader(&buf)
	for n := 0; ; n++ {
		p, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			if n != writers*each {
				t.Fatalf("%d frames, want %d", n, writers*each)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.Trim(p, string(p[:1]))) != 0 {
			t.Fatalf("frame %d mixes writers", n)
		}
	}
}

// lazyStream yields a 4-byte header announcing size bytes, then size bytes
// that are never materialized (Read reports them without writing), then
// tail.
type lazyStream struct {
	hdr  [HeaderSize]byte
	hpos int
	left uint64
	tail *bytes.Reader
}

func newLazyStream(size uint32, tail []byte) *lazyStream {
	s := &lazyStream{left: uint64(size), tail: bytes.NewReader(tail)}
	binary.NativeEndian.PutUint32(s.hdr[:], size)
	return s
}

func (s *lazyStream) reset(size uint32, tail []byte) {
	s.hpos, s.left = 0, uint64(size)
	binary.NativeEndian.PutUint32(s.hdr[:], size)
	s.tail.Reset(tail)
}

func (s *lazyStream) Read(p []byte) (int, error) {
	if s.hpos < HeaderSize {
		n := copy(p, s.hdr[s.hpos:])
		s.hpos += n
		return n, nil
	}
	if s.left > 0 {
		n := uint64(len(p))
		if n > s.left {
			n = s.left
		}
		s.left -= n
		return int(n), nil
	}
	return s.tail.Read(p)
}

// A frame announcing 4 GiB − 1 bytes is drained without allocating, and the
// stream is in sync afterwards.
func TestFourGiBHeaderNoAllocation(t *testing.T) {
	next := frame(`{"id":1,"method":"ping"}`)
	s := newLazyStream(0xFFFFFFFF, next)
	fr := NewFrameReader(s)
	allocs := testing.AllocsPerRun(2, func() {
		s.reset(0xFFFFFFFF, next)
		if _, err := fr.ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("err = %v, want ErrFrameTooLarge", err)
		}
	})
	if allocs != 0 {
		t.Fatalf("draining a 4 GiB frame allocated %v times", allocs)
	}
	got, err := fr.ReadFrame()
	if err != nil || string(got) != `{"id":1,"method":"ping"}` {
		t.Fatalf("frame after the oversized one: %q, %v", got, err)
	}

	// The whole host, too: a 4 GiB frame then a ping costs kilobytes.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var out bytes.Buffer
	h := NewHost(newLazyStream(0xFFFFFFFF, next), &out, testRouter(), Options{})
	if err := h.Serve(context.Background()); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("serving a 4 GiB frame allocated %d bytes", grew)
	}
	msgs := readOutput(t, out.Bytes())
	if len(msgs) != 2 || msgs[0].code() != CodeFrameTooLarge || msgs[0].id() != "null" || msgs[1].result() != `"pong"` {
		t.Fatalf("replies: %v", msgs)
	}
}

// An oversized frame cut short by EOF ends the stream (not another error).
func TestOversizedFrameEOF(t *testing.T) {
	t.Parallel()
	in := append(frame(`{"id":1,"method":"ping"}`), 0xff, 0xff, 0xff, 0x7f, 'x', 'y')
	msgs, _ := serve(t, testRouter(), in, Options{})
	if len(msgs) != 1 || msgs[0].result() != `"pong"` {
		t.Fatalf("replies: %v", msgs)
	}
	fr := NewFrameReader(bytes.NewReader(in[len(in)-6:]))
	if _, err := fr.ReadFrame(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
}

func TestServeReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in       string
		id, code, want string // want: exact result JSON when code == ""
	}{
		{"ping", `{"id":1,"method":"ping"}`, "1", "", `"pong"`},
		{"ping with null params", `{"id":2,"method":"ping","params":null}`, "2", "", `"pong"`},
		{"ping with empty params", `{"id":3,"method":"ping","params":{}}`, "3", "", `"pong"`},
		{"string id echoed verbatim", `{"id":"a\u0041","method":"ping"}`, `"a\u0041"`, "", `"pong"`},
		{"negative fractional id", `{"id":-1.5e3,"method":"ping"}`, "-1.5e3", "", `"pong"`},
		{"whitespace around", " \n{ \"id\" : 4 , \"method\" : \"ping\" }\t", "4", "", `"pong"`},
		{"echo", `{"id":5,"method":"echo","params":{"text":"hi <there> & you"}}`, "5", "", `{"text":"hi <there> & you"}`},
		{"html not escaped", `{"id":6,"method":"html"}`, "6", "", `"<b>&</b>"`},

		{"not json", `hello`, "null", CodeBadRequest, ""},
		{"empty frame", ``, "null", CodeBadRequest, ""},
		{"truncated json", `{"id":1,"method":"pi`, "null", CodeBadRequest, ""},
		{"trailing data", `{"id":1,"method":"ping"} {}`, "null", CodeBadRequest, ""},
		{"array", `[1,2]`, "null", CodeBadRequest, ""},
		{"null", `null`, "null", CodeBadRequest, ""},
		{"string", `"ping"`, "null", CodeBadRequest, ""},
		{"invalid utf-8", "{\"id\":1,\"method\":\"p\xffing\"}", "null", CodeBadRequest, ""},
		{"missing id", `{"method":"ping"}`, "null", CodeBadRequest, ""},
		{"null id", `{"id":null,"method":"ping"}`, "null", CodeBadRequest, ""},
		{"object id", `{"id":{},"method":"ping"}`, "null", CodeBadRequest, ""},
		{"bool id", `{"id":true,"method":"ping"}`, "null", CodeBadRequest, ""},
		{"long id", `{"id":"` + strings.Repeat("x", MaxIDSize) + `","method":"ping"}`, "null", CodeBadRequest, ""},
		{"missing method", `{"id":7}`, "7", CodeBadRequest, ""},
		{"empty method", `{"id":8,"method":""}`, "8", CodeBadRequest, ""},
		{"numeric method", `{"id":9,"method":5}`, "9", CodeBadRequest, ""},
		{"long method", `{"id":10,"method":"` + strings.Repeat("m", MaxMethodSize+1) + `"}`, "10", CodeBadRequest, ""},
		{"extra member", `{"id":11,"method":"ping","jsonrpc":"2.0"}`, "11", CodeBadRequest, ""},

		{"unknown method", `{"id":12,"method":"nope"}`, "12", CodeUnknownMethod, ""},
		{"method names are case-sensitive", `{"id":13,"method":"PING"}`, "13", CodeUnknownMethod, ""},

		{"missing params", `{"id":14,"method":"echo"}`, "14", CodeInvalidParams, ""},
		{"params fail validation", `{"id":15,"method":"echo","params":{"text":""}}`, "15", CodeInvalidParams, ""},
		{"params wrong type", `{"id":16,"method":"echo","params":{"text":5}}`, "16", CodeInvalidParams, ""},
		{"params unknown field", `{"id":17,"method":"echo","params":{"text":"a","extra":1}}`, "17", CodeInvalidParams, ""},
		{"params not an object", `{"id":18,"method":"echo","params":[1]}`, "18", CodeInvalidParams, ""},
		{"params for a method without params", `{"id":19,"method":"ping","params":{"x":1}}`, "19", CodeInvalidParams, ""},

		{"coded error passes through", `{"id":20,"method":"fail.coded"}`, "20", "not_found", ""},
		{"plain error is internal", `{"id":21,"method":"fail.plain"}`, "21", CodeInternal, ""},
		{"panic is internal", `{"id":22,"method":"panic"}`, "22", CodeInternal, ""},
		{"runtime panic is internal", `{"id":23,"method":"panic.runtime"}`, "23", CodeInternal, ""},
		{"unencodable result", `{"id":24,"method":"unencodable"}`, "24", CodeInternal, ""},
		{"reply too large", `{"id":25,"method":"big"}`, "25", CodeReplyTooLarge, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Each bad frame is followed by a ping: the host keeps serving.
			in := frames(tt.in, `{"id":"after","method":"ping"}`)
			msgs, log := serve(t, testRouter(), in, Options{MaxConcurrent: 1})
			if len(msgs) != 2 {
				t.Fatalf("%d replies, want 2: %v", len(msgs), msgs)
			}
			m := msgs[0]
			if m.id() != tt.id {
				t.Errorf("id = %s, want %s", m.id(), tt.id)
			}
			if tt.code == "" {
				if m.result() != tt.want {
					t.Errorf("result = %s, want %s (%s)", m.result(), tt.want, m.raw)
				}
			} else {
				if m.code() != tt.code {
					t.Errorf("reply %s, want code %s", m.raw, tt.code)
				}
				if m.message() == "" {
					t.Errorf("error reply without a message: %s", m.raw)
				}
			}
			if msgs[1].id() != `"after"` || msgs[1].result() != `"pong"` {
				t.Errorf("the following ping got %s", msgs[1].raw)
			}
			// Nothing the handlers hid leaks into replies or the log.
			for _, secret := range []string{"SECRET-DETAIL", "SECRET-PANIC-VALUE"} {
				if strings.Contains(m.raw, secret) {
					t.Errorf("reply leaks %q: %s", secret, m.raw)
				}
				if secret == "SECRET-PANIC-VALUE" && strings.Contains(log, secret) {
					t.Errorf("log leaks the panic value: %s", log)
				}
			}
		})
	}
}

// frame_too_large for a real (materialized) frame just over the limit, and
// the frame of exactly the limit is accepted.
func TestServeFrameTooLarge(t *testing.T) {
	t.Parallel()
	over := `{"id":1,"method":"echo","params":{"text":"` + strings.Repeat("a", MaxFrameSize) + `"}}`
	pad := MaxFrameSize - len(`{"id":2,"method":"echo","params":{"text":""}}`)
	exact := `{"id":2,"method":"echo","params":{"text":"` + strings.Repeat("b", pad) + `"}}`
	if len(exact) != MaxFrameSize {
		t.Fatalf("exact frame is %d bytes", len(exact))
	}
	msgs, _ := serve(t, testRouter(), frames(over, exact, `{"id":3,"method":"ping"}`), Options{MaxConcurrent: 1})
	if len(msgs) != 3 {
		t.Fatalf("%d replies", len(msgs))
	}
	if msgs[0].code() != CodeFrameTooLarge || msgs[0].id() != "null" {
		t.Errorf("oversized frame: %.200s", msgs[0].raw)
	}
	// A frame of exactly the limit is accepted (its echo is shorter).
	if msgs[1].id() != "2" || len(msgs[1].result()) != pad+len(`{"text":""}`) {
		t.Errorf("frame of exactly MaxFrameSize: %.200s", msgs[1].raw)
	}
	if msgs[2].result() != `"pong"` {
		t.Errorf("ping after: %s", msgs[2].raw)
	}
}

// stdin closing mid-frame ends Serve cleanly after the replies already due.
func TestServeEOFMidFrame(t *testing.T) {
	t.Parallel()
	whole := frames(`{"id":1,"method":"ping"}`, `{"id":2,"method":"ping"}`)
	next := frame(`{"id":3,"method":"ping"}`)
	for cut := 0; cut < len(next); cut++ {
		in := append(bytes.Clone(whole), next[:cut]...)
		msgs, _ := serve(t, testRouter(), in, Options{})
		if len(msgs) != 2 {
			t.Fatalf("cut at %d: %d replies, want 2", cut, len(msgs))
		}
	}
}

// Replies of running requests are still written after stdin closes.
func TestServeEOFWaitsForRunning(t *testing.T) {
	t.Parallel()
	r := NewRouter()
	Handle(r, "slow", func(ctx context.Context, _ struct{}) (string, error) {
		select {
		case <-time.After(100 * time.Millisecond):
			return "done", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	})
	msgs, _ := serve(t, r, frames(`{"id":1,"method":"slow"}`), Options{})
	if len(msgs) != 1 || msgs[0].result() != `"done"` {
		t.Fatalf("replies: %v", msgs)
	}
}

// After the grace period, running requests are cancelled and Serve returns.
func TestServeGraceCancels(t *testing.T) {
	t.Parallel()
	r := NewRouter()
	sawCancel := make(chan struct{})
	Handle(r, "hang", func(ctx context.Context, _ struct{}) (any, error) {
		<-ctx.Done()
		close(sawCancel)
		return nil, ctx.Err() // a plain context error becomes shutting_down
	})
	start := time.Now()
	msgs, _ := serve(t, r, frames(`{"id":1,"method":"hang"}`), Options{ShutdownGrace: 50 * time.Millisecond})
	if time.Since(start) > 5*time.Second {
		t.Fatal("Serve outlived its grace period")
	}
	select {
	case <-sawCancel:
	default:
		t.Fatal("handler context was not cancelled")
	}
	if len(msgs) != 1 || msgs[0].code() != CodeShuttingDown {
		t.Fatalf("replies: %v", msgs)
	}
}

// Cancelling Serve's context cancels running handlers and returns, even
// while stdin stays open.
func TestServeContextCancel(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	r := NewRouter()
	started := make(chan struct{})
	Handle(r, "hang", func(ctx context.Context, _ struct{}) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, NewError(CodeShuttingDown, "cancelled")
	})
	var out bytes.Buffer
	h := NewHost(pr, &out, r, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx) }()
	if _, err := pw.Write(frame(`{"id":1,"method":"hang"}`)); err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Serve = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if msgs := readOutput(t, out.Bytes()); len(msgs) != 1 || msgs[0].code() != CodeShuttingDown {
		t.Fatalf("replies: %v", msgs)
	}
}

// A broken stdout stops Serve with the write error.
func TestServeWriteError(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	h := NewHost(pr, &failWriter{}, testRouter(), Options{})
	done := make(chan error, 1)
	go func() { done <- h.Serve(context.Background()) }()
	go pw.Write(frame(`{"id":1,"method":"ping"}`))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "broken pipe") {
			t.Fatalf("Serve = %v, want the write error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop on a write error")
	}
}

// Handlers run concurrently (up to MaxConcurrent) and every one is answered.
func TestServeConcurrent(t *testing.T) {
	t.Parallel()
	const n = 4
	var running atomic.Int32
	all := make(chan struct{})
	r := NewRouter()
	Handle(r, "meet", func(ctx context.Context, _ struct{}) (int32, error) {
		if running.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return n, nil
		case <-time.After(10 * time.Second):
			return 0, NewError("timeout", "handlers did not run concurrently")
		}
	})
	var in []byte
	for i := range n {
		in = append(in, frame(fmt.Sprintf(`{"id":%d,"method":"meet"}`, i))...)
	}
	msgs, _ := serve(t, r, in, Options{MaxConcurrent: n})
	if len(msgs) != n {
		t.Fatalf("%d replies", len(msgs))
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if m.result() != "4" {
			t.Errorf("reply %s", m.raw)
		}
		seen[m.id()] = true
	}
	if len(seen) != n {
		t.Errorf("ids %v", seen)
	}
}

func TestEmit(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	h := NewHost(bytes.NewReader(nil), &out, NewRouter(), Options{})
	if err := h.Emit("message.received", map[string]string{"text": "<hi>"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Emit("big", strings.Repeat("x", MaxFrameSize)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversized event: %v", err)
	}
	msgs := readOutput(t, out.Bytes())
	if len(msgs) != 1 || msgs[0].raw != `{"event":"message.received","data":{"text":"<hi>"}}` {
		t.Fatalf("events: %v", msgs)
	}
}

func TestRouterPanicsOnMisuse(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(r *Router){
		"empty name": func(r *Router) {
			r.HandleFunc("", func(context.Context, json.RawMessage) (any, error) { return nil, nil })
		},
		"nil": func(r *Router) { r.HandleFunc("x", nil) },
		"duplicate": func(r *Router) {
			Handle(r, "x", func(context.Context, struct{}) (any, error) { return nil, nil })
			Handle(r, "x", func(context.Context, struct{}) (any, error) { return nil, nil })
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f(NewRouter())
		}()
	}
	r := testRouter()
	if m := r.Methods(); len(m) != 9 || m[0] != "big" {
		t.Errorf("Methods() = %v", m)
	}
}

func TestDecodeParamsMessagesDoNotEchoValues(t *testing.T) {
	t.Parallel()
	var p echoParams
	err := DecodeParams(json.RawMessage(`{"text":["SECRET-VALUE"]}`), &p)
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeInvalidParams {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(e.Message, "SECRET-VALUE") || !strings.Contains(e.Message, "text") {
		t.Fatalf("message %q should name the field and not echo the value", e.Message)
	}
}
