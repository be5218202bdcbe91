package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/server"
	"github.com/parley-im/parley/relay/store"
)

// downStore is a store whose database is unreachable while down is set.
type downStore struct {
	store.Store
	down atomic.Bool
}

func (d *downStore) Deposit(ctx context.Context, dep store.Deposit, now time.Time) (store.Receipt, error) {
	if d.down.Load() {
		return store.Receipt{}, store.ErrUnavailable
	}
	return d.Store.Deposit(ctx, dep, now)
}

func (d *downStore) Lookup(ctx context.Context, k store.DedupeKey) (store.Receipt, bool, error) {
	if d.down.Load() {
		return store.Receipt{}, false, store.ErrUnavailable
	}
	return d.Store.Lookup(ctx, k)
}

func (d *downStore) Fetch(ctx context.Context, tokens []address.Token, l store.FetchLimit, now time.Time) ([]store.Item, bool, error) {
	if d.down.Load() {
		return nil, false, store.ErrUnavailable
	}
	return d.Store.Fetch(ctx, tokens, l, now)
}

func (d *downStore) Health(ctx context.Context) store.Health {
	return store.Health{Kind: "test", Reachable: !d.down.Load()}
}

func health(t *testing.T, r *relay) server.Stats {
	t.Helper()
	req := httptest.NewRequest("GET", "http://127.0.0.1:1/health", nil)
	w := httptest.NewRecorder()
	r.srv.HealthHandler().ServeHTTP(w, req)
	var st server.Stats
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestStoreUnavailable checks that a store that cannot reach its database
// is answered with the retryable code "unavailable" (counted, and retried
// by the client until the store is back), and that the health endpoint
// reports the store's kind and reachability.
func TestStoreUnavailable(t *testing.T) {
	t.Parallel()
	var ds *downStore
	r := startRelay(t, options{wrap: func(s store.Store) store.Store { ds = &downStore{Store: s}; return ds }})
	if st := health(t, r); st.Store.Kind != "test" || !st.Store.Reachable {
		t.Fatalf("store health %+v", st.Store)
	}
	ds.down.Store(true)
	if st := health(t, r); st.Store.Reachable {
		t.Fatal("health says reachable while the store is down")
	}
	c := r.raw(t, nil)
	wantCode(t, c.send(t, stamped(t, tok(1), []byte("x"), 1, time.Now()).Marshal()), proto.CodeUnavailable)
	wantCode(t, c.send(t, (&proto.Fetch{Limit: 1, Tokens: []address.Token{tok(1)}}).Marshal()), proto.CodeUnavailable)
	if n := r.srv.Stats().Rejections["unavailable"]; n != 2 {
		t.Fatalf("unavailable counter %d", n)
	}
	if !proto.CodeUnavailable.Retryable() {
		t.Fatal("unavailable is not retryable")
	}
	// The client retries it: bring the store back after the first try.
	cl := r.client(t, nil)
	go func() { time.Sleep(30 * time.Millisecond); ds.down.Store(false) }()
	if _, err := cl.Deposit(bg, tok(1), []byte("y")); err != nil {
		t.Fatalf("deposit with retries: %v", err)
	}
	ds.down.Store(true)
	_, err := r.client(t, func(c *client.Config) { c.Retries = -1 }).Deposit(bg, tok(1), []byte("z"))
	if !errors.Is(err, proto.CodeUnavailable) {
		t.Fatalf("without retries: %v", err)
	}
}

// TestHealthStoreKind checks the store report of the bbolt store, and of
// a store that does not report (unknown, not vouched for).
func TestHealthStoreKind(t *testing.T) {
	t.Parallel()
	if st := health(t, startRelay(t, options{})); st.Store.Kind != "bbolt" || !st.Store.Reachable {
		t.Fatalf("bbolt store health %+v", st.Store)
	}
	r := startRelay(t, options{wrap: func(s store.Store) store.Store { return &failingStore{Store: s} }})
	if st := health(t, r); st.Store.Kind != "unknown" || st.Store.Reachable {
		t.Fatalf("unreporting store health %+v", st.Store)
	}
}
