package jsjson

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// TestAppendObject: the output is valid JSON that encoding/json reads back
// to the same values, for every supported type and awkward strings.
func TestAppendObject(t *testing.T) {
	t.Parallel()
	in := map[string]any{
		"ok": true, "no": false, "n": -42, "big": 1 << 52, "s": "a\"b\\c\n\x00\x1f é 😀 \u2028",
		"ints": []int{0, -1, 65536}, "strs": []string{"", "x", "\""}, "empty": []int{}, "q\"key": "v",
	}
	b, err := AppendObject(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	want, _ := json.Marshal(in)
	got, _ := json.Marshal(out)
	if string(got) != string(want) {
		t.Fatalf("round trip:\n got %s\nwant %s", got, want)
	}
	if _, err := AppendObject(nil, map[string]any{"x": 1.5}); err == nil {
		t.Fatal("float accepted")
	}
	if _, err := AppendObject(nil, map[string]any{"x": []byte{1}}); err == nil {
		t.Fatal("bytes accepted")
	}
}

// TestParseNumbers: JSON.stringify's output for arrays of numbers parses;
// the first non-number is found; anything but an array is refused.
func TestParseNumbers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want []float64
		bad  int
	}{
		{"[]", []float64{}, -1},
		{"[0]", []float64{0}, -1},
		{"[1,2.5,-3,1e+300,5e-324,1.7976931348623157e+308]", []float64{1, 2.5, -3, 1e300, 5e-324, math.MaxFloat64}, -1},
		{"[1,null,3]", nil, 1},                        // NaN, Infinity, undefined, a hole
		{`[1,"2",3]`, nil, 1},                         // a string
		{`["a,b",1]`, nil, 0},                         // a string with a comma
		{"[1,[2],3]", nil, 1},                         // an array
		{`[1,{"a":1}]`, nil, 1},                       // an object
		{"[true]", nil, 0},                            // a boolean
		{"[01]", nil, 0},                              // not JSON
		{"[1.]", nil, 0},                              // not JSON
		{"[.5]", nil, 0},                              // not JSON
		{"[Infinity]", nil, 0},                        // not JSON
		{"[0x10]", nil, 0},                            // ParseFloat would take it; JSON does not
		{"[1_0]", nil, 0},                             // ditto
		{"[1,]", nil, 1},                              // empty element
		{"[" + strings.Repeat("1", 25) + "]", nil, 0}, // longer than any number JSON.stringify writes
	} {
		got, bad, err := ParseNumbers(tc.in)
		if err != nil || bad != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, %d, %v; want %v, %d", tc.in, got, bad, err, tc.want, tc.bad)
		}
	}
	for _, s := range []string{"", "1", "{}", "[1", "1]", `"[1]"`, "null"} {
		if v, _, err := ParseNumbers(s); !errors.Is(err, ErrNotArray) || v != nil {
			t.Errorf("%q: %v, %v", s, v, err)
		}
	}
}

// FuzzParseNumbers: no panic; accepted input re-encodes to numbers that
// encoding/json reads back identically.
func FuzzParseNumbers(f *testing.F) {
	f.Add("[1,2,3]")        // lengths
	f.Add("[1e+300,-0.5]")  // large and fractional
	f.Add(`[null,"x",[1]]`) // non-numbers
	f.Add("[")              // truncated
	f.Fuzz(func(t *testing.T, s string) {
		vals, bad, err := ParseNumbers(s)
		if err != nil || bad >= 0 {
			if vals != nil {
				t.Fatal("values with an error")
			}
			return
		}
		var ref []float64
		if err := json.Unmarshal([]byte(s), &ref); err != nil {
			t.Fatalf("%q accepted, encoding/json: %v", s, err)
		}
		if !slices.Equal(vals, ref) {
			t.Fatalf("%q: %v, encoding/json %v", s, vals, ref)
		}
	})
}

func BenchmarkParseNumbers(b *testing.B) {
	s := "[" + strings.Repeat("12345,", 999) + "60573]"
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, bad, err := ParseNumbers(s); err != nil || bad >= 0 {
			b.Fatal(err)
		}
	}
}
