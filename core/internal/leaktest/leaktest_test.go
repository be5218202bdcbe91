package leaktest

import (
	"fmt"
	"testing"
)

type leaky struct{ k [16]byte }

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed int
}

func (r *recorder) Helper()               {}
func (r *recorder) Errorf(string, ...any) { r.failed++ }
func (r *recorder) Fatalf(f string, a ...any) {
	panic(fmt.Sprintf(f, a...))
}

// TestCheckCatchesLeaks checks that Check notices a struct that prints its
// secret, under every verb.
func TestCheckCatchesLeaks(t *testing.T) {
	l := &leaky{k: [16]byte{0x8f, 0x13, 0xa2, 0x07, 0xfe, 0x31, 0x5c, 0xd4, 1, 2, 3, 4, 5, 6, 7, 8}}
	r := &recorder{TB: t}
	Check(r, l, l.k[:])
	if r.failed != len(verbs) {
		t.Errorf("Check reported %d of %d leaking verbs", r.failed, len(verbs))
	}
	r.failed = 0
	Check(r, "nothing here", l.k[:])
	if r.failed != 0 {
		t.Errorf("Check reported %d leaks for a string without the secret", r.failed)
	}
}
