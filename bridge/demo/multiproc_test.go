package demo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/engine"
	"github.com/parley-im/parley/bridge/hostcmd"
	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/profile"
	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/identity"
)

// mp is the multi-process test's world.
type mp struct {
	t    *testing.T
	bin  string
	dir  string
	logs []string
}

func (w *mp) bridge(name string) *Bridge {
	w.t.Helper()
	pass := filepath.Join(w.dir, name+".pass")
	if _, err := os.Stat(pass); err != nil {
		if err := os.WriteFile(pass, []byte("multi-process passphrase "+name), 0o600); err != nil {
			w.t.Fatal(err)
		}
	}
	log := filepath.Join(w.dir, name+".log")
	if !slices.Contains(w.logs, log) {
		w.logs = append(w.logs, log)
	}
	b, err := StartBridge(name, BridgeConfig{Binary: w.bin, Home: filepath.Join(w.dir, name), Profile: name,
		PassphraseFile: pass, PollInterval: 50 * time.Millisecond, LogPath: log})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { b.Stop(10 * time.Second) })
	return b
}

func mcall[R any](t *testing.T, b *Bridge, method string, params any) R {
	t.Helper()
	var r R
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := b.Call(ctx, method, params, &r); err != nil {
		t.Fatalf("%s %s: %v", b.Name, method, err)
	}
	return r
}

// allTexts pages through a conversation and returns its texts by
// direction.
func allTexts(t *testing.T, b *Bridge, contact int64) (in, out []string) {
	t.Helper()
	var before int64
	for {
		pg := mcall[engine.Page](t, b, "messages.list", map[string]any{"contact": contact, "before": before, "limit": engine.MaxPageSize})
		for _, m := range slices.Backward(pg.Messages) {
			if m.Direction == "in" {
				in = append(in, m.Text)
			} else {
				out = append(out, m.Text)
			}
		}
		if pg.Older == 0 {
			return in, out
		}
		before = pg.Older
	}
}

