// Package storetest is the conformance suite of the relay's stores
// (docs/PROTOCOL.md §14 "Storage" and "PostgreSQL store"): one set of tests
// of the store.Store contract that every implementation must pass. The
// bbolt store (relay/store) and the PostgreSQL store (relay/store/pgstore)
// both run it, so "same semantics" is a tested statement, not a hope.
//
// Run takes a Harness that opens stores. Tests that need two handles on
// one database (two relay processes) run only when the harness can open a
// second one (Harness.Second); the bbolt store cannot (its file is
// locked by one process), the PostgreSQL store can.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/store"
)

// Harness opens the stores under test.
type Harness struct {
	// Open returns a new, empty store with limits, closed in t.Cleanup
	// (a store closed by the test may be closed again: ErrClosed).
	Open func(t testing.TB, l store.Limits) store.Store
	// Reopen opens the data of s again with limits, as a restarted relay
	// would, after s was closed; closed in t.Cleanup.
	Reopen func(t testing.TB, s store.Store, l store.Limits) store.Store
	// Second opens another handle on the data of s, as a second relay
	// process would, while s is open; nil when the store cannot be
	// shared.
	Second func(t testing.TB, s store.Store, l store.Limits) store.Store
	// Check verifies the store's internal consistency.
	Check func(t testing.TB, s store.Store) error
	// Hold makes the items ids look read by a concurrent Fetch (of any
	// process) until release is called.
	Hold func(t testing.TB, s store.Store, ids []uint64) (release func())
	// Commits returns the store's commit count (group commit check).
	Commits func(s store.Store) uint64
}

// T0 is the suite's clock origin.
var T0 = time.Unix(1_700_000_000, 0)

var bg = context.Background()

// anyItem is a fetch limit that takes everything.
var anyItem = store.FetchLimit{Items: 1000, Bytes: 1 << 30}

// Limits returns the suite's default limits.
func Limits() store.Limits {
	return store.Limits{TTL: time.Hour, MaxItemsPerToken: 1000, MaxTotalBytes: 1 << 30, DedupeWindow: 15 * time.Minute}
}

// Tok returns a token numbered n.
func Tok(n int) address.Token {
	var t address.Token
	binary.BigEndian.PutUint64(t[:], uint64(n))
	t[31] = 0xaa
	return t
}

// Dep makes a deposit whose dedupe key derives from its content, as a
// stamp's digest would.
func Dep(token address.Token, blob string, stampTime time.Time) store.Deposit {
	h := sha256.New()
	h.Write(token[:])
	h.Write([]byte(blob))
	binary.Write(h, binary.BigEndian, stampTime.Unix())
	var d store.Deposit
	d.Token, d.Blob = token, []byte(blob)
	d.Key.Time = uint64(stampTime.Unix())
	copy(d.Key.Digest[:], h.Sum(nil))
	return d
}

func mustDeposit(t testing.TB, s store.Store, d store.Deposit, now time.Time) store.Receipt {
	t.Helper()
	r, err := s.Deposit(bg, d, now)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func blobs(items []store.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, string(it.Blob))
	}
	return out
}

func fetch(t testing.TB, s store.Store, now time.Time, tokens ...address.Token) []store.Item {
	t.Helper()
	items, _, err := s.Fetch(bg, tokens, anyItem, now)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func check(t testing.TB, h Harness, s store.Store) {
	t.Helper()
	if err := h.Check(t, s); err != nil {
		t.Fatal(err)
	}
}

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(*testing.T, Harness)
	}{
		{"DepositFetchAck", testDepositFetchAck},
		{"Dedupe", testDedupe},
		{"ConcurrentDuplicates", testConcurrentDuplicates},
		{"QuotaPerToken", testQuotaPerToken},
		{"QuotaTotal", testQuotaTotal},
		{"ConcurrentQuota", testConcurrentQuota},
		{"ConcurrentQuotaTotal", testConcurrentQuotaTotal},
		{"GroupCommit", testGroupCommit},
		{"TTL", testTTL},
		{"SweepBatches", testSweepBatches},
		{"ConcurrentSweep", testConcurrentSweep},
		{"FetchLimits", testFetchLimits},
		{"FetchSkipsInFlight", testFetchSkipsInFlight},
		{"ConcurrentFetchAck", testConcurrentFetchAck},
		{"FetchCopies", testFetchCopies},
		{"ClockFailsClosed", testClockFailsClosed},
		{"ReopenKeepsEverything", testReopenKeepsEverything},
		{"CloseFlushes", testCloseFlushes},
		{"ContextCanceled", testContextCanceled},
		{"LargeBlobs", testLargeBlobs},
		{"SharedReplayMemory", testSharedReplayMemory},
		{"AckedOnlyOnce", testAckedOnlyOnce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h)
		})
	}
}

