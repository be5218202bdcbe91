package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/server"
	"github.com/parley-im/parley/relay/store"
)

var bg = context.Background()

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{})
	c := r.client(t, nil)
	w, err := c.Welcome(bg)
	if err != nil || w.PowBits != 1 || w.MaxBlob != wire.MaxBlobSize {
		t.Fatalf("welcome %+v, %v", w, err)
	}
	r1, err := c.Deposit(bg, tok(1), []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	r2, err := c.Deposit(bg, tok(1), blob(wire.MaxBlobSize, 1))
	if err != nil {
		t.Fatal(err)
	}
	if r1.Duplicate || r2.ID <= r1.ID || r1.Expires < uint64(time.Now().Unix()) {
		t.Fatalf("receipts %+v %+v", r1, r2)
	}
	items, err := c.Fetch(bg, []address.Token{tok(1), tok(2)}, 10)
	if err != nil || len(items.Items) != 2 || items.More {
		t.Fatalf("fetch %+v, %v", items, err)
	}
	if string(items.Items[0].Blob) != "one" || !bytes.Equal(items.Items[1].Blob, blob(wire.MaxBlobSize, 1)) {
		t.Fatal("blobs differ")
	}
	// Not deleted until acked.
	again, _ := c.Fetch(bg, []address.Token{tok(1)}, 10)
	if len(again.Items) != 2 {
		t.Fatal("fetch deleted items")
	}
	n, err := c.Ack(bg, tok(1), []uint64{r1.ID, r2.ID})
	if err != nil || n != 2 {
		t.Fatalf("ack %d, %v", n, err)
	}
	if n, _ := c.Ack(bg, tok(1), []uint64{r1.ID}); n != 0 {
		t.Fatal("ack twice")
	}
	empty, _ := c.Fetch(bg, []address.Token{tok(1)}, 10)
	if len(empty.Items) != 0 {
		t.Fatal("acked items still there")
	}
	rt, err := c.Ping(bg)
	if err != nil || time.Since(rt) > time.Minute {
		t.Fatalf("ping %v, %v", rt, err)
	}
	st := r.srv.Stats()
	if st.Deposits != 2 || st.Fetches != 3 || st.Acks != 2 || st.ItemsAcked != 2 || st.Pings != 1 || st.Items != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestErrorCodes provokes every error code over a real connection and checks
// its counter.
func TestErrorCodes(t *testing.T) {
	t.Parallel()
	now := time.Now()
	big := func(c *policy.Config) { c.MaxBlob = 100; c.QuotaPerToken = 2; c.QuotaTotal = 250; c.PowBits = 2 }
	tests := []struct {
		name string
		opts options
		run  func(t *testing.T, r *relay, c *raw) proto.Response
		want proto.Code
	}{
		{"malformed", options{}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, []byte{0x84, 0x01, 0x00}) // truncated fetch
		}, proto.CodeMalformed},
		{"malformed empty blob", options{}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, (&proto.Deposit{Token: tok(1)}).Marshal())
		}, proto.CodeMalformed},
		{"version", options{}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, []byte{0x88, 0x02})
		}, proto.CodeVersion},
		{"unknown type", options{}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, (&proto.Pong{Time: 1}).Marshal())
		}, proto.CodeUnknownType},
		{"too large for policy", options{policy: big}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, stamped(t, tok(1), blob(101, 1), 2, now).Marshal())
		}, proto.CodeTooLarge},
		{"too large for the wire", options{}, func(t *testing.T, r *relay, c *raw) proto.Response {
			d := (&proto.Deposit{Token: tok(1), Blob: []byte{1}}).Marshal()
			binary.BigEndian.PutUint32(d[proto.DepositOverhead-4:], wire.MaxBlobSize+1)
			return c.send(t, d) // the length is refused before the blob is read
		}, proto.CodeTooLarge},
		{"insufficient work", options{policy: big}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, stamped(t, tok(1), []byte("x"), 1, now).Marshal())
		}, proto.CodeInsufficientWork},
		{"stamp for another blob", options{policy: big}, func(t *testing.T, r *relay, c *raw) proto.Response {
			d := stamped(t, tok(1), []byte("x"), 2, now)
			// Move the stamp to a blob it does not fit (one in four
			// 2-bit stamps would fit by chance).
			for i := 0; ; i++ {
				d.Blob = []byte{'y', byte(i)}
				if dg := d.Stamp.Digest(d.Token, sha256.Sum256(d.Blob)); dg[0]>>6 != 0 {
					return c.send(t, d.Marshal())
				}
			}
		}, proto.CodeInsufficientWork},
		{"stale stamp", options{}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, stamped(t, tok(1), []byte("x"), 1, now.Add(-pow.DefaultMaxAge-time.Minute)).Marshal())
		}, proto.CodeStaleStamp},
		{"future stamp", options{}, func(t *testing.T, r *relay, c *raw) proto.Response {
			return c.send(t, stamped(t, tok(1), []byte("x"), 1, now.Add(pow.DefaultMaxSkew+time.Minute)).Marshal())
		}, proto.CodeFutureStamp},
		{"busy", options{policy: func(c *policy.Config) { c.PowCacheSize = 1 }}, func(t *testing.T, r *relay, c *raw) proto.Response {
			if _, ok := c.send(t, stamped(t, tok(1), []byte("a"), 1, now).Marshal()).(*proto.Receipt); !ok {
				t.Fatal("first deposit refused")
			}
			return c.send(t, stamped(t, tok(1), []byte("b"), 1, now).Marshal())
		}, proto.CodeBusy},
		{"quota per token", options{policy: big}, func(t *testing.T, r *relay, c *raw) proto.Response {
			for i := range 2 {
				if _, ok := c.send(t, stamped(t, tok(1), []byte{byte(i)}, 2, now).Marshal()).(*proto.Receipt); !ok {
					t.Fatal("deposit refused")
				}
			}
			return c.send(t, stamped(t, tok(1), []byte("third"), 2, now).Marshal())
		}, proto.CodeQuotaToken},
		{"quota total", options{policy: big}, func(t *testing.T, r *relay, c *raw) proto.Response {
			for i := range 2 {
				if _, ok := c.send(t, stamped(t, tok(i), blob(100, uint64(i)), 2, now).Marshal()).(*proto.Receipt); !ok {
					t.Fatal("deposit refused")
				}
			}
			return c.send(t, stamped(t, tok(3), blob(51, 3), 2, now).Marshal())
		}, proto.CodeQuotaTotal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startRelay(t, tc.opts)
			c := r.raw(t, nil)
			wantCode(t, tc.run(t, r, c), tc.want)
			if n := r.srv.Stats().Rejections[tc.want.String()]; n == 0 {
				t.Fatalf("counter %s not incremented", tc.want)
			}
			// The connection and the relay still work.
			if _, ok := c.send(t, (&proto.Ping{}).Marshal()).(*proto.Pong); !ok {
				t.Fatal("ping after error")
			}
		})
	}
}

