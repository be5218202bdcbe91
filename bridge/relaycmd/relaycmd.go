// Package relaycmd is `parley-bridge --relay` (docs/PROTOCOL.md §Relay,
// protocol version 1): it parses the relay's flags and wires the relay
// packages together (relay/link, relay/policy, relay/store, relay/server).
// All relay logic lives in those packages.
//
// Files in the data directory:
//
//	relay.key   the static Noise private key, mode 0600, created once
//	relay.addr  the relay address, rewritten at every start
//	relay.db    the bbolt store (not with --store postgres://…)
//
// With --store postgres://… the items live in PostgreSQL instead
// (relay/store/pgstore), and several relay processes can share that
// database (docs/relay-postgres.md).
package relaycmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/server"
	"github.com/parley-im/parley/relay/store"
	"github.com/parley-im/parley/relay/store/pgstore"
)

// File names inside the data directory.
const (
	KeyFile   = "relay.key"
	AddrFile  = "relay.addr"
	StoreFile = "relay.db"
)

// ShutdownTimeout bounds the graceful shutdown after SIGINT or SIGTERM.
const ShutdownTimeout = 30 * time.Second

// StoreOpenTimeout bounds connecting to PostgreSQL and migrating its schema
// at start.
const StoreOpenTimeout = time.Minute

// Usage is the relay's help text.
const Usage = `usage: parley-bridge --relay --listen ADDR --data DIR [flags]

Run a Parley relay: an oblivious store-and-forward mailbox server. Clients
reach it over Noise NK at the address it prints:

  relay address: parley-relay://<key>@<host>:<port>

The address is also written to DIR/relay.addr. The relay's key is created in
DIR/relay.key (mode 0600) on first start and reused, so the address survives
restarts. SIGINT or SIGTERM stops it gracefully.

Examples:

  # a public relay on port 7777
  parley-bridge --relay --listen 0.0.0.0:7777 --public-host relay.example.org --data /var/lib/parley-relay

  # a private relay on loopback with a health endpoint
  parley-bridge --relay --listen 127.0.0.1:7777 --data ./relay \
      --access-key-file ./relay/access.key --health 127.0.0.1:7778
  curl http://127.0.0.1:7778/health

  # one of several relay processes sharing a PostgreSQL database (the
  # password, if any, goes in PGPASSWORD or a PGPASSFILE, never in the URL)
  parley-bridge --relay --listen 0.0.0.0:7777 --public-host relay.example.org \
      --data /var/lib/parley-relay --store 'postgres://parley@db.internal/parley?sslmode=verify-full'

Flags:
`

// options are the parsed flags.
type options struct {
	listen, data, publicHost, accessKeyFile, health string
	storeURL                                        string
	powBits                                         uint
	maxBlob                                         int
	ttl                                             time.Duration
	quotaPerToken                                   int
	quotaTotal                                      int64
	maxConns                                        int
}

// usageError is an error in the command line: exit status 2.
type usageError struct{ msg, hint string }

// Error returns the message without the hint.
func (e *usageError) Error() string { return e.msg }

// hinted is a runtime error with a hint for the user.
type hinted struct {
	err  error
	hint string
}

// Error returns the error without the hint.
func (e *hinted) Error() string { return e.err.Error() }

// Unwrap returns the error.
func (e *hinted) Unwrap() error { return e.err }

func withHint(err error, hint string) error { return &hinted{err: err, hint: hint} }

