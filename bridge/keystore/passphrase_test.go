package keystore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// testParams are the cheapest parameters the package accepts.
var testParams = Params{Time: MinTime, MemoryKiB: MinMemoryKiB, Threads: 1}

var testPass = []byte("correct horse battery staple")

func TestPassphraseRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if m, err := ConfiguredMode(dir); m != ModeNone || err != nil {
		t.Fatalf("fresh profile mode = %q, %v", m, err)
	}
	if _, err := Open(dir, testPass); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("Open on a fresh profile: %v, want ErrNotConfigured", err)
	}
	src, err := CreatePassphrase(dir, testPass, testParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	k1, _ := src.Key()
	if m, err := ConfiguredMode(dir); m != ModePassphrase || err != nil {
		t.Fatalf("mode = %q, %v", m, err)
	}

	again, err := Open(dir, bytes.Clone(testPass))
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := again.Key()
	if !k1.Equal(k2) || again.Mode() != ModePassphrase {
		t.Fatal("reopening with the passphrase gave another key")
	}

	wrong := bytes.Clone(testPass)
	wrong[0] ^= 1
	if _, err := Open(dir, wrong); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrPassphraseRequired) {
		t.Fatalf("no passphrase: %v", err)
	}
	if _, err := Open(dir, []byte{}); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("empty passphrase: %v", err)
	}

	// Created once, O_EXCL: a second create changes nothing.
	before, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if _, err := CreatePassphrase(dir, []byte("another passphrase"), testParams, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("second CreatePassphrase: %v, want ErrExists", err)
	}
	if _, err := CreateOS(dir, nil); !errors.Is(err, ErrExists) {
		t.Fatalf("CreateOS on a passphrase profile: %v, want ErrExists", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	if !bytes.Equal(before, after) {
		t.Fatal("refused create changed the config")
	}

	fi, err := os.Stat(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", fi.Mode().Perm())
	}

	// The public config holds neither the key nor the passphrase.
	for _, secret := range [][]byte{k1.Bytes(), testPass,
		[]byte(hex.EncodeToString(k1.Bytes())), []byte(base64.StdEncoding.EncodeToString(k1.Bytes()))} {
		if bytes.Contains(after, secret) {
			t.Fatalf("config contains secret material: %s", after)
		}
	}
}

func TestCreatePassphraseRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		pass []byte
		p    Params
	}{
		"short passphrase": {[]byte("1234567"), testParams},
		"empty passphrase": {nil, testParams},
		"long passphrase":  {bytes.Repeat([]byte("a"), MaxPassphraseLen+1), testParams},
		"time too low":     {testPass, Params{MinTime - 1, MinMemoryKiB, 1}},
		"memory too low":   {testPass, Params{MinTime, MinMemoryKiB - 1, 1}},
		"memory too high":  {testPass, Params{MinTime, MaxMemoryKiB + 1, 1}},
		"no threads":       {testPass, Params{MinTime, MinMemoryKiB, 0}},
		"too many threads": {testPass, Params{MinTime, MinMemoryKiB, MaxThreads + 1}},
	} {
		dir := t.TempDir()
		if _, err := CreatePassphrase(dir, tc.pass, tc.p, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := os.Stat(filepath.Join(dir, ConfigFile)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: config written despite the refusal", name)
		}
	}
}

