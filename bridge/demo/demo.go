package demo

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/parley-im/parley/bridge/engine"
	"github.com/parley-im/parley/bridge/hostcmd"
)

// Options configure Run.
type Options struct {
	// Bridge is the parley-bridge binary.
	Bridge string
	// Out gets the narration; nil discards it.
	Out io.Writer
	// Dir is the working directory (temp dirs for the relay and the two
	// profiles); "" makes one and removes it at the end.
	Dir string
	// PowBits is the relay's proof-of-work difficulty (0: 12).
	PowBits int
	// Timeout bounds every wait (0: 60 s).
	Timeout time.Duration
}

// StoredItem is one blob the relay held while bob was offline.
type StoredItem struct {
	Token string // hex, as the relay sees it: a rotating mailbox token
	Size  int    // blob bytes: the padded bucket size plus the seal
}

// Report is what Run observed.
type Report struct {
	// Conversation is alice's view, oldest first ("alice: …" / "bob: …").
	Conversation []string
	// BobConversation is bob's view.
	BobConversation []string
	SafetyAlice     string
	SafetyBob       string
	// Relay is what the relay stored while bob was offline.
	Relay []StoredItem
	// Logs are the bridges' and the relay's stderr files.
	Logs []string
	// Texts are every message text the demo sent.
	Texts []string
}

// Script is the demo's chat.
var script = []struct {
	from, text string
}{
	{"alice", "Hi Bob! This is Parley: post-quantum, end to end."},
	{"bob", "Hi Alice, your safety number matches mine."},
	{"alice", "Great. The relay only sees tokens and padded blobs."},
	{"bob", "I'm going offline for a moment."},
}

// offline are the messages alice sends while bob is offline.
var offline = []string{"Bob, are you there?", "These wait at the relay until you poll."}

