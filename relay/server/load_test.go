package server_test

import (
	"flag"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
)

// The full load is 500 clients × 200 deposits; `make load` runs it.
// `make test` runs a smaller default (see TestLoad).
var (
	loadClients  = flag.Int("load.clients", 0, "concurrent clients in TestLoad (0: the default)")
	loadDeposits = flag.Int("load.deposits", 0, "deposits per client in TestLoad (0: the default)")
)

// TestLoad runs many concurrent clients, each with its own connection,
// depositing over real TCP through the whole relay, then fetches and acks
// everything: no deposit may be lost or duplicated, and each must come back
// under its receipt's id.
func TestLoad(t *testing.T) {
	t.Parallel()
	clients, deposits := 100, 50
	if *loadClients > 0 {
		clients = *loadClients
	}
	if *loadDeposits > 0 {
		deposits = *loadDeposits
	}
	const tokens = 64
	r := startRelay(t, options{policy: func(c *policy.Config) { c.MaxConns = clients + 16 }})
	start := time.Now()
	var wg sync.WaitGroup
	receipts := make([][]uint64, clients)
	for i := range clients {
		wg.Go(func() {
			c := r.client(t, func(c *client.Config) { c.Backoff = 50 * time.Millisecond })
			ids := make([]uint64, deposits)
			for j := range ids {
				rc, err := c.Deposit(bg, tok(i%tokens), fmt.Appendf(nil, "c%04d-d%04d", i, j))
				if err != nil {
					t.Errorf("client %d deposit %d: %v", i, j, err)
					return
				}
				if rc.Duplicate {
					t.Errorf("client %d deposit %d: duplicate", i, j)
				}
				ids[j] = rc.ID
			}
			receipts[i] = ids
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	deposited := time.Since(start)
	// Fetch and ack everything, one fetcher per group of tokens.
	start = time.Now()
	var mu sync.Mutex
	got := map[string]uint64{}
	dups := 0
	const groups = 8
	for g := range groups {
		wg.Go(func() {
			var mine []address.Token
			for k := g; k < tokens; k += groups {
				mine = append(mine, tok(k))
			}
			c := r.client(t, nil)
			for {
				items, err := c.Fetch(bg, mine, proto.MaxFetchItems)
				if err != nil {
					t.Error(err)
					return
				}
				byToken := map[address.Token][]uint64{}
				mu.Lock()
				for _, it := range items.Items {
					if _, ok := got[string(it.Blob)]; ok {
						dups++
					}
					got[string(it.Blob)] = it.ID
					byToken[it.Token] = append(byToken[it.Token], it.ID)
				}
				mu.Unlock()
				for tk, ids := range byToken {
					if n, err := c.Ack(bg, tk, ids); err != nil || n != len(ids) {
						t.Errorf("ack %d of %d: %v", n, len(ids), err)
						return
					}
				}
				if !items.More {
					return
				}
			}
		})
	}
	wg.Wait()
	fetched := time.Since(start)
	lost := 0
	for i, ids := range receipts {
		for j, id := range ids {
			if got[fmt.Sprintf("c%04d-d%04d", i, j)] != id {
				lost++
			}
		}
	}
	if lost != 0 || dups != 0 || len(got) != clients*deposits {
		t.Fatalf("%d deposits: %d lost, %d duplicated, %d fetched", clients*deposits, lost, dups, len(got))
	}
	if u := r.bolt.Usage(); u.Items != 0 {
		t.Fatalf("%d items left", u.Items)
	}
	t.Logf("%d clients × %d deposits: deposited in %v (%.0f/s, %d commits), fetched+acked in %v",
		clients, deposits, deposited.Round(time.Millisecond), float64(clients*deposits)/deposited.Seconds(),
		r.bolt.Commits(), fetched.Round(time.Millisecond))
}
