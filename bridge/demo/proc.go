package demo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/parley-im/parley/bridge/hostcmd"
)

// Bridge is a parley-bridge host process driven over its stdin/stdout.
type Bridge struct {
	*Client
	Name    string
	LogPath string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	waited  chan struct{}
	waitErr error
}

// BridgeConfig says how to start a host process.
type BridgeConfig struct {
	Binary         string // path of parley-bridge
	Home           string // PARLEY_HOME
	Profile        string
	PassphraseFile string
	PollInterval   time.Duration
	LogPath        string // stderr goes here (appended)
}

// StartBridge starts a host as the browser does (with the extension's
// origin as argument) and returns a client to it.
func StartBridge(name string, cfg BridgeConfig) (*Bridge, error) {
	args := []string{"--profile", cfg.Profile}
	if cfg.PassphraseFile != "" {
		args = append(args, "--passphrase-file", cfg.PassphraseFile)
	}
	if cfg.PollInterval > 0 {
		args = append(args, "--poll-interval", cfg.PollInterval.String())
	}
	args = append(args, hostcmd.Origin())
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Env = append(os.Environ(), "PARLEY_HOME="+cfg.Home)
	logf, err := os.OpenFile(cfg.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	b := &Bridge{Client: NewClient(stdin, stdout), Name: name, LogPath: cfg.LogPath, cmd: cmd, stdin: stdin, waited: make(chan struct{})}
	go func() {
		<-b.Client.Done() // read everything before Wait closes the pipe
		b.waitErr = cmd.Wait()
		logf.Close()
		close(b.waited)
	}()
	return b, nil
}

// Pid returns the process id.
func (b *Bridge) Pid() int { return b.cmd.Process.Pid }

// Stop closes the host's stdin (as the browser does when the port closes)
// and waits for it to exit; it kills it after timeout.
func (b *Bridge) Stop(timeout time.Duration) error {
	b.stdin.Close()
	select {
	case <-b.waited:
		return b.waitErr
	case <-time.After(timeout):
		b.cmd.Process.Kill()
		<-b.waited
		return fmt.Errorf("demo: %s did not exit within %v of stdin closing", b.Name, timeout)
	}
}

// Kill kills the host with SIGKILL (a crash) and waits for it.
func (b *Bridge) Kill() {
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.waited
}

// Relay is a parley-bridge --relay process.
type Relay struct {
	Address string
	Listen  string
	DataDir string
	cmd     *exec.Cmd
	waited  chan struct{}
}

// StartRelay starts parley-bridge --relay on listen (127.0.0.1:0 picks a
// port) and waits for it to print its address.
func StartRelay(ctx context.Context, binary, dataDir, listen string, powBits int, logPath string) (*Relay, error) {
	cmd := exec.Command(binary, "--relay", "--listen", listen, "--data", dataDir, "--pow-bits", fmt.Sprint(powBits))
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	r := &Relay{DataDir: dataDir, cmd: cmd, waited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "relay address: "); ok {
				select {
				case found <- a:
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
	}()
	go func() { cmd.Wait(); logf.Close(); close(r.waited) }()
	select {
	case a := <-found:
		r.Address = a
		i := strings.LastIndex(a, "@")
		r.Listen = a[i+1:]
		return r, nil
	case <-r.waited:
		return nil, errors.New("demo: the relay exited at start (see " + logPath + ")")
	case <-time.After(30 * time.Second):
		r.Stop()
		return nil, errors.New("demo: the relay did not print its address")
	case <-ctx.Done():
		r.Stop()
		return nil, ctx.Err()
	}
}

// Stop stops the relay with SIGTERM (graceful) and waits.
func (r *Relay) Stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.waited:
	case <-time.After(30 * time.Second):
		r.cmd.Process.Kill()
		<-r.waited
	}
}

// StoreFile is the relay's bbolt file.
func (r *Relay) StoreFile() string { return filepath.Join(r.DataDir, "relay.db") }
