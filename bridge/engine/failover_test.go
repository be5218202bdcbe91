package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/relay/proto"
)

// gate makes a relay connection fail while its address is in p.down, and
// counts the calls per address in p.dialed.
type gate struct {
	Relay
	p    *peer
	addr string
}

var errGateDown = errors.New("test: relay down")

func (g gate) check() error {
	n, _ := g.p.dialed.LoadOrStore(g.addr, new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	if _, down := g.p.down.Load(g.addr); down {
		return errGateDown
	}
	return nil
}

func (g gate) Deposit(ctx context.Context, tok address.Token, blob []byte) (proto.Receipt, error) {
	if err := g.check(); err != nil {
		return proto.Receipt{}, err
	}
	r, err := g.Relay.Deposit(ctx, tok, blob)
	if err == nil {
		g.p.mu.Lock()
		g.p.deposits = append(g.p.deposits, deposited{token: tok, size: len(blob), at: time.Now()})
		g.p.mu.Unlock()
	}
	return r, err
}

func (g gate) Fetch(ctx context.Context, toks []address.Token, limit int) (*proto.Items, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	return g.Relay.Fetch(ctx, toks, limit)
}

func (g gate) Ack(ctx context.Context, tok address.Token, ids []uint64) (int, error) {
	if err := g.check(); err != nil {
		return 0, err
	}
	return g.Relay.Ack(ctx, tok, ids)
}

func (p *peer) calls(a string) int64 {
	n, ok := p.dialed.Load(a)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// sawStatus reports whether p got a status.changed event matching ok.
func (p *peer) sawStatus(ok func(*Status) bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range p.events {
		if st, is := ev.data.(*Status); is && ev.name == EventStatusChanged && ok(st) {
			return true
		}
	}
	return false
}

// TestRelayFailover: a second relay is untouched while the primary works;
// when the primary is unreachable, messages go through the second relay
// (both sides configured it), status.changed says which relay is in use,
// the chosen relay stays in the settings and in new invites, and traffic
// returns to the primary when it is back.
func TestRelayFailover(t *testing.T) {
	alice, bob, ab, ba := pair(t, nil)
	primary := must[*Settings](t, nil)(alice.e.Settings(ctx)).Relay
	second := startRelay(t)
	relay2 := second
	for _, p := range []*peer{alice, bob} {
		s := must[*Settings](t, nil)(p.e.UpdateSettings(ctx, SettingsUpdate{Relay2: &relay2}))
		if s.Relay != primary || s.Relay2 != second {
			t.Fatalf("%s settings: %+v", p.name, s)
		}
	}
	// Primary up: the second relay is never contacted.
	must[*Message](t, nil)(alice.e.Send(ctx, ab, "via primary"))
	if got := bob.waitMessages(1); got[0] != "via primary" {
		t.Fatal(got)
	}
	time.Sleep(100 * time.Millisecond)
	if alice.calls(second) != 0 || bob.calls(second) != 0 {
		t.Fatalf("second relay used while the primary works: %d, %d calls", alice.calls(second), bob.calls(second))
	}

	// Primary down for both.
	alice.down.Store(primary, true)
	bob.down.Store(primary, true)
	must[*Message](t, nil)(alice.e.Send(ctx, ab, "via second a→b"))
	must[*Message](t, nil)(bob.e.Send(ctx, ba, "via second b→a"))
	if got := bob.waitMessages(1); got[0] != "via second a→b" {
		t.Fatal(got)
	}
	if got := alice.waitMessages(1); got[0] != "via second b→a" {
		t.Fatal(got)
	}
	if !alice.sawStatus(func(st *Status) bool { return st.RelayInUse == second && st.Failover && st.Relay == primary }) {
		t.Fatal("no status.changed event naming the second relay")
	}
	st := must[*Status](t, nil)(alice.e.Status(ctx))
	if !st.Failover || st.RelayInUse != second || st.Relay != primary {
		t.Fatalf("status during failover: %+v", st)
	}
	// The explicit choice is kept, and invites name it.
	if s := must[*Settings](t, nil)(alice.e.Settings(ctx)); s.Relay != primary {
		t.Fatalf("primary replaced: %+v", s)
	}
	inv := must[*CreatedInvite](t, nil)(alice.e.CreateInvite(ctx, 0))
	parsed, err := invite.Parse(inv.Text, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if parsed.RelayAddress() != primary {
		t.Fatalf("invite during failover names %q, want the primary", parsed.RelayAddress())
	}

	// Primary back: traffic returns to it, and the status says so.
	alice.down.Delete(primary)
	bob.down.Delete(primary)
	deadline := time.Now().Add(30 * time.Second)
	for {
		alice.e.PollNow()
		if st := must[*Status](t, nil)(alice.e.Status(ctx)); !st.Failover && st.RelayInUse == primary {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("did not return to the primary relay")
		}
		time.Sleep(20 * time.Millisecond)
	}
	before := alice.calls(second)
	must[*Message](t, nil)(alice.e.Send(ctx, ab, "primary again"))
	if got := bob.waitMessages(1); got[0] != "primary again" {
		t.Fatal(got)
	}
	waitStatus(t, alice, ab, "sent")
	if n := alice.calls(second); n != before {
		t.Fatalf("second relay used after the primary came back: %d more calls", n-before)
	}
}

// TestNoFailoverWithoutSecondRelay: without a configured second relay, an
// unreachable primary is never replaced: messages stay queued.
func TestNoFailoverWithoutSecondRelay(t *testing.T) {
	alice, _, ab, _ := pair(t, nil)
	primary := must[*Settings](t, nil)(alice.e.Settings(ctx)).Relay
	alice.down.Store(primary, true)
	m := must[*Message](t, nil)(alice.e.Send(ctx, ab, "stays queued"))
	time.Sleep(300 * time.Millisecond)
	for _, got := range alice.allMessages(ab) {
		if got.ID == m.ID && got.Status != "queued" {
			t.Fatalf("message left without a relay: %+v", got)
		}
	}
	alice.dialed.Range(func(k, _ any) bool {
		if k.(string) != primary {
			t.Errorf("contacted %s", k)
		}
		return true
	})
	if st := must[*Status](t, nil)(alice.e.Status(ctx)); st.Failover || st.RelayReachable == nil || *st.RelayReachable {
		t.Fatalf("status: %+v", st)
	}
}

// TestSecondRelaySettings: relay2 is validated, needs a relay, differs
// from it, and an update leaves unnamed settings alone.
func TestSecondRelaySettings(t *testing.T) {
	p := newPeer(t, "p")
	one, two := startRelay(t), startRelay(t)
	bad, empty := "http://x", ""
	var ee *Error
	for name, u := range map[string]SettingsUpdate{
		"bad relay2":      {Relay2: &bad},
		"relay2 no relay": {Relay2: &two},
		"same as relay":   {Relay: &one, Relay2: &one},
	} {
		if _, err := p.e.UpdateSettings(ctx, u); !errors.As(err, &ee) || ee.Code != CodeInvalidParams {
			t.Errorf("%s: %v", name, err)
		}
	}
	must[*Settings](t, nil)(p.e.UpdateSettings(ctx, SettingsUpdate{Relay: &one}))
	s := must[*Settings](t, nil)(p.e.UpdateSettings(ctx, SettingsUpdate{Relay2: &two}))
	if s.Relay != one || s.Relay2 != two || s.Cover {
		t.Fatalf("settings: %+v", s)
	}
	s = must[*Settings](t, nil)(p.e.UpdateSettings(ctx, SettingsUpdate{Relay2: &empty}))
	if s.Relay != one || s.Relay2 != "" || !strings.HasPrefix(s.Relay, "parley-relay://") {
		t.Fatalf("settings after clearing relay2: %+v", s)
	}
}