// TestInternalError checks that a storage failure is CodeInternal, counted,
// and that the client retries it.
func TestInternalError(t *testing.T) {
	t.Parallel()
	var fs *failingStore
	r := startRelay(t, options{wrap: func(s store.Store) store.Store { fs = &failingStore{Store: s}; return fs }})
	fs.fail.Store(true)
	c := r.raw(t, nil)
	wantCode(t, c.send(t, stamped(t, tok(1), []byte("x"), 1, time.Now()).Marshal()), proto.CodeInternal)
	wantCode(t, c.send(t, (&proto.Fetch{Limit: 1, Tokens: []address.Token{tok(1)}}).Marshal()), proto.CodeInternal)
	if n := r.srv.Stats().Rejections["internal"]; n != 2 {
		t.Fatalf("internal counter %d", n)
	}
	// The client retries CodeInternal: heal the store after the first try.
	cl := r.client(t, nil)
	go func() { time.Sleep(30 * time.Millisecond); fs.fail.Store(false) }()
	if _, err := cl.Deposit(bg, tok(1), []byte("y")); err != nil {
		t.Fatalf("deposit with retries: %v", err)
	}
	fs.fail.Store(true)
	_, err := r.client(t, func(c *client.Config) { c.Retries = -1 }).Deposit(bg, tok(1), []byte("z"))
	if !errors.Is(err, proto.CodeInternal) {
		t.Fatalf("without retries: %v", err)
	}
}

