package relaycmd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/store"
	"github.com/parley-im/parley/relay/store/pgstore"
	"github.com/parley-im/parley/relay/store/pgtest"
)

// pgRelay starts a relay process on the PostgreSQL store at url, with a
// data directory of its own (its key and address) and a health endpoint;
// port 0 picks a free one.
func pgRelay(t testing.TB, url, data string, port int) (*proc, []string) {
	t.Helper()
	args := []string{"--listen", "127.0.0.1:" + strconv.Itoa(port), "--data", data, "--pow-bits", "1",
		"--store", url, "--health", "127.0.0.1:0", "--max-conns", "2048"}
	return start(t, args...), args
}

// healthReport is the part of the health JSON these tests read.
type healthReport struct {
	Deposits uint64 `json:"deposits"`
	Store    struct {
		Kind      string `json:"kind"`
		Reachable bool   `json:"reachable"`
	} `json:"store"`
	Rejections map[string]uint64 `json:"rejections"`
}

func (p *proc) healthReport(t testing.TB) healthReport {
	t.Helper()
	resp, err := http.Get(p.health)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h healthReport
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

// ledger records what a load's clients were told.
type ledger struct {
	mu      sync.Mutex
	acked   map[string]uint64 // blob -> id from its receipt
	unknown map[string]bool   // gave up: may or may not be stored
	dupRcpt int               // receipts marked duplicate (a fresh deposit never is)
	count   atomic.Int64
}

func newLedger() *ledger { return &ledger{acked: map[string]uint64{}, unknown: map[string]bool{}} }

// loadClient returns a client that retries through relay and database
// outages.
func loadClient(t testing.TB, a addr.Address) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{
		Address: a, Retries: 60, Backoff: 10 * time.Millisecond,
		RequestTimeout: 10 * time.Second, HandshakeTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// deposit deposits blob under token through c and records the outcome.
func (l *ledger) deposit(c *client.Client, token address.Token, blob string) bool {
	rc, err := c.Deposit(bg, token, []byte(blob))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.count.Add(1)
	if err != nil {
		l.unknown[blob] = true
		return false
	}
	if rc.Duplicate {
		l.dupRcpt++
	}
	l.acked[blob] = rc.ID
	return true
}

// drain fetches and acks everything under tokens through c; it returns
// how often each blob was delivered and under which id.
func drain(t testing.TB, c *client.Client, tokens []address.Token, seen map[string]int, ids map[string]uint64) {
	t.Helper()
	for range 100000 {
		items, err := c.Fetch(bg, tokens, proto.MaxFetchItems)
		if err != nil {
			t.Fatal(err)
		}
		byToken := map[address.Token][]uint64{}
		for _, it := range items.Items {
			seen[string(it.Blob)]++
			ids[string(it.Blob)] = it.ID
			byToken[it.Token] = append(byToken[it.Token], it.ID)
		}
		for tk, l := range byToken {
			if _, err := c.Ack(bg, tk, l); err != nil {
				t.Fatal(err)
			}
		}
		if !items.More {
			return
		}
	}
	t.Fatal("drain did not finish")
}

// verify checks the delivered blobs against the ledger: every acknowledged
// deposit delivered exactly once under its receipt's id, nothing delivered
// twice, nothing delivered that no client deposited. Without faults, no
// receipt may say duplicate either (with faults one may: a deposit
// committed just before its relay or connection died is retried, and the
// retry finds it stored).
func (l *ledger) verify(t testing.TB, seen map[string]int, ids map[string]uint64, faults bool) (lost, dups int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for blob, id := range l.acked {
		switch {
		case seen[blob] == 0:
			lost++
			if lost < 10 {
				t.Errorf("acknowledged deposit %s lost", blob)
			}
		case ids[blob] != id:
			t.Errorf("deposit %s delivered as id %d, receipt said %d", blob, ids[blob], id)
		}
	}
	for blob, n := range seen {
		if n != 1 {
			dups++
			if dups < 10 {
				t.Errorf("%s delivered %d times", blob, n)
			}
		}
		if _, ok := l.acked[blob]; !ok && !l.unknown[blob] {
			t.Errorf("delivered %s, which no client deposited", blob)
		}
	}
	if l.dupRcpt != 0 && !faults {
		t.Errorf("%d fresh deposits got a duplicate receipt", l.dupRcpt)
	}
	return lost, dups
}

// checkStore opens the database directly and checks its consistency.
func checkStore(t testing.TB, url string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, time.Minute)
	defer cancel()
	s, err := pgstore.Open(ctx, url, store.Limits{TTL: time.Hour, MaxItemsPerToken: 1, MaxTotalBytes: 1, DedupeWindow: time.Hour}, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage(); u.Items != 0 {
		t.Errorf("%d items left after draining", u.Items)
	}
}

func tokens(n int) []address.Token {
	out := make([]address.Token, n)
	for i := range out {
		out[i] = tok(byte(i))
	}
	return out
}

// TestPostgresStoreFlag checks --store as a user meets it: a URL that is
// not postgres, or one holding a password (readable by every local user
// from the command line), is refused with a hint and never echoed; an
// unreachable database fails the start with a hint; a working one serves
// and reports kind and reachability in the health output.
func TestPostgresStoreFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := []string{"--relay", "--listen", "127.0.0.1:0", "--data", dir, "--store"}
	for _, tc := range []struct{ url, want, hidden string }{
		{"mysql://db/x", "--store must be a postgres://", "mysql"},
		{"postgres://parley:s3cretpw@db/x", "holds a password", "s3cretpw"},
		{"postgresql://parley@db/x?password=s3cretpw", "holds a password", "s3cretpw"},
		{"postgres://parley@/x?host=/nonexistent-parley-dir", "open postgres store", "\x00"},
	} {
		code, stdout, stderr := runBinary(t, append(base, tc.url)...)
		if code == 0 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "hint:") || strings.Contains(stderr, tc.hidden) {
			t.Errorf("--store %s: exit %d, stderr %q", tc.url, code, stderr)
		}
		if strings.Contains(stdout, "relay address") {
			t.Errorf("--store %s: started anyway", tc.url)
		}
	}
	url := pgtest.Shared(t).NewSchema(t)
	p, _ := pgRelay(t, url, t.TempDir(), 0)
	if _, err := p.client(t, nil).Deposit(bg, tok(1), []byte("x")); err != nil {
		t.Fatal(err)
	}
	h := p.healthReport(t)
	if h.Store.Kind != "postgres" || !h.Store.Reachable || h.Deposits != 1 {
		t.Fatalf("health %+v", h)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.stderr)
	}
}

