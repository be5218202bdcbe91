package vectortest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// recorder is a testing.TB whose Fatalf ends only the goroutine it runs in,
// so a test can observe that a helper fails.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(string, ...any) {
	r.failed = true
	runtime.Goexit()
}

// fails runs f against a recorder and reports whether f failed it.
func fails(t *testing.T, f func(tb testing.TB)) bool {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r.failed
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "v.json")
	v := map[string]string{"a": "01"}
	if err := os.WriteFile(path, Encode(t, v, "\t"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		indent string
		v      any
		fail   bool
	}{
		{"equal", path, "\t", v, false},
		{"other value", path, "\t", map[string]string{"a": "02"}, true},
		{"other indentation", path, "  ", v, true},
		{"missing file", filepath.Join(dir, "none.json"), "\t", v, true},
		{"unencodable", path, "\t", func() {}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := fails(t, func(tb testing.TB) { Check(tb, tc.path, tc.indent, tc.v) }); got != tc.fail {
				t.Errorf("Check failed = %v, want %v", got, tc.fail)
			}
		})
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`{"a":"01"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`{"a":`), 0o644); err != nil {
		t.Fatal(err)
	}
	var v map[string]string
	Read(t, good, &v)
	if v["a"] != "01" {
		t.Fatalf("Read decoded %v", v)
	}
	for _, p := range []string{bad, filepath.Join(dir, "none.json")} {
		if !fails(t, func(tb testing.TB) { Read(tb, p, &v) }) {
			t.Errorf("Read(%s) did not fail", filepath.Base(p))
		}
	}
}

func TestUnhex(t *testing.T) {
	if got := Unhex(t, "00ff"); len(got) != 2 || got[0] != 0 || got[1] != 0xff {
		t.Fatalf("Unhex = %x", got)
	}
	for _, s := range []string{"0", "zz", "0g"} {
		if !fails(t, func(tb testing.TB) { Unhex(tb, s) }) {
			t.Errorf("Unhex(%q) did not fail", s)
		}
	}
}
