// Package core_test keeps the protocol core pure (DESIGN.md, "Protocol
// core"; STYLE.md point 3): no cgo, no operating system, network, file system
// or wall clock, no math/rand, and no third-party code but x/crypto, x/sys and
// circl. The checks read the sources and `go list`, in the manner of
// tailscale's cmd/tailscaled/deps_test.go.
package core_test

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// forbiddenImports may not be imported by any non-test file under core/.
// A trailing "/" forbids the whole tree below.
var forbiddenImports = []string{
	"C", "unsafe", "syscall", "plugin", "runtime/cgo",
	"os", "os/", "net", "net/", "io/fs", "io/ioutil", "path/filepath",
	"math/rand", "math/rand/", "log", "log/",
	parleyModule + "/core/internal/testrand", // deterministic randomness: tests and vectors only
}

// parleyModule is this repository's module path.
const parleyModule = "github.com/parley-im/parley"

// forbiddenTime are the functions of package time that read or wait on the
// wall clock. Time reaches the core as a parameter.
var forbiddenTime = []string{
	"Now", "Since", "Until", "Sleep", "After", "AfterFunc", "Tick", "NewTimer", "NewTicker",
}

// allowedModules are the only modules, besides the standard library and
// Parley itself, that the core may depend on, directly or not.
var allowedModules = []string{
	"golang.org/x/crypto",
	"golang.org/x/sys", // through x/crypto (CPU feature detection)
	"github.com/cloudflare/circl",
}

// goPackage is the part of `go list -json` these tests read.
type goPackage struct {
	ImportPath     string
	Dir            string
	Standard       bool
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string
	Imports        []string
	Module         *struct{ Path string }
	Error          *struct{ Err string }
}

// goList runs `go list -e -json args...` in this directory (core/) with the
// extra environment env.
func goList(t *testing.T, env []string, args ...string) []goPackage {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-e", "-json"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.Bytes())
	}
	var pkgs []goPackage
	for d := json.NewDecoder(bytes.NewReader(out)); d.More(); {
		var p goPackage
		if err := d.Decode(&p); err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) == 0 {
		t.Fatalf("go list %v listed no package", args)
	}
	return pkgs
}

func skipWithoutGoCommand(t *testing.T) {
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		t.Skip("needs the go command; the native run checks purity")
	}
}

// TestCorePurity checks every non-test Go file of every package under core/,
// including files excluded by build constraints on this platform, so a
// `_windows.go` file cannot slip an import past a Linux run.
func TestCorePurity(t *testing.T) {
	skipWithoutGoCommand(t)
	pkgs := goList(t, nil, "./...")
	var files int
	for _, p := range pkgs {
		if p.Error != nil {
			t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
			continue
		}
		if len(p.CgoFiles) > 0 {
			t.Errorf("%s uses cgo: %v", p.ImportPath, p.CgoFiles)
		}
		for _, imp := range p.Imports {
			if forbiddenImport(imp) {
				t.Errorf("%s imports %q", p.ImportPath, imp)
			}
		}
		for _, name := range slices.Concat(p.GoFiles, p.CgoFiles, p.IgnoredGoFiles) {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			path := filepath.Join(p.Dir, name)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range checkSource(path, src) {
				t.Error(f)
			}
			files++
		}
	}
	t.Logf("checked %d packages, %d files", len(pkgs), files)
}

// TestCoreModules checks the modules the core depends on, for this platform
// and for js/wasm.
func TestCoreModules(t *testing.T) {
	skipWithoutGoCommand(t)
	for _, env := range [][]string{nil, {"GOOS=js", "GOARCH=wasm"}} {
		for _, p := range goList(t, env, "-deps", "./...") {
			if p.Standard || p.Module == nil {
				continue
			}
			if p.Module.Path != parleyModule && !allowedModule(p.Module.Path) {
				t.Errorf("%v: core depends on %s (module %s)", env, p.ImportPath, p.Module.Path)
			}
		}
	}
}

func allowedModule(path string) bool { return slices.Contains(allowedModules, path) }

// forbiddenImport reports whether the core may not import path.
func forbiddenImport(path string) bool {
	for _, f := range forbiddenImports {
		if path == f || strings.HasSuffix(f, "/") && strings.HasPrefix(path, f) {
			return true
		}
	}
	return false
}

