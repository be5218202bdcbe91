package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/session"
)

// waitContact polls p's view of a contact until ok holds (or fails after a
// timeout) and returns it.
func waitContact(t *testing.T, p *peer, id int64, what string, ok func(Contact) bool) Contact {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs := must[[]Contact](t, nil)(p.e.Contacts(ctx))
		for _, c := range cs {
			if c.ID == id && ok(c) {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s: contacts %+v", p.name, what, cs)
		}
		p.e.PollNow()
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIdentityRotation: identity.rotate moves alice's identity; bob's pin
// follows because the statement verifies against the identity he pinned;
// safety numbers change and agree; the conversation goes on both ways; the
// old invites stop working and a new invite carries the new identity and
// prekeys under it, so first contact with carol works.
func TestIdentityRotation(t *testing.T) {
	alice, bob, ab, ba := pair(t, nil)
	before := must[*SafetyNumber](t, nil)(bob.e.Safety(ctx, ba))
	oldID := must[*IdentityInfo](t, nil)(alice.e.Identity(ctx))
	stale := must[*CreatedInvite](t, nil)(alice.e.CreateInvite(ctx, 0))
	if stale.Fingerprint != oldID.Fingerprint {
		t.Fatal("invite does not name the identity")
	}

	res := must[*RotateResult](t, nil)(alice.e.RotateIdentity(ctx))
	if res.Notified != 1 || res.Previous != oldID.Fingerprint || res.Identity.Fingerprint == oldID.Fingerprint || res.RevokedInvites != 1 {
		t.Fatalf("rotate: %+v", res)
	}
	if got := must[*IdentityInfo](t, nil)(alice.e.Identity(ctx)); got.Fingerprint != res.Identity.Fingerprint {
		t.Fatalf("identity after rotate: %s", got.Fingerprint)
	}
	c := waitContact(t, bob, ba, "pin moves to the new identity", func(c Contact) bool { return c.Fingerprint == res.Identity.Fingerprint })
	if c.Pin != "unverified" || !c.CanSend || c.PendingFingerprint != "" {
		t.Fatalf("bob's contact after rotation: %+v", c)
	}
	sa := must[*SafetyNumber](t, nil)(alice.e.Safety(ctx, ab))
	sb := must[*SafetyNumber](t, nil)(bob.e.Safety(ctx, ba))
	if sa.Digits != sb.Digits || sa.Digits == before.Digits {
		t.Fatalf("safety numbers after rotation: %q, %q (before %q)", sa.Digits, sb.Digits, before.Digits)
	}
	// The statement is no message.
	if n := len(bob.allMessages(ba)); n != 1 {
		t.Fatalf("bob has %d messages, want 1 (the first contact)", n)
	}
	// The ratchet goes on.
	must[*Message](t, nil)(bob.e.Send(ctx, ba, "after rotation b→a"))
	must[*Message](t, nil)(alice.e.Send(ctx, ab, "after rotation a→b"))
	if got := alice.waitMessages(1); got[0] != "after rotation b→a" {
		t.Fatal(got)
	}
	if got := bob.waitMessages(1); got[0] != "after rotation a→b" {
		t.Fatal(got)
	}
	// The open invite was revoked with the old identity.
	if err := alice.db.View(ctx, func(tx *store.Tx) error {
		invs, err := tx.ActiveInvites(time.Now(), 10)
		if err != nil || len(invs) != 0 {
			t.Errorf("active invites after rotation: %d, %v", len(invs), err)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// New invites use the new identity (and prekeys signed by it).
	fresh := must[*CreatedInvite](t, nil)(alice.e.CreateInvite(ctx, 0))
	if fresh.Fingerprint != res.Identity.Fingerprint {
		t.Fatalf("new invite names %s, want %s", fresh.Fingerprint, res.Identity.Fingerprint)
	}
	carol := newPeer(t, "carol")
	must[*IdentityInfo](t, nil)(carol.e.CreateIdentity(ctx))
	cc := must[*Contact](t, nil)(carol.e.AcceptInvite(ctx, fresh.Text, "alice", "hello new alice"))
	if cc.Fingerprint != res.Identity.Fingerprint {
		t.Fatalf("carol pinned %s", cc.Fingerprint)
	}
	if got := alice.waitMessages(1); got[0] != "hello new alice" {
		t.Fatal(got)
	}
}

// sendPayload makes from send p to a contact through its conversation and
// outbox, as RotateIdentity does.
func sendPayload(t *testing.T, from *peer, contact int64, p *session.Payload) {
	t.Helper()
	if err := from.db.Update(ctx, func(tx *store.Tx) error {
		st, err := tx.Session(store.ContactID(contact))
		if err != nil {
			return err
		}
		conv, err := session.ParseConversation(st)
		if err != nil {
			return err
		}
		out, err := conv.Send(nil, p, time.Now())
		if err != nil {
			return err
		}
		return commitOutgoing(tx, store.ContactID(contact), conv, out, p, time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	from.e.kick()
}

// TestRotationForgedOrReplayedIsKeyChange: a rotation statement moves the
// pin only if it verifies against the pinned identity with a higher
// sequence number and a new identity not retired; a replayed statement, a
// lower sequence number, a reversal to a retired identity, a bad
// signature and a statement from a stranger are key changes that block
// sending until the user accepts.
func TestRotationForgedOrReplayedIsKeyChange(t *testing.T) {
	alice, bob, ab, ba := pair(t, nil)
	var self *identity.PrivateIdentity
	if err := alice.db.View(ctx, func(tx *store.Tx) error {
		var err error
		self, err = loadSelf(tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	gen := func() *identity.PrivateIdentity {
		id, err := identity.Generate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	fp := func(id *identity.PrivateIdentity) string { return invite.Fingerprint(id.Public()) }
	send := func(r *identity.Rotation) {
		t.Helper()
		p, err := session.NewRotation(nil, r, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		sendPayload(t, alice, ab, p)
	}
	expectChange := func(what string, pending *identity.PrivateIdentity) {
		t.Helper()
		waitContact(t, bob, ba, what, func(c Contact) bool { return c.Pin == "changed" && c.PendingFingerprint == fp(pending) })
		var ee *Error
		if _, err := bob.e.Send(ctx, ba, "blocked"); !errors.As(err, &ee) || ee.Code != CodeKeyChanged {
			t.Fatalf("%s: send: %v", what, err)
		}
		must[*Contact](t, nil)(bob.e.AcceptKeyChange(ctx, ba))
	}

	// A valid rotation moves the pin.
	id1 := gen()
	valid := identity.NewRotation(self, id1, 5)
	send(valid)
	waitContact(t, bob, ba, "valid rotation", func(c Contact) bool { return c.Fingerprint == fp(id1) && c.Pin == "unverified" })

	// The same statement again: it no longer starts from the pin.
	send(valid)
	expectChange("replayed statement", id1)

	// Sequence number not above the last accepted (5).
	id2 := gen()
	send(identity.NewRotation(id1, id2, 5))
	expectChange("sequence not above", id2)
	// Accepting pinned id2 by hand; the accepted sequence number stays 5.

	// Back to an identity the contact rotated away from, signed by both.
	send(identity.NewRotation(id2, self, 9))
	expectChange("reversal to a retired identity", self)
	// Pinned now: self (accepted by hand).

	// A bad signature.
	id3 := gen()
	bad := identity.NewRotation(self, id3, 10)
	bad.SigNew[0] ^= 1
	send(bad)
	expectChange("bad new signature", id3)

	// A statement from a stranger (not the pinned identity).
	stranger, id4 := gen(), gen()
	send(identity.NewRotation(stranger, id4, 11))
	expectChange("stranger's statement", id4)

	// None of it is a message.
	for _, m := range bob.allMessages(ba) {
		if m.Text != "hello alice" {
			t.Fatalf("unexpected message %q", m.Text)
		}
	}
	// And the conversation still works.
	must[*Message](t, nil)(bob.e.Send(ctx, ba, "still here"))
	if got := alice.waitMessages(1); got[0] != "still here" {
		t.Fatal(got)
	}
}

// TestRotateNeedsIdentity: identity.rotate without an identity is
// CodeNoIdentity.
func TestRotateNeedsIdentity(t *testing.T) {
	p := newPeer(t, "empty")
	var ee *Error
	if _, err := p.e.RotateIdentity(ctx); !errors.As(err, &ee) || ee.Code != CodeNoIdentity {
		t.Fatalf("rotate without identity: %v", err)
	}
}