// Every change to the public config is either refused as corrupt or makes
// the passphrase wrong; none yields a different key silently.
func TestPassphraseConfigTampering(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	src, err := CreatePassphrase(base, testPass, testParams, nil)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(base, ConfigFile))
	var c map[string]any
	if err := json.Unmarshal(orig, &c); err != nil {
		t.Fatal(err)
	}
	flip := func(b64 string) string {
		b, _ := base64.StdEncoding.DecodeString(b64)
		b[0] ^= 1
		return base64.StdEncoding.EncodeToString(b)
	}
	edit := func(f func(m map[string]any)) []byte {
		m := map[string]any{}
		json.Unmarshal(orig, &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	params := func(m map[string]any) map[string]any { return m["params"].(map[string]any) }
	tests := []struct {
		name string
		file []byte
		want error
	}{
		{"salt flipped", edit(func(m map[string]any) { m["salt"] = flip(m["salt"].(string)) }), ErrWrongPassphrase},
		{"check flipped", edit(func(m map[string]any) { m["check"] = flip(m["check"].(string)) }), ErrWrongPassphrase},
		{"time raised", edit(func(m map[string]any) { params(m)["time"] = MinTime + 1 }), ErrWrongPassphrase},
		{"threads changed", edit(func(m map[string]any) { params(m)["threads"] = 2 }), ErrWrongPassphrase},
		{"time lowered below floor", edit(func(m map[string]any) { params(m)["time"] = 1 }), ErrCorrupt},
		{"memory lowered below floor", edit(func(m map[string]any) { params(m)["memory_kib"] = 8 }), ErrCorrupt},
		{"memory over ceiling", edit(func(m map[string]any) { params(m)["memory_kib"] = MaxMemoryKiB + 1 }), ErrCorrupt},
		{"short salt", edit(func(m map[string]any) { m["salt"] = "AAAA" }), ErrCorrupt},
		{"salt not base64", edit(func(m map[string]any) { m["salt"] = "!!!!" }), ErrCorrupt},
		{"short check", edit(func(m map[string]any) { m["check"] = "AAAA" }), ErrCorrupt},
		{"unknown kdf", edit(func(m map[string]any) { m["kdf"] = "scrypt" }), ErrCorrupt},
		{"no params", edit(func(m map[string]any) { delete(m, "params") }), ErrCorrupt},
		{"unknown field", edit(func(m map[string]any) { m["plaintext"] = true }), ErrCorrupt},
		{"version 2", edit(func(m map[string]any) { m["version"] = 2 }), ErrCorrupt},
		{"mode none", edit(func(m map[string]any) { m["mode"] = "" }), ErrCorrupt},
		{"mode plain", edit(func(m map[string]any) { m["mode"] = "plaintext" }), ErrCorrupt},
		{"os mode without account", edit(func(m map[string]any) { m["mode"] = "os" }), ErrCorrupt},
		{"trailing data", append(bytes.Clone(orig), []byte("{}")...), ErrCorrupt},
		{"not json", []byte("mode=os"), ErrCorrupt},
		{"empty", nil, ErrCorrupt},
		{"too large", append(bytes.Clone(orig), bytes.Repeat([]byte(" "), MaxConfigSize)...), ErrCorrupt},
	}
	want, _ := src.Key()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, ConfigFile), tt.file, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(dir, testPass)
			if !errors.Is(err, tt.want) {
				var got string
				if s != nil {
					k, _ := s.Key()
					got = map[bool]string{true: " (same key)", false: " (a different key!)"}[k.Equal(want)]
				}
				t.Fatalf("Open = %v%s, want %v", err, got, tt.want)
			}
		})
	}
}

// A known-answer vector pins the derivation documented at derive. The values
// were cross-checked once with the reference C implementation (Debian's
// libargon2 1, argon2id_hash_raw) and Python's hmac for HKDF-SHA256.
func TestDeriveVector(t *testing.T) {
	t.Parallel()
	salt := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	k, check := derive([]byte("correct horse battery staple"), salt, testParams)
	const (
		wantKey   = "c8a0b72b90fe74f66da77329fa7811226f0a70466180a57e71870e8b710f8a75"
		wantCheck = "60262ee85c8c0d4a4b2f3e5000e759dbbd62d1d66bd024553ca15f2b0f003924"
	)
	if got := hex.EncodeToString(k.Bytes()); got != wantKey {
		t.Errorf("key = %s, want %s", got, wantKey)
	}
	if got := hex.EncodeToString(check); got != wantCheck {
		t.Errorf("check = %s, want %s", got, wantCheck)
	}
	if strings.EqualFold(hex.EncodeToString(k.Bytes()), hex.EncodeToString(check)) {
		t.Error("key and check are equal")
	}
}
