package engine

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/store"
)

// BenchmarkOpenListLast50 opens a profile holding 100,000 messages and lists
// the newest 50 (issue 4 goal: ≤ 50 ms).
func BenchmarkOpenListLast50(b *testing.B) {
	dir := b.TempDir()
	k, err := keystore.NewKey(nil)
	if err != nil {
		b.Fatal(err)
	}
	src := keystore.NewStatic(k, keystore.ModePassphrase)
	path := filepath.Join(dir, store.FileName)
	db, err := store.Open(ctx, path, src)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	var cid store.ContactID
	const total, batch = 100_000, 10_000
	for n := 0; n < total; n += batch {
		if err := db.Update(ctx, func(tx *store.Tx) error {
			if cid == 0 {
				var err error
				if cid, err = tx.AddContact("c", make([]byte, 32), now); err != nil {
					return err
				}
			}
			for i := n; i < n+batch; i++ {
				m := &store.Message{Contact: cid, Direction: store.Incoming, Body: fmt.Sprintf("message %d of the benchmark", i),
					SentAt: now, Status: store.StatusReceived, Created: now}
				m.ID[0], m.ID[1], m.ID[2], m.ID[3] = byte(i), byte(i>>8), byte(i>>16), 1
				if err := tx.AddMessage(m); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		db, err := store.Open(ctx, path, src)
		if err != nil {
			b.Fatal(err)
		}
		e, err := New(Config{DB: db})
		if err != nil {
			b.Fatal(err)
		}
		pg, err := e.Messages(ctx, int64(cid), 0, 50)
		if err != nil || len(pg.Messages) != 50 || pg.Older == 0 {
			b.Fatalf("page: %d messages, %v", len(pg.Messages), err)
		}
		e.Close()
		db.Close()
	}
}

// BenchmarkSendReceive measures one message from messages.send to its
// commit at the receiver through a loopback relay (PoW 4 bits): alice's
// Send, the outbox deposit, bob's poll (fetch, decrypt, commit, ack).
func BenchmarkSendReceive(b *testing.B) {
	relay := startRelay(b)
	alice, bob := newPeer(b, "alice"), newPeer(b, "bob")
	for _, p := range []*peer{alice, bob} {
		if _, err := p.e.CreateIdentity(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := alice.e.SetSettings(ctx, Settings{Relay: relay}); err != nil {
		b.Fatal(err)
	}
	inv, err := alice.e.CreateInvite(ctx, 0)
	if err != nil {
		b.Fatal(err)
	}
	_, err = bob.e.AcceptInvite(ctx, inv.Text, "", "hi")
	if err != nil {
		b.Fatal(err)
	}
	alice.waitMessages(1)
	cs, _ := alice.e.Contacts(ctx)
	ab := cs[0].ID
	// Stop the loops: the benchmark drives each step itself.
	for _, p := range []*peer{alice, bob} {
		p.e.Close()
		e, err := New(Config{DB: p.db, Emit: p.emit})
		if err != nil {
			b.Fatal(err)
		}
		p.e = e
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := alice.e.Send(ctx, ab, fmt.Sprintf("benchmark message %d", i)); err != nil {
			b.Fatal(err)
		}
		alice.e.flushOutbox(ctx)
		if err := bob.e.Poll(ctx); err != nil {
			b.Fatal(err)
		}
		<-bob.recv
	}
}
