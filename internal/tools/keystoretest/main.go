// Command keystoretest runs bridge/keystore's tests against a real Secret
// Service (../shared/TESTING.md): gnome-keyring in a private D-Bus session
// whose HOME and XDG directories live in a fresh temporary directory, with
// PARLEY_REQUIRE_KEYSTORE=1 so an unreachable keystore fails the run
// instead of skipping it.
//
// The test binary is built first with the caller's environment, so the
// temporary HOME does not hide the Go build cache and module cache.
//
// Usage:
//
//	go run ./internal/tools/keystoretest [go test flags for the binary, e.g. -test.v]
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// session unlocks a fresh login keyring with a throwaway password, exports
// its control socket, and runs the test binary ($0) with the remaining
// arguments.
const session = `eval "$(printf %s pw | gnome-keyring-daemon --unlock --components=secrets)"; ` +
	`export GNOME_KEYRING_CONTROL; exec "$0" "$@"`

func main() { os.Exit(run()) }

func run() int {
	for _, tool := range []string{"gnome-keyring-daemon", "dbus-run-session", "secret-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "keystoretest: error: %s not found\n", tool)
			fmt.Fprintln(os.Stderr, "keystoretest: hint: apt-get install gnome-keyring dbus libsecret-tools (.ci/run does)")
			return 1
		}
	}
	tmp, err := os.MkdirTemp("", "parley-keystore-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "keystoretest: error: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	runtime := filepath.Join(tmp, "run")
	if err := os.Mkdir(runtime, 0o700); err != nil {
		fmt.Fprintf(os.Stderr, "keystoretest: error: %v\n", err)
		return 1
	}
	bin := filepath.Join(tmp, "keystore.test")
	build := exec.Command("go", "test", "-c", "-o", bin, "./bridge/keystore")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "keystoretest: error: build test binary: %v\n", err)
		return 1
	}
	args := append([]string{"--", "sh", "-c", session, bin, "-test.count=1"}, os.Args[1:]...)
	cmd := exec.Command("dbus-run-session", args...)
	cmd.Dir = filepath.Join("bridge", "keystore") // tests find their testdata
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(),
		"HOME="+tmp,
		"XDG_RUNTIME_DIR="+runtime,
		"XDG_DATA_HOME="+filepath.Join(tmp, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(tmp, "config"),
		"XDG_CACHE_HOME="+filepath.Join(tmp, "cache"),
		"PARLEY_REQUIRE_KEYSTORE=1",
	)
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "keystoretest: error: keystore tests: %v\n", err)
		return 1
	}
	return 0
}
