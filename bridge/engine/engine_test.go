package engine

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/server"
	relaystore "github.com/parley-im/parley/relay/store"
)

var ctx = context.Background()

// testParams are the lowest Argon2id parameters the keystore accepts: for
// tests only.
var testParams = keystore.Params{Time: keystore.MinTime, MemoryKiB: keystore.MinMemoryKiB, Threads: 1}

const testPassphrase = "correct horse battery staple"

// startRelay runs a real relay (bbolt in a temp dir) on loopback TCP and
// returns its address.
func startRelay(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	cfg := policy.Default()
	cfg.PowBits = 4
	p, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := relaystore.OpenBolt(filepath.Join(dir, "relay.db"), p.StoreLimits())
	if err != nil {
		t.Fatal(err)
	}
	key, err := link.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Key: key, Store: st, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		srv.Shutdown(c)
		<-done
		st.Close()
	})
	a, err := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))
	if err != nil {
		t.Fatal(err)
	}
	return a.String()
}

// peer is one profile with its engine, reopenable.
type peer struct {
	t      testing.TB
	name   string
	dir    string
	db     *store.DB
	e      *Engine
	mu     sync.Mutex
	events []event
	recv   chan Message
	// wrap, if set, wraps every relay connection the engine opens.
	wrap func(Relay) Relay
	// down holds relay addresses that fail every call (as if
	// unreachable); dialed counts the calls per address.
	down, dialed sync.Map
	// deposits records every deposit made (under mu).
	deposits []deposited
}

type deposited struct {
	token address.Token
	size  int
	at    time.Time
}

type event struct {
	name string
	data any
}

func newPeer(t testing.TB, name string) *peer {
	t.Helper()
	p := &peer{t: t, name: name, dir: t.TempDir(), recv: make(chan Message, 1000)}
	src, err := keystore.CreatePassphrase(p.dir, []byte(testPassphrase), testParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.open(src)
	t.Cleanup(p.close)
	return p
}

func (p *peer) open(src keystore.Source) {
	p.t.Helper()
	if src == nil {
		var err error
		if src, err = keystore.Open(p.dir, []byte(testPassphrase)); err != nil {
			p.t.Fatal(err)
		}
	}
	db, err := store.Open(ctx, filepath.Join(p.dir, store.FileName), src)
	if err != nil {
		p.t.Fatal(err)
	}
	e, err := New(Config{DB: db, PollInterval: 30 * time.Millisecond, RetryBase: 20 * time.Millisecond,
		RetryMax: 200 * time.Millisecond, OneTimePrekeys: 5, Emit: p.emit, CoverInterval: 40 * time.Millisecond,
		Dial: func(a string) (Relay, error) {
			ra, err := addr.Parse(a)
			if err != nil {
				return nil, err
			}
			c, err := client.New(client.Config{Address: ra, Retries: -1, RequestTimeout: 2 * time.Second})
			if err != nil {
				return nil, err
			}
			var r Relay = gate{Relay: c, p: p, addr: a}
			if p.wrap != nil {
				r = p.wrap(r)
			}
			return r, nil
		}})
	if err != nil {
		p.t.Fatal(err)
	}
	p.db, p.e = db, e
	e.Start(ctx)
}

func (p *peer) close() {
	if p.e != nil {
		p.e.Close()
		p.db.Close()
		p.e, p.db = nil, nil
	}
}

func (p *peer) restart() {
	p.close()
	p.open(nil)
}

func (p *peer) emit(name string, data any) {
	p.mu.Lock()
	p.events = append(p.events, event{name, data})
	p.mu.Unlock()
	if m, ok := data.(Message); ok && name == EventMessageReceived {
		p.recv <- m
	}
}

// results records every method result, to scan for secrets.
type results struct {
	mu  sync.Mutex
	all [][]byte
}

func (r *results) add(t testing.TB, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	r.all = append(r.all, b)
	r.mu.Unlock()
}

func must[T any](t testing.TB, r *results) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			r.add(t, v)
		}
		return v
	}
}