// Run runs the relay with the command-line args (the program name
// excluded). It returns the exit status: 0 after a graceful stop (ctx
// done), 1 for a runtime error, 2 for a usage error.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		report(stderr, err)
		return 2
	}
	if err := run(ctx, o, stdout, stderr); err != nil {
		report(stderr, err)
		var ue *usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

// report prints err as "parley-bridge: error: …" and its hint, if any.
func report(w io.Writer, err error) {
	fmt.Fprintf(w, "parley-bridge: error: %v\n", err)
	var ue *usageError
	var h *hinted
	switch {
	case errors.As(err, &ue) && ue.hint != "":
		fmt.Fprintf(w, "parley-bridge: hint: %s\n", ue.hint)
	case errors.As(err, &h):
		fmt.Fprintf(w, "parley-bridge: hint: %s\n", h.hint)
	}
}

// parse parses and checks the flags. For --help it prints the usage to
// stdout and returns flag.ErrHelp.
func parse(args []string, stdout io.Writer) (*options, error) {
	var o options
	fs := flag.NewFlagSet("parley-bridge", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by Run, once
	fs.Usage = func() {}
	def := policy.Default()
	fs.Bool("relay", false, "run a relay (required for the flags below)")
	fs.StringVar(&o.listen, "listen", "", "TCP `address` to listen on, such as 127.0.0.1:7777 (:0 picks a free port)")
	fs.StringVar(&o.data, "data", "", "data `directory` for the key, the address file and the store (created 0700)")
	fs.StringVar(&o.publicHost, "public-host", "", "`host` name or IP put in the relay address (default: the listen host)")
	fs.UintVar(&o.powBits, "pow-bits", uint(def.PowBits), fmt.Sprintf("proof-of-work difficulty in `bits`, 1..%d", pow.MaxBits))
	fs.StringVar(&o.accessKeyFile, "access-key-file", "", "make a private relay: clients must present the key in this `file` (created 0600 if missing)")
	fs.StringVar(&o.health, "health", "", "serve GET /health on this loopback `address`, such as 127.0.0.1:7778")
	fs.StringVar(&o.storeURL, "store", "", "keep items in PostgreSQL at this postgres:// `URL`, shared with other relay processes (default: the bbolt file DIR/"+StoreFile+")")
	fs.IntVar(&o.maxBlob, "max-blob", def.MaxBlob, fmt.Sprintf("largest blob stored, in `bytes`, 1..%d", wire.MaxBlobSize))
	fs.DurationVar(&o.ttl, "ttl", def.TTL, fmt.Sprintf("how long an unacked item is kept (`duration`, whole seconds, at most %v)", policy.MaxTTL))
	fs.IntVar(&o.quotaPerToken, "quota-per-token", def.QuotaPerToken, "most items one mailbox token may hold (`n`)")
	fs.Int64Var(&o.quotaTotal, "quota-total", def.QuotaTotal, "most blob `bytes` the relay stores")
	fs.IntVar(&o.maxConns, "max-conns", def.MaxConns, "most simultaneous client connections (`n`)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, Usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, &usageError{msg: err.Error(), hint: "run parley-bridge --relay --help for the flags"}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0)), hint: "flags start with --; run parley-bridge --relay --help"}
	}
	switch {
	case o.listen == "":
		return nil, &usageError{msg: "--listen is required", hint: "for example --listen 127.0.0.1:7777"}
	case o.data == "":
		return nil, &usageError{msg: "--data is required", hint: "for example --data ./relay (created if missing)"}
	case o.powBits < 1 || o.powBits > pow.MaxBits:
		return nil, &usageError{msg: fmt.Sprintf("--pow-bits %d is out of range 1..%d", o.powBits, pow.MaxBits), hint: fmt.Sprintf("the default is %d", pow.DefaultBits)}
	case o.maxBlob < 1 || o.maxBlob > wire.MaxBlobSize:
		return nil, &usageError{msg: fmt.Sprintf("--max-blob %d is out of range 1..%d", o.maxBlob, wire.MaxBlobSize)}
	case o.ttl < time.Second || o.ttl > policy.MaxTTL || o.ttl%time.Second != 0:
		return nil, &usageError{msg: fmt.Sprintf("--ttl %v must be whole seconds between 1s and %v", o.ttl, policy.MaxTTL), hint: "for example --ttl 168h"}
	case o.quotaPerToken < 1 || o.quotaPerToken > math.MaxInt32:
		return nil, &usageError{msg: fmt.Sprintf("--quota-per-token %d is out of range", o.quotaPerToken)}
	case o.quotaTotal < int64(o.maxBlob):
		return nil, &usageError{msg: fmt.Sprintf("--quota-total %d is below --max-blob %d", o.quotaTotal, o.maxBlob)}
	case o.maxConns < 1 || o.maxConns > policy.MaxMaxConns:
		return nil, &usageError{msg: fmt.Sprintf("--max-conns %d is out of range 1..%d", o.maxConns, policy.MaxMaxConns)}
	}
	if o.health != "" {
		if err := checkLoopback(o.health); err != nil {
			return nil, err
		}
	}
	if o.storeURL != "" {
		if err := checkStoreURL(o.storeURL); err != nil {
			return nil, err
		}
	}
	return &o, nil
}

// checkStoreURL accepts a postgres:// or postgresql:// URL without a
// password (a command line is visible to every local user). The URL is not
// echoed: it may hold other secrets.
func checkStoreURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return &usageError{
			msg:  "--store must be a postgres:// or postgresql:// URL",
			hint: "for example --store 'postgres://parley@db.internal/parley?sslmode=verify-full'; omit --store for the bbolt file",
		}
	}
	if _, has := u.User.Password(); has || u.Query().Has("password") {
		return &usageError{
			msg:  "--store holds a password, which every local user could read from the command line",
			hint: "put it in the PGPASSWORD environment variable or a PGPASSFILE (mode 0600) instead",
		}
	}
	return nil
}