// TestPostgresTwoRelays runs two relay processes on one database. First,
// deposits go through one and are fetched and acked through the other.
// Then 200 clients deposit 100 messages each, spread over both relays,
// while fetchers fetch and ack through both at the same time: 0 lost, 0
// duplicated, every item under its receipt's id.
func TestPostgresTwoRelays(t *testing.T) {
	t.Parallel()
	url := pgtest.Shared(t).NewSchema(t)
	a, _ := pgRelay(t, url, t.TempDir(), 0)
	b, _ := pgRelay(t, url, t.TempDir(), 0)
	relays := []*proc{a, b}

	// Deposit through a, fetch and ack through b.
	ca, cb := a.client(t, nil), b.client(t, nil)
	want := map[string]uint64{}
	for i := range 20 {
		blob := fmt.Sprint("one-way-", i)
		rc, err := ca.Deposit(bg, tok(200), []byte(blob))
		if err != nil {
			t.Fatal(err)
		}
		want[blob] = rc.ID
	}
	items, err := cb.Fetch(bg, []address.Token{tok(200)}, 100)
	if err != nil || len(items.Items) != 20 {
		t.Fatalf("fetch through the other relay: %v, %v", items, err)
	}
	var ids []uint64
	for _, it := range items.Items {
		if want[string(it.Blob)] != it.ID {
			t.Fatalf("%s under id %d", it.Blob, it.ID)
		}
		ids = append(ids, it.ID)
	}
	if n, err := cb.Ack(bg, tok(200), ids); err != nil || n != 20 {
		t.Fatalf("ack through the other relay: %d, %v", n, err)
	}
	if items, _ := ca.Fetch(bg, []address.Token{tok(200)}, 100); len(items.Items) != 0 {
		t.Fatal("acked items still delivered by the first relay")
	}

	// Both at once.
	const clients, each, ntok, groups = 200, 100, 64, 8
	l := newLedger()
	var deposits sync.WaitGroup
	for i := range clients {
		deposits.Go(func() {
			c := loadClient(t, relays[i%2].addr)
			for j := range each {
				l.deposit(c, tok(byte(i%ntok)), fmt.Sprintf("c%03d-m%03d", i, j))
			}
		})
	}
	var done atomic.Bool
	go func() { deposits.Wait(); done.Store(true) }()
	seen, gotIDs := map[string]int{}, map[string]uint64{}
	var mu sync.Mutex
	var fetchers sync.WaitGroup
	for g := range groups {
		fetchers.Go(func() {
			var mine []address.Token
			for k := g; k < ntok; k += groups {
				mine = append(mine, tok(byte(k)))
			}
			cs := []*client.Client{loadClient(t, a.addr), loadClient(t, b.addr)}
			for round := 0; ; round++ {
				last := done.Load()
				c := cs[round%2] // alternate the relays
				items, err := c.Fetch(bg, mine, proto.MaxFetchItems)
				if err != nil {
					t.Error(err)
					return
				}
				byToken := map[address.Token][]uint64{}
				mu.Lock()
				for _, it := range items.Items {
					seen[string(it.Blob)]++
					gotIDs[string(it.Blob)] = it.ID
					byToken[it.Token] = append(byToken[it.Token], it.ID)
				}
				mu.Unlock()
				for tk, ids := range byToken {
					if n, err := c.Ack(bg, tk, ids); err != nil || n != len(ids) {
						t.Errorf("ack %d of %d: %v", n, len(ids), err)
						return
					}
				}
				if len(items.Items) == 0 {
					if last {
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	start := time.Now()
	fetchers.Wait()
	lost, dups := l.verify(t, seen, gotIDs, false)
	if len(l.acked) != clients*each || lost != 0 || dups != 0 {
		t.Fatalf("%d deposits: %d acknowledged, %d lost, %d duplicated", clients*each, len(l.acked), lost, dups)
	}
	t.Logf("%d clients × %d messages through two relays, fetched and acked through both at once: 0 lost, 0 duplicated (%v)",
		clients, each, time.Since(start).Round(time.Millisecond))
	for _, p := range relays {
		if code := p.stop(t); code != 0 {
			t.Errorf("exit %d\n%s", code, p.stderr)
		}
	}
	checkStore(t, url)
}

// runLoad deposits from workers clients spread over relays until stop,
// each client sticking to its relay.
func runLoad(t testing.TB, relays []*proc, workers int, l *ledger, stop *atomic.Bool, perRelay []atomic.Int64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := w % len(relays)
			c := loadClient(t, relays[r].addr)
			for i := 0; !stop.Load(); i++ {
				if l.deposit(c, tok(byte(w%16)), fmt.Sprintf("w%02d-%06d", w, i)) {
					perRelay[r].Add(1)
				}
			}
		})
	}
	return &wg
}

// waitCount waits until n has grown by at least by.
func waitCount(t testing.TB, n *atomic.Int64, by int64) {
	t.Helper()
	target := n.Load() + by
	deadline := time.Now().Add(30 * time.Second)
	for n.Load() < target {
		if time.Now().After(deadline) {
			t.Fatalf("load stalled at %d (waiting for %d)", n.Load(), target)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPostgresKillRelay kills one of two relay processes on one database
// with SIGKILL mid-load, three times, restarting it each time: the other
// keeps serving while it is down, and afterwards every acknowledged
// deposit is present exactly once.
func TestPostgresKillRelay(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	url := pgtest.Shared(t).NewSchema(t)
	a, aArgs := pgRelay(t, url, t.TempDir(), freePort(t))
	b, _ := pgRelay(t, url, t.TempDir(), 0)
	l := newLedger()
	var stop atomic.Bool
	perRelay := make([]atomic.Int64, 2)
	wg := runLoad(t, []*proc{a, b}, 32, l, &stop, perRelay)
	for k := range 3 {
		waitCount(t, &l.count, 100)
		time.Sleep(time.Duration(rng.IntN(200)) * time.Millisecond)
		a.kill() // SIGKILL: no chance to finish anything
		// The other keeps serving while a is down.
		waitCount(t, &perRelay[1], 100)
		var err error
		for attempt := range 20 {
			if a, err = tryStart(aArgs...); err == nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("restart %d: %v", k+1, err)
		}
		t.Cleanup(a.kill)
		waitCount(t, &perRelay[0], 50) // and a serves again
	}
	stop.Store(true)
	wg.Wait()
	seen, ids := map[string]int{}, map[string]uint64{}
	drain(t, b.client(t, nil), tokens(16), seen, ids)
	lost, dups := l.verify(t, seen, ids, true)
	if lost != 0 || dups != 0 || len(l.acked) < 300 {
		t.Fatalf("%d acknowledged, %d lost, %d duplicated", len(l.acked), lost, dups)
	}
	t.Logf("%d acknowledged deposits (%d through a, %d through b; %d answered as already stored after a kill), %d given up, across 3 kills",
		len(l.acked), perRelay[0].Load(), perRelay[1].Load(), l.dupRcpt, len(l.unknown))
	checkStore(t, url)
}

// TestPostgresDatabaseRestart stops the database under two loaded relays
// (immediately, as a crash would: the restart replays the WAL) and starts
// it again: meanwhile the relays answer "unavailable" and report the
// database unreachable, the clients retry, the relays recover on their
// own, and every acknowledged deposit is present exactly once.
func TestPostgresDatabaseRestart(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t)
	url := c.URL("postgres")
	a, _ := pgRelay(t, url, t.TempDir(), 0)
	b, _ := pgRelay(t, url, t.TempDir(), 0)
	l := newLedger()
	var stop atomic.Bool
	perRelay := make([]atomic.Int64, 2)
	wg := runLoad(t, []*proc{a, b}, 32, l, &stop, perRelay)
	waitCount(t, &l.count, 300)
	if err := c.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for a.healthReport(t).Store.Reachable {
		if time.Now().After(deadline) {
			t.Fatal("health still says reachable")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // requests meet the outage
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	waitCount(t, &perRelay[0], 200)
	waitCount(t, &perRelay[1], 200)
	stop.Store(true)
	wg.Wait()
	var unavailable uint64
	for _, p := range []*proc{a, b} {
		h := p.healthReport(t)
		if !h.Store.Reachable {
			t.Error("health says unreachable after the restart")
		}
		unavailable += h.Rejections["unavailable"]
	}
	if unavailable == 0 {
		t.Error("no request was answered unavailable during the outage")
	}
	seen, ids := map[string]int{}, map[string]uint64{}
	drain(t, a.client(t, nil), tokens(16), seen, ids)
	lost, dups := l.verify(t, seen, ids, true)
	if lost != 0 || dups != 0 {
		t.Fatalf("%d acknowledged, %d lost, %d duplicated", len(l.acked), lost, dups)
	}
	t.Logf("%d acknowledged deposits, %d given up, %d answers 'unavailable' during the outage",
		len(l.acked), len(l.unknown), unavailable)
	checkStore(t, url)
}
