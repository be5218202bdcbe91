package relaycmd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/client"
	"github.com/parley-im/parley/relay/proto"
	"github.com/parley-im/parley/relay/store"
	"github.com/parley-im/parley/relay/store/pgtest"
)

// binary is the parley-bridge built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "parley-bridge-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "parley-bridge")
	out, err := exec.Command("go", "build", "-o", binary, "github.com/parley-im/parley/bridge").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := pgtest.Main(m) // stops the PostgreSQL cluster the tests share
	os.RemoveAll(dir)
	os.Exit(code)
}

var bg = context.Background()

// runBinary runs the binary to completion and returns its exit status,
// stdout and stderr.
func runBinary(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

// proc is a running relay process.
type proc struct {
	cmd     *exec.Cmd
	addr    addr.Address
	health  string
	stderr  *bytes.Buffer
	exited  chan struct{}
	exitErr error
}

// start runs the relay and waits for its address line.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	p, err := tryStart(args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.kill() })
	return p
}

func tryStart(args ...string) (*proc, error) {
	cmd := exec.Command(binary, append([]string{"--relay"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stderr: new(bytes.Buffer), exited: make(chan struct{})}
	cmd.Stderr = syncWriter{p.stderr}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() { p.exitErr = cmd.Wait(); close(p.exited) }()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				<-p.exited
				return nil, fmt.Errorf("relay exited before printing its address: %v\n%s", p.exitErr, p.stderr)
			}
			if h, ok := strings.CutPrefix(l, "health: "); ok {
				p.health = h
			}
			if a, ok := strings.CutPrefix(l, "relay address: "); ok {
				p.addr, err = addr.Parse(a)
				if err != nil {
					p.kill()
					return nil, fmt.Errorf("printed address %q: %v", a, err)
				}
				go func() {
					for range lines {
					}
				}()
				return p, nil
			}
		case <-timeout:
			p.kill()
			return nil, errors.New("relay did not print its address")
		}
	}
}

func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.exited
}

// stop sends SIGTERM and returns the exit status.
func (p *proc) stop(t testing.TB) int {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("relay did not stop on SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

type syncWriter struct{ b *bytes.Buffer }

func (w syncWriter) Write(p []byte) (int, error) { return w.b.Write(p) }

func (p *proc) client(t testing.TB, key *proto.AccessKey) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Address: p.addr, AccessKey: key, Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func tok(n byte) address.Token {
	var t address.Token
	t[0], t[31] = n, 0x99
	return t
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l := []string{"--relay", "--listen", "127.0.0.1:0", "--data", dir}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "no mode given"},
		{[]string{"--relay"}, "--listen is required"},
		{[]string{"--relay", "--listen", "127.0.0.1:0"}, "--data is required"},
		{append(l, "--pow-bits", "0"), "--pow-bits 0 is out of range"},
		{append(l, "--pow-bits", "33"), "--pow-bits 33 is out of range"},
		{append(l, "--pow-bits", "x"), "invalid value"},
		{append(l, "--max-blob", "0"), "--max-blob 0"},
		{append(l, "--max-blob", "66561"), "--max-blob 66561"},
		{append(l, "--ttl", "1500ms"), "--ttl 1.5s must be whole seconds"},
		{append(l, "--ttl", "2400h"), "must be whole seconds between"},
		{append(l, "--quota-per-token", "0"), "--quota-per-token 0"},
		{append(l, "--quota-total", "10"), "--quota-total 10 is below --max-blob"},
		{append(l, "--max-conns", "0"), "--max-conns 0"},
		{append(l, "--bogus"), "flag provided but not defined: -bogus"},
		{append(l, "extra"), `unexpected argument "extra"`},
		{append(l, "--health", "0.0.0.0:7778"), "is not a loopback address"},
		{append(l, "--health", "192.0.2.1:7778"), "is not a loopback address"},
		{append(l, "--health", "localhost:7778"), "is not a loopback address"},
		{append(l, "--health", "127.0.0.1"), "is not a loopback address"},
		{[]string{"--relay", "--listen", "0.0.0.0:0", "--data", dir}, "needs a host name"},
		{[]string{"--relay", "--listen", "127.0.0.1:0", "--data", dir, "--public-host", "Bad_Host"}, "--public-host"},
	}
	for _, tc := range tests {
		code, stdout, stderr := runBinary(t, tc.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", tc.args, code, stderr)
		}
		if !strings.HasPrefix(stderr, "parley-bridge: error: ") || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: stderr %q, want %q", tc.args, stderr, tc.want)
		}
		if !strings.Contains(stderr, "\nparley-bridge: hint: ") && tc.want != "--max-blob 0" && tc.want != "--max-blob 66561" &&
			tc.want != "--quota-per-token 0" && tc.want != "--quota-total 10 is below --max-blob" && tc.want != "--max-conns 0" {
			t.Errorf("%v: no hint in %q", tc.args, stderr)
		}
		if strings.Contains(stdout, "relay address") {
			t.Errorf("%v: started anyway", tc.args)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--relay", "--help"}, {"--relay", "-h"}} {
		code, stdout, _ := runBinary(t, args...)
		if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "-quota-per-token") {
			t.Errorf("%v: exit %d, stdout %q", args, code, stdout)
		}
	}
	if code, stdout, _ := runBinary(t, "--help"); code != 0 || !strings.Contains(stdout, "--relay") {
		t.Errorf("--help: %d %q", code, stdout)
	}
	if code, stdout, _ := runBinary(t, "--version"); code != 0 || !strings.HasPrefix(stdout, "parley-bridge ") {
		t.Errorf("--version: %d %q", code, stdout)
	}
}

