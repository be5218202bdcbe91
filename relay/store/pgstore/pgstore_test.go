package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/store"
	"github.com/parley-im/parley/relay/store/pgstore"
	"github.com/parley-im/parley/relay/store/pgtest"
	"github.com/parley-im/parley/relay/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var bg = context.Background()

// urls maps each open store to its database URL.
var urls sync.Map

func openURL(t testing.TB, url string, l store.Limits) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(bg, url, l, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	urls.Store(s, url)
	t.Cleanup(func() { s.Close() })
	return s
}

func urlOf(s store.Store) string {
	u, _ := urls.Load(s)
	return u.(string)
}

// harness runs the conformance suite on the shared cluster, each test in
// its own schema; Second opens another pool on the same schema, as a second
// relay process does.
func harness() storetest.Harness {
	return storetest.Harness{
		Open: func(t testing.TB, l store.Limits) store.Store {
			return openURL(t, pgtest.Shared(t).NewSchema(t), l)
		},
		Reopen: func(t testing.TB, s store.Store, l store.Limits) store.Store {
			return openURL(t, urlOf(s), l)
		},
		Second: func(t testing.TB, s store.Store, l store.Limits) store.Store {
			return openURL(t, urlOf(s), l)
		},
		Check: func(t testing.TB, s store.Store) error {
			ctx, cancel := context.WithTimeout(bg, 30*time.Second)
			defer cancel()
			return check(ctx, urlOf(s))
		},
		Hold:    hold,
		Commits: func(s store.Store) uint64 { return s.(*pgstore.Store).Commits() },
	}
}

// check runs Check on a fresh handle (the store under test may be closed).
func check(ctx context.Context, url string) error {
	s, err := pgstore.Open(ctx, url, storetest.Limits(), pgstore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	return s.Check(ctx)
}

// hold locks rows as a concurrent fetch of another process does: FOR
// UPDATE in an open transaction on its own connection.
func hold(t testing.TB, s store.Store, ids []uint64) func() {
	t.Helper()
	conn, err := pgx.Connect(bg, urlOf(s))
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(bg)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]int64, len(ids))
	for i, id := range ids {
		v[i] = int64(id)
	}
	if _, err := tx.Exec(bg, "SELECT id FROM relay_items WHERE id = ANY($1) FOR UPDATE", v); err != nil {
		t.Fatal(err)
	}
	return func() {
		tx.Rollback(bg)
		conn.Close(bg)
	}
}

// TestConformance runs the store conformance suite (relay/store/storetest)
// against PostgreSQL, including the tests that need two handles on one
// database (two relay processes).
func TestConformance(t *testing.T) {
	storetest.Run(t, harness())
}

