package main

import (
	"bytes"
	"strings"
	"testing"
)

// canned is real `go test -bench -benchmem -count 2 -cpu 2` output for two
// packages, with a protocol/primitives pair in the second.
const canned = `goos: linux
goarch: amd64
pkg: github.com/parley-im/parley/core/suite
cpu: Intel(R) Xeon(R) Processor
BenchmarkX25519DH-2            	    2317	    108206 ns/op	     128 B/op	       3 allocs/op
BenchmarkX25519DH-2            	    2300	    100000 ns/op	     128 B/op	       3 allocs/op
BenchmarkSeal/64-2             	  743644	       343.1 ns/op	 186.55 MB/s	      32 B/op	       1 allocs/op
BenchmarkSeal/64-2             	  743644	       345.1 ns/op	 185.00 MB/s	      32 B/op	       1 allocs/op
PASS
ok  	github.com/parley-im/parley/core/suite	5.572s
goos: linux
goarch: amd64
pkg: github.com/parley-im/parley/core/handshake
BenchmarkFirstContact/protocol-2     	    1000	    300000 ns/op	    4000 B/op	      40 allocs/op
BenchmarkFirstContact/primitives-2   	    1000	    250000 ns/op	    1000 B/op	      10 allocs/op
BenchmarkRatchet200B/same-direction/protocol-2   	 100000	     9000 ns/op
BenchmarkRatchet200B/same-direction/primitives-2 	 100000	     3000 ns/op
BenchmarkLonely/protocol-2   	 100000	     9000 ns/op
BenchmarkOther/protocol-2   	 100000	     1500 ns/op
BenchmarkOther/primitives-2 	 100000	     1000 ns/op
--- FAIL: BenchmarkBroken-2
PASS
ok  	github.com/parley-im/parley/core/handshake	3.1s
`

func TestParse(t *testing.T) {
	rs := parse(strings.NewReader(canned), 2)
	if len(rs) != 11 {
		t.Fatalf("parsed %d results, want 11: %+v", len(rs), rs)
	}
	r := rs[2]
	if r.Pkg != "github.com/parley-im/parley/core/suite" || r.Name != "BenchmarkSeal/64" || r.N != 743644 ||
		r.NsPerOp != 343.1 || r.MBPerS != 186.55 || r.BPerOp != 32 || r.AllocsPerOp != 1 {
		t.Errorf("parsed %+v", r)
	}
	if r := rs[6]; r.Pkg != "github.com/parley-im/parley/core/handshake" || r.Name != "BenchmarkRatchet200B/same-direction/protocol" || r.BPerOp != -1 {
		t.Errorf("parsed %+v", r)
	}
	// With GOMAXPROCS 1 there is no suffix to strip; "-2" stays.
	if rs := parse(strings.NewReader("BenchmarkSeal/size-2 	 10	 5 ns/op\n"), 1); rs[0].Name != "BenchmarkSeal/size-2" {
		t.Errorf("procs 1: name %q", rs[0].Name)
	}
}

func TestAggregate(t *testing.T) {
	rs := aggregate(parse(strings.NewReader(canned), 2))
	if len(rs) != 9 {
		t.Fatalf("aggregated to %d results, want 9", len(rs))
	}
	if rs[0].Name != "BenchmarkX25519DH" || rs[0].NsPerOp != 104103 {
		t.Errorf("median of 108206 and 100000: %+v", rs[0])
	}
	if rs[1].NsPerOp != 344.1 || rs[1].MBPerS != 185.775 {
		t.Errorf("Seal/64 medians: %+v", rs[1])
	}
}

func TestPairRatios(t *testing.T) {
	qs := pairRatios(aggregate(parse(strings.NewReader(canned), 2)), goals())
	want := []struct {
		op      string
		ratio   float64
		verdict string
	}{
		{"BenchmarkFirstContact", 1.2, "PASS"},
		{"BenchmarkRatchet200B/same-direction", 3, "OVER"},
		{"BenchmarkOther", 1.5, ""},
	}
	if len(qs) != len(want) {
		t.Fatalf("ratios %+v, want %d (BenchmarkLonely has no twin)", qs, len(want))
	}
	for i, w := range want {
		if qs[i].Op != w.op || qs[i].Ratio != w.ratio || qs[i].Verdict != w.verdict {
			t.Errorf("ratio %d = %+v, want %+v", i, qs[i], w)
		}
	}
}

func TestWriteTables(t *testing.T) {
	rs := aggregate(parse(strings.NewReader(canned), 2))
	var b bytes.Buffer
	writeTable(&b, rs)
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) != 1+len(rs) {
		t.Fatalf("table has %d lines:\n%s", len(lines), b.String())
	}
	for _, l := range lines[1:] {
		if len(l) != len(lines[0]) {
			t.Errorf("rows are not aligned:\n%s", b.String())
			break
		}
	}
	if f := strings.Fields(lines[2]); strings.Join(f, " ") != "core/suite BenchmarkSeal/64 344 185.8 32 1" {
		t.Errorf("Seal/64 row %q", lines[2])
	}
	if !strings.Contains(lines[1], "104103") {
		t.Errorf("table:\n%s", b.String())
	}
	b.Reset()
	writeRatios(&b, pairRatios(rs, goals()))
	if s := b.String(); !strings.Contains(s, "1.20") || !strings.Contains(s, "≤ 1.25  PASS") || !strings.Contains(s, "OVER") {
		t.Errorf("ratios:\n%s", s)
	}
}
