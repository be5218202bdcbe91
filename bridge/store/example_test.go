//go:build cgo

package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/store"
)

// Open a profile database, store a contact and a message in one
// transaction, and read the conversation's newest page.
func Example() {
	dir, _ := os.MkdirTemp("", "parley-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	key, _ := keystore.NewKey(nil) // a real bridge gets its Source from keystore.Open
	db, err := store.Open(ctx, filepath.Join(dir, store.FileName), keystore.NewStatic(key, keystore.ModePassphrase))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer db.Close()

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var alice store.ContactID
	err = db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if alice, err = tx.AddContact("alice", []byte("alice's public identity"), now); err != nil {
			return err
		}
		return tx.AddMessage(&store.Message{ID: store.MessageID{1}, Contact: alice, Direction: store.Incoming,
			Body: "hi bob", SentAt: now, Status: store.StatusReceived, Created: now})
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	db.View(ctx, func(tx *store.Tx) error {
		page, err := tx.Messages(alice, 0, 50)
		for _, m := range page.Messages {
			fmt.Println(m.Body, m.Status, page.Older)
		}
		return err
	})
	// Output:
	// hi bob received 0
}