func TestAccessKey(t *testing.T) {
	t.Parallel()
	key, _ := proto.GenerateAccessKey(nil)
	wrong, _ := proto.GenerateAccessKey(nil)
	r := startRelay(t, options{policy: func(c *policy.Config) { c.AccessKey = key }})
	for _, k := range []*proto.AccessKey{nil, wrong} {
		_, err := r.client(t, func(c *client.Config) { c.AccessKey = k }).Deposit(bg, tok(1), []byte("x"))
		if !errors.Is(err, proto.CodeAccessDenied) {
			t.Fatalf("key %v: %v, want access denied", k, err)
		}
	}
	if n := r.srv.Stats().Rejections["access_denied"]; n != 2 {
		t.Fatalf("counter %d", n)
	}
	if _, err := r.client(t, func(c *client.Config) { c.AccessKey = key }).Deposit(bg, tok(1), []byte("x")); err != nil {
		t.Fatal(err)
	}
	// A refused client gets the welcome, then the relay hangs up.
	nc, _ := net.Dial("tcp", r.addr.HostPort())
	defer nc.Close()
	lc, wb, err := link.Client(nc, r.addr.Key, (&proto.Hello{}).Marshal(), link.Config{MaxRead: 100, MaxWrite: 100})
	if err != nil {
		t.Fatal(err)
	}
	if w, _ := proto.ParseWelcome(wb); w == nil || w.Code != proto.CodeAccessDenied {
		t.Fatalf("welcome %+v", w)
	}
	lc.WriteMessage((&proto.Ping{}).Marshal())
	if _, err := lc.ReadMessage(); err == nil {
		t.Fatal("refused client got an answer")
	}
	// A malformed hello is refused too.
	nc2, _ := net.Dial("tcp", r.addr.HostPort())
	defer nc2.Close()
	_, wb, err = link.Client(nc2, r.addr.Key, []byte{0x80, 0x01, 7}, link.Config{MaxRead: 100, MaxWrite: 100})
	if w, _ := proto.ParseWelcome(wb); err != nil || w == nil || w.Code != proto.CodeMalformed {
		t.Fatalf("malformed hello: %+v %v", w, err)
	}
}

// TestReplayedDeposit sends the same deposit twice on one connection and on
// two: one item is stored, every answer carries its id.
func TestReplayedDeposit(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{})
	d := stamped(t, tok(1), []byte("once"), 1, time.Now()).Marshal()
	c1, c2 := r.raw(t, nil), r.raw(t, nil)
	first, ok := c1.send(t, d).(*proto.Receipt)
	if !ok || first.Duplicate {
		t.Fatalf("first %+v", first)
	}
	for _, c := range []*raw{c1, c2} {
		again, ok := c.send(t, d).(*proto.Receipt)
		if !ok || !again.Duplicate || again.ID != first.ID || again.Expires != first.Expires {
			t.Fatalf("replay %+v", again)
		}
	}
	// Concurrent replays on fresh connections, before and after an ack.
	d2 := stamped(t, tok(2), []byte("race"), 1, time.Now()).Marshal()
	var wg sync.WaitGroup
	ids := make([]uint64, 8)
	for i := range ids {
		wg.Go(func() {
			if rc, ok := r.raw(t, nil).send(t, d2).(*proto.Receipt); ok {
				ids[i] = rc.ID
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id == 0 || id != ids[0] {
			t.Fatalf("ids %v", ids)
		}
	}
	got := fetchAll(t, r.client(t, nil), []address.Token{tok(1), tok(2)})
	if got["once"] != 1 || got["race"] != 1 || len(got) != 2 {
		t.Fatalf("stored %v", got)
	}
	if rc, ok := c2.send(t, d).(*proto.Receipt); !ok || !rc.Duplicate {
		t.Fatal("replay after ack stored again")
	}
	if n := r.bolt.Usage().Items; n != 0 {
		t.Fatalf("%d items after ack and replay", n)
	}
	st := r.srv.Stats()
	if st.Deposits != 2 || st.Duplicates < 9 {
		t.Fatalf("stats %+v", st)
	}
}

// TestClientClockSkew runs a client whose clock is an hour off: it stamps in
// the relay's time, from the welcome.
func TestClientClockSkew(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{})
	for _, skew := range []time.Duration{-time.Hour, time.Hour} {
		c := r.client(t, func(c *client.Config) { c.Now = func() time.Time { return time.Now().Add(skew) } })
		if _, err := c.Deposit(bg, tok(1), []byte(skew.String())); err != nil {
			t.Fatalf("skew %v: %v", skew, err)
		}
	}
}

// TestRelayClockJump moves the relay's clock after the handshake: the first
// stamp is refused as stale, and the client re-syncs and solves again.
func TestRelayClockJump(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{})
	c := r.client(t, nil)
	if _, err := c.Welcome(bg); err != nil {
		t.Fatal(err)
	}
	r.clock.add(pow.DefaultMaxAge + time.Minute)
	rc, err := c.Deposit(bg, tok(1), []byte("x"))
	if err != nil || rc.Duplicate {
		t.Fatalf("deposit after clock jump: %+v %v", rc, err)
	}
	if n := r.srv.Stats().Rejections["stale_stamp"]; n != 1 {
		t.Fatalf("stale counter %d", n)
	}
}

