package engine

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
)

func (p *peer) depositsSoFar() []deposited {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]deposited(nil), p.deposits...)
}

// TestCoverBlobSize: a cover blob is exactly the size of a short text
// message's blob.
func TestCoverBlobSize(t *testing.T) {
	for _, pq := range []bool{false} {
		for _, n := range []int{0, 1, 100, 155} {
			if got, err := session.BlobSize(n, pq); err != nil || got != CoverBlobSize {
				t.Fatalf("BlobSize(%d) = %d, %v; CoverBlobSize %d", n, got, err, CoverBlobSize)
			}
		}
	}
	e, err := New(Config{DB: &store.DB{}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := coverBlob(e, address.Token{1})
	if err != nil || len(b) != CoverBlobSize {
		t.Fatalf("cover blob: %d bytes, %v", len(b), err)
	}
	c, _ := coverBlob(e, address.Token{1})
	if string(b) == string(c) {
		t.Fatal("two cover blobs are equal")
	}
}

// TestCoverTraffic: cover traffic is off until the user turns it on; then
// cover blobs, each the size of a real short message, are deposited under
// this epoch's cover token at the configured cadence (jittered), reclaimed
// from the relay by the poller, and never shown as messages.
func TestCoverTraffic(t *testing.T) {
	alice, bob, ab, ba := pair(t, nil)
	time.Sleep(300 * time.Millisecond)
	if n := len(alice.depositsSoFar()); n != 0 {
		t.Fatalf("%d deposits with cover traffic off", n)
	}
	on := true
	if s := must[*Settings](t, nil)(alice.e.UpdateSettings(ctx, SettingsUpdate{Cover: &on})); !s.Cover {
		t.Fatalf("settings: %+v", s)
	}
	// Real short messages, for their size (the first carries a PQ ratchet
	// step and is larger; the others are short-message sized).
	for i := range 3 {
		must[*Message](t, nil)(alice.e.Send(ctx, ab, fmt.Sprintf("short %d", i)))
		if got := bob.waitMessages(1); got[0] != fmt.Sprint("short ", i) {
			t.Fatal(got)
		}
		must[*Message](t, nil)(bob.e.Send(ctx, ba, "ok"))
		alice.waitMessages(1)
	}
	start := time.Now()
	time.Sleep(1500 * time.Millisecond)
	elapsed := time.Since(start)

	var secret []byte
	if err := alice.db.View(ctx, func(tx *store.Tx) error {
		v, err := tx.Setting(settingCoverSecret)
		if err == nil {
			secret, err = hex.DecodeString(v)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ep, err := address.Epoch(time.Now(), address.DefaultEpochLength)
	if err != nil {
		t.Fatal(err)
	}
	covers := map[address.Token]bool{coverToken(secret, ep): true, coverToken(secret, ep-1): true}
	var nCover, nReal, nSmall int
	for _, d := range alice.depositsSoFar() {
		if covers[d.token] {
			nCover++
			if d.size != CoverBlobSize {
				t.Errorf("cover blob of %d bytes, want %d", d.size, CoverBlobSize)
			}
			continue
		}
		nReal++
		t.Logf("real deposit: %d bytes", d.size)
		if d.size == CoverBlobSize {
			nSmall++
		}
	}
	if nReal != 3 || nSmall == 0 {
		t.Fatalf("real deposits: %d, %d of them %d bytes like a cover blob", nReal, nSmall, CoverBlobSize)
	}
	// The cadence: mean 40 ms, jittered to [30, 50) ms, plus the deposit
	// itself; at least a quarter of the ideal count, never more than the
	// shortest interval allows.
	if most := int(elapsed/(30*time.Millisecond)) + 2; nCover < int(elapsed/(40*time.Millisecond))/4 || nCover > most {
		t.Fatalf("%d cover deposits in %v", nCover, elapsed)
	}

	// Reclaimed: stop the cover loop (a fresh engine with a long cadence on
	// the same profile), poll, and the relay holds no cover blob.
	alice.e.Close()
	e2, err := New(Config{DB: alice.db, Emit: alice.emit, PollInterval: 20 * time.Millisecond, CoverInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	alice.e = e2
	e2.Start(ctx)
	s := must[*Settings](t, nil)(e2.Settings(ctx))
	ra, err := addr.Parse(s.Relay)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(ctx, client.Config{Address: ra})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	toks := []address.Token{coverToken(secret, ep), coverToken(secret, ep-1)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		e2.PollNow()
		items, err := c.Fetch(ctx, toks, 64)
		if err != nil {
			t.Fatal(err)
		}
		if len(items.Items) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d cover blobs still at the relay", len(items.Items))
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Never shown as messages.
	if n := len(alice.allMessages(ab)); n != 7 {
		t.Fatalf("alice has %d messages, want 7", n)
	}
	if n := len(bob.allMessages(ba)); n != 7 {
		t.Fatalf("bob has %d messages, want 7", n)
	}
	alice.noMoreMessages(100 * time.Millisecond)
}