// waitMessages reads n message.received events (failing after a timeout)
// and returns their texts in arrival order.
func (p *peer) waitMessages(n int) []string {
	p.t.Helper()
	var got []string
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case m := <-p.recv:
			got = append(got, m.Text)
		case <-deadline:
			p.t.Fatalf("%s: got %d of %d messages: %q", p.name, len(got), n, got)
		}
	}
	return got
}

// noMoreMessages checks that no further message arrives within d.
func (p *peer) noMoreMessages(d time.Duration) {
	p.t.Helper()
	select {
	case m := <-p.recv:
		p.t.Fatalf("%s: unexpected message %q", p.name, m.Text)
	case <-time.After(d):
	}
}

func (p *peer) allMessages(contact int64) []Message {
	p.t.Helper()
	pg, err := p.e.Messages(ctx, contact, 0, MaxPageSize)
	if err != nil {
		p.t.Fatal(err)
	}
	return pg.Messages
}

// pair sets up alice and bob through an invite and first contact.
func pair(t *testing.T, r *results) (alice, bob *peer, aliceSeesBob, bobSeesAlice int64) {
	relay := startRelay(t)
	alice, bob = newPeer(t, "alice"), newPeer(t, "bob")
	must[*IdentityInfo](t, r)(alice.e.CreateIdentity(ctx))
	must[*IdentityInfo](t, r)(bob.e.CreateIdentity(ctx))
	must[*Settings](t, r)(alice.e.SetSettings(ctx, Settings{Relay: relay}))
	inv := must[*CreatedInvite](t, r)(alice.e.CreateInvite(ctx, 0))
	c := must[*Contact](t, r)(bob.e.AcceptInvite(ctx, inv.Text, "alice", "hello alice"))
	if got := alice.waitMessages(1); got[0] != "hello alice" {
		t.Fatalf("first contact text %q", got)
	}
	cs := must[[]Contact](t, r)(alice.e.Contacts(ctx))
	if len(cs) != 1 || !cs[0].CanSend || cs[0].Pin != "unverified" {
		t.Fatalf("alice's contacts: %+v", cs)
	}
	return alice, bob, cs[0].ID, c.ID
}