// TestFetchFillsResponse deposits more large blobs than one response holds.
func TestFetchFillsResponse(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{})
	c := r.client(t, nil)
	for i := range 6 {
		if _, err := c.Deposit(bg, tok(1), blob(wire.MaxBlobSize, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	items, err := c.Fetch(bg, []address.Token{tok(1)}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !items.More || len(items.Items) != (proto.MaxResponseSize-proto.ItemsOverhead)/(proto.ItemOverhead+wire.MaxBlobSize) {
		t.Fatalf("%d items, more %v", len(items.Items), items.More)
	}
	got := fetchAll(t, c, []address.Token{tok(1)})
	if len(got) != 6 {
		t.Fatalf("fetched %d", len(got))
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{policy: func(c *policy.Config) { c.TTL = time.Hour }})
	c := r.client(t, nil)
	if _, err := c.Deposit(bg, tok(1), []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.clock.add(time.Hour + time.Second)
	items, _ := c.Fetch(bg, []address.Token{tok(1)}, 10)
	if len(items.Items) != 0 {
		t.Fatal("expired item delivered")
	}
	r.srv.SweepNow()
	if st := r.srv.Stats(); st.ItemsExpired != 1 || st.Items != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestSweeperRuns checks the background sweeper with a short interval.
func TestSweeperRuns(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{
		policy: func(c *policy.Config) { c.TTL = time.Second },
		server: func(c *server.Config) { c.SweepInterval = 20 * time.Millisecond },
	})
	if _, err := r.client(t, nil).Deposit(bg, tok(1), []byte("x")); err != nil {
		t.Fatal(err)
	}
	r.clock.add(2 * time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for r.srv.Stats().ItemsExpired == 0 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not run")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{policy: func(c *policy.Config) { c.MaxConns = 3 }})
	var held []*raw
	for range 3 {
		held = append(held, r.raw(t, nil))
	}
	nc, err := net.Dial("tcp", r.addr.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := nc.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("over the limit: read %d, %v; want the relay to hang up", n, err)
	}
	nc.Close()
	if st := r.srv.Stats(); st.Connections.RefusedAtLimit != 1 || st.Connections.Open != 3 {
		t.Fatalf("stats %+v", st.Connections)
	}
	held[0].lc.Close()
	deadline := time.Now().Add(5 * time.Second)
	for r.policy.Conns() == 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, ok := r.raw(t, nil).send(t, (&proto.Ping{}).Marshal()).(*proto.Pong); !ok {
		t.Fatal("no slot after a close")
	}
}

// TestHostileInput throws garbage at the relay and checks after each that it
// still serves, that every bad connection was closed, and that memory stayed
// bounded.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{server: func(c *server.Config) {
		// Long enough for a handshake on a loaded machine under -race,
		// short enough that the slow clients below are cut off quickly.
		c.HandshakeTimeout = time.Second
		c.IdleTimeout = time.Second
	}})
	dialRaw := func() net.Conn {
		nc, err := net.Dial("tcp", r.addr.HostPort())
		if err != nil {
			t.Fatal(err)
		}
		return nc
	}
	// expectClose waits until the relay closes nc.
	expectClose := func(name string, nc net.Conn) {
		t.Helper()
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, nc); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("%s: relay did not close the connection", name)
			}
		}
	}
	post := func(name string, frame []byte) {
		t.Helper()
		c := r.raw(t, nil)
		c.lc.NetConn().Write(frame)
		expectClose(name, c.lc.NetConn())
	}
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for round := range 20 {
		// Garbage instead of a handshake.
		nc := dialRaw()
		nc.Write([]byte("GET / HTTP/1.1\r\nHost: relay\r\n\r\n"))
		expectClose("http", nc)
		// A handshake frame claiming 4 GiB.
		nc = dialRaw()
		nc.Write([]byte{0xff, 0xff, 0xff, 0xff})
		expectClose("4 GiB handshake", nc)
		// A random handshake message.
		nc = dialRaw()
		nc.Write(append([]byte{0, 0, 0, 100}, blob(100, uint64(round))...))
		expectClose("bad noise", nc)
		// After the handshake: a frame claiming 4 GiB, a frame that fails
		// authentication, a malformed frame length.
		post("4 GiB frame", []byte{0xff, 0xff, 0xff, 0xff})
		post("bad frame", append([]byte{0, 0, 0, 40}, blob(40, 9)...))
		post("short frame", append([]byte{0, 0, 0, 16}, make([]byte, 16)...))
		// A request frame just over the relay's request limit.
		post("request over limit", binary.BigEndian.AppendUint32(nil, uint32(link.FrameSize(proto.MaxRequestSize)+1)))
	}
	// Slowloris: silent in the handshake, dribbling in the handshake,
	// silent after it, dribbling a request.
	start := time.Now()
	var wg sync.WaitGroup
	for _, f := range []func() net.Conn{
		func() net.Conn { return dialRaw() },
		func() net.Conn {
			nc := dialRaw()
			go func() {
				nc.Write([]byte{0, 0, 0, 80})
				for range 200 {
					if _, err := nc.Write([]byte{1}); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			return nc
		},
		func() net.Conn { return r.raw(t, nil).lc.NetConn() },
		func() net.Conn {
			nc := r.raw(t, nil).lc.NetConn()
			go func() {
				nc.Write([]byte{0, 0, 1, 0})
				for range 200 {
					if _, err := nc.Write([]byte{1}); err != nil {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()
			return nc
		},
	} {
		wg.Go(func() { expectClose("slowloris", f()) })
	}
	wg.Wait()
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("slow clients held for %v", d)
	}
	// The relay still serves, and holds no connection.
	if _, err := r.client(t, nil).Deposit(bg, tok(1), []byte("still here")); err != nil {
		t.Fatal(err)
	}
	st := r.srv.Stats()
	if st.Connections.FrameTooLarge < 60 || st.Connections.HandshakeFailed < 60 || st.Connections.BadFrames < 40 || st.Connections.Timeouts < 2 {
		t.Fatalf("counters %+v", st.Connections)
	}
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	if after.HeapInuse > before.HeapInuse+32<<20 {
		t.Fatalf("heap grew from %d to %d", before.HeapInuse, after.HeapInuse)
	}
}

// TestShutdown checks graceful shutdown: a request in flight is answered,
// idle connections are closed, new connections are refused.
func TestShutdown(t *testing.T) {
	t.Parallel()
	g := &gateStore{entered: make(chan struct{}), release: make(chan struct{})}
	r := startRelay(t, options{wrap: func(s store.Store) store.Store { g.Store = s; return g }})
	idle := r.raw(t, nil)
	busy := r.raw(t, nil)
	d := stamped(t, tok(1), []byte("in flight"), 1, time.Now())
	if err := busy.lc.WriteMessage(d.Marshal()); err != nil {
		t.Fatal(err)
	}
	<-g.entered
	shut := make(chan error, 1)
	go func() { shut <- r.srv.Shutdown(bg) }()
	// The idle connection is closed at once.
	idle.lc.NetConn().SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.lc.ReadMessage(); err == nil {
		t.Fatal("idle connection not closed")
	}
	select {
	case err := <-shut:
		t.Fatalf("shutdown returned with a request in flight: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(g.release)
	b, err := busy.lc.ReadMessage()
	if err != nil {
		t.Fatalf("in-flight request not answered: %v", err)
	}
	if resp, _ := proto.ParseResponse(b); resp == nil {
		t.Fatal("bad answer")
	} else if _, ok := resp.(*proto.Receipt); !ok {
		t.Fatalf("answer %#v", resp)
	}
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", r.addr.HostPort(), time.Second); err == nil {
		t.Fatal("listener still open")
	}
	path := r.bolt.Path()
	r.stop(t)
	// The answered deposit is durable.
	s2, err := store.OpenBolt(path, r.policy.StoreLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if s2.Usage().Items != 1 {
		t.Fatal("answered deposit lost")
	}
}

func TestHealthHandler(t *testing.T) {
	t.Parallel()
	r := startRelay(t, options{})
	c := r.client(t, nil)
	secretToken := tok(0x4242)
	if _, err := c.Deposit(bg, secretToken, []byte("x")); err != nil {
		t.Fatal(err)
	}
	h := r.srv.HealthHandler()
	get := func(host, method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://"+host+path, nil)
		req.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := get("127.0.0.1:9999", "GET", "/health")
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d", w.Code)
	}
	var st server.Stats
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Deposits != 1 || st.Items != 1 || st.BytesStored != 1 || len(st.Rejections) != len(proto.Codes()) {
		t.Fatalf("stats %+v", st)
	}
	body := w.Body.String()
	for _, leak := range []string{"704242", "cEJC", "token:"} {
		if strings.Contains(body, leak) {
			t.Fatalf("health output contains %q: %s", leak, body)
		}
	}
	for _, tc := range []struct {
		host, method, path string
		want               int
	}{
		{"[::1]:1", "GET", "/health", 200},
		{"127.0.0.2", "HEAD", "/health", 200},
		{"evil.example:9999", "GET", "/health", 403},
		{"localhost:9999", "GET", "/health", 403},
		{"10.0.0.1", "GET", "/health", 403},
		{"127.0.0.1:1", "POST", "/health", 405},
		{"127.0.0.1:1", "GET", "/", 404},
	} {
		if got := get(tc.host, tc.method, tc.path).Code; got != tc.want {
			t.Errorf("%s %s %s: %d, want %d", tc.method, tc.host, tc.path, got, tc.want)
		}
	}
	_ = http.StatusOK
}

func TestNewChecks(t *testing.T) {
	if _, err := server.New(server.Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	r := startRelay(t, options{})
	if _, err := server.New(server.Config{Key: r.key, Store: r.store, Policy: r.policy, IdleTimeout: -1}); err == nil {
		t.Fatal("negative timeout accepted")
	}
}

// hangStore never finishes a deposit until its context ends: a disk that
// hangs.
type hangStore struct {
	store.Store
	entered chan struct{}
}

func (h *hangStore) Deposit(ctx context.Context, d store.Deposit, now time.Time) (store.Receipt, error) {
	h.entered <- struct{}{}
	<-ctx.Done()
	return store.Receipt{}, ctx.Err()
}

// TestForcedShutdown checks that Shutdown returns when its context ends
// even if a request is stuck in the store.
func TestForcedShutdown(t *testing.T) {
	t.Parallel()
	h := &hangStore{entered: make(chan struct{}, 1)}
	r := startRelay(t, options{wrap: func(s store.Store) store.Store { h.Store = s; return h }})
	c := r.raw(t, nil)
	if err := c.lc.WriteMessage(stamped(t, tok(1), []byte("stuck"), 1, time.Now()).Marshal()); err != nil {
		t.Fatal(err)
	}
	<-h.entered
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := r.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("forced shutdown took %v", d)
	}
	// Either an error answer or a closed connection; never a receipt.
	if b, err := c.lc.ReadMessage(); err == nil {
		if resp, _ := proto.ParseResponse(b); resp == nil {
			t.Fatal("bad answer")
		} else if _, ok := resp.(*proto.Error); !ok {
			t.Fatalf("answer %#v after a forced shutdown", resp)
		}
	}
}
