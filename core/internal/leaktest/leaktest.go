// Package leaktest checks that a value holding secrets prints none of them
// through package fmt, whatever the verb (STYLE.md "Secrets": no secret in
// any error message or String). It is for tests only.
package leaktest

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// verbs are the fmt verbs Check tries (a constant table). %d matters: fmt
// calls String only for %v, %s, %x, %X and %q, so a String method alone
// leaves %d printing every field.
var verbs = []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "% x", "%d", "%q", "%o", "%b"}

// renderings returns substrings that appear when fmt prints b (or an array
// holding it) with some verb: hex, decimal, Go-syntax and octal forms of
// its first eight bytes, and the raw and quoted strings %s and %q print.
func renderings(b []byte) []string {
	p := b[:min(len(b), 8)]
	trim := func(s, prefix, suffix string) string {
		return strings.TrimSuffix(strings.TrimPrefix(s, prefix), suffix)
	}
	return []string{
		hex.EncodeToString(p),
		strings.ToUpper(hex.EncodeToString(p)),
		fmt.Sprintf("% x", p),
		trim(fmt.Sprint(p), "[", "]"),
		trim(fmt.Sprintf("%#v", p), "[]byte{", "}"),
		trim(fmt.Sprintf("%o", p), "[", "]"),
		trim(fmt.Sprintf("%b", p), "[", "]"),
		string(p),
		trim(fmt.Sprintf("%q", p), `"`, `"`),
	}
}

// Check fails t if printing v with any of the verbs %v %+v %#v %s %x %X
// % x %d %q %o %b shows any of secrets. Each
// secret must be at least 8 bytes of random-looking data so that a match is
// not a coincidence.
func Check(t testing.TB, v any, secrets ...[]byte) {
	t.Helper()
	for _, verb := range verbs {
		out := fmt.Sprintf(verb, v)
		for i, s := range secrets {
			if len(s) < 8 {
				t.Fatalf("leaktest: secret %d shorter than 8 bytes", i)
			}
			for _, r := range renderings(s) {
				if strings.Contains(out, r) {
					t.Errorf("fmt %s of %T shows secret %d: %.120s", verb, v, i, out)
					break
				}
			}
		}
	}
}
