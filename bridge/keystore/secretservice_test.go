package keystore

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireEnv makes the real-keystore tests mandatory. `make keystore-test`
// sets it and runs this package inside a private D-Bus session with
// gnome-keyring (TESTING.md).
const requireEnv = "PARLEY_REQUIRE_KEYSTORE"

// requireSecretService runs the test only against a reachable OS keystore.
// With PARLEY_REQUIRE_KEYSTORE=1 an unreachable keystore fails the test;
// without it the test is skipped, so that `go test ./...` on a desktop never
// writes to (or prompts for) the user's own keyring.
func requireSecretService(t *testing.T) {
	t.Helper()
	if os.Getenv(requireEnv) != "1" {
		t.Skipf("real OS keystore test: run `make keystore-test` (or set %s=1 inside a disposable keyring session)", requireEnv)
	}
	if err := Probe(); err != nil {
		t.Fatalf("%s=1 but no OS keystore is reachable: %v", requireEnv, err)
	}
}

func testAccount(t *testing.T) string {
	var b [8]byte
	rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:])
}

func secretTool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("secret-tool")
	if err != nil {
		t.Fatalf("secret-tool not installed (apt-get install libsecret-tools): %v", err)
	}
	out, err := exec.Command(path, args...).Output()
	return strings.TrimRight(string(out), "\n"), err
}

// Set, Get, Delete against the real Secret Service, and secret-tool (libsecret,
// an independent client) reads exactly what go-keyring wrote.
func TestSecretServiceRoundTrip(t *testing.T) {
	requireSecretService(t)
	s, err := NewOSKeystore(testAccount(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Key(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Key before Set: %v, want ErrNotFound", err)
	}
	k, _ := NewKey(nil)
	if err := s.Set(k); err != nil {
		t.Fatal(err)
	}
	got, err := s.Key()
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Fatal("Key returned a different key than Set stored")
	}

	stored, err := secretTool(t, "lookup", "service", Service, "username", s.Account())
	if err != nil {
		t.Fatalf("secret-tool lookup: %v", err)
	}
	if stored != base64.StdEncoding.EncodeToString(k.Bytes()) {
		t.Fatalf("secret-tool sees %d bytes that are not the base64 key", len(stored))
	}

	// Set replaces.
	k2, _ := NewKey(nil)
	if err := s.Set(k2); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Key(); got == nil || !got.Equal(k2) {
		t.Fatal("second Set did not replace the key")
	}

	if err := s.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Key(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Key after Delete: %v, want ErrNotFound", err)
	}
	if _, err := secretTool(t, "lookup", "service", Service, "username", s.Account()); err == nil {
		t.Fatal("secret-tool still finds the deleted entry")
	}
	if err := s.Delete(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
}

// An entry written by another client is read back, and a malformed one is
// reported as corrupt, not used.
func TestSecretServiceReadsForeignEntries(t *testing.T) {
	requireSecretService(t)
	k, _ := NewKey(nil)
	for _, tc := range []struct {
		name, value string
		want        error
	}{
		{"valid", base64.StdEncoding.EncodeToString(k.Bytes()), nil},
		{"not base64", "not a key!", ErrCorrupt},
		{"short key", base64.StdEncoding.EncodeToString(k.Bytes()[:31]), ErrCorrupt},
		{"long key", base64.StdEncoding.EncodeToString(append(k.Bytes(), 0)), ErrCorrupt},
		{"unpadded", base64.RawStdEncoding.EncodeToString(k.Bytes()), ErrCorrupt},
		{"huge", strings.Repeat("A", 4096), ErrCorrupt},
	} {
		acct := testAccount(t)
		cmd := exec.Command("secret-tool", "store", "--label=parley test", "service", Service, "username", acct)
		cmd.Stdin = strings.NewReader(tc.value)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: secret-tool store: %v %s", tc.name, err, out)
		}
		s, _ := NewOSKeystore(acct)
		got, err := s.Key()
		if !errors.Is(err, tc.want) || (tc.want == nil && !got.Equal(k)) {
			t.Errorf("%s: Key() = %v, want %v", tc.name, err, tc.want)
		}
		if err := s.Delete(); err != nil {
			t.Errorf("%s: Delete: %v", tc.name, err)
		}
	}
}

// A profile set up in OS mode: the config names the entry, Open finds the same
// key, and the config holds no key material.
func TestSecretServiceProfile(t *testing.T) {
	requireSecretService(t)
	dir := t.TempDir()
	created, err := CreateOS(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer created.Delete()
	k1, err := created.Key()
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ConfiguredMode(dir); m != ModeOS || err != nil {
		t.Fatalf("mode = %q, %v", m, err)
	}
	src, err := Open(dir, []byte("a passphrase is ignored in os mode"))
	if err != nil {
		t.Fatal(err)
	}
	if src.Mode() != ModeOS {
		t.Fatalf("Open mode %q", src.Mode())
	}
	k2, err := src.Key()
	if err != nil || !k2.Equal(k1) {
		t.Fatalf("reopened key differs (%v)", err)
	}
	cfg, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	for _, enc := range []string{base64.StdEncoding.EncodeToString(k1.Bytes()), hex.EncodeToString(k1.Bytes()), string(k1.Bytes())} {
		if strings.Contains(string(cfg), enc) {
			t.Fatal("config holds the key")
		}
	}
	if _, err := CreateOS(dir, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreateOS: %v, want ErrExists", err)
	}
	// The entry disappears: the profile reports it, and does not fall back.
	if err := created.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Key(); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Key after the entry is gone: %v, want ErrNotFound", err)
	}
}