// second returns a second handle on s, or s itself when the store cannot
// be shared, so a test runs on both handles where it can.
func second(t testing.TB, h Harness, s store.Store, l store.Limits) store.Store {
	if h.Second == nil {
		return s
	}
	return h.Second(t, s, l)
}

func testDepositFetchAck(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	a, b := Tok(1), Tok(2)
	r1 := mustDeposit(t, s, Dep(a, "a1", T0), T0)
	r2 := mustDeposit(t, s, Dep(a, "a2", T0), T0)
	r3 := mustDeposit(t, s, Dep(b, "b1", T0), T0)
	if r1.ID == 0 || r2.ID <= r1.ID || r3.ID <= r2.ID || r1.Duplicate {
		t.Fatalf("receipts %+v %+v %+v", r1, r2, r3)
	}
	if !r1.Expires.Equal(T0.Add(time.Hour)) {
		t.Fatalf("expires %v", r1.Expires)
	}
	if u := s.Usage(); u.Items != 3 || u.Bytes != 6 {
		t.Fatalf("usage %+v", u)
	}
	// Fetch does not delete: two fetches, one after the other, see the
	// same items, tokens in request order, each token's oldest first.
	for range 2 {
		items, more, err := s.Fetch(bg, []address.Token{b, a}, anyItem, T0)
		if err != nil || more {
			t.Fatal(err, more)
		}
		if got := fmt.Sprint(blobs(items)); got != "[b1 a1 a2]" {
			t.Fatalf("fetch = %s", got)
		}
		if items[0].Token != b || items[1].ID != r1.ID || items[1].Token != a {
			t.Fatalf("items %+v", items)
		}
	}
	// Ack deletes only under its token; unknown and repeated ids are
	// ignored.
	n, err := s.Ack(bg, a, []uint64{r1.ID, r3.ID, 1 << 40})
	if err != nil || n != 1 {
		t.Fatalf("ack = %d, %v (r3 belongs to another token)", n, err)
	}
	if n, _ := s.Ack(bg, a, []uint64{r1.ID}); n != 0 {
		t.Fatal("second ack deleted again")
	}
	if n, err := s.Ack(bg, a, nil); n != 0 || err != nil {
		t.Fatalf("empty ack = %d, %v", n, err)
	}
	if got := fmt.Sprint(blobs(fetch(t, s, T0, a, b))); got != "[a2 b1]" {
		t.Fatalf("after ack: %s", got)
	}
	if u := s.Usage(); u.Items != 2 || u.Bytes != 4 {
		t.Fatalf("usage %+v", u)
	}
	check(t, h, s)
}