func TestConversation(t *testing.T) {
	var r results
	alice, bob, ab, ba := pair(t, &r)
	var bobAcks struct{ acked, violations atomic.Int64 }
	bob.wrap = func(rl Relay) Relay {
		return ackOrder{Relay: rl, p: bob, fetched: &sync.Map{}, acked: &bobAcks.acked, violations: &bobAcks.violations}
	}
	bob.restart()

	// Safety numbers agree and the invite's fingerprint is bob's pin of alice.
	sa := must[*SafetyNumber](t, &r)(alice.e.Safety(ctx, ab))
	sb := must[*SafetyNumber](t, &r)(bob.e.Safety(ctx, ba))
	if sa.Digits != sb.Digits || len(sa.Digits) != 60+11 && len(sa.Digits) != 60 || fmt.Sprint(sa.Emoji) != fmt.Sprint(sb.Emoji) {
		t.Fatalf("safety numbers differ: %q vs %q", sa.Digits, sb.Digits)
	}

	exchange := func(round string, n int) {
		t.Helper()
		for i := range n {
			must[*Message](t, &r)(alice.e.Send(ctx, ab, fmt.Sprintf("%s a→b %d", round, i)))
			must[*Message](t, &r)(bob.e.Send(ctx, ba, fmt.Sprintf("%s b→a %d", round, i)))
		}
		gotB, gotA := bob.waitMessages(n), alice.waitMessages(n)
		checkSet(t, gotB, round+" a→b", n)
		checkSet(t, gotA, round+" b→a", n)
	}
	exchange("r1", 20)

	// Restart bob: reopen the store, keep talking.
	bob.restart()
	exchange("r2", 5)

	// Bob offline: alice's messages wait at the relay.
	bob.close()
	for i := range 5 {
		must[*Message](t, &r)(alice.e.Send(ctx, ab, fmt.Sprintf("offline %d", i)))
	}
	waitStatus(t, alice, ab, "sent")
	bob.open(nil)
	checkSet(t, bob.waitMessages(5), "offline", 5)
	bob.noMoreMessages(300 * time.Millisecond)
	alice.noMoreMessages(0)

	// Every message is stored exactly once on each side.
	for _, pc := range []struct {
		p *peer
		c int64
	}{{alice, ab}, {bob, ba}} {
		ms := pc.p.allMessages(pc.c)
		seen := map[string]bool{}
		for _, m := range ms {
			if seen[m.ID] {
				t.Fatalf("%s: message %s stored twice", pc.p.name, m.ID)
			}
			seen[m.ID] = true
		}
		if want := 1 + 25 + 25 + 5; len(ms) != want {
			t.Fatalf("%s: %d messages, want %d", pc.p.name, len(ms), want)
		}
	}
	r.add(t, must[*Page](t, nil)(alice.e.Messages(ctx, ab, 0, 10)))
	r.add(t, must[*Status](t, nil)(alice.e.Status(ctx)))
	r.add(t, must[*IdentityInfo](t, nil)(bob.e.Identity(ctx)))
	r.add(t, must[[]Contact](t, nil)(bob.e.Contacts(ctx)))
	r.add(t, must[*Settings](t, nil)(bob.e.Settings(ctx)))

	// No result or event carries a secret.
	for _, p := range []*peer{alice, bob} {
		p.mu.Lock()
		for _, ev := range p.events {
			r.add(t, ev.data)
		}
		p.mu.Unlock()
		if n := secretHits(t, p, r.all); n != 0 {
			t.Errorf("%s: %d secret windows found in results", p.name, n)
		}
		// The scan can fail: a result holding a key is caught.
		planted := append([][]byte{}, r.all...)
		for name, sec := range secretsOf(t, p) {
			planted = append(planted, []byte(`{"x":"`+hex.EncodeToString(sec)+`"}`))
			if n := secretHits(t, p, planted); n == 0 {
				t.Errorf("%s: planted %s not found", p.name, name)
			}
			break
		}
	}
	if n := bobAcks.violations.Load(); n != 0 || bobAcks.acked.Load() == 0 {
		t.Errorf("bob acked before committing %d times (%d acks)", n, bobAcks.acked.Load())
	}
}

// ackOrder wraps bob's relay connection: at every Ack it checks, for each
// acked item, that bob's stored conversation state already consumed it
// (opening it again says duplicate or not-for-us), so nothing is
// acknowledged before its commit.
type ackOrder struct {
	Relay
	p          *peer
	fetched    *sync.Map // relay item id -> proto.Item
	acked      *atomic.Int64
	violations *atomic.Int64
}

func (a ackOrder) Fetch(ctx context.Context, toks []address.Token, limit int) (*proto.Items, error) {
	items, err := a.Relay.Fetch(ctx, toks, limit)
	if err == nil {
		for _, it := range items.Items {
			a.fetched.Store(it.ID, it)
		}
	}
	return items, err
}

func (a ackOrder) Ack(ctx context.Context, tok address.Token, ids []uint64) (int, error) {
	a.acked.Add(int64(len(ids)))
	_ = a.p.db.View(ctx, func(tx *store.Tx) error {
		cs, err := tx.Contacts()
		if err != nil || len(cs) == 0 {
			return err
		}
		st, err := tx.Session(cs[0].ID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			v, ok := a.fetched.Load(id)
			if !ok {
				a.violations.Add(1)
				continue
			}
			conv, err := session.ParseConversation(st)
			if err != nil {
				return err
			}
			if _, err := conv.Receive(tok, v.(proto.Item).Blob, time.Now()); err == nil {
				a.violations.Add(1) // still opens: acked before its commit
			}
		}
		return nil
	})
	return a.Relay.Ack(ctx, tok, ids)
}

func checkSet(t *testing.T, got []string, prefix string, n int) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range got {
		seen[s] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("%s %d", prefix, i)] {
			t.Fatalf("missing %q in %q", fmt.Sprintf("%s %d", prefix, i), got)
		}
	}
	if len(seen) != n {
		t.Fatalf("got %d distinct, want %d: %q", len(seen), n, got)
	}
}

