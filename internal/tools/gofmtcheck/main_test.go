package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestUnformatted(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, src string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.go", "package p\n\nvar x = 1\n")
	bad := write("sub/bad.go", "package p\nvar  x=1\n")
	write("node_modules/m/skipped.go", "package p\nvar  x=1\n")
	write("testdata/skipped.go", "package p\nvar  x=1\n")

	files, err := goFiles(dir) // t.TempDir is not a git work tree: walks
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if want := []string{good, bad}; !slices.Equal(files, want) {
		t.Fatalf("goFiles = %q, want %q", files, want)
	}
	got, err := unformatted(files)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{bad}) {
		t.Fatalf("unformatted = %q, want %q", got, []string{bad})
	}
	write("broken.go", "package p\nfunc {")
	if _, err := unformatted([]string{filepath.Join(dir, "broken.go")}); err == nil {
		t.Fatal("a file that does not parse was not an error")
	}
}

func TestHasSkippedDir(t *testing.T) {
	for rel, want := range map[string]bool{
		"core/suite/kdf.go":                 false,
		"extension/node_modules/x/y.go":     true,
		"core/suite/testdata/fuzz/x.go":     true,
		"dist/x.go":                         true,
		"testdata.go":                       false,
		"internal/tools/gofmtcheck/main.go": false,
	} {
		if hasSkippedDir(rel) != want {
			t.Errorf("hasSkippedDir(%q) = %v", rel, !want)
		}
	}
}