func testDedupe(t *testing.T, h Harness) {
	l := Limits()
	s := h.Open(t, l)
	d := Dep(Tok(1), "x", T0)
	r1 := mustDeposit(t, s, d, T0)
	r2 := mustDeposit(t, s, d, T0.Add(time.Minute))
	if !r2.Duplicate || r2.ID != r1.ID || !r2.Expires.Equal(r1.Expires) {
		t.Fatalf("retry = %+v, first %+v", r2, r1)
	}
	if u := s.Usage(); u.Items != 1 {
		t.Fatalf("stored %d items", u.Items)
	}
	if r, ok, err := s.Lookup(bg, d.Key); err != nil || !ok || r != r2 {
		t.Fatalf("Lookup = %+v, %v, %v", r, ok, err)
	}
	if _, ok, err := s.Lookup(bg, Dep(Tok(1), "y", T0).Key); err != nil || ok {
		t.Fatalf("Lookup of an unknown key = %v, %v", ok, err)
	}
	// Still a duplicate after the item was acked, and after a restart.
	if n, _ := s.Ack(bg, Tok(1), []uint64{r1.ID}); n != 1 {
		t.Fatal("ack")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := h.Reopen(t, s, l)
	if r := mustDeposit(t, s2, d, T0.Add(2*time.Minute)); !r.Duplicate || r.ID != r1.ID {
		t.Fatalf("after restart: %+v", r)
	}
	if u := s2.Usage(); u.Items != 0 {
		t.Fatalf("stored %d items", u.Items)
	}
	// Before the window has passed the sweeper keeps the entry; after,
	// it forgets it.
	if _, err := s2.Sweep(bg, T0.Add(15*time.Minute-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s2.Lookup(bg, d.Key); !ok {
		t.Fatal("dedupe entry swept inside its window")
	}
	if _, err := s2.Sweep(bg, T0.Add(15*time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	if r := mustDeposit(t, s2, d, T0.Add(16*time.Minute)); r.Duplicate {
		t.Fatal("dedupe entry outlived its window")
	}
	check(t, h, s2)
}

// testConcurrentDuplicates deposits the same deposit from many goroutines
// at once (through two handles where the store can be shared): exactly one
// item is stored and every caller gets its id.
func testConcurrentDuplicates(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	s2 := second(t, h, s, Limits())
	d := Dep(Tok(1), "same", T0)
	var wg sync.WaitGroup
	ids := make([]store.Receipt, 50)
	for i := range ids {
		wg.Go(func() {
			on := s
			if i%2 == 1 {
				on = s2
			}
			ids[i] = mustDeposit(t, on, d, T0)
		})
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
	if dups != len(ids)-1 || len(fetch(t, s, T0, Tok(1))) != 1 {
		t.Fatalf("%d duplicates of %d", dups, len(ids))
	}
	check(t, h, s)
}

func testQuotaPerToken(t *testing.T, h Harness) {
	l := Limits()
	l.MaxItemsPerToken = 3
	s := h.Open(t, l)
	var ids []uint64
	for i := range 3 {
		ids = append(ids, mustDeposit(t, s, Dep(Tok(1), fmt.Sprint(i), T0), T0).ID)
	}
	if _, err := s.Deposit(bg, Dep(Tok(1), "over", T0), T0); !errors.Is(err, store.ErrQuotaToken) {
		t.Fatalf("4th deposit: %v", err)
	}
	// A refused deposit left nothing behind: not even its dedupe entry.
	if _, ok, err := s.Lookup(bg, Dep(Tok(1), "over", T0).Key); ok || err != nil {
		t.Fatalf("refused deposit has a dedupe entry (%v)", err)
	}
	mustDeposit(t, s, Dep(Tok(2), "other token", T0), T0)
	if n, err := s.Ack(bg, Tok(1), ids[:1]); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if r := mustDeposit(t, s, Dep(Tok(1), "over", T0), T0); r.Duplicate {
		t.Fatal("refused deposit counted as stored")
	}
	check(t, h, s)
}

func testQuotaTotal(t *testing.T, h Harness) {
	l := Limits()
	l.MaxTotalBytes = 10
	s := h.Open(t, l)
	r := mustDeposit(t, s, Dep(Tok(1), "123456", T0), T0)
	mustDeposit(t, s, Dep(Tok(2), "7890", T0), T0)
	if _, err := s.Deposit(bg, Dep(Tok(3), "x", T0), T0); !errors.Is(err, store.ErrQuotaTotal) {
		t.Fatalf("over total: %v", err)
	}
	s.Ack(bg, Tok(1), []uint64{r.ID})
	mustDeposit(t, s, Dep(Tok(3), "x", T0), T0)
	check(t, h, s)
}

// testConcurrentQuota races 100 deposits to one token with a quota of 10
// (through two handles where the store can be shared): exactly 10 are
// stored, because the quota is decided inside the commit by the stored
// state, not by a process's memory.
func testConcurrentQuota(t *testing.T, h Harness) {
	l := Limits()
	l.MaxItemsPerToken = 10
	s := h.Open(t, l)
	s2 := second(t, h, s, l)
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			on := s
			if i%2 == 1 {
				on = s2
			}
			_, err := on.Deposit(bg, Dep(Tok(1), fmt.Sprint(i), T0), T0)
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrQuotaToken):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 10 || refused.Load() != 90 || len(fetch(t, s2, T0, Tok(1))) != 10 {
		t.Fatalf("%d stored, %d refused", ok.Load(), refused.Load())
	}
	check(t, h, s)
}

// testConcurrentQuotaTotal races deposits of 10 bytes each to many tokens
// against a total of 250 bytes, through two handles where possible:
// exactly 25 are stored.
func testConcurrentQuotaTotal(t *testing.T, h Harness) {
	l := Limits()
	l.MaxTotalBytes = 250
	s := h.Open(t, l)
	s2 := second(t, h, s, l)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			on := s
			if i%2 == 1 {
				on = s2
			}
			_, err := on.Deposit(bg, Dep(Tok(i), fmt.Sprintf("%010d", i), T0), T0)
			switch {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, store.ErrQuotaTotal):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 25 {
		t.Fatalf("%d stored, want 25", ok.Load())
	}
	check(t, h, s)
}

// testGroupCommit runs concurrent deposits and checks that they shared
// commits, all arrived, and each worker's arrived in its order.
func testGroupCommit(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	const workers, each = 64, 20
	var before uint64
	if h.Commits != nil {
		before = h.Commits(s)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				mustDeposit(t, s, Dep(Tok(w), fmt.Sprint(i), T0), T0)
			}
		})
	}
	wg.Wait()
	if h.Commits != nil {
		commits := h.Commits(s) - before
		if commits >= workers*each/2 {
			t.Fatalf("%d commits for %d deposits: no group commit", commits, workers*each)
		}
		t.Logf("%d deposits in %d commits", workers*each, commits)
	}
	for w := range workers {
		items := fetch(t, s, T0, Tok(w))
		if len(items) != each {
			t.Fatalf("worker %d: %d items", w, len(items))
		}
		for i, it := range items {
			if string(it.Blob) != fmt.Sprint(i) {
				t.Fatalf("worker %d: order %v", w, blobs(items))
			}
		}
	}
	check(t, h, s)
}

func testTTL(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	mustDeposit(t, s, Dep(Tok(1), "old", T0), T0)
	mustDeposit(t, s, Dep(Tok(1), "new", T0), T0.Add(30*time.Minute))
	at := func(d time.Duration) string { return fmt.Sprint(blobs(fetch(t, s, T0.Add(d), Tok(1)))) }
	if got := at(time.Hour - time.Second); got != "[old new]" {
		t.Fatalf("before expiry: %s", got)
	}
	// Expired but not swept: never delivered.
	if got := at(time.Hour); got != "[new]" {
		t.Fatalf("at expiry: %s", got)
	}
	// A sweep before the expiry deletes nothing (delete only on ack or
	// expiry).
	if n, err := s.Sweep(bg, T0.Add(time.Hour-time.Second)); err != nil || n != 0 {
		t.Fatalf("early sweep = %d, %v", n, err)
	}
	n, err := s.Sweep(bg, T0.Add(time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("sweep = %d, %v", n, err)
	}
	if u := s.Usage(); u.Items != 1 || u.Bytes != 3 {
		t.Fatalf("usage %+v", u)
	}
	if n, _ := s.Sweep(bg, T0.Add(2*time.Hour)); n != 1 || s.Usage().Items != 0 {
		t.Fatalf("second sweep %d, %+v", n, s.Usage())
	}
	check(t, h, s)
}

// SweepItems is how many items the sweep tests expire: more than one
// sweep commit of either store takes (4096).
const SweepItems = 4096 + 100

func fill(t testing.TB, s store.Store, n int, now time.Time) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				mustDeposit(t, s, Dep(Tok(i%7), fmt.Sprint(i), now), now)
			}
		})
	}
	wg.Wait()
}

