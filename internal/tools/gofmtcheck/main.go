// Command gofmtcheck lists the Go files that gofmt would change and exits
// non-zero if there are any. `make fmt-check` runs it from the repository
// root:
//
//	go run ./internal/tools/gofmtcheck [dir]
//
// It formats in process with go/format (the gofmt of the toolchain that runs
// it), over the files git knows (tracked and untracked but not ignored), or,
// outside a git work tree, over every .go file below dir except in .git,
// node_modules, dist, vendor and testdata directories.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() { os.Exit(run()) }

func run() int {
	dir := "."
	if len(os.Args) > 2 || len(os.Args) == 2 && strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: gofmtcheck [dir]")
		return 2
	}
	if len(os.Args) == 2 {
		dir = os.Args[1]
	}
	files, err := goFiles(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gofmtcheck: error: %v\n", err)
		return 1
	}
	bad, err := unformatted(files)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gofmtcheck: error: %v\n", err)
		return 1
	}
	if len(bad) > 0 {
		fmt.Fprintln(os.Stderr, "gofmtcheck: these files need gofmt:")
		for _, f := range bad {
			fmt.Println(f)
		}
		fmt.Fprintln(os.Stderr, "gofmtcheck: hint: run gofmt -w on them")
		return 1
	}
	return 0
}

// skipDirs are never searched when walking the tree.
var skipDirs = map[string]bool{".git": true, "node_modules": true, "dist": true, "vendor": true, "testdata": true}

// goFiles lists the .go files under dir, from git when dir is in a work
// tree, else by walking it.
func goFiles(dir string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "*.go")
	cmd.Dir = dir
	if out, err := cmd.Output(); err == nil {
		var files []string
		for _, f := range strings.Split(string(out), "\x00") {
			if f == "" || hasSkippedDir(f) {
				continue
			}
			p := filepath.Join(dir, f)
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				continue // deleted in the work tree, still in the index
			}
			files = append(files, p)
		}
		return files, nil
	}
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && skipDirs[d.Name()] {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(p, ".go") {
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

// hasSkippedDir reports whether a slash-separated relative path lies in one
// of skipDirs.
func hasSkippedDir(rel string) bool {
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		if skipDirs[p] {
			return true
		}
	}
	return false
}

// unformatted returns the files whose gofmt output differs from their
// contents. A file that does not parse is an error.
func unformatted(files []string) ([]string, error) {
	var bad []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out, err := format.Source(src)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f, err)
		}
		if !bytes.Equal(src, out) {
			bad = append(bad, f)
		}
	}
	return bad, nil
}