// TestConcurrentMigrations opens eight stores on a fresh schema at once,
// as relays starting together would: each migration is applied once,
// every store starts, and all agree.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	c := pgtest.Shared(t)
	url := c.NewSchema(t)
	var wg sync.WaitGroup
	stores := make([]*pgstore.Store, 8)
	for i := range stores {
		wg.Go(func() {
			s, err := pgstore.Open(bg, url, storetest.Limits(), pgstore.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			stores[i] = s
		})
	}
	wg.Wait()
	for _, s := range stores {
		if s != nil {
			defer s.Close()
		}
	}
	if t.Failed() {
		return
	}
	r := mustDeposit(t, stores[0], storetest.Dep(storetest.Tok(1), "x", storetest.T0))
	if got, ok, err := stores[7].Lookup(bg, storetest.Dep(storetest.Tok(1), "x", storetest.T0).Key); !ok || err != nil || got.ID != r.ID {
		t.Fatalf("lookup through another store: %+v %v %v", got, ok, err)
	}
	conn, err := pgx.Connect(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var n, version int
	if err := conn.QueryRow(bg, "SELECT count(*), max(version) FROM relay_schema").Scan(&n, &version); err != nil {
		t.Fatal(err)
	}
	if n != pgstore.SchemaVersion() || version != pgstore.SchemaVersion() {
		t.Fatalf("%d migrations recorded, version %d", n, version)
	}
	if err := stores[3].Check(bg); err != nil {
		t.Fatal(err)
	}
}

func mustDeposit(t testing.TB, s store.Store, d store.Deposit) store.Receipt {
	t.Helper()
	r, err := s.Deposit(bg, d, storetest.T0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRefusals checks what Open refuses: a schema newer than the code, a
// connection string that turns durable commits off, limits or options out
// of range, a search_path naming no schema, and a malformed URL whose
// password must not appear in the error.
func TestRefusals(t *testing.T) {
	t.Parallel()
	c := pgtest.Shared(t)
	url := c.NewSchema(t)
	s := openURL(t, url, storetest.Limits())
	s.Close()
	if err := c.ExecURL(url, fmt.Sprintf("INSERT INTO relay_schema (version, name) VALUES (%d, 'future')", pgstore.SchemaVersion()+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := pgstore.Open(bg, url, storetest.Limits(), pgstore.Options{}); !errors.Is(err, pgstore.ErrSchemaTooNew) {
		t.Fatalf("newer schema: %v", err)
	}
	fresh := c.NewSchema(t)
	for name, tc := range map[string]struct {
		url string
		l   store.Limits
		o   pgstore.Options
	}{
		"synchronous_commit=off": {fresh + "&synchronous_commit=off", storetest.Limits(), pgstore.Options{}},
		"limits":                 {fresh, store.Limits{}, pgstore.Options{}},
		"writers":                {fresh, storetest.Limits(), pgstore.Options{Writers: pgstore.MaxWriters + 1}},
		"pool too small":         {fresh + "&pool_max_conns=3", storetest.Limits(), pgstore.Options{}},
		"no schema":              {c.URL("postgres", "search_path=nosuchschema"), storetest.Limits(), pgstore.Options{}},
	} {
		if s, err := pgstore.Open(bg, tc.url, tc.l, tc.o); err == nil {
			s.Close()
			t.Errorf("%s: accepted", name)
		}
	}
	_, err := pgstore.Open(bg, "postgres://u:hunter2secret@[bad/db", storetest.Limits(), pgstore.Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2secret") {
		t.Fatalf("bad URL: %v", err)
	}
	// A blob the table would refuse is refused before it can fail the
	// batch it would share.
	s = openURL(t, fresh, storetest.Limits())
	big := storetest.Dep(storetest.Tok(1), strings.Repeat("x", wire.MaxBlobSize+1), storetest.T0)
	if _, err := s.Deposit(bg, big, storetest.T0); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("oversized blob: %v", err)
	}
	mustDeposit(t, s, storetest.Dep(storetest.Tok(1), "fits", storetest.T0))
}

// TestLeastPrivilege migrates a schema as its owner, then runs the store
// as a role that may only read and write the rows: it serves deposits,
// fetches, acks and sweeps, and cannot change the schema.
func TestLeastPrivilege(t *testing.T) {
	t.Parallel()
	c := pgtest.Shared(t)
	url := c.NewSchema(t)
	openURL(t, url, storetest.Limits()).Close()
	schema := url[strings.LastIndex(url, "=")+1:]
	role := "dml_" + schema
	c.Exec(t, fmt.Sprintf(`CREATE ROLE %[1]s LOGIN;
		GRANT USAGE ON SCHEMA %[2]s TO %[1]s;
		GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %[2]s TO %[1]s;
		GRANT USAGE ON ALL SEQUENCES IN SCHEMA %[2]s TO %[1]s;`, role, schema))
	dml := strings.Replace(url, pgtest.User+"@", role+"@", 1)
	s := openURL(t, dml, storetest.Limits())
	d := storetest.Dep(storetest.Tok(1), "x", storetest.T0)
	r := mustDeposit(t, s, d)
	if items, _, err := s.Fetch(bg, []address.Token{storetest.Tok(1)}, store.FetchLimit{Items: 1, Bytes: 10}, storetest.T0); err != nil || len(items) != 1 {
		t.Fatalf("fetch: %v, %v", items, err)
	}
	if n, err := s.Ack(bg, storetest.Tok(1), []uint64{r.ID}); n != 1 || err != nil {
		t.Fatalf("ack: %d, %v", n, err)
	}
	mustDeposit(t, s, storetest.Dep(storetest.Tok(1), "y", storetest.T0))
	if n, err := s.Sweep(bg, storetest.T0.Add(2*time.Hour)); n != 1 || err != nil {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if err := s.Check(bg); err != nil {
		t.Fatal(err)
	}
	if err := c.ExecURL(dml, "CREATE TABLE evil (x int)"); err == nil {
		t.Fatal("the DML role could change the schema: the test proves nothing")
	}
}

// TestFsyncOffRefused turns fsync off on a cluster of its own: Open
// refuses it (a receipt would not mean durable), and accepts it again once
// fsync is back on.
func TestFsyncOffRefused(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t)
	c.Exec(t, "ALTER SYSTEM SET fsync = off")
	c.Exec(t, "SELECT pg_reload_conf()")
	waitFor(t, func() bool {
		conn, err := pgx.Connect(bg, c.URL("postgres"))
		if err != nil {
			return false
		}
		defer conn.Close(bg)
		var v string
		conn.QueryRow(bg, "SHOW fsync").Scan(&v)
		return v == "off"
	})
	if s, err := pgstore.Open(bg, c.URL("postgres"), storetest.Limits(), pgstore.Options{}); err == nil || !strings.Contains(err.Error(), "fsync") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("fsync off: %v", err)
	}
	c.Exec(t, "ALTER SYSTEM RESET fsync")
	c.Exec(t, "SELECT pg_reload_conf()")
	waitFor(t, func() bool {
		s, err := pgstore.Open(bg, c.URL("postgres"), storetest.Limits(), pgstore.Options{})
		if err == nil {
			s.Close()
		}
		return err == nil
	})
}

// TestSynchronousCommitForced sets synchronous_commit=off as a role
// default, as a careless operator might: the store's connections still
// commit durably.
func TestSynchronousCommitForced(t *testing.T) {
	t.Parallel()
	c := pgtest.Shared(t)
	c.Exec(t, "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lazy') THEN CREATE ROLE lazy LOGIN SUPERUSER; END IF; END $$")
	c.Exec(t, "ALTER ROLE lazy SET synchronous_commit = off")
	url := strings.Replace(c.NewSchema(t), pgtest.User+"@", "lazy@", 1)
	s := openURL(t, url, storetest.Limits())
	mustDeposit(t, s, storetest.Dep(storetest.Tok(1), "x", storetest.T0))
	conn, err := pgx.Connect(bg, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg)
	var plain string
	conn.QueryRow(bg, "SHOW synchronous_commit").Scan(&plain)
	if plain != "off" {
		t.Fatalf("the role default did not apply (%q): the test proves nothing", plain)
	}
	// Each pooled connection ran SET synchronous_commit TO on: ask one.
	var got string
	if err := s.Pool().QueryRow(bg, "SHOW synchronous_commit").Scan(&got); err != nil || got != "on" {
		t.Fatalf("store connection synchronous_commit = %q, %v", got, err)
	}
}

// TestDatabaseRestart stops the database (immediately, as a crash would)
// while deposits and fetches run: operations fail with ErrUnavailable and
// nothing else, the health report says unreachable, and once the database
// is back the same store serves again, with every deposit that returned a
// receipt present exactly once.
func TestDatabaseRestart(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t)
	url := c.URL("postgres")
	l := storetest.Limits()
	s := openURL(t, url, l)
	if h := s.Health(bg); h.Kind != "postgres" || !h.Reachable {
		t.Fatalf("health %+v", h)
	}
	var (
		mu       sync.Mutex
		receipts = map[string]uint64{}
		unavail  atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				blob := fmt.Sprintf("w%d-%d", w, i)
				d := storetest.Dep(storetest.Tok(w), blob, storetest.T0)
				for {
					r, err := s.Deposit(bg, d, storetest.T0)
					if err == nil {
						mu.Lock()
						receipts[blob] = r.ID
						mu.Unlock()
						break
					}
					if !errors.Is(err, store.ErrUnavailable) {
						t.Errorf("deposit: %v", err)
						return
					}
					unavail.Add(1)
					time.Sleep(20 * time.Millisecond) // retry the same deposit, as a client does
				}
				if _, _, err := s.Fetch(bg, []address.Token{storetest.Tok(w)}, store.FetchLimit{Items: 10, Bytes: 1 << 20}, storetest.T0); err != nil && !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("fetch: %v", err)
					return
				}
			}
		})
	}
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(receipts) > 200 })
	if err := c.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	before := unavail.Load()
	waitFor(t, func() bool { return unavail.Load() > before+8 })
	if h := s.Health(bg); h.Reachable {
		t.Fatal("health says reachable while the database is down")
	}
	if _, _, err := s.Lookup(bg, storetest.Dep(storetest.Tok(1), "x", storetest.T0).Key); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("lookup while down: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	n := len(receipts)
	mu.Unlock()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(receipts) > n+200 })
	stop.Store(true)
	wg.Wait()
	if h := s.Health(bg); !h.Reachable {
		t.Fatal("health says unreachable after the restart")
	}
	// Every receipt's deposit is there, once, under its id.
	mu.Lock()
	defer mu.Unlock()
	got := map[string]int{}
	for w := range 8 {
		items, _, err := s.Fetch(bg, []address.Token{storetest.Tok(w)}, store.FetchLimit{Items: 1 << 20, Bytes: 1 << 30}, storetest.T0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got[string(it.Blob)]++
			if id, ok := receipts[string(it.Blob)]; ok && id != it.ID {
				t.Errorf("%s stored as %d, receipt said %d", it.Blob, it.ID, id)
			}
		}
	}
	for blob := range receipts {
		if got[blob] != 1 {
			t.Errorf("acknowledged deposit %s present %d times", blob, got[blob])
		}
	}
	if err := s.Check(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d deposits acknowledged, %d unavailable answers during the outage", len(receipts), unavail.Load())
}

