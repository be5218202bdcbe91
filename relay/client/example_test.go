package client_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/server"
	"github.com/parley-im/parley/relay/store"
)

// Example runs a relay on loopback and uses it as the bridge will: deposit a
// blob under a mailbox token, fetch it, ack it.
func Example() {
	ctx := context.Background()

	// A relay (what parley-bridge --relay wires up).
	dir, _ := os.MkdirTemp("", "relay")
	defer os.RemoveAll(dir)
	cfg := policy.Default()
	cfg.PowBits = 8 // quick for the example; real relays use pow.DefaultBits
	p, _ := policy.New(cfg)
	st, _ := store.OpenBolt(filepath.Join(dir, "relay.db"), p.StoreLimits())
	defer st.Close()
	key, _ := link.GenerateKey(nil)
	srv, _ := server.New(server.Config{Key: key, Store: st, Policy: p})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(ctx)
	relayAddr, _ := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))

	// The client side: it knows only the relay address.
	parsed, err := addr.Parse(relayAddr.String())
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := client.Dial(ctx, client.Config{Address: parsed})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	var token address.Token // in Parley, derived per epoch and direction
	token[0] = 1

	receipt, err := c.Deposit(ctx, token, []byte("sealed envelope"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("deposited, duplicate:", receipt.Duplicate)

	items, err := c.Fetch(ctx, []address.Token{token}, 10)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, it := range items.Items {
		fmt.Printf("fetched %q\n", it.Blob)
	}
	n, err := c.Ack(ctx, token, []uint64{receipt.ID})
	fmt.Println("acked:", n, err)
	// Output:
	// deposited, duplicate: false
	// fetched "sealed envelope"
	// acked: 1 <nil>
}