// openStore opens the store: the bbolt file in the data directory, or
// PostgreSQL.
func openStore(ctx context.Context, o *options, p *policy.Policy, log *slog.Logger) (store.Store, error) {
	if o.storeURL != "" {
		octx, cancel := context.WithTimeout(ctx, StoreOpenTimeout)
		defer cancel()
		st, err := pgstore.Open(octx, o.storeURL, p.StoreLimits(), pgstore.Options{Logger: log})
		if errors.Is(err, pgstore.ErrSchemaTooNew) {
			return nil, withHint(err, "a newer relay migrated this database: run that version")
		}
		if err != nil {
			return nil, withHint(fmt.Errorf("open postgres store: %w", redact(err, o.storeURL)), "is the database up and reachable, and may this user create tables in the schema? see docs/relay-postgres.md")
		}
		return st, nil
	}
	st, err := store.OpenBolt(filepath.Join(o.data, StoreFile), p.StoreLimits())
	if errors.Is(err, store.ErrLocked) {
		return nil, withHint(fmt.Errorf("data directory %s is in use by another relay", o.data), "stop the other relay or use another --data")
	}
	if err != nil {
		return nil, err
	}
	// A new store file, and a new data directory, must survive a power
	// loss before the first receipt does.
	syncDir(o.data)
	syncDir(filepath.Dir(filepath.Clean(o.data)))
	return st, nil
}

// redact makes sure the error does not repeat the store URL.
func redact(err error, storeURL string) error {
	if strings.Contains(err.Error(), storeURL) {
		return errors.New(strings.ReplaceAll(err.Error(), storeURL, "<--store URL>"))
	}
	return err
}

// checkLoopback accepts only a loopback IP literal with a port.
func checkLoopback(hostPort string) error {
	ap, err := netip.ParseAddrPort(hostPort)
	if err != nil || !ap.Addr().IsLoopback() || ap.Addr().Zone() != "" {
		return &usageError{
			msg:  fmt.Sprintf("--health %q is not a loopback address", hostPort),
			hint: "the health endpoint binds to loopback only, for example --health 127.0.0.1:7778 or --health [::1]:7778",
		}
	}
	return nil
}

