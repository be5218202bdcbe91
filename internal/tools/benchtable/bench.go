package main

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// A result is one benchmark line, or the median of several.
type result struct {
	Pkg, Name   string
	N           int64   // iterations (of the last run)
	NsPerOp     float64 // always present
	MBPerS      float64 // 0 when the benchmark did not call SetBytes
	BPerOp      float64 // -1 when not reported
	AllocsPerOp float64 // -1 when not reported
}

// parse reads `go test -bench` output. Lines "pkg: path" set the package of
// the benchmark lines that follow. A benchmark's name loses the "-procs"
// suffix the testing package adds when procs > 1.
func parse(r io.Reader, procs int) []result {
	var out []result
	pkg := ""
	suffix := ""
	if procs > 1 {
		suffix = "-" + strconv.Itoa(procs)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		res := result{Pkg: pkg, Name: strings.TrimSuffix(f[0], suffix), N: n, BPerOp: -1, AllocsPerOp: -1}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			switch f[i+1] {
			case "ns/op":
				res.NsPerOp = v
			case "MB/s":
				res.MBPerS = v
			case "B/op":
				res.BPerOp = v
			case "allocs/op":
				res.AllocsPerOp = v
			}
		}
		out = append(out, res)
	}
	return out
}

// aggregate merges repeated runs of a benchmark into their medians, keeping
// the order in which benchmarks first appeared.
func aggregate(rs []result) []result {
	type key struct{ pkg, name string }
	groups := map[key][]result{}
	var order []key
	for _, r := range rs {
		k := key{r.Pkg, r.Name}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []result
	for _, k := range order {
		g := groups[k]
		m := g[len(g)-1]
		m.NsPerOp = median(g, func(r result) float64 { return r.NsPerOp })
		m.MBPerS = median(g, func(r result) float64 { return r.MBPerS })
		m.BPerOp = median(g, func(r result) float64 { return r.BPerOp })
		m.AllocsPerOp = median(g, func(r result) float64 { return r.AllocsPerOp })
		out = append(out, m)
	}
	return out
}

func median(g []result, f func(result) float64) float64 {
	v := make([]float64, len(g))
	for i, r := range g {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// A ratio compares a protocol benchmark with its primitives twin.
type ratio struct {
	Pkg, Op     string // Op is the name before "/protocol"
	Protocol    float64
	Primitives  float64
	Ratio, Goal float64 // Goal is 0 when there is none
	Verdict     string  // "PASS", "OVER" or "" without a goal
}

// pairRatios finds every Op/protocol with an Op/primitives in the same
// package.
func pairRatios(rs []result, goals map[string]float64) []ratio {
	byName := map[[2]string]result{}
	for _, r := range rs {
		byName[[2]string{r.Pkg, r.Name}] = r
	}
	var out []ratio
	for _, r := range rs {
		op, ok := strings.CutSuffix(r.Name, "/protocol")
		if !ok {
			continue
		}
		prim, ok := byName[[2]string{r.Pkg, op + "/primitives"}]
		if !ok || prim.NsPerOp <= 0 {
			continue
		}
		q := ratio{Pkg: r.Pkg, Op: op, Protocol: r.NsPerOp, Primitives: prim.NsPerOp, Ratio: r.NsPerOp / prim.NsPerOp}
		if g, ok := goals[op]; ok {
			q.Goal, q.Verdict = g, "PASS"
			if q.Ratio > g {
				q.Verdict = "OVER"
			}
		}
		out = append(out, q)
	}
	return out
}

// shortPkg drops the module path from a package path.
func shortPkg(p string) string {
	if s, ok := strings.CutPrefix(p, "github.com/parley-im/parley/"); ok {
		return s
	}
	return p
}

// writeTable prints the results with text columns left-aligned and numbers
// right-aligned.
func writeTable(w io.Writer, rs []result) {
	rows := [][]string{{"package", "benchmark", "ns/op", "MB/s", "B/op", "allocs/op"}}
	for _, r := range rs {
		rows = append(rows, []string{shortPkg(r.Pkg), r.Name, num(r.NsPerOp), mbs(r.MBPerS), count(r.BPerOp), count(r.AllocsPerOp)})
	}
	writeAligned(w, rows, 2)
}

func writeRatios(w io.Writer, qs []ratio) {
	rows := [][]string{{"package", "protocol ÷ primitives", "protocol ns/op", "primitives ns/op", "ratio", "goal", ""}}
	for _, q := range qs {
		goal := "-"
		if q.Goal > 0 {
			goal = fmt.Sprintf("≤ %.2f", q.Goal)
		}
		rows = append(rows, []string{shortPkg(q.Pkg), q.Op, num(q.Protocol), num(q.Primitives), fmt.Sprintf("%.2f", q.Ratio), goal, q.Verdict})
	}
	writeAligned(w, rows, 2)
}

func num(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func mbs(v float64) string {
	if v == 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func count(v float64) string {
	if v < 0 {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// writeAligned prints rows in columns two spaces apart; the first left
// columns are left-aligned, the others right-aligned.
func writeAligned(w io.Writer, rows [][]string, left int) {
	var width []int
	for _, row := range rows {
		for i, c := range row {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i > 0 {
				b.WriteString("  ")
			}
			if i < left {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}