// testSweepBatches expires more items than one sweep commit takes.
func testSweepBatches(t *testing.T, h Harness) {
	l := Limits()
	l.MaxItemsPerToken = 1 << 20
	s := h.Open(t, l)
	fill(t, s, SweepItems, T0)
	got, err := s.Sweep(bg, T0.Add(2*time.Hour))
	if err != nil || got != SweepItems || s.Usage().Items != 0 {
		t.Fatalf("swept %d of %d, %v, usage %+v", got, SweepItems, err, s.Usage())
	}
	check(t, h, s)
}

// testConcurrentSweep sweeps through several handles at once (several
// relays' sweepers): every expired item is deleted exactly once, the live
// ones stay, and the totals stay in step.
func testConcurrentSweep(t *testing.T, h Harness) {
	l := Limits()
	l.MaxItemsPerToken = 1 << 20
	s := h.Open(t, l)
	fill(t, s, SweepItems, T0)
	live := mustDeposit(t, s, Dep(Tok(9), "live", T0), T0.Add(90*time.Minute))
	handles := []store.Store{s, second(t, h, s, l), second(t, h, s, l)}
	var total atomic.Int64
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			n, err := handles[i%len(handles)].Sweep(bg, T0.Add(2*time.Hour))
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(n))
		})
	}
	wg.Wait()
	if total.Load() != SweepItems {
		t.Fatalf("sweepers deleted %d items in all, want %d", total.Load(), SweepItems)
	}
	if items := fetch(t, s, T0.Add(2*time.Hour), Tok(9)); len(items) != 1 || items[0].ID != live.ID {
		t.Fatalf("live item: %v", blobs(items))
	}
	check(t, h, s)
}

