// Package pgtest starts throwaway PostgreSQL clusters for tests of the
// relay's PostgreSQL store (docs/relay-postgres.md, docs/PROTOCOL.md §14
// "PostgreSQL store").
//
// A cluster is Debian's PostgreSQL (package postgresql; .ci/run installs
// it): initdb makes a data directory in a private temporary directory and
// pg_ctl starts the server listening on a Unix socket only (no TCP), in a
// socket directory of mode 0700, with trust authentication for the
// cluster's one user. initdb refuses to run as root, so when the test runs
// as root, initdb, pg_ctl and the server run as the "postgres" system user
// the Debian package creates (the temporary directory is chowned to it);
// root still reaches the socket. fsync and synchronous_commit stay on: a
// test that kills a relay or the database checks real durability.
//
// Start gives a test its own cluster, stopped in t.Cleanup. Shared gives
// every test of a package one cluster, which Main stops after the tests;
// NewSchema then isolates each test in its own schema.
//
// When no PostgreSQL is installed, Start fails the test with a hint (fail
// closed: a store test never passes by not running). Setting
// PARLEY_SKIP_POSTGRES=1 skips instead.
package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// User is the cluster's superuser (trust authentication on the private
// socket).
const User = "parley"

// Port names the socket file (.s.PGSQL.<Port>); no TCP port is opened.
const Port = 5432

// startTimeout bounds pg_ctl start and stop.
const startTimeout = 60 * time.Second

// SkipEnv, set to 1, makes a missing PostgreSQL a skip instead of a
// failure.
const SkipEnv = "PARLEY_SKIP_POSTGRES"

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	dir  string // private temporary directory
	data string // data directory
	sock string // socket directory
	log  string // server log
	bin  string // directory of initdb, pg_ctl
	cred *syscall.Credential

	mu      sync.Mutex
	running bool
	schemas atomic.Uint64
}

// findBin returns the directory holding initdb and pg_ctl: the newest
// /usr/lib/postgresql/<version>/bin (Debian), else initdb on PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		dir := filepath.Dir(d)
		if _, err := os.Stat(filepath.Join(dir, "pg_ctl")); err == nil {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("pgtest: PostgreSQL not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH)")
}

