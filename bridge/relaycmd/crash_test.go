package relaycmd_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/proto"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestCrashDurability runs the relay as a subprocess under concurrent
// deposits and kills it with SIGKILL at random moments, ten times,
// restarting it on the same port and data directory each time. The
// depositing clients retry through the crashes (resending the same deposit,
// which the relay deduplicates). Afterwards every acknowledged deposit must
// be fetchable exactly once, under the id its receipt gave, and nothing may
// appear twice; after each kill the store must be internally consistent.
func TestCrashDurability(t *testing.T) {
	t.Parallel()
	const (
		kills   = 10
		workers = 16
		tokens  = 8
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	args := []string{"--listen", "127.0.0.1:" + strconv.Itoa(freePort(t)), "--data", dir, "--pow-bits", "1"}
	p := start(t, args...)
	relayAddr := p.addr

	var (
		mu      sync.Mutex
		acked   = map[string]uint64{} // blob -> id from its receipt
		unknown = map[string]bool{}   // gave up: may or may not be stored
		stop    atomic.Bool
		wg      sync.WaitGroup
		count   atomic.Int64
	)
	for w := range workers {
		wg.Go(func() {
			c, err := client.New(client.Config{
				Address: relayAddr, Retries: 60, Backoff: 10 * time.Millisecond,
				RequestTimeout: 5 * time.Second, HandshakeTimeout: 5 * time.Second,
			})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for i := 0; !stop.Load(); i++ {
				blob := fmt.Sprintf("w%02d-%06d", w, i)
				rc, err := c.Deposit(bg, tok(byte(w%tokens)), []byte(blob))
				mu.Lock()
				if err != nil {
					unknown[blob] = true
				} else {
					acked[blob] = rc.ID
				}
				mu.Unlock()
				count.Add(1)
			}
		})
	}

	for k := range kills {
		before := count.Load()
		deadline := time.Now().Add(10 * time.Second)
		for count.Load() < before+int64(workers) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond) // let deposits flow before the kill
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		p.kill() // SIGKILL: no chance to flush anything
		s := openStore(t, dir)
		if err := s.Check(); err != nil {
			t.Fatalf("after kill %d: %v", k+1, err)
		}
		s.Close()
		var err error
		for attempt := range 20 {
			if p, err = tryStart(args...); err == nil {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("restart %d: %v", k+1, err)
		}
		t.Cleanup(p.kill)
		if p.addr != relayAddr {
			t.Fatalf("restart %d: address changed to %s", k+1, p.addr)
		}
	}
	stop.Store(true)
	wg.Wait()

	c, err := client.New(client.Config{Address: relayAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	all := make([]address.Token, tokens)
	for i := range all {
		all[i] = tok(byte(i))
	}
	seen := map[string]int{}
	ids := map[string]uint64{}
	for range 100000 {
		items, err := c.Fetch(bg, all, proto.MaxFetchItems)
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
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for blob, id := range acked {
		if seen[blob] != 1 {
			t.Errorf("acknowledged deposit %s fetched %d times", blob, seen[blob])
		} else if ids[blob] != id {
			t.Errorf("deposit %s fetched as id %d, receipt said %d", blob, ids[blob], id)
		}
	}
	for blob, n := range seen {
		if n != 1 {
			t.Errorf("%s fetched %d times", blob, n)
		}
		if _, ok := acked[blob]; !ok && !unknown[blob] {
			t.Errorf("fetched %s, which no client deposited", blob)
		}
	}
	if len(acked) < 20*kills {
		t.Errorf("only %d acknowledged deposits: the test did not exercise the relay", len(acked))
	}
	t.Logf("%d acknowledged deposits, %d given up, %d fetched, across %d kills", len(acked), len(unknown), len(seen), kills)
	if code := p.stop(t); code != 0 {
		t.Errorf("final stop: exit %d", code)
	}
}