// checkSource returns one finding per forbidden import or wall-clock use in
// a Go source file. A reference to time.Now counts even when not called
// (f := time.Now). It is strict: a local identifier that shadows the time
// package is reported too.
func checkSource(name string, src []byte) []string {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return []string{err.Error()}
	}
	var findings []string
	report := func(pos token.Pos, msg string) {
		findings = append(findings, fset.Position(pos).String()+": "+msg)
	}
	var timeNames []string // the names package time is imported under
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			report(imp.Pos(), "bad import path")
			continue
		}
		if forbiddenImport(path) {
			report(imp.Pos(), "imports "+strconv.Quote(path))
		}
		if path != "time" {
			continue
		}
		switch {
		case imp.Name == nil:
			timeNames = append(timeNames, "time")
		case imp.Name.Name == ".":
			report(imp.Pos(), `dot-imports "time" (its clock functions would be unqualified)`)
		case imp.Name.Name != "_":
			timeNames = append(timeNames, imp.Name.Name)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && slices.Contains(timeNames, x.Name) && slices.Contains(forbiddenTime, sel.Sel.Name) {
			report(sel.Pos(), "uses time."+sel.Sel.Name+" (time is a parameter in the core)")
		}
		return true
	})
	return findings
}

// TestCheckSource shows that the checker finds what it must, and nothing
// in clean code.
func TestCheckSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      []string // substrings, one per expected finding
	}{
		{"clean", `package p
import "time"
func f(now time.Time, d time.Duration) time.Time { return now.Add(d).Add(time.Second) }
var zero = time.Unix(0, 0)`, nil},
		{"time.Now", `package p
import "time"
func f() time.Time { return time.Now() }`, []string{"time.Now"}},
		{"renamed time.Since", `package p
import clock "time"
func f(t clock.Time) clock.Duration { return clock.Since(t) }`, []string{"time.Since"}},
		{"function value", `package p
import "time"
var now = time.Now`, []string{"time.Now"}},
		{"timers", `package p
import "time"
func f() { time.Sleep(1); <-time.After(1); time.NewTimer(1); time.NewTicker(1); time.Tick(1); time.AfterFunc(1, nil); _ = time.Until }`,
			[]string{"time.Sleep", "time.After", "time.NewTimer", "time.NewTicker", "time.Tick", "time.AfterFunc", "time.Until"}},
		{"dot import", `package p
import . "time"
func f() Time { return Now() }`, []string{"dot-imports"}},
		{"os", `package p
import "os"`, []string{`"os"`}},
		{"os/exec", `package p
import "os/exec"`, []string{`"os/exec"`}},
		{"net/http", `package p
import _ "net/http"`, []string{`"net/http"`}},
		{"cgo", `package p
import "C"`, []string{`"C"`}},
		{"unsafe and syscall", `package p
import ("unsafe"; "syscall")`, []string{`"unsafe"`, `"syscall"`}},
		{"file system", `package p
import ("io/fs"; "path/filepath")`, []string{`"io/fs"`, `"path/filepath"`}},
		{"math/rand", `package p
import ("math/rand"; r2 "math/rand/v2")`, []string{`"math/rand"`, `"math/rand/v2"`}},
		{"testrand", `package p
import "github.com/parley-im/parley/core/internal/testrand"`, []string{"testrand"}},
		{"allowed imports", `package p
import ("crypto/rand"; "io"; "math"; "math/bits"; "crypto/subtle"; "reflect"; "path")`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := checkSource("x.go", []byte(tt.src))
			if len(got) != len(tt.want) {
				t.Fatalf("findings %q, want %d matching %q", got, len(tt.want), tt.want)
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %q does not mention %q", got[i], w)
				}
			}
		})
	}
}

func TestAllowedModule(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"golang.org/x/crypto":          true,
		"github.com/cloudflare/circl":  true,
		"golang.org/x/sys":             true,
		"golang.org/x/net":             false,
		"github.com/cloudflare/circlx": false,
		"github.com/hack-pad/safejs":   false,
	} {
		if allowedModule(path) != want {
			t.Errorf("allowedModule(%q) = %v", path, !want)
		}
	}
}