func run(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return withHint(fmt.Errorf("create data directory: %w", err), "check --data and its permissions")
	}
	var accessKey *proto.AccessKey
	if o.accessKeyFile != "" {
		var created bool
		var err error
		accessKey, created, err = loadOrCreate(o.accessKeyFile, func() ([]byte, error) {
			k, err := proto.GenerateAccessKey(nil)
			if err != nil {
				return nil, err
			}
			return k.MarshalText()
		}, proto.ParseAccessKey)
		if err != nil {
			return err
		}
		if created {
			fmt.Fprintf(stderr, "parley-bridge: created access key in %s: give its content to this relay's users\n", o.accessKeyFile)
		}
	}
	p, err := policy.New(policy.Config{
		PowBits:       uint8(o.powBits),
		MaxBlob:       o.maxBlob,
		TTL:           o.ttl,
		QuotaPerToken: o.quotaPerToken,
		QuotaTotal:    o.quotaTotal,
		MaxConns:      o.maxConns,
		AccessKey:     accessKey,
	})
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	// The store first: the bbolt file lock keeps a second relay out of
	// DIR before anything in DIR is touched.
	st, err := openStore(ctx, o, p, log)
	if err != nil {
		return err
	}
	defer st.Close()
	key, _, err := loadOrCreate(filepath.Join(o.data, KeyFile), func() ([]byte, error) {
		k, err := link.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		return k.MarshalText()
	}, link.ParsePrivateKey)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return withHint(fmt.Errorf("listen: %w", err), "is another process using the port? --listen 127.0.0.1:0 picks a free one")
	}
	defer ln.Close()
	address, err := relayAddress(key, ln.Addr().(*net.TCPAddr), o.publicHost)
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Key: key, Store: st, Policy: p, Logger: log})
	if err != nil {
		return err
	}
	var health *http.Server
	if o.health != "" {
		hln, err := net.Listen("tcp", o.health)
		if err != nil {
			return withHint(fmt.Errorf("health listen: %w", err), "pick another port for --health")
		}
		if ta, ok := hln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
			hln.Close()
			return &usageError{msg: "health endpoint did not bind to loopback"}
		}
		health = &http.Server{
			Handler:           srv.HealthHandler(),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       30 * time.Second,
			MaxHeaderBytes:    4 << 10,
		}
		go health.Serve(hln)
		fmt.Fprintf(stdout, "health: http://%s/health\n", hln.Addr())
	}
	if err := writeAddress(filepath.Join(o.data, AddrFile), address.String()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "relay address: %s\n", address)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("relay: stopping: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if health != nil {
		health.Shutdown(sctx)
	}
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("relay: shutdown timed out; closed connections", "err", err)
	}
	<-served
	if err := st.Close(); err != nil {
		return err
	}
	log.Info("relay: stopped")
	return nil
}

// relayAddress builds the address from the bound listener, or from
// --public-host when given.
func relayAddress(key *link.PrivateKey, bound *net.TCPAddr, publicHost string) (addr.Address, error) {
	host := publicHost
	if host == "" {
		ip, ok := netip.AddrFromSlice(bound.IP)
		if !ok || ip.Unmap().IsUnspecified() {
			return addr.Address{}, &usageError{
				msg:  "the relay listens on all interfaces, so its address needs a host name",
				hint: "add --public-host with the name or IP clients use, for example --public-host relay.example.org",
			}
		}
		host = ip.Unmap().String()
	}
	a, err := addr.New(key.Public(), host, uint16(bound.Port))
	if err != nil {
		return addr.Address{}, &usageError{msg: fmt.Sprintf("--public-host %q: %v", host, err), hint: "use a lowercase DNS name, an IPv4 address or an IPv6 address"}
	}
	return a, nil
}

// loadOrCreate reads the secret file at path and parses it, or, if it does
// not exist, creates it with make's content: written to a temporary file
// created O_EXCL with mode 0600, synced, then hard-linked into place, so
// the file appears whole or not at all and an existing one is never
// replaced. An existing file readable by others is refused.
func loadOrCreate[T any](path string, make func() ([]byte, error), parse func([]byte) (T, error)) (T, bool, error) {
	var zero T
	fi, err := os.Stat(path)
	if err == nil {
		if fi.Mode().Perm()&0o077 != 0 {
			return zero, false, withHint(fmt.Errorf("%s is readable by other users (mode %v)", path, fi.Mode().Perm()), "chmod 600 "+path)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return zero, false, fmt.Errorf("read %s: %w", path, err)
		}
		v, err := parse(b)
		if err != nil {
			return zero, false, withHint(fmt.Errorf("%s: %w", path, err), "restore the file from a backup; deleting it makes a new key (and for relay.key a new relay address)")
		}
		return v, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return zero, false, fmt.Errorf("stat %s: %w", path, err)
	}
	content, err := make()
	if err != nil {
		return zero, false, err
	}
	v, err := parse(content)
	if err != nil {
		return zero, false, err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return zero, false, withHint(fmt.Errorf("create %s: %w", tmp, err), "check the directory's permissions; remove a stale "+filepath.Base(tmp))
	}
	defer os.Remove(tmp)
	_, werr := f.Write(content)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return zero, false, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreate(path, make, parse) // another process won the race
		}
		return zero, false, fmt.Errorf("create %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return v, true, nil
}

// writeAddress replaces the address file atomically (temporary file,
// rename), mode 0644: the address is public.
func writeAddress(path, address string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(address+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a new directory entry durable; errors are ignored (not
// every system can sync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
