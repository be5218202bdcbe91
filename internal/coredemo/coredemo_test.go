package coredemo

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	var out strings.Builder
	if err := Run(&out, rand.NewChaCha8([32]byte{1}), time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"equal: true",
		"held-back message arrives late and still opens",
		"dropped as a duplicate",
		"checksum mismatch",
		"PQ Alice",
		"PQ Bob",
		"The relay saw 4 unrelated mailbox tokens",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q\n%s", want, s)
		}
	}
	// The relay lines show only bucket-sized blobs.
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, "relay stores:") && !strings.Contains(line, "bucket") {
			t.Errorf("relay line without bucket: %q", line)
		}
	}
}