// TestConnectionsKilled terminates the store's server connections over and
// over while deposits run: every failure is ErrUnavailable, retries
// succeed, and every receipt's deposit is stored exactly once.
func TestConnectionsKilled(t *testing.T) {
	t.Parallel()
	c := pgtest.Shared(t)
	const app = "parley-relay-killed"
	url := c.NewSchema(t) + "&application_name=" + app
	s := openURL(t, url, storetest.Limits())
	var (
		mu       sync.Mutex
		receipts = map[string]uint64{}
		failures atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				blob := fmt.Sprintf("w%d-%d", w, i)
				d := storetest.Dep(storetest.Tok(w), blob, storetest.T0)
				for attempt := 0; ; attempt++ {
					r, err := s.Deposit(bg, d, storetest.T0)
					if err == nil {
						mu.Lock()
						receipts[blob] = r.ID
						mu.Unlock()
						break
					}
					if !errors.Is(err, store.ErrUnavailable) || attempt > 100 {
						t.Errorf("deposit: %v", err)
						return
					}
					failures.Add(1)
				}
			}
		})
	}
	for range 10 {
		time.Sleep(40 * time.Millisecond)
		c.Exec(t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '"+app+"'")
	}
	stop.Store(true)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	got := map[string]int{}
	for w := range 8 {
		items, _, err := s.Fetch(bg, []address.Token{storetest.Tok(w)}, store.FetchLimit{Items: 1 << 20, Bytes: 1 << 30}, storetest.T0)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			got[string(it.Blob)]++
		}
	}
	for blob := range receipts {
		if got[blob] != 1 {
			t.Errorf("acknowledged deposit %s present %d times", blob, got[blob])
		}
	}
	for blob, n := range got {
		if n != 1 {
			t.Errorf("%s present %d times", blob, n)
		}
	}
	if err := s.Check(bg); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d deposits acknowledged, %d failed attempts retried", len(receipts), failures.Load())
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