// Run plays the demo: a relay on loopback, alice and bob as bridge
// processes in passphrase mode driven over native-messaging frames, an
// invite, first contact, a chat both ways, bob offline and back. It returns
// what it saw; an error if anything did not happen as it should.
func Run(ctx context.Context, o Options) (rep *Report, err error) {
	out := o.Out
	if out == nil {
		out = io.Discard
	}
	if o.PowBits == 0 {
		o.PowBits = 12
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Dir == "" {
		d, err := os.MkdirTemp("", "parley-demo-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		o.Dir = d
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, err
	}
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	rep = &Report{}
	for _, s := range script {
		rep.Texts = append(rep.Texts, s.text)
	}
	rep.Texts = append(rep.Texts, offline...)

	relayLog := filepath.Join(o.Dir, "relay.log")
	rep.Logs = append(rep.Logs, relayLog)
	relay, err := StartRelay(ctx, o.Bridge, filepath.Join(o.Dir, "relay"), "127.0.0.1:0", o.PowBits, relayLog)
	if err != nil {
		return nil, err
	}
	defer func() {
		if relay != nil {
			relay.Stop()
		}
	}()
	say("relay      %s", relay.Address)

	start := func(name string) (*Bridge, error) {
		pass := filepath.Join(o.Dir, name+".pass")
		if err := os.WriteFile(pass, []byte("demo passphrase of "+name+"\n"), 0o600); err != nil {
			return nil, err
		}
		log := filepath.Join(o.Dir, name+".log")
		b, err := StartBridge(name, BridgeConfig{Binary: o.Bridge, Home: filepath.Join(o.Dir, name), Profile: name,
			PassphraseFile: pass, PollInterval: 200 * time.Millisecond, LogPath: log})
		if err == nil && !contains(rep.Logs, log) {
			rep.Logs = append(rep.Logs, log)
		}
		return b, err
	}
	alice, err := start("alice")
	if err != nil {
		return nil, err
	}
	defer func() { alice.Stop(10 * time.Second) }()
	bob, err := start("bob")
	if err != nil {
		return nil, err
	}
	defer func() {
		if bob != nil {
			bob.Stop(10 * time.Second)
		}
	}()

	call := func(b *Bridge, method string, params, result any) error {
		c, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		if err := b.Call(c, method, params, result); err != nil {
			return fmt.Errorf("demo: %s %s: %w", b.Name, method, err)
		}
		return nil
	}
	waitReceived := func(b *Bridge, n int) error {
		c, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		if err := b.WaitEvents(c, func(evs []Event) bool { return len(Received(evs)) >= n }); err != nil {
			return fmt.Errorf("demo: %s waiting for %d messages (got %d): %w", b.Name, n, len(Received(b.Events())), err)
		}
		return nil
	}

	var st hostcmd.StatusResult
	if err := call(alice, "status", nil, &st); err != nil {
		return nil, err
	}
	say("alice      bridge pid %d, state %s, keystore %s (PARLEY_HOME in a temp dir)", alice.Pid(), st.State, st.Keystore)
	var ida, idb engine.IdentityInfo
	if err := call(alice, "identity.create", nil, &ida); err != nil {
		return nil, err
	}
	if err := call(bob, "identity.create", nil, &idb); err != nil {
		return nil, err
	}
	say("alice      identity %s", ida.Fingerprint)
	say("bob        identity %s", idb.Fingerprint)
	if err := call(alice, "settings.set", map[string]string{"relay": relay.Address}, nil); err != nil {
		return nil, err
	}
	var inv engine.CreatedInvite
	if err := call(alice, "invite.create", nil, &inv); err != nil {
		return nil, err
	}
	say("alice      invite.create → %d-char invite, %d-byte QR payload, expires %s", len(inv.Text), len(inv.QR),
		time.UnixMilli(inv.Expires).UTC().Format(time.RFC3339))
	var bobsAlice engine.Contact
	first := "Hello Alice, it's Bob (first contact)."
	rep.Texts = append(rep.Texts, first)
	if err := call(bob, "invite.accept", map[string]string{"text": inv.Text, "name": "alice", "message": first}, &bobsAlice); err != nil {
		return nil, err
	}
	say("bob        invite.accept → contact %q pinned (%s)", bobsAlice.Name, bobsAlice.Pin)
	if err := waitReceived(alice, 1); err != nil {
		return nil, err
	}
	var cs hostcmd.ContactsResult
	if err := call(alice, "contacts.list", nil, &cs); err != nil {
		return nil, err
	}
	if len(cs.Contacts) != 1 {
		return nil, fmt.Errorf("demo: alice has %d contacts after first contact", len(cs.Contacts))
	}
	alicesBob := cs.Contacts[0]
	if err := call(alice, "contact.rename", map[string]any{"contact": alicesBob.ID, "name": "bob"}, nil); err != nil {
		return nil, err
	}
	say("alice      first contact received; contact %d pinned (%s)", alicesBob.ID, alicesBob.Pin)

	// Chat both ways.
	na, nb := 1, 0
	for _, s := range script {
		if s.from == "alice" {
			if err := call(alice, "messages.send", map[string]any{"contact": alicesBob.ID, "text": s.text}, nil); err != nil {
				return nil, err
			}
			nb++
			if err := waitReceived(bob, nb); err != nil {
				return nil, err
			}
		} else {
			if err := call(bob, "messages.send", map[string]any{"contact": bobsAlice.ID, "text": s.text}, nil); err != nil {
				return nil, err
			}
			na++
			if err := waitReceived(alice, na); err != nil {
				return nil, err
			}
		}
	}
	say("chat       %d messages exchanged", len(script)+1)

	// Safety numbers.
	var sa, sb engine.SafetyNumber
	if err := call(alice, "contact.safety", map[string]any{"contact": alicesBob.ID}, &sa); err != nil {
		return nil, err
	}
	if err := call(bob, "contact.safety", map[string]any{"contact": bobsAlice.ID}, &sb); err != nil {
		return nil, err
	}
	rep.SafetyAlice, rep.SafetyBob = sa.Digits, sb.Digits
	say("safety     alice sees %s %s", sa.Digits, strings.Join(sa.Emoji, ""))
	say("safety     bob   sees %s %s", sb.Digits, strings.Join(sb.Emoji, ""))
	if sa.Digits != sb.Digits {
		return nil, errors.New("demo: safety numbers differ")
	}
	if err := call(alice, "contact.verify", map[string]any{"contact": alicesBob.ID, "verified": true}, nil); err != nil {
		return nil, err
	}
	if err := call(bob, "contact.verify", map[string]any{"contact": bobsAlice.ID, "verified": true}, nil); err != nil {
		return nil, err
	}

	// Bob goes offline; alice writes; the relay holds the blobs.
	if err := bob.Stop(10 * time.Second); err != nil {
		return nil, err
	}
	say("bob        offline (bridge exited when its stdin closed)")
	for _, text := range offline {
		if err := call(alice, "messages.send", map[string]any{"contact": alicesBob.ID, "text": text}, nil); err != nil {
			return nil, err
		}
	}
	if err := waitSent(ctx, alice, len(script)/2+len(offline), o.Timeout); err != nil {
		return nil, err
	}
	say("alice      %d messages sent while bob is offline; the relay accepted them", len(offline))

	// What the relay stored: stop it, read its file, start it again on the
	// same address (its key persists).
	relay.Stop()
	items, err := relayItems(relay.StoreFile())
	if err != nil {
		return nil, err
	}
	rep.Relay = items
	say("relay      holds %d item(s) — all it knows is a token and a blob size:", len(items))
	for _, it := range items {
		say("             token %s…  blob %5d bytes", it.Token[:16], it.Size)
	}
	relay, err = StartRelay(ctx, o.Bridge, relay.DataDir, relay.Listen, o.PowBits, relayLog)
	if err != nil {
		return nil, err
	}
	say("relay      restarted on the same address")

	// Bob comes back: a new bridge process on the same profile.
	if bob, err = start("bob"); err != nil {
		return nil, err
	}
	if err := waitReceived(bob, len(offline)); err != nil {
		return nil, err
	}
	say("bob        back online: received the %d waiting messages", len(offline))
	if err := call(bob, "messages.send", map[string]any{"contact": bobsAlice.ID, "text": "Back! Got both."}, nil); err != nil {
		return nil, err
	}
	rep.Texts = append(rep.Texts, "Back! Got both.")
	na++
	if err := waitReceived(alice, na); err != nil {
		return nil, err
	}

	// The conversation, from both sides.
	rep.Conversation, err = conversation(call, alice, alicesBob.ID, "bob")
	if err != nil {
		return nil, err
	}
	rep.BobConversation, err = conversation(call, bob, bobsAlice.ID, "alice")
	if err != nil {
		return nil, err
	}
	say("")
	say("conversation (alice's bridge, messages.list):")
	for _, l := range rep.Conversation {
		say("  %s", l)
	}
	if len(rep.Conversation) != len(rep.BobConversation) || len(rep.Conversation) != len(script)+len(offline)+2 {
		return nil, fmt.Errorf("demo: alice has %d messages, bob %d, want %d", len(rep.Conversation), len(rep.BobConversation), len(script)+len(offline)+2)
	}
	say("")
	say("ok: both safety numbers are %s; every message arrived once", sa.Digits)
	return rep, nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// waitSent waits until alice has n message.status "sent" events.
func waitSent(ctx context.Context, b *Bridge, n int, timeout time.Duration) error {
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return b.WaitEvents(c, func(evs []Event) bool {
		k := 0
		for _, e := range evs {
			if e.Name == "message.status" && bytes.Contains(e.Data, []byte(`"sent"`)) {
				k++
			}
		}
		return k >= n
	})
}

// conversation lists a conversation as "name: text" lines.
func conversation(call func(*Bridge, string, any, any) error, b *Bridge, contact int64, peer string) ([]string, error) {
	var pg engine.Page
	if err := call(b, "messages.list", map[string]any{"contact": contact, "limit": engine.MaxPageSize}, &pg); err != nil {
		return nil, err
	}
	var out []string
	for _, m := range pg.Messages {
		who := peer
		if m.Direction == "out" {
			who = b.Name
		}
		out = append(out, fmt.Sprintf("%-6s %s", who+":", m.Text))
	}
	return out, nil
}

// relayItems reads the relay's bbolt file (relay stopped) and lists its
// items: token and blob size (docs/PROTOCOL.md §Relay, storage: items key
// token[32] || u64 id, value u64 deposit time || blob).
func relayItems(path string) ([]StoredItem, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("demo: open relay store: %w", err)
	}
	defer db.Close()
	var items []StoredItem
	err = db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("items"))
		if b == nil {
			return errors.New("demo: relay store has no items bucket")
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 40 || len(v) < 8 {
				return errors.New("demo: unexpected relay item layout")
			}
			items = append(items, StoredItem{Token: hex.EncodeToString(k[:32]), Size: len(v) - 8})
			return nil
		})
	})
	sort.Slice(items, func(i, j int) bool { return items[i].Token < items[j].Token })
	return items, err
}
