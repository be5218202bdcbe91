package profile

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

type dataDirCase struct {
	name string
	env  map[string]string
	want string // "" means an error is expected
}

func TestDataDir(t *testing.T) {
	t.Parallel()
	tests := []dataDirCase{
		{"home override", map[string]string{EnvHome: "/srv/parley", "XDG_DATA_HOME": "/x", "HOME": "/h", "AppData": `C:\A`}, "/srv/parley"},
		{"override cleaned", map[string]string{EnvHome: "/srv/./parley/"}, "/srv/parley"},
	}
	switch runtime.GOOS {
	case "windows":
		tests = append(tests,
			dataDirCase{"appdata", map[string]string{"AppData": `C:\Users\a\AppData\Roaming`}, `C:\Users\a\AppData\Roaming\Parley`},
			dataDirCase{"no appdata", map[string]string{}, ""},
		)
	case "darwin":
		tests = append(tests,
			dataDirCase{"home", map[string]string{"HOME": "/Users/a", "XDG_DATA_HOME": "/x"}, "/Users/a/Library/Application Support/Parley"},
			dataDirCase{"no home", map[string]string{}, ""},
		)
	default:
		tests = append(tests,
			dataDirCase{"xdg", map[string]string{"XDG_DATA_HOME": "/x/data", "HOME": "/h"}, "/x/data/parley"},
			dataDirCase{"relative xdg ignored", map[string]string{"XDG_DATA_HOME": "rel", "HOME": "/h"}, "/h/.local/share/parley"},
			dataDirCase{"home fallback", map[string]string{"HOME": "/h"}, "/h/.local/share/parley"},
			dataDirCase{"nothing set", map[string]string{}, ""},
			dataDirCase{"relative home", map[string]string{"HOME": "h"}, ""},
		)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := dataDir(env(tt.env))
			if tt.want == "" {
				if err == nil {
					t.Fatalf("dataDir = %q, want an error", got)
				}
				if !strings.Contains(err.Error(), EnvHome) {
					t.Errorf("error %q does not suggest %s", err, EnvHome)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != filepath.FromSlash(tt.want) {
				t.Errorf("dataDir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDataDirRelativeOverrideMadeAbsolute(t *testing.T) {
	t.Parallel()
	got, err := dataDir(env(map[string]string{EnvHome: "rel/dir"}))
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if got != filepath.Join(wd, "rel", "dir") {
		t.Errorf("got %q", got)
	}
}

func TestDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv(EnvHome, home)
	got, err := Dir(DefaultName)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, "profiles", "default"); got != want {
		t.Errorf("Dir = %q, want %q", got, want)
	}
	if _, err := Dir("../etc"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("Dir(../etc) err = %v, want ErrInvalidName", err)
	}
}

func TestCheckName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"default", "alice", "a", "bob-2", "x_y", strings.Repeat("a", MaxNameLen)} {
		if err := CheckName(ok); err != nil {
			t.Errorf("CheckName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", ".", "..", "a/b", `a\b`, "A", "a b", "é", "a\x00", strings.Repeat("a", MaxNameLen+1)} {
		if err := CheckName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("CheckName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o700 {
		t.Errorf("profile dir mode %v, want 0700", fi.Mode().Perm())
	}
	if p.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", p.Dir(), dir)
	}
	if got, want := p.Path("x.db"), filepath.Join(dir, "x.db"); got != want {
		t.Errorf("Path = %q, want %q", got, want)
	}
}

// Two Opens in one process: the second fails with ErrProfileLocked until the
// first is closed.
func TestLockInProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p1, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if p2, err := Open(dir); !errors.Is(err, ErrProfileLocked) {
		if p2 != nil {
			p2.Close()
		}
		t.Fatalf("second Open err = %v, want ErrProfileLocked", err)
	}
	// A different profile is independent.
	p3, err := Open(t.TempDir())
	if err != nil {
		t.Fatalf("other profile: %v", err)
	}
	p3.Close()
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	p4, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	p4.Close()
}

const helperEnv = "PARLEY_PROFILE_LOCK_HELPER"

// TestLockHelper is the subprocess side of the cross-process tests. It opens
// the profile named in the environment, reports "locked", "busy" or
// "error: …" on stdout, and, if it got the lock, holds it until stdin closes.
func TestLockHelper(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("subprocess helper")
	}
	p, err := Open(dir)
	switch {
	case errors.Is(err, ErrProfileLocked):
		fmt.Println("busy")
		os.Exit(0)
	case err != nil:
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	p.Close()
	os.Exit(0)
}

func startHelper(t *testing.T, dir string) (*exec.Cmd, *bufio.Reader, func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewReader(stdout), func() { stdin.Close() }
}

func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case got := <-ch:
		if got.err != nil {
			t.Fatalf("helper output: %v", got.err)
		}
		return got.s
	case <-time.After(30 * time.Second):
		t.Fatal("helper did not answer")
		return ""
	}
}

// A second bridge process on a locked profile gets ErrProfileLocked.
func TestLockAcrossProcessesParentHolds(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd, out, release := startHelper(t, dir)
	if got := readLine(t, out); got != "busy" {
		t.Errorf("child on a locked profile said %q, want busy", got)
	}
	release()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	p.Close()

	// Unlocked now: the child gets it.
	cmd, out, release = startHelper(t, dir)
	if got := readLine(t, out); got != "locked" {
		t.Errorf("child on a free profile said %q, want locked", got)
	}
	release()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
}

// The child holds the lock: this process is refused; when the child is
// killed (no Close, as in a crash) the lock is free again.
func TestLockAcrossProcessesChildHoldsThenDies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cmd, out, release := startHelper(t, dir)
	defer release()
	if got := readLine(t, out); got != "locked" {
		t.Fatalf("child said %q, want locked", got)
	}
	if p, err := Open(dir); !errors.Is(err, ErrProfileLocked) {
		if p != nil {
			p.Close()
		}
		t.Fatalf("Open while child holds the lock: err = %v, want ErrProfileLocked", err)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	p, err := Open(dir)
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	p.Close()
}

// The OS-specific files must keep compiling for the systems we cannot run
// here (darwin covers lock_unix.go for the BSDs, js covers dir_default.go and
// lock_other.go).
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds for other systems")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	t.Parallel()
	for _, target := range []string{"windows/amd64", "darwin/arm64", "js/wasm"} {
		goos, goarch, _ := strings.Cut(target, "/")
		cmd := exec.Command(goBin, "build", "-o", os.DevNull, ".")
		cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", target, err, out)
		}
	}
}
