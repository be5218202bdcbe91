package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A pkg is the part of `go list -json` fuzzall reads.
type pkg struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
}

// A target is one fuzz function of a package.
type target struct {
	Pkg  string // import path
	Name string // FuzzXxx
}

// listPackages runs `go list -e -json patterns...`. Packages that do not
// build are still listed (-e): their fuzz runs will fail and say why.
func listPackages(patterns []string) ([]pkg, error) {
	cmd := exec.Command("go", append([]string{"list", "-e", "-json"}, patterns...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %v: %s", err, stderr.Bytes())
	}
	var pkgs []pkg
	for d := json.NewDecoder(bytes.NewReader(out)); d.More(); {
		var p pkg
		if err := d.Decode(&p); err != nil {
			return nil, fmt.Errorf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// findTargets parses p's test files and returns its fuzz targets in source
// order.
func findTargets(p pkg) ([]target, error) {
	var ts []target
	for _, name := range append(append([]string{}, p.TestGoFiles...), p.XTestGoFiles...) {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, n := range fuzzFuncs(f) {
			ts = append(ts, target{Pkg: p.ImportPath, Name: n})
		}
	}
	return ts, nil
}

// fuzzFuncs returns the names of the functions in f that the testing
// package runs as fuzz targets: top-level, named Fuzz followed by nothing or
// a non-lower-case letter, with one parameter of type *testing.F and no
// results or type parameters.
func fuzzFuncs(f *ast.File) []string {
	testingName := ""
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == "testing" {
			testingName = "testing"
			if imp.Name != nil {
				testingName = imp.Name.Name
			}
		}
	}
	if testingName == "" || testingName == "_" {
		return nil
	}
	var names []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv != nil || !isFuzzName(fn.Name.Name) || fn.Type.TypeParams != nil || fn.Type.Results != nil {
			continue
		}
		params := fn.Type.Params.List
		if len(params) != 1 || len(params[0].Names) > 1 {
			continue
		}
		star, ok := params[0].Type.(*ast.StarExpr)
		if !ok {
			continue
		}
		if isTestingF(star.X, testingName) {
			names = append(names, fn.Name.Name)
		}
	}
	return names
}

// isTestingF reports whether e is testing.F (or F under a dot import).
func isTestingF(e ast.Expr, testingName string) bool {
	switch e := e.(type) {
	case *ast.SelectorExpr:
		x, ok := e.X.(*ast.Ident)
		return ok && x.Name == testingName && e.Sel.Name == "F"
	case *ast.Ident:
		return testingName == "." && e.Name == "F"
	}
	return false
}

// isFuzzName applies the testing package's rule: "Fuzz", then nothing or a
// rune that is not a lower-case letter.
func isFuzzName(name string) bool {
	rest, ok := strings.CutPrefix(name, "Fuzz")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !unicode.IsLower(r)
}
