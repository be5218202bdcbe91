package address

import (
	"testing"

	"github.com/parley-im/parley/core/internal/leaktest"
	"github.com/parley-im/parley/core/internal/testrand"
)

// TestSecretsDoNotPrint checks that no fmt verb prints a conversation
// secret, an invite secret, or more than a token's short prefix.
func TestSecretsDoNotPrint(t *testing.T) {
	t.Parallel()
	is, err := NewInviteSecret(testrand.New("print"))
	if err != nil {
		t.Fatal(err)
	}
	ik := is.Bytes()
	var hs, tr [32]byte
	copy(hs[:], ik[:])
	cs := NewConversationSecret(hs, tr)
	ck := cs.Bytes()
	leaktest.Check(t, is, ik[:])
	leaktest.Check(t, *is, ik[:])
	leaktest.Check(t, cs, ck[:])
	leaktest.Check(t, *cs, ck[:])
	tok := cs.Token(1, InitiatorToResponder)
	// String shows the first four bytes; nothing may show more.
	leaktest.Check(t, tok, tok[4:12])
	leaktest.Check(t, &tok, tok[4:12])
	mb := Mailbox{Epoch: 1, Direction: InitiatorToResponder, Token: tok}
	leaktest.Check(t, mb, tok[4:12])
	leaktest.Check(t, []Token{tok}, tok[4:12])
}