// waitTexts waits until the conversation holds every text in want as
// incoming, then checks each is there exactly once.
func waitTexts(t *testing.T, b *Bridge, contact int64, want []string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		in, _ := allTexts(t, b, contact)
		count := map[string]int{}
		for _, s := range in {
			count[s]++
		}
		missing := 0
		for _, w := range want {
			if count[w] > 1 {
				t.Fatalf("%s: %q received %d times", b.Name, w, count[w])
			}
			if count[w] == 0 {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d messages missing", b.Name, missing, len(want))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMultiProcess runs a relay and two bridges as processes driven over
// stdin/stdout: invite, 100 messages each way, bob offline then online,
// 20 kill -9 of alice right after messages.send is answered (every message
// arrives exactly once), then scans every profile file at rest and every
// log for message text and key material.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	w := &mp{t: t, bin: buildBridge(t), dir: t.TempDir()}
	ctx := context.Background()
	relayLog := filepath.Join(w.dir, "relay.log")
	w.logs = append(w.logs, relayLog)
	relay, err := StartRelay(ctx, w.bin, filepath.Join(w.dir, "relay"), "127.0.0.1:0", 4, relayLog)
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Stop()

	var mark [6]byte
	rand.Read(mark[:])
	tag := hex.EncodeToString(mark[:])
	text := func(dir string, i int) string { return fmt.Sprintf("mp-%s %s #%03d", tag, dir, i) }
	var allSent []string

	alice, bob := w.bridge("alice"), w.bridge("bob")
	mcall[engine.IdentityInfo](t, alice, "identity.create", nil)
	mcall[engine.IdentityInfo](t, bob, "identity.create", nil)
	mcall[engine.Settings](t, alice, "settings.set", map[string]string{"relay": relay.Address})
	inv := mcall[engine.CreatedInvite](t, alice, "invite.create", nil)
	first := text("first", 0)
	allSent = append(allSent, first)
	ba := mcall[engine.Contact](t, bob, "invite.accept", map[string]string{"text": inv.Text, "message": first}).ID
	deadline := time.Now().Add(30 * time.Second)
	var ab int64
	for ab == 0 {
		cs := mcall[hostcmd.ContactsResult](t, alice, "contacts.list", nil)
		if len(cs.Contacts) == 1 {
			ab = cs.Contacts[0].ID
		} else if time.Now().After(deadline) {
			t.Fatal("no first contact")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Ping round trip through a real process over pipes.
	const pings = 200
	t0 := time.Now()
	for range pings {
		mcall[hostcmd.PingResult](t, alice, "ping", nil)
	}
	t.Logf("ping round trip over pipes: %v", time.Since(t0)/pings)

	// 100 messages each way.
	var toBob, toAlice []string
	for i := range 100 {
		a, b := text("a2b", i), text("b2a", i)
		mcall[engine.Message](t, alice, "messages.send", map[string]any{"contact": ab, "text": a})
		mcall[engine.Message](t, bob, "messages.send", map[string]any{"contact": ba, "text": b})
		toBob, toAlice = append(toBob, a), append(toAlice, b)
	}
	waitTexts(t, bob, ba, toBob)
	waitTexts(t, alice, ab, append([]string{first}, toAlice...))

	// Send → received latency through the loopback relay (poll 50 ms).
	var lat []time.Duration
	for i := range 20 {
		s := text("lat", i)
		n := len(Received(bob.Events()))
		t1 := time.Now()
		mcall[engine.Message](t, alice, "messages.send", map[string]any{"contact": ab, "text": s})
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		if err := bob.WaitEvents(c, func(evs []Event) bool { return len(Received(evs)) > n }); err != nil {
			t.Fatal(err)
		}
		cancel()
		lat = append(lat, time.Since(t1))
		toBob = append(toBob, s)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("send → received latency via loopback relay (poll interval 50 ms, PoW 4 bits): p50 %v, p90 %v", lat[len(lat)/2], lat[len(lat)*9/10])

	// Bob offline, then online.
	if err := bob.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		s := text("offline", i)
		mcall[engine.Message](t, alice, "messages.send", map[string]any{"contact": ab, "text": s})
		toBob = append(toBob, s)
	}
	bob = w.bridge("bob")
	waitTexts(t, bob, ba, toBob)

	// kill -9 of alice right after messages.send is answered, 20 times.
	for i := range 20 {
		s := text("crash", i)
		mcall[engine.Message](t, alice, "messages.send", map[string]any{"contact": ab, "text": s})
		alice.Kill()
		toBob = append(toBob, s)
		alice = w.bridge("alice")
	}
	waitTexts(t, bob, ba, toBob)
	// Alice's side: each sent exactly once, all eventually "sent".
	_, out := allTexts(t, alice, ab)
	count := map[string]int{}
	for _, s := range out {
		count[s]++
	}
	for _, s := range toBob {
		if count[s] != 1 {
			t.Fatalf("alice stores %q %d times", s, count[s])
		}
	}
	allSent = append(append(allSent, toBob...), toAlice...)

	// Stop everything cleanly, then look at the files.
	if err := alice.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := bob.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	relay.Stop()
	secrets := map[string][]byte{}
	for _, name := range []string{"alice", "bob"} {
		for k, v := range profileSecrets(t, w, name) {
			secrets[k] = v
		}
	}
	scanned := 0
	err = filepath.WalkDir(w.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".pass") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned++
		isLog := strings.HasSuffix(path, ".log")
		for _, s := range allSent {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds message text %q", path, s)
			}
		}
		if bytes.Contains(b, []byte("mp-"+tag)) {
			t.Errorf("%s holds the message marker", path)
		}
		for name, sec := range secrets {
			for i := 0; i+12 <= len(sec); i += 4 {
				win := sec[i : i+12]
				if bytes.Contains(b, win) || bytes.Contains(b, []byte(hex.EncodeToString(win))) ||
					isLog && bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(win)[:12])) {
					t.Errorf("%s holds %s", path, name)
					break
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("scanned %d files (profiles, relay, logs) for %d texts and %d secrets", scanned, len(allSent), len(secrets))
	if scanned < 6 {
		t.Fatalf("only %d files scanned", scanned)
	}
}

// profileSecrets opens a stopped profile with its passphrase and returns
// its key material: the database key, the private identity and every
// conversation secret.
func profileSecrets(t *testing.T, w *mp, name string) map[string][]byte {
	t.Helper()
	home := filepath.Join(w.dir, name)
	t.Setenv(profile.EnvHome, home)
	dir, err := profile.Dir(name)
	if err != nil {
		t.Fatal(err)
	}
	pass, err := os.ReadFile(filepath.Join(w.dir, name+".pass"))
	if err != nil {
		t.Fatal(err)
	}
	src, err := keystore.Open(dir, pass)
	if err != nil {
		t.Fatal(err)
	}
	k, err := src.Key()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	kb := k.Bytes()
	out[name+" database key"] = kb
	db, err := store.Open(context.Background(), filepath.Join(dir, store.FileName), src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(context.Background(), func(tx *store.Tx) error {
		idb, err := tx.Identity()
		if err != nil {
			return err
		}
		out[name+" private identity"] = idb[2:] // skip the public header
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for _, c := range cs {
			st, err := tx.Session(c.ID)
			if err != nil {
				return err
			}
			off := 2 + 1 + identity.PublicSize
			out[fmt.Sprintf("%s conversation secret %d", name, c.ID)] = st[off : off+address.SecretSize]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
