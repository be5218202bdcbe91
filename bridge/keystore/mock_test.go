package keystore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/zalando/go-keyring"
)

// keyring.MockInit replaces go-keyring's provider for the whole process, so
// the mock tests run in a subprocess of their own and never share a process
// with the real Secret Service tests (secretservice_test.go), which they
// complement and never replace.
const mockHelperEnv = "PARLEY_KEYSTORE_MOCK_HELPER"

func TestMockKeyring(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMockHelper$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), mockHelperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mock tests failed: %v\n%s", err, out)
	}
}

func TestMockHelper(t *testing.T) {
	if os.Getenv(mockHelperEnv) != "1" {
		t.Skip("subprocess helper")
	}

	t.Run("error mapping", func(t *testing.T) {
		// The texts go-keyring and godbus produce on headless machines
		// (TESTING.md), as they arrive.
		for _, msg := range []string{
			`exec: "dbus-launch": executable file not found in $PATH`,
			"The name org.freedesktop.secrets was not provided by any .service files",
			"failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'",
			"dial unix /run/user/1000/bus: connect: no such file or directory",
			"dbus: couldn't determine address of session bus",
		} {
			keyring.MockInitWithError(errors.New(msg))
			if err := Probe(); !errors.Is(err, ErrNoKeystore) {
				t.Errorf("%q: Probe = %v, want ErrNoKeystore", msg, err)
			}
			s, _ := NewOSKeystore("acct")
			if _, err := s.Key(); !errors.Is(err, ErrNoKeystore) {
				t.Errorf("%q: Key = %v, want ErrNoKeystore", msg, err)
			}
		}
		keyring.MockInitWithError(keyring.ErrUnsupportedPlatform)
		if err := Probe(); !errors.Is(err, ErrNoKeystore) {
			t.Errorf("unsupported platform: %v", err)
		}
		// Any other failure is reported as itself, not as "no keystore".
		keyring.MockInitWithError(errors.New("org.freedesktop.DBus.Error.AccessDenied"))
		if err := Probe(); err == nil || errors.Is(err, ErrNoKeystore) {
			t.Errorf("other error: Probe = %v", err)
		}
	})

	t.Run("round trip and corrupt entries", func(t *testing.T) {
		keyring.MockInit()
		if err := Probe(); err != nil {
			t.Fatalf("Probe on a working keystore: %v", err)
		}
		s, _ := NewOSKeystore("acct")
		k, _ := NewKey(nil)
		if err := s.Set(k); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Key(); err != nil || !got.Equal(k) {
			t.Fatalf("Key = %v", err)
		}
		for _, v := range []string{
			"",     // empty
			"%%%",  // not base64
			"AAAA", // 3 bytes
			base64.StdEncoding.EncodeToString(make([]byte, KeySize-1)),
			base64.StdEncoding.EncodeToString(make([]byte, KeySize+1)),
			base64.RawStdEncoding.EncodeToString(make([]byte, KeySize)), // unpadded
		} {
			keyring.Set(Service, "bad", v)
			bad, _ := NewOSKeystore("bad")
			if _, err := bad.Key(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("stored %q: Key = %v, want ErrCorrupt", v, err)
			}
		}
		if err := s.Delete(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Key(); !errors.Is(err, ErrNotFound) {
			t.Fatalf("after Delete: %v", err)
		}
	})

	t.Run("create rolls back", func(t *testing.T) {
		keyring.MockInit()
		// The config cannot be written (no such directory): the keyring
		// entry made just before is removed again.
		missing := filepath.Join(t.TempDir(), "missing")
		seed := bytes.Repeat([]byte{0xab}, accountSize+KeySize)
		if _, err := CreateOS(missing, bytes.NewReader(seed)); err == nil {
			t.Fatal("CreateOS into a missing directory succeeded")
		}
		acct := "profile-" + hex.EncodeToString(seed[:accountSize])
		if _, err := keyring.Get(Service, acct); !errors.Is(err, keyring.ErrNotFound) {
			t.Fatalf("entry %s left behind: %v", acct, err)
		}
	})

	t.Run("create without keystore writes nothing", func(t *testing.T) {
		keyring.MockInitWithError(errors.New("The name org.freedesktop.secrets was not provided by any .service files"))
		dir := t.TempDir()
		if _, err := CreateOS(dir, nil); !errors.Is(err, ErrNoKeystore) {
			t.Fatalf("CreateOS = %v, want ErrNoKeystore", err)
		}
		if m, err := ConfiguredMode(dir); m != ModeNone || err != nil {
			t.Fatalf("mode after a failed create = %q, %v", m, err)
		}
	})

	t.Run("bad account names", func(t *testing.T) {
		for _, a := range []string{"", probeAccount, string(make([]byte, MaxAccountLen+1))} {
			if _, err := NewOSKeystore(a); err == nil {
				t.Errorf("NewOSKeystore(%q) accepted", a)
			}
		}
	})
}
