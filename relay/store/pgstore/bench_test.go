package pgstore_test

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/store"
	"github.com/parley-im/parley/relay/store/pgstore"
	"github.com/parley-im/parley/relay/store/pgtest"
)

// The store alone, without a relay around it: what one process gets from
// PostgreSQL. The relay-process figures are in bridge/relaycmd
// (BenchmarkRelayDeposit, BenchmarkRelayFetchAck).

const (
	benchWorkers = 256
	benchBlob    = 1024
)

var benchLimits = store.Limits{TTL: time.Hour, MaxItemsPerToken: 1 << 30, MaxTotalBytes: 1 << 40, DedupeWindow: time.Hour}

func benchDeposit(op int) store.Deposit {
	blob := make([]byte, benchBlob)
	binary.BigEndian.PutUint64(blob, uint64(op))
	var tok address.Token
	binary.BigEndian.PutUint16(tok[:], uint16(op%1024))
	return store.Deposit{Token: tok, Blob: blob, Key: store.DedupeKey{Time: 1, Digest: sha256.Sum256(blob)}}
}

// BenchmarkDeposit measures durable deposits per second into one store
// from benchWorkers goroutines, each deposit preceded by its Lookup as the
// relay does.
func BenchmarkDeposit(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchBlob)
	s, err := pgstore.Open(bg, pgtest.Shared(b).NewSchema(b), benchLimits, pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	before := s.Commits()
	b.ResetTimer()
	start := time.Now()
	for range benchWorkers {
		wg.Go(func() {
			for {
				op := int(next.Add(1) - 1)
				if op >= b.N {
					return
				}
				d := benchDeposit(op)
				if _, _, err := s.Lookup(bg, d.Key); err != nil {
					b.Error(err)
					return
				}
				if _, err := s.Deposit(bg, d, time.Now()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "deposits/s")
	b.ReportMetric(float64(b.N)/float64(max(s.Commits()-before, 1)), "deposits/commit")
}

// BenchmarkFetchAck measures items fetched and acked per second: 32
// workers, each owning a token, fetching up to 64 items and acking them.
func BenchmarkFetchAck(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchBlob)
	const workers, batch = 32, 64
	s, err := pgstore.Open(bg, pgtest.Shared(b).NewSchema(b), benchLimits, pgstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	now := time.Now()
	for g := range benchWorkers {
		wg.Go(func() {
			for op := g; op < b.N; op += benchWorkers {
				d := benchDeposit(op)
				d.Token = address.Token{byte(op % workers)}
				if _, err := s.Deposit(bg, d, now); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	var done atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			tok := address.Token{byte(w)}
			for {
				items, _, err := s.Fetch(bg, []address.Token{tok}, store.FetchLimit{Items: batch, Bytes: 1 << 20, PerItem: 44}, now)
				if err != nil {
					b.Error(err)
					return
				}
				if len(items) == 0 {
					return
				}
				ids := make([]uint64, len(items))
				for i, it := range items {
					ids[i] = it.ID
				}
				if n, err := s.Ack(bg, tok, ids); err != nil || n != len(ids) {
					b.Errorf("ack %d: %v", n, err)
					return
				}
				done.Add(int64(len(ids)))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if done.Load() != int64(b.N) {
		b.Fatalf("fetched and acked %d of %d", done.Load(), b.N)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "items/s")
}
