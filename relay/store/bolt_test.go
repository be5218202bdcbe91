package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
)

var (
	t0      = time.Unix(1_700_000_000, 0)
	ctx     = context.Background()
	anyItem = FetchLimit{Items: 1000, Bytes: 1 << 30}
)

func testLimits() Limits {
	return Limits{TTL: time.Hour, MaxItemsPerToken: 1000, MaxTotalBytes: 1 << 30, DedupeWindow: 15 * time.Minute}
}

func open(t testing.TB, limits Limits) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "relay.db")
	s, err := OpenBolt(path, limits)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func tok(n int) address.Token {
	var t address.Token
	binary.BigEndian.PutUint64(t[:], uint64(n))
	t[31] = 0xaa
	return t
}

// dep makes a deposit whose dedupe key is derived from its content, as a
// stamp's digest would be.
func dep(token address.Token, blob string, stampTime time.Time) Deposit {
	h := sha256.New()
	h.Write(token[:])
	h.Write([]byte(blob))
	binary.Write(h, binary.BigEndian, stampTime.Unix())
	var d Deposit
	d.Token, d.Blob = token, []byte(blob)
	d.Key.Time = uint64(stampTime.Unix())
	copy(d.Key.Digest[:], h.Sum(nil))
	return d
}

func mustDeposit(t testing.TB, s Store, d Deposit, now time.Time) Receipt {
	t.Helper()
	r, err := s.Deposit(ctx, d, now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func blobs(items []Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Blob))
	}
	return out
}

