//go:build cgo

package store

import (
	"errors"
	"testing"
	"time"
)

// TestMoveIdentity: a verified rotation moves the pin and keeps the pin
// state; it never takes another contact's identity nor an empty one.
func TestMoveIdentity(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	alice := addContact(t, db, "alice")
	bob := addContact(t, db, "bob")
	t1 := t0.Add(time.Hour)
	mustUpdate(t, db, func(tx *Tx) error { return tx.SetVerified(alice, true, t1) })
	mustUpdate(t, db, func(tx *Tx) error { return tx.MoveIdentity(alice, []byte("alice rotated"), t1) })
	mustView(t, db, func(tx *Tx) error {
		c, err := tx.Contact(alice)
		if err != nil || string(c.Identity) != "alice rotated" || c.Pin != PinVerified || c.PendingIdentity != nil {
			t.Errorf("after move: %+v, %v", c, err)
		}
		return nil
	})
	bobs := func() []byte {
		var id []byte
		mustView(t, db, func(tx *Tx) error {
			c, err := tx.Contact(bob)
			id = c.Identity
			return err
		})
		return id
	}()
	for name, fn := range map[string]func(tx *Tx) error{
		"another contact's": func(tx *Tx) error { return tx.MoveIdentity(alice, bobs, t1) },
		"empty":             func(tx *Tx) error { return tx.MoveIdentity(alice, nil, t1) },
		"zero time":         func(tx *Tx) error { return tx.MoveIdentity(alice, []byte("x"), time.Time{}) },
		"missing contact":   func(tx *Tx) error { return tx.MoveIdentity(999, []byte("x"), t1) },
	} {
		if err := db.Update(ctx, fn); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.MoveIdentity(alice, bobs, t1) }); !errors.Is(err, ErrExists) {
		t.Errorf("another contact's identity: %v, want ErrExists", err)
	}
}
