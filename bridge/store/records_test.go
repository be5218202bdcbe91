//go:build cgo

package store

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIdentityAndPrekeys(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.Identity(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Identity on a fresh profile: %v", err)
		}
		if _, err := tx.Prekeys(); !errors.Is(err, ErrNotFound) {
			t.Errorf("Prekeys on a fresh profile: %v", err)
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.PutIdentity([]byte("id1"), t0); err != nil {
			return err
		}
		if err := tx.PutIdentity([]byte("id2"), t0); err != nil { // replaces
			return err
		}
		return tx.PutPrekeys([]byte("pk"), t0)
	})
	mustView(t, db, func(tx *Tx) error {
		if b, _ := tx.Identity(); string(b) != "id2" {
			t.Errorf("identity %q", b)
		}
		if b, _ := tx.Prekeys(); string(b) != "pk" {
			t.Errorf("prekeys %q", b)
		}
		return nil
	})
	for name, f := range map[string]func(tx *Tx) error{
		"empty blob": func(tx *Tx) error { return tx.PutIdentity(nil, t0) },
		"huge blob":  func(tx *Tx) error { return tx.PutPrekeys(make([]byte, MaxBlobSize+1), t0) },
		"zero time":  func(tx *Tx) error { return tx.PutIdentity([]byte("x"), time.Time{}) },
	} {
		if err := db.Update(ctx, f); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestContacts(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	alice := addContact(t, db, "alice")
	bob := addContact(t, db, "bob")
	t1 := t0.Add(time.Hour)

	err := db.Update(ctx, func(tx *Tx) error {
		_, err := tx.AddContact("alice again", []byte("identity of alice"), t0)
		return err
	})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second contact with the same identity: %v", err)
	}

	mustView(t, db, func(tx *Tx) error {
		c, err := tx.Contact(alice)
		if err != nil {
			return err
		}
		if c.Name != "alice" || c.Pin != PinUnverified || c.SafetyVerified || c.PendingIdentity != nil || !c.Created.Equal(t0) {
			t.Errorf("new contact %+v", c)
		}
		byID, err := tx.ContactByIdentity([]byte("identity of bob"))
		if err != nil || byID.ID != bob {
			t.Errorf("ContactByIdentity: %v, %v", byID, err)
		}
		if _, err := tx.Contact(999); !errors.Is(err, ErrNotFound) {
			t.Errorf("Contact(999): %v", err)
		}
		all, err := tx.Contacts()
		if err != nil || len(all) != 2 || all[0].ID != alice || all[1].ID != bob {
			t.Errorf("Contacts: %v, %v", all, err)
		}
		return nil
	})

	// Trust: verify, change (blocks verify), accept (back to unverified,
	// history kept).
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.RenameContact(alice, "Alice ✓", t1); err != nil {
			return err
		}
		return tx.SetVerified(alice, true, t1)
	})
	mustView(t, db, func(tx *Tx) error {
		c, _ := tx.Contact(alice)
		if c.Pin != PinVerified || !c.SafetyVerified || c.Name != "Alice ✓" || !c.Updated.Equal(t1) {
			t.Errorf("after verify: %+v", c)
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.MarkIdentityChanged(alice, []byte("alice's new identity"), t1) })
	if err := db.Update(ctx, func(tx *Tx) error { return tx.SetVerified(alice, true, t1) }); !errors.Is(err, ErrPinState) {
		t.Fatalf("verify while changed: %v, want ErrPinState", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.AcceptIdentityChange(bob, t1) }); !errors.Is(err, ErrPinState) {
		t.Fatalf("accept without a pending change: %v, want ErrPinState", err)
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.SetVerified(999, true, t1) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("verify a missing contact: %v, want ErrNotFound", err)
	}
	mustView(t, db, func(tx *Tx) error {
		c, _ := tx.Contact(alice)
		if c.Pin != PinChanged || string(c.PendingIdentity) != "alice's new identity" || string(c.Identity) != "identity of alice" {
			t.Errorf("after change: %+v", c)
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.AcceptIdentityChange(alice, t1) })
	mustView(t, db, func(tx *Tx) error {
		c, _ := tx.Contact(alice)
		if c.Pin != PinUnverified || !c.SafetyVerified || c.PendingIdentity != nil || string(c.Identity) != "alice's new identity" {
			t.Errorf("after accept: %+v", c)
		}
		return nil
	})

	// A pending identity that another contact already has cannot be
	// accepted (it would merge two contacts).
	mustUpdate(t, db, func(tx *Tx) error { return tx.MarkIdentityChanged(bob, []byte("alice's new identity"), t1) })
	if err := db.Update(ctx, func(tx *Tx) error { return tx.AcceptIdentityChange(bob, t1) }); !errors.Is(err, ErrExists) {
		t.Fatalf("accepting another contact's identity: %v, want ErrExists", err)
	}

	// Conversation state.
	mustView(t, db, func(tx *Tx) error {
		if s, err := tx.Session(alice); s != nil || err != nil {
			t.Errorf("fresh session: %q, %v", s, err)
		}
		if _, err := tx.Session(999); !errors.Is(err, ErrNotFound) {
			t.Errorf("session of a missing contact: %v", err)
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.PutSession(alice, []byte("ratchet state"), t1) })
	mustView(t, db, func(tx *Tx) error {
		if s, _ := tx.Session(alice); string(s) != "ratchet state" {
			t.Errorf("session %q", s)
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.PutSession(alice, nil, t1) })
	mustView(t, db, func(tx *Tx) error {
		if s, _ := tx.Session(alice); s != nil {
			t.Errorf("cleared session %q", s)
		}
		return nil
	})

	for name, f := range map[string]func(tx *Tx) error{
		"long name": func(tx *Tx) error {
			_, err := tx.AddContact(strings.Repeat("n", MaxNameSize+1), []byte("i"), t0)
			return err
		},
		"bad utf-8 name": func(tx *Tx) error { return tx.RenameContact(alice, "\xff", t0) },
		"empty identity": func(tx *Tx) error { _, err := tx.AddContact("x", nil, t0); return err },
		"rename missing": func(tx *Tx) error { return tx.RenameContact(999, "x", t0) },
		"zero time":      func(tx *Tx) error { return tx.SetVerified(alice, false, time.Time{}) },
	} {
		if err := db.Update(ctx, f); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
}

func TestDeleteContactCascades(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	c := addContact(t, db, "c")
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.AddMessage(&Message{ID: msgID(1), Contact: c, Direction: Outgoing, Body: "x", SentAt: t0, Status: StatusQueued, Created: t0}); err != nil {
			return err
		}
		if err := tx.Enqueue(&OutboxItem{MessageID: msgID(1), Contact: c, Token: []byte("t"), Blob: []byte("b"), NextAt: t0}); err != nil {
			return err
		}
		_, err := tx.MarkSeen(c, msgID(2), t0)
		return err
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteContact(c) })
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.Message(msgID(1)); !errors.Is(err, ErrNotFound) {
			t.Errorf("message survived its contact: %v", err)
		}
		if due, _ := tx.DueOutbox(t0, 10); len(due) != 0 {
			t.Errorf("outbox survived its contact: %v", due)
		}
		return nil
	})
	if err := db.Update(ctx, func(tx *Tx) error { return tx.DeleteContact(c) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestMessages(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	c := addContact(t, db, "c")
	m := &Message{ID: msgID(1), Contact: c, Direction: Outgoing, Body: "hello <b>&</b> 👋", SentAt: t0, Status: StatusQueued, Created: t0}
	mustUpdate(t, db, func(tx *Tx) error { return tx.AddMessage(m) })
	if m.Seq == 0 {
		t.Fatal("Seq not set")
	}
	dup := *m
	if err := db.Update(ctx, func(tx *Tx) error { return tx.AddMessage(&dup) }); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.SetMessageStatus(m.ID, StatusSent) })
	mustView(t, db, func(tx *Tx) error {
		got, err := tx.Message(m.ID)
		if err != nil {
			return err
		}
		want := *m
		want.Status = StatusSent
		if *got != want {
			t.Errorf("got %+v\nwant %+v", *got, want)
		}
		if _, err := tx.Message(msgID(9)); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing message: %v", err)
		}
		return nil
	})
	for name, bad := range map[string]Message{
		"no direction":    {ID: msgID(2), Contact: c, Body: "x", Status: StatusQueued, Created: t0},
		"bad status":      {ID: msgID(3), Contact: c, Direction: Incoming, Body: "x", Status: 9, Created: t0},
		"invalid utf-8":   {ID: msgID(4), Contact: c, Direction: Incoming, Body: "\xff\xfe", Status: StatusReceived, Created: t0},
		"body too long":   {ID: msgID(5), Contact: c, Direction: Incoming, Body: strings.Repeat("a", MaxBodySize+1), Status: StatusReceived, Created: t0},
		"zero created":    {ID: msgID(6), Contact: c, Direction: Incoming, Body: "x", Status: StatusReceived},
		"unknown contact": {ID: msgID(7), Contact: 999, Direction: Incoming, Body: "x", Status: StatusReceived, Created: t0},
	} {
		if err := db.Update(ctx, func(tx *Tx) error { return tx.AddMessage(&bad) }); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if err := db.Update(ctx, func(tx *Tx) error { return tx.SetMessageStatus(msgID(9), StatusSent) }); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of a missing message: %v", err)
	}
	if StatusReceived.String() != "received" || PinChanged.String() != "changed" {
		t.Error("String names")
	}
}

