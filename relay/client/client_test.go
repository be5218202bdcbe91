package client_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/server"
	"github.com/parley-im/parley/relay/store"
)

var bg = context.Background()

type relay struct {
	addr  addr.Address
	store *store.Bolt
	srv   *server.Server
}

func startRelay(t testing.TB) *relay {
	t.Helper()
	pc := policy.Default()
	pc.PowBits = 1
	p, err := policy.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "relay.db"), p.StoreLimits())
	if err != nil {
		t.Fatal(err)
	}
	key, err := link.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Key: key, Store: st, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(bg)
		st.Close()
	})
	a, err := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	return &relay{addr: a, store: st, srv: srv}
}

func newClient(t testing.TB, cfg client.Config) *client.Client {
	t.Helper()
	if cfg.Backoff == 0 {
		cfg.Backoff = 5 * time.Millisecond
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tok(n byte) address.Token {
	var t address.Token
	t[0], t[31] = n, 0xcc
	return t
}

// cutProxy forwards connections to target. On the first connection it
// forwards the handshake answer, then drops the first response frame and
// closes both sides: the request was delivered and handled, the answer
// lost. Later connections pass untouched.
type cutProxy struct {
	ln     net.Listener
	target string
	conns  atomic.Int32
}

func newCutProxy(t testing.TB, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close() })
	go p.run()
	return p
}

func (p *cutProxy) run() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		n := p.conns.Add(1)
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer s.Close()
			go io.Copy(s, c)
			if n > 1 {
				io.Copy(c, s)
				return
			}
			for frame := 0; ; frame++ {
				var hdr [4]byte
				if _, err := io.ReadFull(s, hdr[:]); err != nil {
					return
				}
				body := make([]byte, binary.BigEndian.Uint32(hdr[:]))
				if _, err := io.ReadFull(s, body); err != nil {
					return
				}
				if frame == 1 {
					return // drop the first response and hang up
				}
				c.Write(append(hdr[:], body...))
			}
		}()
	}
}

func (p *cutProxy) addr(a addr.Address) addr.Address {
	a.Port = uint16(p.ln.Addr().(*net.TCPAddr).Port)
	return a
}

// TestDepositRetryIsIdempotent loses the answer to a deposit that the relay
// stored: the client retries the same deposit and gets the first receipt,
// and the relay holds the blob once.
func TestDepositRetryIsIdempotent(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	p := newCutProxy(t, r.addr.HostPort())
	c := newClient(t, client.Config{Address: p.addr(r.addr)})
	rc, err := c.Deposit(bg, tok(1), []byte("once"))
	if err != nil {
		t.Fatal(err)
	}
	if !rc.Duplicate {
		t.Fatalf("receipt %+v: the retry should have found the first deposit", rc)
	}
	if p.conns.Load() != 2 {
		t.Fatalf("%d connections", p.conns.Load())
	}
	items, err := c.Fetch(bg, []address.Token{tok(1)}, 10)
	if err != nil || len(items.Items) != 1 || items.Items[0].ID != rc.ID {
		t.Fatalf("fetch %+v, %v", items, err)
	}
}

// TestFetchAndAckRetry loses the answers to a fetch and to an ack.
func TestFetchAndAckRetry(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	direct := newClient(t, client.Config{Address: r.addr})
	rc, err := direct.Deposit(bg, tok(1), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, r.addr.HostPort())
	c := newClient(t, client.Config{Address: p.addr(r.addr)})
	items, err := c.Fetch(bg, []address.Token{tok(1)}, 10)
	if err != nil || len(items.Items) != 1 {
		t.Fatalf("fetch %+v, %v", items, err)
	}
	p2 := newCutProxy(t, r.addr.HostPort())
	c2 := newClient(t, client.Config{Address: p2.addr(r.addr)})
	n, err := c2.Ack(bg, tok(1), []uint64{rc.ID})
	if err != nil || n != 0 {
		// The first ack deleted the item; its answer was lost, and the
		// retry finds nothing to delete.
		t.Fatalf("ack %d, %v", n, err)
	}
	if r.store.Usage().Items != 0 {
		t.Fatal("item not deleted")
	}
}

func TestRetriesExhausted(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close() // like a relay at its connection limit
		}
	}()
	defer ln.Close()
	key, _ := link.GenerateKey(nil)
	a, _ := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))
	c := newClient(t, client.Config{Address: a, Retries: 3})
	if _, err := c.Ping(bg); err == nil {
		t.Fatal("ping succeeded")
	}
	if accepted.Load() != 4 {
		t.Fatalf("%d attempts, want 4", accepted.Load())
	}
}

func TestContextCancel(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	var mu sync.Mutex
	var silent []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range silent {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			silent = append(silent, c) // accept and stay silent
			mu.Unlock()
		}
	}()
	key, _ := link.GenerateKey(nil)
	a, _ := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))
	c := newClient(t, client.Config{Address: a})
	ctx, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// TestWrongRelayKey dials a relay with another relay's key in the address:
