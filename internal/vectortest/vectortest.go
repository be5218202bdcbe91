// Package vectortest reads, checks and rewrites Parley's known-answer vector
// files (testdata/vectors/*.json, described in testdata/vectors/README.md).
//
// Every package that publishes vectors regenerates them in a test from
// deterministic randomness and calls [Check]: the regenerated JSON must equal
// the stored file byte for byte, so an accidental change to an encoding, a
// label or a derivation fails the test. Run the test with -update (a flag this
// package registers) to rewrite the files after an intended change. [Read]
// then replays the stored file, the way an independent implementation that
// only has the file would.
//
// It is a test helper: only _test.go files import it. It lives outside core/
// because it reads files, which the pure core may not do.
package vectortest

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"testing"
)

// update is the -update flag of every test binary that imports this package.
var update = flag.Bool("update", false, "rewrite testdata vectors")

// Encode returns v as JSON indented with indent, ending in a newline: the
// exact bytes of a vector file. Each file keeps the indentation it was
// published with.
func Encode(t testing.TB, v any, indent string) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", indent)
	if err != nil {
		t.Fatalf("vectortest: encode %T: %v", v, err)
	}
	return append(b, '\n')
}

// Check encodes v as [Encode] does and, with -update, writes it to path;
// otherwise it fails t unless the stored file holds exactly those bytes.
func Check(t testing.TB, path, indent string, v any) {
	t.Helper()
	got := Encode(t, v, indent)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("vectortest: write %s: %v", path, err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("vectortest: read %s (run the test with -update to create it): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("vectortest: %s differs from the regenerated vectors (run with -update only for an intended change)", path)
	}
}

// Read decodes the JSON file at path into v, failing t on any error.
func Read(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("vectortest: read %s: %v", path, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("vectortest: decode %s: %v", path, err)
	}
}

// Unhex decodes the hex string s, failing t if it is not valid hex.
func Unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("vectortest: bad hex %.16q…: %v", s, err)
	}
	return b
}