// Keyset paging walks a conversation newest to oldest without gaps or
// repeats, ignoring other conversations, whatever the page size.
func TestMessagePaging(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	cs := []ContactID{addContact(t, db, "a"), addContact(t, db, "b"), addContact(t, db, "c")}
	const n = 1000
	var want []MessageID // contact b's messages, in order
	mustUpdate(t, db, func(tx *Tx) error {
		for i := range n {
			c := cs[i%3]
			id := MessageID{byte(i >> 8), byte(i), 7}
			if c == cs[1] {
				want = append(want, id)
			}
			if err := tx.AddMessage(&Message{ID: id, Contact: c, Direction: Incoming, Body: "m", SentAt: t0, Status: StatusReceived, Created: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	for _, size := range []int{1, 7, 50, len(want) - 1, len(want), MaxPageSize} {
		var got []MessageID
		cur := Cursor(0)
		for pages := 0; ; pages++ {
			if pages > len(want)+1 {
				t.Fatalf("size %d: paging does not end", size)
			}
			var p Page
			mustView(t, db, func(tx *Tx) error {
				var err error
				p, err = tx.Messages(cs[1], cur, size)
				return err
			})
			if len(p.Messages) > size {
				t.Fatalf("size %d: page of %d", size, len(p.Messages))
			}
			ids := make([]MessageID, len(p.Messages))
			for i, m := range p.Messages {
				if m.Contact != cs[1] {
					t.Fatalf("message of another contact")
				}
				if i > 0 && m.Seq <= p.Messages[i-1].Seq {
					t.Fatalf("page not oldest-first")
				}
				ids[i] = m.ID
			}
			got = append(ids, got...)
			if p.Older == 0 {
				break
			}
			cur = p.Older
		}
		if len(got) != len(want) {
			t.Fatalf("size %d: walked %d messages, want %d", size, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("size %d: message %d out of order", size, i)
			}
		}
	}
	mustView(t, db, func(tx *Tx) error {
		for _, bad := range []int{0, -1, MaxPageSize + 1} {
			if _, err := tx.Messages(cs[0], 0, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("page size %d: %v", bad, err)
			}
		}
		p, err := tx.Messages(999, 0, 10)
		if err != nil || len(p.Messages) != 0 || p.Older != 0 {
			t.Errorf("unknown contact: %+v, %v", p, err)
		}
		return nil
	})
}

// The page query is an index search: no table scan, no sort.
func TestMessagePagingUsesIndex(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN SELECT "+messageColumns+" FROM messages "+
		"WHERE contact_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?", 1, 100, 51)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		rows.Scan(&id, &parent, &notused, &detail)
		plan = append(plan, detail)
	}
	joined := strings.Join(plan, "; ")
	if !strings.Contains(joined, "USING INDEX messages_by_contact") || strings.Contains(joined, "SCAN") || strings.Contains(joined, "TEMP B-TREE") {
		t.Fatalf("query plan: %s", joined)
	}
}

func TestOutbox(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	c := addContact(t, db, "c")
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	mustView(t, db, func(tx *Tx) error {
		if _, ok, err := tx.NextOutboxAt(); ok || err != nil {
			t.Errorf("empty outbox has a next time (%v)", err)
		}
		return nil
	})
	// Message and outbox entry in one commit, as the engine does.
	mustUpdate(t, db, func(tx *Tx) error {
		for i, s := range []int{30, 10, 20} {
			id := msgID(byte(i))
			if err := tx.AddMessage(&Message{ID: id, Contact: c, Direction: Outgoing, Body: "m", SentAt: t0, Status: StatusQueued, Created: t0}); err != nil {
				return err
			}
			if err := tx.Enqueue(&OutboxItem{MessageID: id, Contact: c, Token: []byte("tok"), Blob: []byte{byte(i)}, NextAt: at(s)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := db.Update(ctx, func(tx *Tx) error {
		return tx.Enqueue(&OutboxItem{MessageID: msgID(0), Contact: c, Token: []byte("t"), Blob: []byte("b"), NextAt: t0})
	}); !errors.Is(err, ErrExists) {
		t.Fatalf("double enqueue: %v", err)
	}
	mustView(t, db, func(tx *Tx) error {
		next, ok, _ := tx.NextOutboxAt()
		if !ok || !next.Equal(at(10)) {
			t.Errorf("next = %v", next)
		}
		due, err := tx.DueOutbox(at(20), 10)
		if err != nil || len(due) != 2 || due[0].MessageID != msgID(1) || due[1].MessageID != msgID(2) {
			t.Errorf("due at 20s: %+v, %v", due, err)
		}
		if !bytes.Equal(due[0].Token, []byte("tok")) || !bytes.Equal(due[0].Blob, []byte{1}) || !due[0].NextAt.Equal(at(10)) {
			t.Errorf("item %+v", due[0])
		}
		if due, _ := tx.DueOutbox(at(20), 1); len(due) != 1 {
			t.Errorf("limit ignored")
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.RetryOutbox(msgID(1), at(100)); err != nil {
			return err
		}
		return tx.RemoveOutbox(msgID(2))
	})
	mustView(t, db, func(tx *Tx) error {
		due, _ := tx.DueOutbox(at(1000), 10)
		if len(due) != 2 || due[0].MessageID != msgID(0) || due[1].MessageID != msgID(1) || due[1].Attempts != 1 {
			t.Errorf("after retry/remove: %+v", due)
		}
		return nil
	})
	for name, f := range map[string]func(tx *Tx) error{
		"remove missing": func(tx *Tx) error { return tx.RemoveOutbox(msgID(9)) },
		"retry missing":  func(tx *Tx) error { return tx.RetryOutbox(msgID(9), t0) },
	} {
		if err := db.Update(ctx, f); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		return tx.Enqueue(&OutboxItem{MessageID: msgID(8), Contact: c, Token: []byte("t"), Blob: []byte("b")})
	}); err == nil {
		t.Error("enqueue without NextAt accepted")
	}
}

func TestSeen(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	a, b := addContact(t, db, "a"), addContact(t, db, "b")
	seen := func(c ContactID, id MessageID, now time.Time) bool {
		var fresh bool
		mustUpdate(t, db, func(tx *Tx) error {
			var err error
			fresh, err = tx.MarkSeen(c, id, now)
			return err
		})
		return fresh
	}
	if !seen(a, msgID(1), t0) {
		t.Fatal("first sighting not fresh")
	}
	if seen(a, msgID(1), t0) {
		t.Fatal("duplicate reported fresh")
	}
	if !seen(b, msgID(1), t0) {
		t.Fatal("the same id from another contact is a different message")
	}
	seen(a, msgID(2), t0.Add(time.Hour))
	var pruned int64
	mustUpdate(t, db, func(tx *Tx) error {
		var err error
		pruned, err = tx.PruneSeen(t0.Add(time.Minute))
		return err
	})
	if pruned != 2 {
		t.Fatalf("pruned %d, want 2", pruned)
	}
	if !seen(a, msgID(1), t0) || seen(a, msgID(2), t0) {
		t.Fatal("pruning removed the wrong ids")
	}
}

// "Commit then ack": the message, its dedup mark and the new conversation
// state commit together or not at all.
func TestReceiveIsAtomic(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	c := addContact(t, db, "c")
	crash := errors.New("crash before commit")
	receive := func(fail bool) error {
		return db.Update(ctx, func(tx *Tx) error {
			fresh, err := tx.MarkSeen(c, msgID(1), t0)
			if err != nil || !fresh {
				return errors.Join(err, errors.New("duplicate"))
			}
			if err := tx.AddMessage(&Message{ID: msgID(1), Contact: c, Direction: Incoming, Body: "hi", SentAt: t0, Status: StatusReceived, Created: t0}); err != nil {
				return err
			}
			if err := tx.PutSession(c, []byte("state 2"), t0); err != nil {
				return err
			}
			if fail {
				return crash
			}
			return nil
		})
	}
	if err := receive(true); !errors.Is(err, crash) {
		t.Fatal(err)
	}
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.Message(msgID(1)); !errors.Is(err, ErrNotFound) {
			t.Error("message committed without its transaction")
		}
		if s, _ := tx.Session(c); s != nil {
			t.Error("state committed without its transaction")
		}
		return nil
	})
	if err := receive(false); err != nil {
		t.Fatalf("redelivery after the crash: %v", err)
	}
	if err := receive(false); err == nil {
		t.Fatal("second delivery accepted")
	}
}

func TestInvites(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	inv := &Invite{Secret: bytes.Repeat([]byte{1}, 32), PrekeyID: 42, Expires: t0.Add(time.Hour), Created: t0}
	mustUpdate(t, db, func(tx *Tx) error { return tx.AddInvite(inv) })
	if inv.ID == 0 {
		t.Fatal("ID not set")
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		return tx.AddInvite(&Invite{Secret: inv.Secret, Expires: t0, Created: t0})
	}); !errors.Is(err, ErrExists) {
		t.Fatalf("repeated secret: %v", err)
	}
	mustView(t, db, func(tx *Tx) error {
		got, err := tx.InviteBySecret(inv.Secret)
		if err != nil || got.ID != inv.ID || got.PrekeyID != 42 || !got.Expires.Equal(inv.Expires) || !got.Used.IsZero() {
			t.Errorf("InviteBySecret: %+v, %v", got, err)
		}
		if _, err := tx.InviteBySecret(bytes.Repeat([]byte{2}, 32)); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown secret: %v", err)
		}
		return nil
	})
	use := func(id int64, now time.Time) error {
		return db.Update(ctx, func(tx *Tx) error { return tx.UseInvite(id, now) })
	}
	if err := use(inv.ID, t0.Add(2*time.Hour)); !errors.Is(err, ErrInviteExpired) {
		t.Fatalf("use after expiry: %v", err)
	}
	if err := use(inv.ID, t0.Add(time.Minute)); err != nil {
		t.Fatalf("use: %v", err)
	}
	if err := use(inv.ID, t0.Add(time.Minute)); !errors.Is(err, ErrInviteUsed) {
		t.Fatalf("second use: %v", err)
	}
	if err := use(999, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("use missing: %v", err)
	}
	var n int64
	mustUpdate(t, db, func(tx *Tx) error {
		var err error
		n, err = tx.DeleteExpiredInvites(t0.Add(2 * time.Hour))
		return err
	})
	if n != 1 {
		t.Fatalf("deleted %d", n)
	}
	if err := db.Update(ctx, func(tx *Tx) error {
		return tx.AddInvite(&Invite{Secret: []byte("short"), Expires: t0, Created: t0})
	}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("short secret: %v", err)
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.SetSetting(SettingRelayAddress, "relay-a.onion:443"); err != nil {
			return err
		}
		return tx.SetSetting(SettingRelayAddress, "relay-b.onion:443")
	})
	mustView(t, db, func(tx *Tx) error {
		if v, err := tx.Setting(SettingRelayAddress); v != "relay-b.onion:443" || err != nil {
			t.Errorf("relay = %q, %v", v, err)
		}
		if _, err := tx.Setting(SettingRelayFallback); !errors.Is(err, ErrNotFound) {
			t.Errorf("unset fallback: %v", err)
		}
		return nil
	})
	mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteSetting(SettingRelayAddress) })
	mustView(t, db, func(tx *Tx) error {
		if _, err := tx.Setting(SettingRelayAddress); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted setting: %v", err)
		}
		return nil
	})
	for _, kv := range [][2]string{{"", "v"}, {"k", strings.Repeat("v", MaxSettingSize+1)}, {"k", "\xff"}} {
		if err := db.Update(ctx, func(tx *Tx) error { return tx.SetSetting(kv[0], kv[1]) }); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetSetting(%q, %.10q): %v", kv[0], kv[1], err)
		}
	}
}

