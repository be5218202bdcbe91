package engine_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/parley-im/parley/bridge/engine"
	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/server"
	relaystore "github.com/parley-im/parley/relay/store"
)

// Example shows the engine as the host uses it: two profiles, an invite,
// first contact through a relay on loopback, and a reply.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "engine-example")
	defer os.RemoveAll(dir)

	// A relay on loopback (what parley-bridge --relay runs).
	cfg := policy.Default()
	cfg.PowBits = 4
	pol, _ := policy.New(cfg)
	rs, _ := relaystore.OpenBolt(filepath.Join(dir, "relay.db"), pol.StoreLimits())
	defer rs.Close()
	key, _ := link.GenerateKey(nil)
	srv, _ := server.New(server.Config{Key: key, Store: rs, Policy: pol})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	relay, _ := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))

	// Two profiles, each an encrypted store and an engine.
	var closers []func()
	defer func() {
		for _, c := range closers {
			c()
		}
	}()
	open := func(name string, received chan<- string) *engine.Engine {
		k, _ := keystore.NewKey(nil)
		db, err := store.Open(ctx, filepath.Join(dir, name+".db"), keystore.NewStatic(k, keystore.ModePassphrase))
		if err != nil {
			panic(err)
		}
		e, _ := engine.New(engine.Config{DB: db, PollInterval: 100 * time.Millisecond, Emit: func(ev string, data any) {
			if m, ok := data.(engine.Message); ok && ev == engine.EventMessageReceived {
				received <- m.Text
			}
		}})
		e.Start(ctx)
		closers = append(closers, func() { e.Close(); db.Close() })
		return e
	}
	aliceGot, bobGot := make(chan string, 10), make(chan string, 10)
	alice, bob := open("alice", aliceGot), open("bob", bobGot)

	alice.CreateIdentity(ctx)
	bob.CreateIdentity(ctx)
	alice.SetSettings(ctx, engine.Settings{Relay: relay.String()})
	inv, _ := alice.CreateInvite(ctx, 0)
	contact, _ := bob.AcceptInvite(ctx, inv.Text, "alice", "hello alice")
	alice.PollNow()
	fmt.Println("alice received:", <-aliceGot)

	cs, _ := alice.Contacts(ctx)
	alice.Send(ctx, cs[0].ID, "hi bob")
	bob.PollNow()
	fmt.Println("bob received:", <-bobGot)

	sa, _ := alice.Safety(ctx, cs[0].ID)
	sb, _ := bob.Safety(ctx, contact.ID)
	fmt.Println("safety numbers equal:", sa.Digits == sb.Digits)
	// Output:
	// alice received: hello alice
	// bob received: hi bob
	// safety numbers equal: true
}