// TestRunStopRestart runs the relay as a user would: it prints its address,
// writes the address file and a 0600 key, serves, reports health, stops on
// SIGTERM with status 0, and keeps its address and items across a restart.
func TestRunStopRestart(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "relay")
	p := start(t, "--listen", "127.0.0.1:0", "--data", dir, "--health", "127.0.0.1:0", "--pow-bits", "1")
	b, err := os.ReadFile(filepath.Join(dir, "relay.addr"))
	if err != nil || string(b) != p.addr.String()+"\n" {
		t.Fatalf("relay.addr = %q, %v; printed %s", b, err, p.addr)
	}
	for name, want := range map[string]os.FileMode{"relay.key": 0o600, "relay.db": 0o600, ".": 0o700 | os.ModeDir} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v (%v)", name, fi.Mode(), want, err)
		}
	}
	key, _ := os.ReadFile(filepath.Join(dir, "relay.key"))
	if !strings.HasPrefix(string(key), "parley-relay-private-key:") {
		t.Fatalf("key file %q", key[:10])
	}
	c := p.client(t, nil)
	rc, err := c.Deposit(bg, tok(1), []byte("kept"))
	if err != nil {
		t.Fatal(err)
	}
	// Health: aggregate JSON only.
	resp, err := http.Get("http://" + strings.TrimSuffix(strings.TrimPrefix(p.health, "http://"), "/health") + "/health")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st map[string]any
	if err := json.Unmarshal(body, &st); err != nil || st["deposits"] != float64(1) || st["items"] != float64(1) {
		t.Fatalf("health %d %s", resp.StatusCode, body)
	}
	// A second relay on the same directory is refused.
	code, _, stderr := runBinary(t, "--relay", "--listen", "127.0.0.1:0", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "in use by another relay") || !strings.Contains(stderr, "hint:") {
		t.Fatalf("second relay: %d %q", code, stderr)
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit %d after SIGTERM\n%s", code, p.stderr)
	}
	// Restart: same key, so the same address but for the port.
	p2 := start(t, "--listen", "127.0.0.1:0", "--data", dir, "--pow-bits", "1")
	if p2.addr.Key != p.addr.Key {
		t.Fatal("restart changed the relay key")
	}
	key2, _ := os.ReadFile(filepath.Join(dir, "relay.key"))
	if !bytes.Equal(key, key2) {
		t.Fatal("key file rewritten")
	}
	items, err := p2.client(t, nil).Fetch(bg, []address.Token{tok(1)}, 10)
	if err != nil || len(items.Items) != 1 || items.Items[0].ID != rc.ID {
		t.Fatalf("after restart: %+v %v", items, err)
	}
	if code := p2.stop(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	b, _ = os.ReadFile(filepath.Join(dir, "relay.addr"))
	if string(b) != p2.addr.String()+"\n" {
		t.Fatal("address file not updated")
	}
}

func TestSIGINT(t *testing.T) {
	t.Parallel()
	p := start(t, "--listen", "127.0.0.1:0", "--data", t.TempDir())
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("no exit on SIGINT")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestKeyFileProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := start(t, "--listen", "127.0.0.1:0", "--data", dir)
	p.stop(t)
	keyPath := filepath.Join(dir, "relay.key")
	os.Chmod(keyPath, 0o644)
	code, _, stderr := runBinary(t, "--relay", "--listen", "127.0.0.1:0", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "readable by other users") || !strings.Contains(stderr, "hint: chmod 600") {
		t.Fatalf("world-readable key: %d %q", code, stderr)
	}
	os.Chmod(keyPath, 0o600)
	os.WriteFile(keyPath, []byte("parley-relay-private-key:garbage\n"), 0o600)
	code, _, stderr = runBinary(t, "--relay", "--listen", "127.0.0.1:0", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "invalid relay private key") || !strings.Contains(stderr, "hint:") {
		t.Fatalf("corrupt key: %d %q", code, stderr)
	}
	if b, _ := os.ReadFile(keyPath); string(b) != "parley-relay-private-key:garbage\n" {
		t.Fatal("corrupt key file was overwritten")
	}
}

func TestPrivateRelay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "access.key")
	p := start(t, "--listen", "127.0.0.1:0", "--data", dir, "--access-key-file", keyFile, "--pow-bits", "1")
	fi, err := os.Stat(keyFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("access key file: %v %v", fi, err)
	}
	text, _ := os.ReadFile(keyFile)
	key, err := proto.ParseAccessKey(text)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.client(t, nil).Deposit(bg, tok(1), []byte("x")); !errors.Is(err, proto.CodeAccessDenied) {
		t.Fatalf("without key: %v", err)
	}
	other, _ := proto.GenerateAccessKey(nil)
	if _, err := p.client(t, other).Deposit(bg, tok(1), []byte("x")); !errors.Is(err, proto.CodeAccessDenied) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := p.client(t, key).Deposit(bg, tok(1), []byte("x")); err != nil {
		t.Fatalf("right key: %v", err)
	}
	p.stop(t)
	p2 := start(t, "--listen", "127.0.0.1:0", "--data", dir, "--access-key-file", keyFile, "--pow-bits", "1")
	if _, err := p2.client(t, key).Ping(bg); err != nil {
		t.Fatalf("key not reused after restart: %v", err)
	}
	if b, _ := os.ReadFile(keyFile); !bytes.Equal(b, text) {
		t.Fatal("access key rewritten")
	}
}

// openStore opens a stopped relay's store for inspection.
func openStore(t testing.TB, dir string) *store.Bolt {
	t.Helper()
	s, err := store.OpenBolt(filepath.Join(dir, "relay.db"), store.Limits{TTL: time.Hour, MaxItemsPerToken: 1 << 30, MaxTotalBytes: 1 << 40, DedupeWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
