//go:build cgo

package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/parley-im/parley/bridge/keystore"
)

// bigProfile is a database with fixtureMessages messages in one
// conversation, built once for the benchmarks that need it.
const fixtureMessages = 100_000

var (
	bigOnce    sync.Once
	bigDir     string
	bigPath    string
	bigSource  *keystore.Static
	bigContact ContactID
	bigErr     error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if bigDir != "" {
		os.RemoveAll(bigDir)
	}
	os.Exit(code)
}

func bigProfile(b *testing.B) (string, *keystore.Static, ContactID) {
	b.Helper()
	bigOnce.Do(func() {
		bigDir, bigErr = os.MkdirTemp("", "parley-store-bench")
		if bigErr != nil {
			return
		}
		bigPath = filepath.Join(bigDir, FileName)
		bigSource, _ = newSource(b)
		db, err := Open(ctx, bigPath, bigSource)
		if err != nil {
			bigErr = err
			return
		}
		defer db.Close()
		bigErr = db.Update(ctx, func(tx *Tx) error {
			var err error
			bigContact, err = tx.AddContact("bench", []byte("bench identity"), t0)
			return err
		})
		if bigErr != nil {
			return
		}
		bigErr = insertMessages(db, bigContact, 0, fixtureMessages, 1000)
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigPath, bigSource, bigContact
}

// insertMessages adds n messages with ids from first, batch per transaction.
func insertMessages(db *DB, c ContactID, first, n, batch int) error {
	for done := 0; done < n; {
		k := min(batch, n-done)
		err := db.Update(ctx, func(tx *Tx) error {
			for i := range k {
				var id MessageID
				binary.BigEndian.PutUint64(id[:], uint64(first+done+i))
				id[15] = 1
				m := Message{ID: id, Contact: c, Direction: Direction(1 + (done+i)%2), SentAt: t0, Status: StatusReceived, Created: t0,
					Body: fmt.Sprintf("message %d: a typical chat line of some sixty to eighty bytes", first+done+i)}
				if err := tx.AddMessage(&m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		done += k
	}
	return nil
}

// BenchmarkOpenListLast50 is the start-up figure: open a profile
// holding 100,000 messages (key, self-test, migration check) and list the
// newest 50 (goal: ≤ 50 ms).
func BenchmarkOpenListLast50(b *testing.B) {
	path, src, c := bigProfile(b)
	b.Run("open+list", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			db, err := Open(ctx, path, src)
			if err != nil {
				b.Fatal(err)
			}
			var p Page
			err = db.View(ctx, func(tx *Tx) error {
				p, err = tx.Messages(c, 0, 50)
				return err
			})
			if err != nil || len(p.Messages) != 50 {
				b.Fatalf("%d messages, %v", len(p.Messages), err)
			}
			db.Close()
		}
	})
	db, err := Open(ctx, path, src)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name   string
		before Cursor
	}{{"list-newest", 0}, {"list-middle", fixtureMessages / 2}, {"list-oldest", 51}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				err := db.View(ctx, func(tx *Tx) error {
					p, err := tx.Messages(c, tc.before, 50)
					if err == nil && len(p.Messages) != 50 {
						err = fmt.Errorf("%d messages", len(p.Messages))
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAddMessage: one op is one stored message, either 1000 per
// transaction or one per transaction (each a WAL commit).
func BenchmarkAddMessage(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			db, _, _ := openTemp(b)
			c := addContact(b, db, "c")
			b.ReportAllocs()
			b.ResetTimer()
			if err := insertMessages(db, c, 0, b.N, batch); err != nil {
				b.Fatal(err)
			}
		})
	}
}