// version extracts the major version from /usr/lib/postgresql/<v>/bin/initdb.
func version(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// Start initialises and starts a cluster of the test's own, stopped and
// removed in t.Cleanup.
func Start(tb testing.TB) *Cluster {
	tb.Helper()
	c, err := start()
	if err != nil {
		if os.Getenv(SkipEnv) == "1" {
			tb.Skipf("%v (%s=1: skipped)", err, SkipEnv)
		}
		tb.Fatalf("%v\nhint: apt-get install postgresql (.ci/run does), or set %s=1 to skip", err, SkipEnv)
	}
	tb.Cleanup(c.remove)
	return c
}

// shared is the package-wide cluster Shared starts and Main stops.
var shared struct {
	sync.Mutex
	main bool
	c    *Cluster
	err  error
}

// Main runs a package's tests (call it from TestMain) and then stops the
// cluster Shared started, if any.
func Main(m *testing.M) int {
	shared.Lock()
	shared.main = true
	shared.Unlock()
	code := m.Run()
	shared.Lock()
	defer shared.Unlock()
	if shared.c != nil {
		shared.c.remove()
	}
	return code
}

// Shared returns the package's cluster, starting it on first use. The
// package's TestMain must call Main.
func Shared(tb testing.TB) *Cluster {
	tb.Helper()
	shared.Lock()
	defer shared.Unlock()
	if !shared.main {
		tb.Fatal("pgtest: Shared needs TestMain to call pgtest.Main")
	}
	if shared.c == nil && shared.err == nil {
		shared.c, shared.err = start()
	}
	if shared.err != nil {
		if os.Getenv(SkipEnv) == "1" {
			tb.Skipf("%v (%s=1: skipped)", shared.err, SkipEnv)
		}
		tb.Fatalf("%v\nhint: apt-get install postgresql (.ci/run does), or set %s=1 to skip", shared.err, SkipEnv)
	}
	return shared.c
}

func start() (*Cluster, error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "parley-pg-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Cluster{
		dir: dir, data: filepath.Join(dir, "data"), sock: filepath.Join(dir, "sock"),
		log: filepath.Join(dir, "server.log"), bin: bin,
	}
	if err := c.init(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.Start(); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

// init runs initdb and writes the server settings.
func (c *Cluster) init() error {
	if err := os.Mkdir(c.sock, 0o700); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("pgtest: running as root and no postgres user to run the server as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}
		for _, p := range []string{c.dir, c.sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				return fmt.Errorf("pgtest: %w", err)
			}
		}
	}
	if _, err := c.run("initdb", "-D", c.data, "-U", User, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-instructions"); err != nil {
		return err
	}
	// Unix socket only, in the private directory; durable commits (the
	// defaults, stated so no one turns them off here by accident).
	conf := fmt.Sprintf(`
listen_addresses = ''
unix_socket_directories = '%s'
unix_socket_permissions = 0700
port = %d
max_connections = 300
shared_buffers = 256MB
fsync = on
synchronous_commit = on
full_page_writes = on
logging_collector = off
log_min_messages = warning
deadlock_timeout = 200ms
`, c.sock, Port)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	_, werr := f.WriteString(conf)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// run runs a PostgreSQL program from the cluster's bin directory, as the
// cluster's user.
func (c *Cluster) run(prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("pgtest: %s: %w\n%s%s", prog, err, out.String(), c.logTail())
	}
	return out.String(), nil
}

// logTail returns the end of the server log, for error messages.
func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.log)
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "server log:\n" + string(b)
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (c *Cluster) Start() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		return nil
	}
	if _, err := c.run("pg_ctl", "start", "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "-D", c.data, "-l", c.log); err != nil {
		return err
	}
	c.running = true
	return nil
}

// Stop stops the server. Mode "fast" disconnects clients and shuts down
// cleanly; "immediate" aborts every server process without a checkpoint,
// as a crash would (the next start replays the WAL).
func (c *Cluster) Stop(mode string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.running {
		return nil
	}
	if _, err := c.run("pg_ctl", "stop", "-w", "-t", strconv.Itoa(int(startTimeout/time.Second)), "-m", mode, "-D", c.data); err != nil {
		return err
	}
	c.running = false
	return nil
}

// remove stops the server at once and deletes the cluster.
func (c *Cluster) remove() {
	c.Stop("immediate")
	os.RemoveAll(c.dir)
}

// PID returns the process id of the cluster's postmaster, or 0 when it is
// not running (for tests that measure the server's CPU time).
func (c *Cluster) PID() int {
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0
	}
	return pid
}

// URL returns the connection URL of database db (the cluster has
// "postgres") over the Unix socket, with extra query parameters appended
// (such as "search_path=x").
func (c *Cluster) URL(db string, params ...string) string {
	u := fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d", User, db, c.sock, Port)
	for _, p := range params {
		u += "&" + p
	}
	return u
}

// NewSchema creates a fresh schema and returns a URL whose search_path
// selects it: an empty store for one test, on a shared cluster.
func (c *Cluster) NewSchema(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("t%d_%d", os.Getpid(), c.schemas.Add(1))
	c.Exec(tb, "CREATE SCHEMA "+name)
	return c.URL("postgres", "search_path="+name)
}

// Exec runs sql (no arguments) on database "postgres" as the superuser.
func (c *Cluster) Exec(tb testing.TB, sql string) {
	tb.Helper()
	if err := c.ExecURL(c.URL("postgres"), sql); err != nil {
		tb.Fatal(err)
	}
}

// ExecURL runs sql (no arguments) on a new connection to url.
func (c *Cluster) ExecURL(url, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("pgtest: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %s: %w", strings.Fields(sql)[0], err)
	}
	return nil
}
