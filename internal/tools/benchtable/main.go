// Command benchtable runs Go benchmarks and prints them as one table, then
// the protocol/primitives ratios. `make bench` runs it:
//
//	go run ./internal/tools/benchtable [-benchtime 1s] [-count N] [-bench regexp] [-strict] packages...
//
// It runs `go test -run '^$' -bench regexp -benchmem -benchtime T -count N
// -cpu P packages...` (P is this process's GOMAXPROCS), copying the output to
// stderr as it arrives, and then prints to stdout:
//
//   - a table of every benchmark: package, name, ns/op, MB/s, B/op,
//     allocs/op (the median over -count runs);
//   - for every pair BenchmarkX/.../protocol and BenchmarkX/.../primitives
//     in one package, protocol ns/op ÷ primitives ns/op, with the goal and
//     PASS or OVER where goals (below) names the operation.
//
// A protocol benchmark times a core operation; its primitives twin times
// exactly the bare suite calls that operation makes (see the helpers' brief),
// so the ratio is the protocol's own overhead. With -strict an OVER makes the
// exit status non-zero; a failed `go test` always does.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
)

// goals returns the protocol/primitives ratios Parley aims for, keyed by the
// benchmark name before "/protocol": the issues' targets (first contact ≤
// 1.25× its primitives, a same-direction ratchet message ≤ 2×, a durable
// relay deposit at ≥ 50% of the bare group-commit store).
func goals() map[string]float64 {
	return map[string]float64{
		"BenchmarkFirstContact":               1.25,
		"BenchmarkRatchet200B/same-direction": 2.0,
		"BenchmarkDeposit":                    2.0,
	}
}

func main() { os.Exit(run()) }

func run() int {
	benchtime := flag.String("benchtime", "1s", "`duration` or Nx passed to go test -benchtime")
	count := flag.Int("count", 1, "run each benchmark `n` times; the table shows medians")
	bench := flag.String("bench", ".", "run only benchmarks matching `regexp`")
	strict := flag.Bool("strict", false, "exit non-zero when a ratio is over its goal")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: benchtable [flags] packages...\n\nexample: go run ./internal/tools/benchtable -benchtime 2s ./core/...\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 || *count < 1 {
		flag.Usage()
		return 2
	}
	procs := runtime.GOMAXPROCS(0)
	args := []string{"test", "-run", "^$", "-bench", *bench, "-benchmem",
		"-benchtime", *benchtime, "-count", strconv.Itoa(*count), "-cpu", strconv.Itoa(procs)}
	args = append(args, flag.Args()...)

	fmt.Fprintf(os.Stderr, "benchtable: go %v\n", args)
	var out bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Stdout = io.MultiWriter(os.Stderr, &out)
	cmd.Stderr = os.Stderr
	runErr := cmd.Run()

	results := aggregate(parse(&out, procs))
	fmt.Println()
	writeTable(os.Stdout, results)
	ratios := pairRatios(results, goals())
	over := false
	if len(ratios) > 0 {
		fmt.Println()
		writeRatios(os.Stdout, ratios)
		for _, r := range ratios {
			over = over || r.Verdict == "OVER"
		}
	}
	if runErr != nil {
		fmt.Fprintf(os.Stderr, "benchtable: error: go test: %v\n", runErr)
		return 1
	}
	if *strict && over {
		fmt.Fprintln(os.Stderr, "benchtable: error: a ratio is over its goal")
		return 1
	}
	return 0
}