func testFetchLimits(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	for i := range 5 {
		mustDeposit(t, s, Dep(Tok(1), fmt.Sprintf("item%d", i), T0), T0)
	}
	mustDeposit(t, s, Dep(Tok(2), "other", T0), T0)
	tests := []struct {
		limit store.FetchLimit
		want  string
		more  bool
	}{
		{store.FetchLimit{Items: 2, Bytes: 1000}, "[item0 item1]", true},
		{store.FetchLimit{Items: 5, Bytes: 1000}, "[item0 item1 item2 item3 item4]", true},
		{store.FetchLimit{Items: 6, Bytes: 1000}, "[item0 item1 item2 item3 item4 other]", false},
		{store.FetchLimit{Items: 10, Bytes: 10, PerItem: 0}, "[item0 item1]", true},
		{store.FetchLimit{Items: 10, Bytes: 30, PerItem: 10}, "[item0 item1]", true},
		{store.FetchLimit{Items: 10, Bytes: 4}, "[]", true},
		{store.FetchLimit{Items: 1, Bytes: 15, PerItem: 10}, "[item0]", true},
	}
	for _, tc := range tests {
		items, more, err := s.Fetch(bg, []address.Token{Tok(1), Tok(2)}, tc.limit, T0)
		if err != nil || fmt.Sprint(blobs(items)) != tc.want || more != tc.more {
			t.Errorf("%+v: %v more=%v %v; want %s more=%v", tc.limit, blobs(items), more, err, tc.want, tc.more)
		}
	}
	for _, bad := range []store.FetchLimit{{}, {Items: 1}, {Bytes: 1}, {Items: 1, Bytes: 1, PerItem: -1}} {
		if _, _, err := s.Fetch(bg, []address.Token{Tok(1)}, bad, T0); err == nil {
			t.Errorf("limit %+v accepted", bad)
		}
	}
	if items, more, err := s.Fetch(bg, []address.Token{Tok(9)}, anyItem, T0); err != nil || len(items) != 0 || more {
		t.Fatal("unknown token")
	}
}

