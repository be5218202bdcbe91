package server_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/server"
	"github.com/parley-im/parley/relay/store"
)

// relay is a server on a loopback port with a bbolt store in a temp dir.
type relay struct {
	srv    *server.Server
	store  store.Store
	bolt   *store.Bolt
	policy *policy.Policy
	key    *link.PrivateKey
	addr   addr.Address
	clock  *clock
	served chan error
}

// clock is a settable clock; zero offset means real time.
type clock struct{ offset atomic.Int64 }

func (c *clock) now() time.Time      { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) add(d time.Duration) { c.offset.Add(int64(d)) }

type options struct {
	policy func(*policy.Config)
	server func(*server.Config)
	wrap   func(store.Store) store.Store
}

func testPolicy() policy.Config {
	c := policy.Default()
	c.PowBits = 1
	c.PowCacheSize = 1 << 20
	c.QuotaPerToken = 1 << 20
	c.MaxConns = 1 << 12
	return c
}

func startRelay(t testing.TB, o options) *relay {
	t.Helper()
	pc := testPolicy()
	if o.policy != nil {
		o.policy(&pc)
	}
	p, err := policy.New(pc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := store.OpenBolt(filepath.Join(t.TempDir(), "relay.db"), p.StoreLimits())
	if err != nil {
		t.Fatal(err)
	}
	var st store.Store = b
	if o.wrap != nil {
		st = o.wrap(b)
	}
	key, err := link.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{store: st, bolt: b, policy: p, key: key, clock: &clock{}, served: make(chan error, 1)}
	sc := server.Config{Key: key, Store: st, Policy: p, Now: r.clock.now}
	if o.server != nil {
		o.server(&sc)
	}
	r.srv, err = server.New(sc)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	r.addr, err = addr.New(key.Public(), "127.0.0.1", uint16(port))
	if err != nil {
		t.Fatal(err)
	}
	go func() { r.served <- r.srv.Serve(ln) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

var stopped sync.Map

func (r *relay) stop(t testing.TB) {
	if _, done := stopped.LoadOrStore(r, true); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	if err := <-r.served; !errors.Is(err, server.ErrServerClosed) {
		t.Errorf("serve: %v", err)
	}
	if err := r.store.Close(); err != nil {
		t.Errorf("store close: %v", err)
	}
}

func (r *relay) client(t testing.TB, mod func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.Config{Address: r.addr, Backoff: 10 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// raw is a link-level connection for sending hand-made requests.
type raw struct {
	lc      *link.Conn
	welcome *proto.Welcome
}

func (r *relay) raw(t testing.TB, key *proto.AccessKey) *raw {
	t.Helper()
	nc, err := net.Dial("tcp", r.addr.HostPort())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	lc, wb, err := link.Client(nc, r.addr.Key, (&proto.Hello{AccessKey: key}).Marshal(),
		link.Config{MaxRead: proto.MaxResponseSize, MaxWrite: link.MaxMessageSize})
	if err != nil {
		t.Fatal(err)
	}
	w, err := proto.ParseWelcome(wb)
	if err != nil {
		t.Fatal(err)
	}
	return &raw{lc: lc, welcome: w}
}

func (c *raw) send(t testing.TB, msg []byte) proto.Response {
	t.Helper()
	if err := c.lc.WriteMessage(msg); err != nil {
		t.Fatal(err)
	}
	b, err := c.lc.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := proto.ParseResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func tok(n int) address.Token {
	var t address.Token
	t[0], t[1], t[2] = 0x70, byte(n>>8), byte(n)
	t[31] = 0x01
	return t
}

// stamped makes a deposit with a stamp of bits at stampTime.
func stamped(t testing.TB, token address.Token, blob []byte, bits uint8, stampTime time.Time) *proto.Deposit {
	t.Helper()
	st, err := pow.Solve(context.Background(), token, sha256.Sum256(blob), stampTime, bits)
	if err != nil {
		t.Fatal(err)
	}
	return &proto.Deposit{Token: token, Stamp: st, Blob: blob}
}

func wantCode(t testing.TB, resp proto.Response, c proto.Code) {
	t.Helper()
	e, ok := resp.(*proto.Error)
	if !ok || e.Code != c {
		t.Fatalf("response %#v, want error %v", resp, c)
	}
}

func blob(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// fetchAll fetches and acks everything under tokens through c.
func fetchAll(t testing.TB, c *client.Client, tokens []address.Token) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range 10000 {
		items, err := c.Fetch(context.Background(), tokens, proto.MaxFetchItems)
		if err != nil {
			t.Fatal(err)
		}
		byToken := map[address.Token][]uint64{}
		for _, it := range items.Items {
			got[string(it.Blob)]++
			byToken[it.Token] = append(byToken[it.Token], it.ID)
		}
		for tk, ids := range byToken {
			if _, err := c.Ack(context.Background(), tk, ids); err != nil {
				t.Fatal(err)
			}
		}
		if !items.More {
			return got
		}
	}
	t.Fatal("fetch did not finish")
	return nil
}

// failingStore fails chosen operations, to test CodeInternal.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

var errDisk = errors.New("disk on fire")

func (f *failingStore) Deposit(ctx context.Context, d store.Deposit, now time.Time) (store.Receipt, error) {
	if f.fail.Load() {
		return store.Receipt{}, errDisk
	}
	return f.Store.Deposit(ctx, d, now)
}

func (f *failingStore) Fetch(ctx context.Context, tokens []address.Token, l store.FetchLimit, now time.Time) ([]store.Item, bool, error) {
	if f.fail.Load() {
		return nil, false, errDisk
	}
	return f.Store.Fetch(ctx, tokens, l, now)
}

// gateStore holds deposits until released, to test shutdown with requests
// in flight.
type gateStore struct {
	store.Store
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) Deposit(ctx context.Context, d store.Deposit, now time.Time) (store.Receipt, error) {
	g.entered <- struct{}{}
	<-g.release
	return g.Store.Deposit(ctx, d, now)
}
