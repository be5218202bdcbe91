package keystore

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

func TestKeyNeverPrinted(t *testing.T) {
	t.Parallel()
	k, err := NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(k.Bytes())
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
		for _, arg := range []any{k, *k, struct{ K *Key }{k}} {
			out := fmt.Sprintf(verb, arg)
			if strings.Contains(strings.ToLower(out), h[:8]) || strings.Contains(out, fmt.Sprint(k.Bytes()[:4])) {
				t.Errorf("Sprintf(%q) shows the key: %s", verb, out)
			}
		}
	}
	if !strings.Contains(fmt.Sprint(k), "redacted") {
		t.Errorf("Sprint(k) = %q", fmt.Sprint(k))
	}
}

func TestKeyOps(t *testing.T) {
	t.Parallel()
	a, _ := NewKey(bytes.NewReader(bytes.Repeat([]byte{7}, KeySize)))
	b, err := KeyFromBytes(bytes.Repeat([]byte{7}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) {
		t.Error("equal keys compare unequal")
	}
	c := a.Clone()
	a.Wipe()
	if !bytes.Equal(a.Bytes(), make([]byte, KeySize)) {
		t.Error("Wipe left key bytes")
	}
	if a.Equal(c) || !c.Equal(b) {
		t.Error("Clone shares memory with the original")
	}
	for _, n := range []int{0, KeySize - 1, KeySize + 1} {
		if _, err := KeyFromBytes(make([]byte, n)); err == nil {
			t.Errorf("KeyFromBytes accepted %d bytes", n)
		}
	}
	if _, err := NewKey(bytes.NewReader(make([]byte, KeySize-1))); err == nil {
		t.Error("NewKey accepted a short random stream")
	}
}

func TestStatic(t *testing.T) {
	t.Parallel()
	k, _ := NewKey(nil)
	s := NewStatic(k, ModePassphrase)
	want := k.Clone()
	k.Wipe() // the Source holds its own copy
	got, err := s.Key()
	if err != nil || !got.Equal(want) || s.Mode() != ModePassphrase {
		t.Fatalf("Key() = %v, %v", got, err)
	}
	got.Wipe() // the caller's copy is independent
	if again, _ := s.Key(); !again.Equal(want) {
		t.Fatal("wiping a returned key changed the Source")
	}
	s.Wipe()
	if _, err := s.Key(); err == nil {
		t.Fatal("Key after Wipe succeeded")
	}
}
