// Package coredemo runs a whole Parley conversation in one process through
// the protocol core, and prints what each party sees and what a relay would
// store. It is what `make demo` runs until the relay and the bridge exist.
package coredemo

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/envelope"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/session"
)

// demoRelay is the relay address the demo's invite names; nothing connects
// to it.
const demoRelay = "parley-relay://demo@127.0.0.1:7070"

// relayLog records what a relay would see: tokens and blob sizes.
type relayLog struct {
	w      io.Writer
	tokens map[address.Token]int
}

func (l *relayLog) deposit(from, to string, out *session.Outgoing) {
	if _, ok := l.tokens[out.Token]; !ok {
		l.tokens[out.Token] = len(l.tokens) + 1
	}
	fmt.Fprintf(l.w, "    relay stores: mailbox #%d (token %s…) blob %5d bytes (bucket %5d)   [%s → %s]\n",
		l.tokens[out.Token], hex.EncodeToString(out.Token[:6]), len(out.Blob), len(out.Blob)-envelope.SealOverhead, from, to)
}

// Run plays the demo, writing to w. rand nil means crypto/rand; now is the
// start time (the demo advances its own clock from there).
func Run(w io.Writer, rand io.Reader, now time.Time) error {
	relay := &relayLog{w: w, tokens: map[address.Token]int{}}
	fmt.Fprintln(w, "Parley core demo: a post-quantum conversation in one process, no network.")
	fmt.Fprintln(w)

	alice, err := identity.Generate(rand)
	if err != nil {
		return err
	}
	bob, err := identity.Generate(rand)
	if err != nil {
		return err
	}
	keys, err := prekey.Generate(rand, alice, now, 30*24*time.Hour, 5)
	if err != nil {
		return err
	}
	bundle, err := keys.Bundle(now)
	if err != nil {
		return err
	}
	inv, secret, err := invite.New(rand, alice, bundle, demoRelay, now, invite.DefaultLifetime)
	if err != nil {
		return err
	}
	txt := inv.Text()
	fmt.Fprintf(w, "1. Alice creates an invite (%d characters, expires %s):\n   %s…%s\n",
		len(txt), inv.Expires().Format("2006-01-02"), txt[:40], txt[len(txt)-12:])

	now = now.Add(time.Minute)
	got, err := invite.Parse(txt, now)
	if err != nil {
		return fmt.Errorf("bob parses the invite: %w", err)
	}
	fmt.Fprintf(w, "2. Bob opens it: inviter fingerprint %s, relay %s\n", got.Fingerprint(), got.RelayAddress())
	if _, err := invite.Parse(txt[:len(txt)-1]+flip(txt[len(txt)-1]), now); err != nil {
		fmt.Fprintf(w, "   (a one-character typo is caught: %v)\n", err)
	}

	first, err := session.NewText(rand, "Hi Alice, it's Bob. Got your invite!", now)
	if err != nil {
		return err
	}
	bobConv, out, err := session.Begin(rand, bob, got.Bundle(), got.Secret(), first, now)
	if err != nil {
		return fmt.Errorf("bob makes first contact: %w", err)
	}
	fmt.Fprintln(w, "3. Bob makes first contact (X25519 ×3 + X-Wing encapsulation, then the first ratchet message):")
	relay.deposit("Bob", "Alice", out)

	now = now.Add(time.Minute)
	acc, err := session.Accept(alice, keys, secret, out.Blob, now)
	if err != nil {
		return fmt.Errorf("alice accepts: %w", err)
	}
	keys = acc.Keys
	aliceConv := acc.Conversation
	fmt.Fprintf(w, "   Alice reads: %q (one-time prekeys left: %d)\n", acc.First.Body, keys.OneTimeAvailable(now))

	sa := identity.NewSafetyNumber(alice.Public(), aliceConv.Peer())
	sb := identity.NewSafetyNumber(bob.Public(), bobConv.Peer())
	fmt.Fprintf(w, "4. Safety number on Alice's screen: %s\n", sa.Digits())
	fmt.Fprintf(w, "   Safety number on Bob's screen:   %s\n", sb.Digits())
	fmt.Fprintf(w, "   emoji: %v — equal: %v\n", sa.Emoji()[:8], sa.Digits() == sb.Digits())
	if sa.Digits() != sb.Digits() {
		return errors.New("safety numbers differ")
	}

	fmt.Fprintln(w, "5. They chat (PQ = this message carries a post-quantum ratchet step):")
	script := []struct {
		fromAlice bool
		text      string
	}{
		{true, "Welcome, Bob. Everything here is end-to-end encrypted."},
		{false, "And post-quantum. Nice."},
		{true, "Each message moves the ratchet forward; old keys are gone."},
		{true, "Sizes are padded to buckets, so the relay can't guess length."},
		{false, "Let me send something longer: " + longText},
		{true, "Received. Tokens also rotate every day."},
		{false, "See you tomorrow then."},
		{true, "Bye!"},
		{false, "Bye."},
	}
	var held *session.Outgoing
	for i, m := range script {
		from, to, fname, tname := bobConv, aliceConv, "Bob", "Alice"
		if m.fromAlice {
			from, to, fname, tname = aliceConv, bobConv, "Alice", "Bob"
		}
		pq := from.NextMessagePQ()
		p, err := session.NewText(rand, m.text, now)
		if err != nil {
			return err
		}
		out, err := from.Send(rand, p, now)
		if err != nil {
			return err
		}
		tag := "  "
		if pq {
			tag = "PQ"
		}
		fmt.Fprintf(w, "   %s %-5s: %s\n", tag, fname, short(m.text))
		relay.deposit(fname, tname, out)
		if i == 2 {
			// Hold this one back: it arrives after the next message.
			held = out
			continue
		}
		got, err := to.Receive(out.Token, out.Blob, now)
		if err != nil {
			return fmt.Errorf("%s receives: %w", tname, err)
		}
		if string(got.Body) != m.text {
			return errors.New("message changed in transit")
		}
		if held != nil {
			late, err := to.Receive(held.Token, held.Blob, now)
			if err != nil {
				return fmt.Errorf("late delivery: %w", err)
			}
			fmt.Fprintf(w, "      (the held-back message arrives late and still opens: %s)\n", short(string(late.Body)))
			if _, err := to.Receive(held.Token, held.Blob, now); errors.Is(err, session.ErrDuplicate) {
				fmt.Fprintln(w, "      (the relay replays it: dropped as a duplicate)")
			} else {
				return fmt.Errorf("replay was not dropped: %v", err)
			}
			held = nil
		}
		now = now.Add(30 * time.Second)
	}

	now = now.Add(address.DefaultEpochLength)
	p, err := session.NewText(rand, "Good morning!", now)
	if err != nil {
		return err
	}
	out, err = aliceConv.Send(rand, p, now)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "6. The next day the mailbox token has rotated:")
	relay.deposit("Alice", "Bob", out)
	if _, err := bobConv.Receive(out.Token, out.Blob, now); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nThe relay saw %d unrelated mailbox tokens and blobs of sizes %v only:\n", len(relay.tokens), bucketsSeen())
	fmt.Fprintln(w, "no identities, no keys, only bucket sizes instead of lengths. Everything it stored is above.")
	return nil
}

const longText = "Parley pads every message to one of five sizes, seals it, and addresses it to a mailbox " +
	"token that rotates each day and differs per direction, so the relay cannot link a " +
	"conversation across days or tell its two directions belong together."

func bucketsSeen() []int {
	var out []int
	for _, b := range envelope.Buckets() {
		out = append(out, b+envelope.SealOverhead)
	}
	return out
}

func short(s string) string {
	if len(s) > 70 {
		return s[:67] + "..."
	}
	return s
}

// flip returns a different base32 character, to show typo detection.
func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}