func TestDepositFetchAck(t *testing.T) {
	t.Parallel()
	s, _ := open(t, testLimits())
	a, b := tok(1), tok(2)
	r1 := mustDeposit(t, s, dep(a, "a1", t0), t0)
	r2 := mustDeposit(t, s, dep(a, "a2", t0), t0)
	r3 := mustDeposit(t, s, dep(b, "b1", t0), t0)
	if r1.ID == 0 || r2.ID <= r1.ID || r3.ID <= r2.ID || r1.Duplicate {
		t.Fatalf("receipts %+v %+v %+v", r1, r2, r3)
	}
	if !r1.Expires.Equal(t0.Add(time.Hour)) {
		t.Fatalf("expires %v", r1.Expires)
	}
	if u := s.Usage(); u.Items != 3 || u.Bytes != 6 {
		t.Fatalf("usage %+v", u)
	}
	// Fetch does not delete: two fetches see the same items.
	for range 2 {
		items, more, err := s.Fetch(ctx, []address.Token{b, a}, anyItem, t0)
		if err != nil || more {
			t.Fatal(err, more)
		}
		if got := fmt.Sprint(blobs(items)); got != "[b1 a1 a2]" {
			t.Fatalf("fetch = %s", got)
		}
		if items[0].Token != b || items[1].ID != r1.ID {
			t.Fatalf("items %+v", items)
		}
	}
	// Ack deletes; unknown and repeated ids are ignored.
	n, err := s.Ack(ctx, a, []uint64{r1.ID, r3.ID, 999})
	if err != nil || n != 1 {
		t.Fatalf("ack = %d, %v (r3 belongs to another token)", n, err)
	}
	if n, _ := s.Ack(ctx, a, []uint64{r1.ID}); n != 0 {
		t.Fatal("second ack deleted again")
	}
	items, _, _ := s.Fetch(ctx, []address.Token{a, b}, anyItem, t0)
	if got := fmt.Sprint(blobs(items)); got != "[a2 b1]" {
		t.Fatalf("after ack: %s", got)
	}
	if u := s.Usage(); u.Items != 2 || u.Bytes != 4 {
		t.Fatalf("usage %+v", u)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestDedupe(t *testing.T) {
	t.Parallel()
	s, path := open(t, testLimits())
	d := dep(tok(1), "x", t0)
	r1 := mustDeposit(t, s, d, t0)
	r2 := mustDeposit(t, s, d, t0.Add(time.Minute))
	if !r2.Duplicate || r2.ID != r1.ID || !r2.Expires.Equal(r1.Expires) {
		t.Fatalf("retry = %+v, first %+v", r2, r1)
	}
	if u := s.Usage(); u.Items != 1 {
		t.Fatalf("stored %d items", u.Items)
	}
	if r, ok, err := s.Lookup(ctx, d.Key); err != nil || !ok || r != r2 {
		t.Fatalf("Lookup = %+v, %v, %v", r, ok, err)
	}
	if _, ok, err := s.Lookup(ctx, dep(tok(1), "y", t0).Key); err != nil || ok {
		t.Fatalf("Lookup of an unknown key = %v, %v", ok, err)
	}
	// Still a duplicate after the item was acked, and after a restart.
	if n, _ := s.Ack(ctx, tok(1), []uint64{r1.ID}); n != 1 {
		t.Fatal("ack")
	}
	s.Close()
	s2, err := OpenBolt(path, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if r := mustDeposit(t, s2, d, t0.Add(2*time.Minute)); !r.Duplicate || r.ID != r1.ID {
		t.Fatalf("after restart: %+v", r)
	}
	if u := s2.Usage(); u.Items != 0 {
		t.Fatalf("stored %d items", u.Items)
	}
	// Once the window has passed, the sweeper forgets the entry.
	if _, err := s2.Sweep(ctx, t0.Add(15*time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if r := mustDeposit(t, s2, d, t0.Add(16*time.Minute)); r.Duplicate {
		t.Fatal("dedupe entry outlived its window")
	}
}

// TestConcurrentDuplicates deposits the same deposit from many goroutines at
// once: exactly one item is stored and every caller gets its id.
func TestConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	s, _ := open(t, testLimits())
	d := dep(tok(1), "same", t0)
	var wg sync.WaitGroup
	ids := make([]Receipt, 50)
	for i := range ids {
		wg.Go(func() { ids[i] = mustDeposit(t, s, d, t0) })
	}
	wg.Wait()
	dups := 0
	for _, r := range ids {
		if r.ID != ids[0].ID {
			t.Fatalf("ids differ: %+v", ids)
		}
		if r.Duplicate {
			dups++
		}
	}
	if dups != len(ids)-1 || s.Usage().Items != 1 {
		t.Fatalf("%d duplicates, %d items", dups, s.Usage().Items)
	}
}

func TestQuotaPerToken(t *testing.T) {
	t.Parallel()
	l := testLimits()
	l.MaxItemsPerToken = 3
	s, _ := open(t, l)
	var ids []uint64
	for i := range 3 {
		ids = append(ids, mustDeposit(t, s, dep(tok(1), fmt.Sprint(i), t0), t0).ID)
	}
	if _, err := s.Deposit(ctx, dep(tok(1), "over", t0), t0); !errors.Is(err, ErrQuotaToken) {
		t.Fatalf("4th deposit: %v", err)
	}
	mustDeposit(t, s, dep(tok(2), "other token", t0), t0)
	s.Ack(ctx, tok(1), ids[:1])
	mustDeposit(t, s, dep(tok(1), "after ack", t0), t0)
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestQuotaTotal(t *testing.T) {
	t.Parallel()
	l := testLimits()
	l.MaxTotalBytes = 10
	s, _ := open(t, l)
	r := mustDeposit(t, s, dep(tok(1), "123456", t0), t0)
	mustDeposit(t, s, dep(tok(2), "7890", t0), t0)
	if _, err := s.Deposit(ctx, dep(tok(3), "x", t0), t0); !errors.Is(err, ErrQuotaTotal) {
		t.Fatalf("over total: %v", err)
	}
	s.Ack(ctx, tok(1), []uint64{r.ID})
	mustDeposit(t, s, dep(tok(3), "x", t0), t0)
}

// TestConcurrentQuota races 100 deposits to one token with a quota of 10:
// exactly 10 are stored, because the quota is checked inside the commit.
func TestConcurrentQuota(t *testing.T) {
	t.Parallel()
	l := testLimits()
	l.MaxItemsPerToken = 10
	s, _ := open(t, l)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			_, err := s.Deposit(ctx, dep(tok(1), fmt.Sprint(i), t0), t0)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrQuotaToken):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 90 || s.Usage().Items != 10 {
		t.Fatalf("%d stored, %d refused, usage %+v", ok.Load(), refused.Load(), s.Usage())
	}
}

// TestGroupCommit runs concurrent deposits and checks that they shared
// commits and all arrived.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	s, _ := open(t, testLimits())
	const workers, each = 64, 20
	before := s.Commits()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				mustDeposit(t, s, dep(tok(w), fmt.Sprint(i), t0), t0)
			}
		})
	}
	wg.Wait()
	commits := s.Commits() - before
	if commits >= workers*each/2 {
		t.Fatalf("%d commits for %d deposits: no group commit", commits, workers*each)
	}
	t.Logf("%d deposits in %d commits", workers*each, commits)
	for w := range workers {
		items, _, err := s.Fetch(ctx, []address.Token{tok(w)}, anyItem, t0)
		if err != nil || len(items) != each {
			t.Fatalf("worker %d: %d items, %v", w, len(items), err)
		}
		for i, it := range items {
			if string(it.Blob) != fmt.Sprint(i) {
				t.Fatalf("worker %d: order %v", w, blobs(items))
			}
		}
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestTTL(t *testing.T) {
	t.Parallel()
	s, _ := open(t, testLimits())
	mustDeposit(t, s, dep(tok(1), "old", t0), t0)
	mustDeposit(t, s, dep(tok(1), "new", t0), t0.Add(30*time.Minute))
	at := func(d time.Duration) string {
		items, _, err := s.Fetch(ctx, []address.Token{tok(1)}, anyItem, t0.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(blobs(items))
	}
	if got := at(time.Hour - time.Second); got != "[old new]" {
		t.Fatalf("before expiry: %s", got)
	}
	// Expired but not swept: never delivered.
	if got := at(time.Hour); got != "[new]" {
		t.Fatalf("at expiry: %s", got)
	}
	n, err := s.Sweep(ctx, t0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if u := s.Usage(); u.Items != 1 || u.Bytes != 3 {
		t.Fatalf("usage %+v", u)
	}
	if n, _ := s.Sweep(ctx, t0.Add(2*time.Hour)); n != 1 || s.Usage().Items != 0 {
		t.Fatalf("second sweep %d, %+v", n, s.Usage())
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestSweepBatches expires more items than one sweep commit takes.
func TestSweepBatches(t *testing.T) {
	t.Parallel()
	l := testLimits()
	l.MaxItemsPerToken = 1 << 20
	s, _ := open(t, l)
	const n = sweepBatch + 100
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				mustDeposit(t, s, dep(tok(i%7), fmt.Sprint(i), t0), t0)
			}
		})
	}
	wg.Wait()
	got, err := s.Sweep(ctx, t0.Add(2*time.Hour))
	if err != nil || got != n || s.Usage().Items != 0 {
		t.Fatalf("swept %d of %d, %v, usage %+v", got, n, err, s.Usage())
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestFetchLimits(t *testing.T) {
	t.Parallel()
	s, _ := open(t, testLimits())
	for i := range 5 {
		mustDeposit(t, s, dep(tok(1), fmt.Sprintf("item%d", i), t0), t0)
	}
	mustDeposit(t, s, dep(tok(2), "other", t0), t0)
	tests := []struct {
		limit FetchLimit
		want  string
		more  bool
	}{
		{FetchLimit{Items: 2, Bytes: 1000}, "[item0 item1]", true},
		{FetchLimit{Items: 5, Bytes: 1000}, "[item0 item1 item2 item3 item4]", true},
		{FetchLimit{Items: 6, Bytes: 1000}, "[item0 item1 item2 item3 item4 other]", false},
		{FetchLimit{Items: 10, Bytes: 10, PerItem: 0}, "[item0 item1]", true},
		{FetchLimit{Items: 10, Bytes: 30, PerItem: 10}, "[item0 item1]", true},
		{FetchLimit{Items: 10, Bytes: 4}, "[]", true},
	}
	for _, tc := range tests {
		items, more, err := s.Fetch(ctx, []address.Token{tok(1), tok(2)}, tc.limit, t0)
		if err != nil || fmt.Sprint(blobs(items)) != tc.want || more != tc.more {
			t.Errorf("%+v: %v more=%v %v; want %s more=%v", tc.limit, blobs(items), more, err, tc.want, tc.more)
		}
	}
	if _, _, err := s.Fetch(ctx, []address.Token{tok(1)}, FetchLimit{}, t0); err == nil {
		t.Fatal("zero limit accepted")
	}
	if items, more, err := s.Fetch(ctx, []address.Token{tok(9)}, anyItem, t0); err != nil || len(items) != 0 || more {
		t.Fatal("unknown token")
	}
}

// TestFetchCopies checks that fetched blobs do not alias the database.
func TestFetchCopies(t *testing.T) {
	s, _ := open(t, testLimits())
	mustDeposit(t, s, dep(tok(1), "abc", t0), t0)
	items, _, _ := s.Fetch(ctx, []address.Token{tok(1)}, anyItem, t0)
	items[0].Blob[0] = 'z'
	again, _, _ := s.Fetch(ctx, []address.Token{tok(1)}, anyItem, t0)
	if string(again[0].Blob) != "abc" {
		t.Fatal("fetched blob aliases the store")
	}
}

func TestClockFailsClosed(t *testing.T) {
	s, _ := open(t, testLimits())
	if _, err := s.Deposit(ctx, dep(tok(1), "x", t0), time.Time{}); !errors.Is(err, ErrClock) {
		t.Fatalf("deposit: %v", err)
	}
	if _, _, err := s.Fetch(ctx, []address.Token{tok(1)}, anyItem, time.Time{}); !errors.Is(err, ErrClock) {
		t.Fatalf("fetch: %v", err)
	}
	if _, err := s.Sweep(ctx, time.Unix(-1, 0)); !errors.Is(err, ErrClock) {
		t.Fatalf("sweep: %v", err)
	}
	if _, err := s.Deposit(ctx, Deposit{Token: tok(1)}, t0); err == nil {
		t.Fatal("empty blob accepted")
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	s, path := open(t, testLimits())
	r := mustDeposit(t, s, dep(tok(1), "kept", t0), t0)
	mustDeposit(t, s, dep(tok(1), "acked", t0), t0)
	s.Ack(ctx, tok(1), []uint64{r.ID + 1})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Deposit(ctx, dep(tok(1), "late", t0), t0); !errors.Is(err, ErrClosed) {
		t.Fatalf("deposit after close: %v", err)
	}
	s2, err := OpenBolt(path, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	items, _, _ := s2.Fetch(ctx, []address.Token{tok(1)}, anyItem, t0)
	if fmt.Sprint(blobs(items)) != "[kept]" || s2.Usage().Items != 1 || s2.Usage().Bytes != 4 {
		t.Fatalf("after reopen: %v %+v", blobs(items), s2.Usage())
	}
	// Ids are never reused.
	if r2 := mustDeposit(t, s2, dep(tok(1), "next", t0), t0); r2.ID <= r.ID+1 {
		t.Fatalf("id %d reused after %d", r2.ID, r.ID+1)
	}
}

// TestCloseFlushes queues deposits and closes at once: every deposit that
// returned without error is in the file.
func TestCloseFlushes(t *testing.T) {
	t.Parallel()
	s, path := open(t, testLimits())
	var wg sync.WaitGroup
	var stored sync.Map
	for i := range 200 {
		wg.Go(func() {
			d := dep(tok(i), "x", t0)
			if r, err := s.Deposit(ctx, d, t0); err == nil {
				stored.Store(i, r.ID)
			} else if !errors.Is(err, ErrClosed) {
				t.Error(err)
			}
		})
	}
	time.Sleep(time.Millisecond)
	s.Close()
	wg.Wait()
	s2, err := OpenBolt(path, testLimits())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	stored.Range(func(k, v any) bool {
		items, _, _ := s2.Fetch(ctx, []address.Token{tok(k.(int))}, anyItem, t0)
		if len(items) != 1 || items[0].ID != v.(uint64) {
			t.Errorf("deposit %v lost", k)
		}
		return true
	})
}

func TestLocked(t *testing.T) {
	t.Parallel()
	_, path := open(t, testLimits())
	if _, err := OpenBolt(path, testLimits()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
}

func TestBadLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	for _, l := range []Limits{{}, {TTL: time.Hour, MaxItemsPerToken: 1, MaxTotalBytes: 1}, {TTL: time.Millisecond, MaxItemsPerToken: 1, MaxTotalBytes: 1, DedupeWindow: time.Hour}} {
		if _, err := OpenBolt(path, l); err == nil {
			t.Errorf("OpenBolt accepted %+v", l)
		}
	}
}

func TestContextCanceled(t *testing.T) {
	s, _ := open(t, testLimits())
	c, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := s.Fetch(c, []address.Token{tok(1)}, anyItem, t0); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch: %v", err)
	}
	// A canceled deposit may or may not be stored, but never twice.
	d := dep(tok(1), "x", t0)
	s.Deposit(c, d, t0)
	mustDeposit(t, s, d, t0)
	if s.Usage().Items != 1 {
		t.Fatal("canceled deposit stored twice")
	}
}

// TestLargeBlobs round-trips blobs of the largest size.
func TestLargeBlobs(t *testing.T) {
	t.Parallel()
	s, _ := open(t, testLimits())
	big := bytes.Repeat([]byte{0x5a}, 66560)
	d := dep(tok(1), string(big), t0)
	mustDeposit(t, s, d, t0)
	items, _, err := s.Fetch(ctx, []address.Token{tok(1)}, anyItem, t0)
	if err != nil || len(items) != 1 || !bytes.Equal(items[0].Blob, big) {
		t.Fatal("large blob")
	}
}