// testFetchSkipsInFlight holds items as a concurrent fetch (of any
// process) would: a fetch meanwhile skips them, delivers the rest, and
// once they are released they are delivered again (nothing was deleted).
func testFetchSkipsInFlight(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	s2 := second(t, h, s, Limits())
	var ids []uint64
	for i := range 4 {
		ids = append(ids, mustDeposit(t, s, Dep(Tok(1), fmt.Sprint(i), T0), T0).ID)
	}
	release := h.Hold(t, s, []uint64{ids[1], ids[2]})
	for _, on := range []store.Store{s, s2} {
		items, more, err := on.Fetch(bg, []address.Token{Tok(1)}, anyItem, T0)
		if err != nil || fmt.Sprint(blobs(items)) != "[0 3]" || more {
			t.Fatalf("while held: %v more=%v %v", blobs(items), more, err)
		}
		// The limit counts only what this fetch can have.
		items, more, err = on.Fetch(bg, []address.Token{Tok(1)}, store.FetchLimit{Items: 2, Bytes: 100}, T0)
		if err != nil || fmt.Sprint(blobs(items)) != "[0 3]" || more {
			t.Fatalf("while held, limit 2: %v more=%v %v", blobs(items), more, err)
		}
	}
	release()
	if got := fmt.Sprint(blobs(fetch(t, s2, T0, Tok(1)))); got != "[0 1 2 3]" {
		t.Fatalf("after release: %s", got)
	}
	check(t, h, s)
}