func waitStatus(t *testing.T, p *peer, contact int64, status string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ok := true
		for _, m := range p.allMessages(contact) {
			if m.Direction == "out" && m.Status != status {
				ok = false
			}
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: messages not all %s", p.name, status)
}

// secretsOf returns the profile's secret byte strings: the private identity
// encoding, every prekey private key and every conversation secret.
func secretsOf(t *testing.T, p *peer) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := p.db.View(ctx, func(tx *store.Tx) error {
		idb, err := tx.Identity()
		if err != nil {
			return err
		}
		out["identity"] = idb
		kb, err := tx.Prekeys()
		if err != nil {
			return err
		}
		keys, err := prekey.ParseSecrets(kb)
		if err != nil {
			return err
		}
		now := time.Now()
		for id := uint32(1); id < 64; id++ {
			if k, _, err := keys.SignedPrekey(id, now); err == nil {
				b := k.Bytes()
				out[fmt.Sprintf("signed prekey %d", id)] = b[:]
			}
			if k, _, err := keys.KEMPrekey(id, now); err == nil {
				b := k.Seed()
				out[fmt.Sprintf("kem prekey %d", id)] = b[:]
			}
		}
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for _, c := range cs {
			st, err := tx.Session(c.ID)
			if err != nil {
				return err
			}
			// 0x72 0x01 || role || peer identity || conversation secret[32] || …
			off := 2 + 1 + identity.PublicSize
			out[fmt.Sprintf("conversation secret %d", c.ID)] = st[off : off+address.SecretSize]
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 4 {
		t.Fatalf("only %d secrets found", len(out))
	}
	return out
}

// secretHits counts the 12-byte windows of the profile's secrets that
// appear in the results raw, hex-encoded or inside any base64, hex or
// invite string value.
func secretHits(t *testing.T, p *peer, all [][]byte) int {
	t.Helper()
	var corpus [][]byte
	for _, b := range all {
		corpus = append(corpus, b)
		var v any
		if json.Unmarshal(b, &v) == nil {
			walkStrings(v, func(s string) {
				if d, err := base64.StdEncoding.DecodeString(s); err == nil {
					corpus = append(corpus, d)
				}
				if d, err := hex.DecodeString(s); err == nil {
					corpus = append(corpus, d)
				}
				if inv, err := invite.Parse(s, time.Now()); err == nil {
					corpus = append(corpus, inv.Bytes())
				}
			})
		}
	}
	hits := 0
	for name, sec := range secretsOf(t, p) {
		for i := 0; i+12 <= len(sec); i += 4 {
			w := sec[i : i+12]
			hw := []byte(hex.EncodeToString(w))
			for _, c := range corpus {
				if bytes.Contains(c, w) || bytes.Contains(c, hw) {
					t.Logf("%s: %s (offset %d) appears in a result", p.name, name, i)
					hits++
					break
				}
			}
		}
	}
	return hits
}

func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, y := range x {
			walkStrings(y, fn)
		}
	case map[string]any:
		for _, y := range x {
			walkStrings(y, fn)
		}
	}
}

func TestForgedFirstContactChangesNothing(t *testing.T) {
	relay := startRelay(t)
	alice, bob := newPeer(t, "alice"), newPeer(t, "bob")
	must[*IdentityInfo](t, nil)(alice.e.CreateIdentity(ctx))
	must[*IdentityInfo](t, nil)(bob.e.CreateIdentity(ctx))
	must[*Settings](t, nil)(alice.e.SetSettings(ctx, Settings{Relay: relay}))
	inv := must[*CreatedInvite](t, nil)(alice.e.CreateInvite(ctx, 0))
	parsed, err := invite.Parse(inv.Text, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tok := parsed.Secret().FirstContactToken()
	ra, _ := addr.Parse(relay)
	c, err := client.Dial(ctx, client.Config{Address: ra})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Forgeries at the invite's mailbox: garbage of several sizes.
	for _, n := range []int{1, 100, 4000} {
		if _, err := c.Deposit(ctx, tok, bytes.Repeat([]byte{byte(n)}, n)); err != nil {
			t.Fatal(err)
		}
	}
	alice.e.PollNow()
	deadline := time.Now().Add(10 * time.Second)
	for {
		items, err := c.Fetch(ctx, []address.Token{tok}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(items.Items) == 0 {
			break // dropped and acked
		}
		if time.Now().After(deadline) {
			t.Fatal("forgeries not dropped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cs, _ := alice.e.Contacts(ctx); len(cs) != 0 {
		t.Fatalf("forgery made a contact: %+v", cs)
	}
	// The invite still works.
	must[*Contact](t, nil)(bob.e.AcceptInvite(ctx, inv.Text, "", "real"))
	if got := alice.waitMessages(1); got[0] != "real" {
		t.Fatal(got)
	}
	// A second accept of the same invite (another profile) is refused by the
	// inviter: single use.
	carol := newPeer(t, "carol")
	must[*IdentityInfo](t, nil)(carol.e.CreateIdentity(ctx))
	must[*Contact](t, nil)(carol.e.AcceptInvite(ctx, inv.Text, "", "me too"))
	alice.noMoreMessages(500 * time.Millisecond)
	if cs, _ := alice.e.Contacts(ctx); len(cs) != 1 {
		t.Fatalf("invite used twice: %d contacts", len(cs))
	}
}

func TestDuplicatesDropped(t *testing.T) {
	alice, bob, ab, ba := pair(t, nil)
	// Capture a blob alice sends by reading the outbox before it goes out:
	// stop alice's loops so the item stays queued.
	alice.e.Close()
	e2, err := New(Config{DB: alice.db, Emit: alice.emit})
	if err != nil {
		t.Fatal(err)
	}
	alice.e = e2
	m := must[*Message](t, nil)(e2.Send(ctx, ab, "once"))
	var it store.OutboxItem
	if err := alice.db.View(ctx, func(tx *store.Tx) error {
		due, err := tx.DueOutbox(time.Now().Add(time.Hour), 10)
		if err != nil || len(due) != 1 {
			return fmt.Errorf("outbox: %d items, %v", len(due), err)
		}
		it = due[0]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The same blob deposited three times (a resend after a crash, and a
	// replay by the relay) is received once.
	ra, _ := addr.Parse(func() string { s, _ := e2.Settings(ctx); return s.Relay }())
	c, err := client.Dial(ctx, client.Config{Address: ra})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tok, _ := address.ParseToken(it.Token)
	for range 3 {
		if _, err := c.Deposit(ctx, tok, it.Blob); err != nil {
			t.Fatal(err)
		}
		bob.e.PollNow()
		time.Sleep(50 * time.Millisecond)
	}
	if got := bob.waitMessages(1); got[0] != "once" {
		t.Fatal(got)
	}
	bob.noMoreMessages(300 * time.Millisecond)
	if n := len(bob.allMessages(ba)); n != 2 {
		t.Fatalf("bob has %d messages, want 2", n)
	}
	_ = m
}

func TestKeyChangeBlocksSending(t *testing.T) {
	alice, _, ab, _ := pair(t, nil)
	other, err := identity.Generate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.db.Update(ctx, func(tx *store.Tx) error {
		return tx.MarkIdentityChanged(store.ContactID(ab), other.Public().Marshal(), time.Now())
	}); err != nil {
		t.Fatal(err)
	}
	_, err = alice.e.Send(ctx, ab, "blocked")
	var ee *Error
	if !errors.As(err, &ee) || ee.Code != CodeKeyChanged {
		t.Fatalf("send during key change: %v", err)
	}
	if _, err := alice.e.Verify(ctx, ab, true); !errors.As(err, &ee) || ee.Code != CodePinState {
		t.Fatalf("verify during key change: %v", err)
	}
	cs := must[[]Contact](t, nil)(alice.e.Contacts(ctx))
	if cs[0].CanSend || cs[0].Pin != "changed" || cs[0].PendingFingerprint != invite.Fingerprint(other.Public()) {
		t.Fatalf("contact during key change: %+v", cs[0])
	}
	c := must[*Contact](t, nil)(alice.e.AcceptKeyChange(ctx, ab))
	if c.Pin != "unverified" || c.Fingerprint != invite.Fingerprint(other.Public()) {
		t.Fatalf("after accept: %+v", c)
	}
	if _, err := alice.e.AcceptKeyChange(ctx, ab); !errors.As(err, &ee) || ee.Code != CodePinState {
		t.Fatalf("second accept: %v", err)
	}
	must[*Message](t, nil)(alice.e.Send(ctx, ab, "unblocked"))
	v := must[*Contact](t, nil)(alice.e.Verify(ctx, ab, true))
	if v.Pin != "verified" || !v.Verified {
		t.Fatalf("verify: %+v", v)
	}
}

func TestErrors(t *testing.T) {
	p := newPeer(t, "p")
	var ee *Error
	code := func(err error) string {
		if errors.As(err, &ee) {
			return ee.Code
		}
		return fmt.Sprint(err)
	}
	if _, err := p.e.Identity(ctx); code(err) != CodeNoIdentity {
		t.Errorf("identity.get before create: %v", err)
	}
	must[*IdentityInfo](t, nil)(p.e.CreateIdentity(ctx))
	if _, err := p.e.CreateIdentity(ctx); code(err) != CodeExists {
		t.Errorf("second create: %v", err)
	}
	if _, err := p.e.CreateInvite(ctx, 0); code(err) != CodeNoRelay {
		t.Errorf("invite without relay: %v", err)
	}
	if _, err := p.e.SetSettings(ctx, Settings{Relay: "http://x"}); code(err) != CodeInvalidParams {
		t.Errorf("bad relay: %v", err)
	}
	if _, err := p.e.AcceptInvite(ctx, "parley:nonsense", "", ""); code(err) != CodeInvalidInvite {
		t.Errorf("bad invite: %v", err)
	}
	if _, err := p.e.Send(ctx, 42, "x"); code(err) != CodeNotFound {
		t.Errorf("send to nobody: %v", err)
	}
	if _, err := p.e.Messages(ctx, 1, 0, MaxPageSize+1); code(err) != CodeInvalidParams {
		t.Errorf("page too big: %v", err)
	}
	// Own invite.
	must[*Settings](t, nil)(p.e.SetSettings(ctx, Settings{Relay: startRelay(t)}))
	inv := must[*CreatedInvite](t, nil)(p.e.CreateInvite(ctx, 0))
	if _, err := p.e.AcceptInvite(ctx, inv.Text, "", ""); code(err) != CodeInvalidInvite {
		t.Errorf("own invite: %v", err)
	}
}

func TestHousekeeping(t *testing.T) {
	p := newPeer(t, "p")
	p.close()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	src, err := keystore.Open(p.dir, []byte(testPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(p.dir, store.FileName), src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e, err := New(Config{DB: db, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	must[*IdentityInfo](t, nil)(e.CreateIdentity(ctx))
	must[*Settings](t, nil)(e.SetSettings(ctx, Settings{Relay: startRelay(t)}))
	inv := must[*CreatedInvite](t, nil)(e.CreateInvite(ctx, invite.MinLifetime))
	parsed, err := invite.Parse(inv.Text, now)
	if err != nil {
		t.Fatal(err)
	}
	sec := parsed.Secret().Bytes()
	exists := func() bool {
		var ok bool
		if err := db.View(ctx, func(tx *store.Tx) error {
			_, err := tx.InviteBySecret(sec[:])
			ok = err == nil
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if err := e.housekeeping(ctx, clock()); err != nil || !exists() {
		t.Fatalf("live invite removed: %v", err)
	}
	mu.Lock()
	now = now.Add(2 * invite.MinLifetime)
	mu.Unlock()
	if err := e.housekeeping(ctx, clock()); err != nil || exists() {
		t.Fatalf("expired invite kept: %v", err)
	}
}

// TestRelayDown: with the relay unreachable, messages stay queued (and are
// retried), status says so, and nothing is lost once it is back.
func TestRelayDown(t *testing.T) {
	// A relay address whose port has nobody listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	key, _ := link.GenerateKey(nil)
	down, _ := addr.New(key.Public(), "127.0.0.1", port)
	p := newPeer(t, "p")
	must[*IdentityInfo](t, nil)(p.e.CreateIdentity(ctx))
	must[*Settings](t, nil)(p.e.SetSettings(ctx, Settings{Relay: down.String()}))
	must[*CreatedInvite](t, nil)(p.e.CreateInvite(ctx, 0))
	sawDown := func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, ev := range p.events {
			if st, ok := ev.data.(*Status); ok && ev.name == EventStatusChanged && st.RelayReachable != nil && !*st.RelayReachable {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for !sawDown() {
		if time.Now().After(deadline) {
			t.Fatal("no status.changed event for the relay going down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := must[*Status](t, nil)(p.e.Status(ctx)); st.RelayReachable == nil || *st.RelayReachable {
		t.Fatalf("status with the relay down: %+v", st)
	}
}

// TestFirstContactWithoutText: an invite accepted with no message makes
// the contact on both sides and shows no empty message.
func TestFirstContactWithoutText(t *testing.T) {
	relay := startRelay(t)
	alice, bob := newPeer(t, "alice"), newPeer(t, "bob")
	must[*IdentityInfo](t, nil)(alice.e.CreateIdentity(ctx))
	must[*IdentityInfo](t, nil)(bob.e.CreateIdentity(ctx))
	must[*Settings](t, nil)(alice.e.SetSettings(ctx, Settings{Relay: relay}))
	inv := must[*CreatedInvite](t, nil)(alice.e.CreateInvite(ctx, 0))
	ba := must[*Contact](t, nil)(bob.e.AcceptInvite(ctx, inv.Text, "", "")).ID
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs := must[[]Contact](t, nil)(alice.e.Contacts(ctx))
		if len(cs) == 1 && cs[0].CanSend {
			if n := len(alice.allMessages(cs[0].ID)); n != 0 {
				t.Fatalf("alice shows %d messages", n)
			}
			must[*Message](t, nil)(alice.e.Send(ctx, cs[0].ID, "first words"))
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no first contact")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := bob.waitMessages(1); got[0] != "first words" {
		t.Fatal(got)
	}
	if st := must[*Status](t, nil)(bob.e.Status(ctx)); st.Outbox != 0 {
		t.Fatalf("bob's outbox holds %d", st.Outbox)
	}
	if n := len(bob.allMessages(ba)); n != 1 {
		t.Fatalf("bob shows %d messages", n)
	}
}

// TestPagesStayUnderFrameLimit: a page of long messages is cut to
// MaxPageBytes, and following the cursors still visits every message once.
func TestPagesStayUnderFrameLimit(t *testing.T) {
	p := newPeer(t, "p")
	now := time.Now()
	var cid store.ContactID
	const n = 120
	long := strings.Repeat("<&\"x", MaxTextSize/4) // escapes grow it in JSON
	if err := p.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if cid, err = tx.AddContact("c", make([]byte, 32), now); err != nil {
			return err
		}
		for i := range n {
			m := &store.Message{Contact: cid, Direction: store.Incoming, Body: fmt.Sprintf("%03d %s", i, long),
				SentAt: now, Status: store.StatusReceived, Created: now}
			m.ID[0], m.ID[1] = byte(i), 1
			if err := tx.AddMessage(m); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var before int64
	pages := 0
	for {
		pg := must[*Page](t, nil)(p.e.Messages(ctx, int64(cid), before, MaxPageSize))
		b, _ := json.Marshal(pg)
		if len(b) > MaxPageBytes+64<<10 || len(pg.Messages) == 0 {
			t.Fatalf("page of %d bytes, %d messages", len(b), len(pg.Messages))
		}
		for _, m := range pg.Messages {
			if seen[m.Text[:3]] {
				t.Fatalf("message %s twice", m.Text[:3])
			}
			seen[m.Text[:3]] = true
		}
		pages++
		if pg.Older == 0 {
			break
		}
		before = pg.Older
	}
	if len(seen) != n || pages < 3 {
		t.Fatalf("%d messages in %d pages", len(seen), pages)
	}
}
