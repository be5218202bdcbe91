package hostcmd_test

import (
	"context"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/demo"
	"github.com/parley-im/parley/bridge/engine"
	"github.com/parley-im/parley/bridge/hostcmd"
	"github.com/parley-im/parley/bridge/nmhost"
)

// TestRotateOverFrames: identity.rotate over frames moves alice's
// identity; bob's pin follows (contact.changed) and both safety numbers
// agree again.
func TestRotateOverFrames(t *testing.T) {
	t.Setenv("PARLEY_HOME", t.TempDir())
	relay := startRelay(t)
	pass := writePass(t, "a long enough passphrase")
	flags := []string{"--passphrase-file", pass, "--poll-interval", "50ms"}
	alice := startHost(t, append([]string{"--profile", "alice"}, flags...)...)
	bob := startHost(t, append([]string{"--profile", "bob"}, flags...)...)
	if code := callErr(t, alice, "identity.rotate", nil); code != engine.CodeNoIdentity {
		t.Fatalf("rotate without identity: %s", code)
	}
	old := call[engine.IdentityInfo](t, alice, "identity.create", nil)
	call[engine.IdentityInfo](t, bob, "identity.create", nil)
	call[engine.Settings](t, alice, "settings.set", map[string]string{"relay": relay})
	inv := call[engine.CreatedInvite](t, alice, "invite.create", nil)
	c := call[engine.Contact](t, bob, "invite.accept", map[string]string{"text": inv.Text, "name": "alice", "message": "hi alice"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := alice.c.WaitEvents(ctx, func(evs []demo.Event) bool { return len(demo.Received(evs)) == 1 }); err != nil {
		t.Fatal(err)
	}
	ab := call[hostcmd.ContactsResult](t, alice, "contacts.list", nil).Contacts[0].ID

	res := call[engine.RotateResult](t, alice, "identity.rotate", nil)
	if res.Previous != old.Fingerprint || res.Identity.Fingerprint == old.Fingerprint || res.Notified != 1 {
		t.Fatalf("identity.rotate: %+v", res)
	}
	if got := call[engine.IdentityInfo](t, alice, "identity.get", nil); got.Fingerprint != res.Identity.Fingerprint {
		t.Fatalf("identity.get after rotate: %s", got.Fingerprint)
	}
	if err := bob.c.WaitEvents(ctx, func(evs []demo.Event) bool {
		cs := call[hostcmd.ContactsResult](t, bob, "contacts.list", nil)
		return cs.Contacts[0].Fingerprint == res.Identity.Fingerprint && cs.Contacts[0].CanSend
	}); err != nil {
		t.Fatalf("bob's pin did not follow: %v", err)
	}
	sa := call[engine.SafetyNumber](t, alice, "contact.safety", map[string]any{"contact": ab})
	sb := call[engine.SafetyNumber](t, bob, "contact.safety", map[string]any{"contact": c.ID})
	if sa.Digits != sb.Digits {
		t.Fatalf("safety numbers after rotation: %q vs %q", sa.Digits, sb.Digits)
	}
}

// TestSettingsOverFrames: settings.set changes only the fields it names
// (relay2 alone keeps relay); settings.get shows relay2 and cover.
func TestSettingsOverFrames(t *testing.T) {
	t.Setenv("PARLEY_HOME", t.TempDir())
	one, two := startRelay(t), startRelay(t)
	h := startHost(t, "--profile", "s", "--passphrase-file", writePass(t, "a long enough passphrase"))
	if code := callErr(t, h, "settings.set", map[string]string{"relay2": two}); code != nmhost.CodeInvalidParams {
		t.Fatalf("relay2 without relay: %s", code)
	}
	call[engine.Settings](t, h, "settings.set", map[string]string{"relay": one})
	s := call[engine.Settings](t, h, "settings.set", map[string]string{"relay2": two})
	if s.Relay != one || s.Relay2 != two || s.Cover {
		t.Fatalf("settings.set relay2: %+v", s)
	}
	if got := call[engine.Settings](t, h, "settings.get", nil); got != s {
		t.Fatalf("settings.get: %+v, want %+v", got, s)
	}
}