// testConcurrentFetchAck runs fetchers that fetch and ack the same tokens
// concurrently (through several handles where possible) until nothing is
// left: every item is acked exactly once, and the store ends empty and in
// step.
func testConcurrentFetchAck(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	const tokens, each = 4, 100
	want := map[uint64]bool{}
	for i := range tokens * each {
		want[mustDeposit(t, s, Dep(Tok(i%tokens), fmt.Sprint(i), T0), T0).ID] = true
	}
	handles := []store.Store{s, second(t, h, s, Limits())}
	all := []address.Token{Tok(0), Tok(1), Tok(2), Tok(3)}
	var mu sync.Mutex
	acked := map[uint64]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			on := handles[w%len(handles)]
			for range 10000 {
				items, _, err := on.Fetch(bg, all, store.FetchLimit{Items: 16, Bytes: 1 << 20}, T0)
				if err != nil {
					t.Error(err)
					return
				}
				if len(items) == 0 {
					// Nothing left, or all that is left is being read by
					// another fetcher, which will ack it.
					return
				}
				for _, it := range items {
					n, err := on.Ack(bg, it.Token, []uint64{it.ID})
					if err != nil {
						t.Error(err)
						return
					}
					if n == 1 {
						mu.Lock()
						acked[it.ID]++
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	for id := range want {
		if acked[id] != 1 {
			t.Errorf("item %d acked %d times", id, acked[id])
		}
	}
	if len(acked) != len(want) {
		t.Errorf("%d items acked, %d deposited", len(acked), len(want))
	}
	if items := fetch(t, s, T0, all...); len(items) != 0 {
		t.Fatalf("%d items left", len(items))
	}
	check(t, h, s)
}

// testFetchCopies checks that fetched blobs do not alias the store.
func testFetchCopies(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	mustDeposit(t, s, Dep(Tok(1), "abc", T0), T0)
	items := fetch(t, s, T0, Tok(1))
	items[0].Blob[0] = 'z'
	if again := fetch(t, s, T0, Tok(1)); string(again[0].Blob) != "abc" {
		t.Fatal("fetched blob aliases the store")
	}
}

func testClockFailsClosed(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	for _, bad := range []time.Time{{}, time.Unix(-1, 0)} {
		if _, err := s.Deposit(bg, Dep(Tok(1), "x", T0), bad); !errors.Is(err, store.ErrClock) {
			t.Fatalf("deposit at %v: %v", bad, err)
		}
		if _, _, err := s.Fetch(bg, []address.Token{Tok(1)}, anyItem, bad); !errors.Is(err, store.ErrClock) {
			t.Fatalf("fetch at %v: %v", bad, err)
		}
		if _, err := s.Sweep(bg, bad); !errors.Is(err, store.ErrClock) {
			t.Fatalf("sweep at %v: %v", bad, err)
		}
	}
	if _, err := s.Deposit(bg, store.Deposit{Token: Tok(1)}, T0); err == nil {
		t.Fatal("empty blob accepted")
	}
	if u := s.Usage(); u.Items != 0 {
		t.Fatalf("refused deposits stored: %+v", u)
	}
}

func testReopenKeepsEverything(t *testing.T, h Harness) {
	l := Limits()
	s := h.Open(t, l)
	r := mustDeposit(t, s, Dep(Tok(1), "kept", T0), T0)
	r2 := mustDeposit(t, s, Dep(Tok(1), "acked", T0), T0)
	if n, err := s.Ack(bg, Tok(1), []uint64{r2.ID}); n != 1 || err != nil {
		t.Fatal(n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("second close: %v", err)
	}
	if _, err := s.Deposit(bg, Dep(Tok(1), "late", T0), T0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("deposit after close: %v", err)
	}
	if _, err := s.Ack(bg, Tok(1), []uint64{r.ID}); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("ack after close: %v", err)
	}
	if _, _, err := s.Fetch(bg, []address.Token{Tok(1)}, anyItem, T0); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("fetch after close: %v", err)
	}
	s2 := h.Reopen(t, s, l)
	items := fetch(t, s2, T0, Tok(1))
	if fmt.Sprint(blobs(items)) != "[kept]" || items[0].ID != r.ID || s2.Usage().Items != 1 || s2.Usage().Bytes != 4 {
		t.Fatalf("after reopen: %v %+v", blobs(items), s2.Usage())
	}
	// Ids are never reused.
	if r3 := mustDeposit(t, s2, Dep(Tok(1), "next", T0), T0); r3.ID <= r2.ID {
		t.Fatalf("id %d reused after %d", r3.ID, r2.ID)
	}
	check(t, h, s2)
}

// testCloseFlushes queues deposits and closes at once: every deposit that
// returned without error is stored (a receipt means committed).
func testCloseFlushes(t *testing.T, h Harness) {
	l := Limits()
	s := h.Open(t, l)
	var wg sync.WaitGroup
	var stored sync.Map
	for i := range 200 {
		wg.Go(func() {
			if r, err := s.Deposit(bg, Dep(Tok(i), "x", T0), T0); err == nil {
				stored.Store(i, r.ID)
			} else if !errors.Is(err, store.ErrClosed) {
				t.Error(err)
			}
		})
	}
	time.Sleep(time.Millisecond)
	s.Close()
	wg.Wait()
	s2 := h.Reopen(t, s, l)
	stored.Range(func(k, v any) bool {
		items := fetch(t, s2, T0, Tok(k.(int)))
		if len(items) != 1 || items[0].ID != v.(uint64) {
			t.Errorf("deposit %v lost", k)
		}
		return true
	})
	check(t, h, s2)
}

func testContextCanceled(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	c, cancel := context.WithCancel(bg)
	cancel()
	if _, _, err := s.Fetch(c, []address.Token{Tok(1)}, anyItem, T0); !errors.Is(err, context.Canceled) {
		t.Fatalf("fetch: %v", err)
	}
	if _, _, err := s.Lookup(c, Dep(Tok(1), "x", T0).Key); !errors.Is(err, context.Canceled) {
		t.Fatalf("lookup: %v", err)
	}
	// A canceled deposit may or may not be stored, but never twice.
	d := Dep(Tok(1), "x", T0)
	s.Deposit(c, d, T0)
	mustDeposit(t, s, d, T0)
	if n := len(fetch(t, s, T0, Tok(1))); n != 1 {
		t.Fatalf("canceled deposit stored %d times", n)
	}
}

// testLargeBlobs round-trips blobs of the largest size, more of them than
// one response holds.
func testLargeBlobs(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	var want [][]byte
	for i := range 5 {
		big := bytes.Repeat([]byte{byte(0x50 + i)}, 66560)
		want = append(want, big)
		mustDeposit(t, s, Dep(Tok(1), string(big), T0), T0)
	}
	items, more, err := s.Fetch(bg, []address.Token{Tok(1)}, store.FetchLimit{Items: 256, Bytes: 262139, PerItem: 44}, T0)
	if err != nil || len(items) != 3 || !more {
		t.Fatalf("%d items, more %v, %v", len(items), more, err)
	}
	for i, it := range items {
		if !bytes.Equal(it.Blob, want[i]) {
			t.Fatalf("blob %d differs", i)
		}
	}
}

// testSharedReplayMemory checks that the dedupe entries (the replay
// memory of accepted stamps) are shared by every handle: a deposit made
// through one is a duplicate through another, with the first receipt, and
// acked through the other it is gone for both.
func testSharedReplayMemory(t *testing.T, h Harness) {
	if h.Second == nil {
		t.Skip("the store cannot be shared by two processes")
	}
	s := h.Open(t, Limits())
	s2 := h.Second(t, s, Limits())
	d := Dep(Tok(1), "once", T0)
	r1 := mustDeposit(t, s, d, T0)
	if r, ok, err := s2.Lookup(bg, d.Key); err != nil || !ok || r.ID != r1.ID || !r.Duplicate {
		t.Fatalf("Lookup on the second = %+v, %v, %v", r, ok, err)
	}
	if r := mustDeposit(t, s2, d, T0.Add(time.Minute)); !r.Duplicate || r.ID != r1.ID || !r.Expires.Equal(r1.Expires) {
		t.Fatalf("retry through the second = %+v", r)
	}
	if n, err := s2.Ack(bg, Tok(1), []uint64{r1.ID}); n != 1 || err != nil {
		t.Fatalf("ack through the second: %d, %v", n, err)
	}
	if items := fetch(t, s, T0, Tok(1)); len(items) != 0 {
		t.Fatal("acked item still delivered by the first")
	}
	if r := mustDeposit(t, s, d, T0.Add(2*time.Minute)); !r.Duplicate {
		t.Fatal("acked deposit stored again")
	}
	check(t, h, s)
}

// testAckedOnlyOnce acks the same ids from many goroutines (through two
// handles where possible): the counts add up to one per item.
func testAckedOnlyOnce(t *testing.T, h Harness) {
	s := h.Open(t, Limits())
	s2 := second(t, h, s, Limits())
	var ids []uint64
	for i := range 50 {
		ids = append(ids, mustDeposit(t, s, Dep(Tok(1), fmt.Sprint(i), T0), T0).ID)
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			on := s
			if w%2 == 1 {
				on = s2
			}
			mine := slices.Clone(ids)
			if w%3 == 0 {
				slices.Reverse(mine)
			}
			for i := 0; i < len(mine); i += 7 {
				part := mine[i:min(i+7, len(mine))]
				slices.Sort(part)
				n, err := on.Ack(bg, Tok(1), part)
				if err != nil {
					t.Error(err)
				}
				total.Add(int64(n))
			}
		})
	}
	wg.Wait()
	if total.Load() != int64(len(ids)) {
		t.Fatalf("acks deleted %d items, want %d", total.Load(), len(ids))
	}
	check(t, h, s)
}
