// Command fuzzall runs every fuzz target of the given packages, one after the
// other, and prints a summary. `make fuzz` runs it:
//
//	go run ./internal/tools/fuzzall [-fuzztime 30s] [-match regexp] packages...
//
// It lists the packages with `go list`, finds each `func FuzzXxx(f
// *testing.F)` in their test files with go/parser, and runs
// `go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime T pkg` for each (go test
// fuzzes one target at a time), streaming the output to stderr. It exits
// non-zero if any run fails; a failing input is left in the package's
// testdata/fuzz directory, as go test does.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	fuzztime := flag.String("fuzztime", "30s", "`duration` (or Nx) for each target, passed to go test -fuzztime")
	match := flag.String("match", ".", "fuzz only targets whose name matches `regexp`")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: fuzzall [flags] packages...\n\nexample: go run ./internal/tools/fuzzall -fuzztime 10s ./core/...\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	re, err := regexp.Compile(*match)
	if err != nil || flag.NArg() == 0 {
		flag.Usage()
		return 2
	}
	pkgs, err := listPackages(flag.Args())
	if err != nil {
		fmt.Fprintf(os.Stderr, "fuzzall: error: %v\n", err)
		return 1
	}
	var targets []target
	for _, p := range pkgs {
		ts, err := findTargets(p)
		if err != nil {
			fmt.Fprintf(os.Stderr, "fuzzall: error: %v\n", err)
			return 1
		}
		for _, t := range ts {
			if re.MatchString(t.Name) {
				targets = append(targets, t)
			}
		}
	}
	if len(targets) == 0 {
		fmt.Println("fuzzall: no fuzz targets found")
		return 0
	}

	var rows [][]string
	failed := 0
	for i, t := range targets {
		fmt.Fprintf(os.Stderr, "fuzzall: [%d/%d] %s %s for %s\n", i+1, len(targets), t.Pkg, t.Name, *fuzztime)
		start := time.Now()
		cmd := exec.Command("go", "test", "-run", "^$", "-fuzz", "^"+t.Name+"$", "-fuzztime", *fuzztime, t.Pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		status := "ok"
		if err := cmd.Run(); err != nil {
			status = "FAIL"
			failed++
		}
		rows = append(rows, []string{status, t.Pkg, t.Name, time.Since(start).Round(time.Second).String()})
	}
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	fmt.Printf("fuzzall: %d passed, %d failed\n", len(targets)-failed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
