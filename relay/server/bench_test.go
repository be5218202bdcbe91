package server_test

import (
	"crypto/sha256"
	"encoding/binary"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/store"
)

// benchClients is how many concurrent clients the throughput benchmarks
// run: enough that group commit fills its batches while fsync runs.
const benchClients = 256

// benchBlobSize is a deposit's blob: the smallest envelope bucket (256 B)
// sealed, a typical short message.
const benchBlobSize = 1024

// parallel runs fn(worker, op) b.N times in all, spread over n goroutines,
// and reports ops per second.
func parallel(b *testing.B, n int, setup func(worker int) func(op int)) {
	b.Helper()
	fns := make([]func(int), n)
	for w := range fns {
		fns[w] = setup(w)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range n {
		wg.Go(func() {
			for {
				op := next.Add(1) - 1
				if op >= int64(b.N) {
					return
				}
				fns[w](int(op))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}

func benchBlob(op int) []byte {
	b := make([]byte, benchBlobSize)
	binary.BigEndian.PutUint64(b, uint64(op))
	return b
}

// BenchmarkDeposit measures durable deposits per second with benchClients
// parallel clients.
//
// protocol: the full path, each client on its own TCP connection: PoW solve
// and verify at the lowest difficulty (1 bit), Noise transport both ways,
// parse, dedupe lookup, group-committed bbolt store with fsync, receipt.
//
// primitives: the floor, the bbolt group-commit store alone (store.Deposit
// from benchClients goroutines, same blobs). protocol/primitives ≤ 2 is the
// goal: the relay keeps at least half of its store's throughput.
func BenchmarkDeposit(b *testing.B) {
	b.Run("protocol", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(benchBlobSize)
		r := startRelay(b, options{policy: func(c *policy.Config) {
			c.PowCacheSize = 1 << 24
			c.MaxConns = benchClients + 16
			c.QuotaTotal = 1 << 40
		}})
		parallel(b, benchClients, func(w int) func(int) {
			c := r.client(b, nil)
			if _, err := c.Ping(bg); err != nil { // connect before timing
				b.Fatal(err)
			}
			return func(op int) {
				if _, err := c.Deposit(bg, tok(op%1024), benchBlob(op)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/float64(max(r.bolt.Commits(), 1)), "deposits/commit")
	})
	b.Run("primitives", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(benchBlobSize)
		s := benchStore(b)
		parallel(b, benchClients, func(w int) func(int) {
			return func(op int) {
				blob := benchBlob(op)
				d := store.Deposit{Token: tok(op % 1024), Blob: blob, Key: store.DedupeKey{Time: uint64(time.Now().Unix()), Digest: sha256.Sum256(blob)}}
				if _, err := s.Deposit(bg, d, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.ReportMetric(float64(b.N)/float64(max(s.Commits(), 1)), "deposits/commit")
	})
}

func benchStore(b *testing.B) *store.Bolt {
	s, err := store.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), store.Limits{
		TTL: time.Hour, MaxItemsPerToken: 1 << 30, MaxTotalBytes: 1 << 40, DedupeWindow: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkFetchAck measures items fetched and acked per second through the
// full path: parallel clients, each owning its own tokens, fetching up to 64
// items and acking them (one FETCH and one ACK per 64 items).
func BenchmarkFetchAck(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchBlobSize)
	const workers, batch = 32, 64
	r := startRelay(b, options{policy: func(c *policy.Config) { c.QuotaTotal = 1 << 40 }})
	// Fill the store directly (untimed), b.N items spread over the workers'
	// tokens.
	var wg sync.WaitGroup
	for g := range benchClients {
		wg.Go(func() {
			for op := g; op < b.N; op += benchClients {
				blob := benchBlob(op)
				d := store.Deposit{Token: tok(op % workers), Blob: blob, Key: store.DedupeKey{Time: 1, Digest: sha256.Sum256(blob)}}
				if _, err := r.bolt.Deposit(bg, d, time.Now()); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	clients := make([]*client.Client, workers)
	for w := range clients {
		clients[w] = r.client(b, nil)
		if _, err := clients[w].Ping(bg); err != nil {
			b.Fatal(err)
		}
	}
	var done atomic.Int64
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			c := clients[w]
			for {
				items, err := c.Fetch(bg, []address.Token{tok(w)}, batch)
				if err != nil {
					b.Error(err)
					return
				}
				if len(items.Items) == 0 {
					return
				}
				ids := make([]uint64, len(items.Items))
				for i, it := range items.Items {
					ids[i] = it.ID
				}
				if n, err := c.Ack(bg, tok(w), ids); err != nil || n != len(ids) {
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

// BenchmarkNoiseTransport is the transport floor: benchClients parallel
// links over loopback TCP, each op one deposit-sized request
// (DepositOverhead + benchBlobSize bytes) and one receipt-sized answer,
// encrypted and decrypted by link.Conn, with no parsing or storage.
func BenchmarkNoiseTransport(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(benchBlobSize)
	key, err := link.GenerateKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	cfg := link.Config{MaxRead: proto.MaxResponseSize, MaxWrite: proto.MaxResponseSize}
	answer := (&proto.Receipt{ID: 1, Expires: 2}).Marshal()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				lc, err := link.Server(nc, key, cfg, func([]byte) ([]byte, bool) { return []byte{1}, true })
				if err != nil {
					return
				}
				for {
					if _, err := lc.ReadMessage(); err != nil {
						return
					}
					if err := lc.WriteMessage(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	request := make([]byte, proto.DepositOverhead+benchBlobSize)
	parallel(b, benchClients, func(int) func(int) {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { nc.Close() })
		lc, _, err := link.Client(nc, key.Public(), nil, cfg)
		if err != nil {
			b.Fatal(err)
		}
		return func(int) {
			if err := lc.WriteMessage(request); err != nil {
				b.Fatal(err)
			}
			if _, err := lc.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkHandshake measures one Noise NK handshake over loopback TCP
// (client and server sides together, with the hello and welcome).
func BenchmarkHandshake(b *testing.B) {
	b.ReportAllocs()
	r := startRelay(b, options{})
	hello := (&proto.Hello{}).Marshal()
	b.ResetTimer()
	for b.Loop() {
		nc, err := net.Dial("tcp", r.addr.HostPort())
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := link.Client(nc, r.addr.Key, hello, link.Config{MaxRead: 100, MaxWrite: 100}); err != nil {
			b.Fatal(err)
		}
		nc.Close()
	}
}
