package preview

import (
	"errors"
	"math"
	"unicode/utf16"
)

// fake is a Value for native tests: what package main reads from
// JavaScript, without JavaScript.
type fake struct {
	kind  Kind
	b     bool
	f     float64
	s     string
	bytes []byte
	elems []Value
	// n overrides Len when non-zero (a string or array too long to build).
	n int
	// copyN overrides what CopyBytes reports (an array that changed size).
	copyN int
	// fail makes every read but Kind fail, as a throwing getter would.
	fail bool
	// reads counts conversions (String, CopyBytes, Floats), so tests can
	// check that oversized input is never converted.
	reads *int
}

var errRead = errors.New("fake: read failed")

func (v *fake) Kind() Kind { return v.kind }

func (v *fake) Bool() (bool, error) {
	if v.fail {
		return false, errRead
	}
	return v.b, nil
}

func (v *fake) Float() (float64, error) {
	if v.fail {
		return 0, errRead
	}
	return v.f, nil
}

func (v *fake) Len() (int, error) {
	switch {
	case v.fail:
		return 0, errRead
	case v.n != 0:
		return v.n, nil
	case v.kind == KindString:
		return len(utf16.Encode([]rune(v.s))), nil
	case v.kind == KindArray:
		return len(v.elems), nil
	}
	return len(v.bytes), nil
}

func (v *fake) count() {
	if v.reads != nil {
		*v.reads++
	}
}

func (v *fake) String() (string, error) {
	v.count()
	if v.fail {
		return "", errRead
	}
	return v.s, nil
}

func (v *fake) CopyBytes(dst []byte) (int, error) {
	v.count()
	if v.fail {
		return 0, errRead
	}
	n := copy(dst, v.bytes)
	if v.copyN != 0 {
		return v.copyN, nil
	}
	return max(n, len(v.bytes)), nil
}

// Floats reads elems as JSON.stringify would: non-numbers and non-finite
// numbers stop it.
func (v *fake) Floats(int) ([]float64, int, error) {
	v.count()
	if v.fail || v.n != 0 {
		return nil, -1, errRead
	}
	vals := make([]float64, len(v.elems))
	for i, e := range v.elems {
		f, ok := e.(*fake)
		if !ok || f.kind != KindNumber || math.IsNaN(f.f) || math.IsInf(f.f, 0) {
			return nil, i, nil
		}
		vals[i] = f.f
	}
	return vals, -1, nil
}

func str(s string) *fake         { return &fake{kind: KindString, s: s} }
func num(f float64) *fake        { return &fake{kind: KindNumber, f: f} }
func boolean(b bool) *fake       { return &fake{kind: KindBoolean, b: b} }
func u8(b []byte) *fake          { return &fake{kind: KindUint8Array, bytes: b} }
func undefined() *fake           { return &fake{kind: KindUndefined} }
func null() *fake                { return &fake{kind: KindNull} }
func other() *fake               { return &fake{kind: KindOther} }
func array(elems ...Value) *fake { return &fake{kind: KindArray, elems: elems} }

// panicky panics on every read, as a bug would.
type panicky struct{ kind Kind }

func (p panicky) Kind() Kind                       { return p.kind }
func (panicky) Bool() (bool, error)                { panic("panicky") }
func (panicky) Float() (float64, error)            { panic("panicky") }
func (panicky) Len() (int, error)                  { panic("panicky") }
func (panicky) String() (string, error)            { panic("panicky") }
func (panicky) CopyBytes([]byte) (int, error)      { panic("panicky") }
func (panicky) Floats(int) ([]float64, int, error) { panic("panicky") }
