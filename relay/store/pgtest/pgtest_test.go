package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

// TestStartStop starts a private cluster, checks it is durable and on a
// Unix socket only, restarts it after an immediate stop, and checks that a
// schema made on the shared cluster is empty and selected.
func TestStartStop(t *testing.T) {
	t.Parallel()
	c := Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"fsync": "on", "synchronous_commit": "on", "listen_addresses": ""} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	conn.Close(ctx)
	c.Exec(t, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
	if err := c.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	if err := c.ExecURL(c.URL("postgres"), "SELECT 1"); err == nil {
		t.Fatal("connected to a stopped cluster")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var x int
	if err := conn.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 42 {
		t.Fatalf("after crash restart: %d, %v", x, err)
	}
}

func TestSharedSchema(t *testing.T) {
	t.Parallel()
	c := Shared(t)
	url := c.NewSchema(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE TABLE mine (x int)"); err != nil {
		t.Fatal(err)
	}
	var schema string
	if err := conn.QueryRow(ctx, "SELECT table_schema FROM information_schema.tables WHERE table_name = 'mine'").Scan(&schema); err != nil || schema == "public" {
		t.Fatalf("table in schema %q, %v", schema, err)
	}
}