// the handshake fails and nothing is sent.
func TestWrongRelayKey(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	other, _ := link.GenerateKey(nil)
	a := r.addr
	a.Key = other.Public()
	c := newClient(t, client.Config{Address: a, Retries: -1})
	if _, err := c.Deposit(bg, tok(1), []byte("x")); err == nil {
		t.Fatalf("deposit to an impostor: %v", err)
	}
	if r.store.Usage().Items != 0 {
		t.Fatal("stored")
	}
}

func TestLocalChecks(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	c := newClient(t, client.Config{Address: r.addr})
	many := make([]address.Token, proto.MaxFetchTokens+1)
	for i := range many {
		many[i] = tok(byte(i))
	}
	checks := []error{
		func() error { _, err := c.Deposit(bg, tok(1), nil); return err }(),
		func() error { _, err := c.Deposit(bg, tok(1), make([]byte, 70000)); return err }(),
		func() error { _, err := c.Fetch(bg, []address.Token{tok(1)}, 0); return err }(),
		func() error { _, err := c.Fetch(bg, []address.Token{tok(1)}, proto.MaxFetchItems+1); return err }(),
		func() error { _, err := c.Fetch(bg, nil, 1); return err }(),
		func() error { _, err := c.Fetch(bg, many, 1); return err }(),
		func() error { _, err := c.Fetch(bg, []address.Token{tok(1), tok(1)}, 1); return err }(),
		func() error { _, err := c.Ack(bg, tok(1), nil); return err }(),
		func() error { _, err := c.Ack(bg, tok(1), []uint64{2, 1}); return err }(),
	}
	for i, err := range checks {
		var code proto.Code
		if !errors.As(err, &code) {
			t.Errorf("check %d: %v", i, err)
		}
	}
	if st := r.srv.Stats(); st.Deposits+st.Fetches+st.Acks != 0 {
		t.Fatal("invalid requests reached the relay")
	}
	c.Close()
	if _, err := c.Ping(bg); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// TestConcurrentUse shares one Client between goroutines.
func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	r := startRelay(t)
	c := newClient(t, client.Config{Address: r.addr})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if _, err := c.Deposit(bg, tok(byte(i%3)), []byte(fmt.Sprint(i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if r.store.Usage().Items != 20 {
		t.Fatalf("%d items", r.store.Usage().Items)
	}
}

// fakeRelay answers every request with resp.
func fakeRelay(t testing.TB, resp proto.Response) addr.Address {
	key, _ := link.GenerateKey(nil)
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				w := &proto.Welcome{PowBits: 1, MaxBlob: 100, TTL: 60, QuotaPerToken: 1, Time: uint64(time.Now().Unix())}
				lc, err := link.Server(nc, key, link.Config{MaxRead: proto.MaxRequestSize, MaxWrite: proto.MaxResponseSize},
					func([]byte) ([]byte, bool) { return w.Marshal(), true })
				if err != nil {
					return
				}
				for {
					if _, err := lc.ReadMessage(); err != nil {
						return
					}
					lc.WriteMessage(resp.Marshal())
				}
			}()
		}
	}()
	a, _ := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))
	return a
}

func TestProtocolErrors(t *testing.T) {
	t.Parallel()
	c := newClient(t, client.Config{Address: fakeRelay(t, &proto.Pong{Time: 1})})
	if _, err := c.Deposit(bg, tok(1), []byte("x")); !errors.Is(err, client.ErrProtocol) {
		t.Fatalf("deposit answered by pong: %v", err)
	}
	if _, err := c.Fetch(bg, []address.Token{tok(1)}, 1); !errors.Is(err, client.ErrProtocol) {
		t.Fatalf("fetch answered by pong: %v", err)
	}
	foreign := &proto.Items{Items: []proto.Item{{Token: tok(9), ID: 1, Blob: []byte{1}}}}
	c2 := newClient(t, client.Config{Address: fakeRelay(t, foreign)})
	if _, err := c2.Fetch(bg, []address.Token{tok(1)}, 1); !errors.Is(err, client.ErrProtocol) {
		t.Fatalf("items for a token not asked for: %v", err)
	}
	c3 := newClient(t, client.Config{Address: fakeRelay(t, &proto.Acked{Count: 5})})
	if _, err := c3.Ack(bg, tok(1), []uint64{1}); !errors.Is(err, client.ErrProtocol) {
		t.Fatalf("acked more than asked: %v", err)
	}
}

func TestNewChecks(t *testing.T) {
	if _, err := client.New(client.Config{}); err == nil {
		t.Fatal("empty address accepted")
	}
	key, _ := link.GenerateKey(nil)
	a, _ := addr.New(key.Public(), "127.0.0.1", 1)
	if _, err := client.New(client.Config{Address: a, Backoff: -1}); err == nil {
		t.Fatal("negative backoff accepted")
	}
}
