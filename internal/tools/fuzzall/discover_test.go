package main

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFuzzFuncs(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"targets", `package p
import "testing"
func FuzzParse(f *testing.F) {}
func Fuzz(f *testing.F) {}
func Fuzz_x(f *testing.F) {}
func FuzzÉ(f *testing.F) {}`, []string{"FuzzParse", "Fuzz", "Fuzz_x", "FuzzÉ"}},
		{"not targets", `package p
import "testing"
func Fuzzy(f *testing.F) {}
func FuzzT(t *testing.T) {}
func FuzzTwo(f *testing.F, x int) {}
func FuzzValue(f testing.F) {}
func FuzzResult(f *testing.F) error { return nil }
func FuzzGeneric[T any](f *testing.F) {}
type r struct{}
func (r) FuzzMethod(f *testing.F) {}
func TestX(t *testing.T) {}`, nil},
		{"renamed import", `package p
import tst "testing"
func FuzzA(f *tst.F) {}
func FuzzB(f *testing.F) {}`, []string{"FuzzA"}},
		{"dot import", `package p
import . "testing"
func FuzzA(f *F) {}`, []string{"FuzzA"}},
		{"no testing import", `package p
func FuzzA(f *testing.F) {}`, nil},
	}
	for _, tt := range tests {
		f, err := parser.ParseFile(token.NewFileSet(), "x_test.go", tt.src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := fuzzFuncs(f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: fuzzFuncs = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFindTargets(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a_test.go": "package p\nimport \"testing\"\nfunc FuzzOne(f *testing.F) {}\nfunc FuzzTwo(f *testing.F) {}\n",
		"b_test.go": "package p_test\nimport \"testing\"\nfunc FuzzThree(f *testing.F) {}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := findTargets(pkg{ImportPath: "example.com/p", Dir: dir, TestGoFiles: []string{"a_test.go"}, XTestGoFiles: []string{"b_test.go"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []target{{"example.com/p", "FuzzOne"}, {"example.com/p", "FuzzTwo"}, {"example.com/p", "FuzzThree"}}
	if !slices.Equal(got, want) {
		t.Errorf("findTargets = %v, want %v", got, want)
	}
}

// TestListThisRepo discovers the suite's fuzz targets through go list, as
// `make fuzz` does.
func TestListThisRepo(t *testing.T) {
	pkgs, err := listPackages([]string{"github.com/parley-im/parley/core/suite"})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := findTargets(pkgs[0])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ts, target{"github.com/parley-im/parley/core/suite", "FuzzParseKEMPublicKey"}) {
		t.Errorf("targets %v lack FuzzParseKEMPublicKey", ts)
	}
}
