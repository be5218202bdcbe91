package invite

import (
	"reflect"
	"testing"

	"github.com/parley-im/parley/core/internal/leaktest"
)

// TestInviteDoesNotPrintSecret checks that no fmt verb (including %d, for
// which fmt does not call String) prints the invite secret.
func TestInviteDoesNotPrintSecret(t *testing.T) {
	t.Parallel()
	inv, sec := newInvite(t, fixture(t, "print", 1), "print-invite")
	k := sec.Bytes()
	leaktest.Check(t, inv, k[:])
	leaktest.Check(t, *inv, k[:])
	if got, want := inv.String(), "parley invite from "+inv.Fingerprint()+", expires "+inv.Expires().Format("2006-01-02T15:04:05Z07:00"); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestInviteIncomparable checks that == cannot compare invites, which hold
// the invite secret (STYLE.md "Secrets").
func TestInviteIncomparable(t *testing.T) {
	t.Parallel()
	if reflect.TypeFor[Invite]().Comparable() {
		t.Error("Invite is comparable")
	}
}