func TestTranscripts(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	c := addContact(t, db, "c")
	h := [TranscriptHashSize]byte{1, 2, 3}
	accept := func(contact ContactID) bool {
		var fresh bool
		mustUpdate(t, db, func(tx *Tx) error {
			var err error
			fresh, err = tx.AcceptTranscript(h, contact, t0)
			return err
		})
		return fresh
	}
	if !accept(c) {
		t.Fatal("first acceptance not fresh")
	}
	if accept(0) {
		t.Fatal("replayed transcript accepted")
	}
	mustView(t, db, func(tx *Tx) error {
		if ok, err := tx.HasTranscript(h); !ok || err != nil {
			t.Errorf("HasTranscript = %v, %v", ok, err)
		}
		if ok, _ := tx.HasTranscript([TranscriptHashSize]byte{9}); ok {
			t.Error("unknown transcript found")
		}
		return nil
	})
	// Deleting the contact keeps the replay record.
	mustUpdate(t, db, func(tx *Tx) error { return tx.DeleteContact(c) })
	if accept(0) {
		t.Fatal("transcript replay accepted after the contact was deleted")
	}
}

func TestActiveInvites(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	a := &Invite{Secret: bytes.Repeat([]byte{1}, 32), PrekeyID: 3, Expires: t0.Add(time.Hour), Created: t0}
	b := &Invite{Secret: bytes.Repeat([]byte{2}, 32), PrekeyID: 4, Expires: t0.Add(2 * time.Hour), Created: t0}
	c := &Invite{Secret: bytes.Repeat([]byte{3}, 32), PrekeyID: 5, Expires: t0.Add(3 * time.Hour), Created: t0}
	mustUpdate(t, db, func(tx *Tx) error {
		for _, inv := range []*Invite{a, b, c} {
			if err := tx.AddInvite(inv); err != nil {
				return err
			}
		}
		return tx.UseInvite(b.ID, t0.Add(time.Minute))
	})
	ids := func(now time.Time, limit int) []int64 {
		var out []int64
		mustView(t, db, func(tx *Tx) error {
			got, err := tx.ActiveInvites(now, limit)
			for _, inv := range got {
				if !inv.Used.IsZero() || !inv.Expires.After(now) || len(inv.Secret) != 32 {
					t.Errorf("not active: %+v", inv)
				}
				out = append(out, inv.ID)
			}
			return err
		})
		return out
	}
	if got := ids(t0, 10); len(got) != 2 || got[0] != a.ID || got[1] != c.ID {
		t.Errorf("active at t0: %v", got)
	}
	if got := ids(t0.Add(90*time.Minute), 10); len(got) != 1 || got[0] != c.ID {
		t.Errorf("active after a expired: %v", got)
	}
	if got := ids(t0, 1); len(got) != 1 || got[0] != a.ID {
		t.Errorf("limit 1: %v", got)
	}
	for _, bad := range []int{0, MaxPageSize + 1} {
		if err := db.View(ctx, func(tx *Tx) error { _, err := tx.ActiveInvites(t0, bad); return err }); err == nil {
			t.Errorf("limit %d accepted", bad)
		}
	}
	if err := db.View(ctx, func(tx *Tx) error { _, err := tx.ActiveInvites(time.Time{}, 1); return err }); err == nil {
		t.Error("zero now accepted")
	}
}
