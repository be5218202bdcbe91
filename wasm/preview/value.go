package preview

import (
	"fmt"
	"math"
	"time"
)

// Kind is the JavaScript type of an argument, as the boundary sorts it.
type Kind int

// Kinds.
const (
	KindUndefined Kind = iota
	KindNull
	KindBoolean
	KindNumber
	KindString
	// KindArray is a plain JavaScript Array (Array.isArray).
	KindArray
	// KindUint8Array is a real Uint8Array (not a Proxy of one).
	KindUint8Array
	// KindOther is anything else: other objects, typed arrays and
	// functions, symbols, BigInts.
	KindOther
)

// String returns the kind's name as an error message shows it.
func (k Kind) String() string {
	switch k {
	case KindUndefined:
		return "undefined"
	case KindNull:
		return "null"
	case KindBoolean:
		return "a boolean"
	case KindNumber:
		return "a number"
	case KindString:
		return "a string"
	case KindArray:
		return "an Array"
	case KindUint8Array:
		return "a Uint8Array"
	}
	return "another kind of value"
}

// Value is one JavaScript argument, as package main presents it. Each
// method but Kind reads from the JavaScript side and may fail; the boundary
// calls a method only on a Value of the kind it applies to, and only after
// checking Len against the argument's bound.
type Value interface {
	// Kind returns the value's type. It never fails: anything the
	// boundary cannot sort is KindOther.
	Kind() Kind
	// Bool returns a KindBoolean value.
	Bool() (bool, error)
	// Float returns a KindNumber value.
	Float() (float64, error)
	// Len returns a KindString value's length in UTF-16 code units, or a
	// KindArray or KindUint8Array value's number of elements.
	Len() (int, error)
	// String returns a KindString value converted to UTF-8 (a lone
	// surrogate becomes U+FFFD, as TextEncoder does).
	String() (string, error)
	// CopyBytes copies a KindUint8Array value into dst and returns the
	// array's length at the time of the copy, which is at most len(dst)
	// when the copy succeeded.
	CopyBytes(dst []byte) (int, error)
	// Floats returns the elements of a KindArray value of at most max
	// elements when every one is a number. Otherwise vals is nil and bad
	// is the index of the first element that is not a finite number (NaN,
	// ±Infinity, holes and undefined included), or err says why the array
	// could not be read.
	Floats(max int) (vals []float64, bad int, err error)
}

// args reads the arguments of one call, checking each before it is
// converted. Every method returns an *Error for the caller to reply with.
type args struct {
	fn     *Function
	values []Value
}

// badArg is a bad_argument error naming the function and the parameter.
func (a *args) badArg(name, format string, v ...any) *Error {
	return &Error{Code: CodeBadArgument, Message: fmt.Sprintf("%s: %s: %s", a.fn.Signature(), name, fmt.Sprintf(format, v...))}
}

// count checks the number of arguments: exactly the function's parameters.
func (a *args) count() *Error {
	if len(a.values) != len(a.fn.Params) {
		return &Error{Code: CodeBadArgument, Message: fmt.Sprintf("%s: want %d arguments, got %d", a.fn.Signature(), len(a.fn.Params), len(a.values))}
	}
	return nil
}

// kind checks argument i's kind.
func (a *args) kind(i int, want Kind) *Error {
	if got := a.values[i].Kind(); got != want {
		return a.badArg(a.fn.Params[i], "want %s, got %s", want, got)
	}
	return nil
}

// bool reads argument i as a boolean.
func (a *args) bool(i int) (bool, *Error) {
	if err := a.kind(i, KindBoolean); err != nil {
		return false, err
	}
	b, err := a.values[i].Bool()
	if err != nil {
		return false, a.badArg(a.fn.Params[i], "unreadable boolean")
	}
	return b, nil
}

// wholeNumber classifies a JavaScript number: ok is false unless f is a
// finite integer ≥ 0 (−0 counts as 0). Whole numbers above max are
// reported as over, without converting them.
func wholeNumber(f float64, max int64) (n int64, over, ok bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f < 0 {
		return 0, false, false
	}
	if f > float64(max) {
		return 0, true, true
	}
	return int64(f), false, true
}

// length reads a number that must be a text length: a whole number ≥ 0;
// above MaxText it is too_large.
func (a *args) length(name string, v Value) (int, *Error) {
	if k := v.Kind(); k != KindNumber {
		return 0, a.badArg(name, "want a number, got %s", k)
	}
	f, err := v.Float()
	if err != nil {
		return 0, a.badArg(name, "unreadable number")
	}
	n, over, ok := wholeNumber(f, MaxText)
	switch {
	case !ok:
		return 0, a.badArg(name, "want a whole number ≥ 0, got %v", f)
	case over:
		return 0, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s: %s: %v bytes, limit %d", a.fn.Signature(), name, f, MaxText)}
	}
	return int(n), nil
}

// string reads argument i as a string of at most max UTF-16 code units;
// a longer string is too_large and is never converted.
func (a *args) string(i, max int) (string, *Error) {
	if err := a.kind(i, KindString); err != nil {
		return "", err
	}
	n, err := a.values[i].Len()
	if err != nil {
		return "", a.badArg(a.fn.Params[i], "unreadable string")
	}
	if n > max {
		return "", &Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s: %s: %d characters, limit %d", a.fn.Signature(), a.fn.Params[i], n, max)}
	}
	s, err := a.values[i].String()
	if err != nil {
		return "", a.badArg(a.fn.Params[i], "unreadable string")
	}
	return s, nil
}

// bytes reads argument i as a Uint8Array of exactly size bytes; any other
// length is reported with code and never copied.
func (a *args) bytes(i, size int, code Code) ([]byte, *Error) {
	if err := a.kind(i, KindUint8Array); err != nil {
		return nil, err
	}
	name := a.fn.Params[i]
	n, err := a.values[i].Len()
	if err != nil {
		return nil, a.badArg(name, "unreadable Uint8Array")
	}
	wrongSize := &Error{Code: code, Message: fmt.Sprintf("%s: %s: want %d bytes, got %d", a.fn.Signature(), name, size, n)}
	if n != size {
		return nil, wrongSize
	}
	b := make([]byte, size)
	n, err = a.values[i].CopyBytes(b)
	if err != nil {
		return nil, a.badArg(name, "unreadable Uint8Array")
	}
	if n != size {
		wrongSize.Message = fmt.Sprintf("%s: %s: want %d bytes, got %d", a.fn.Signature(), name, size, n)
		return nil, wrongSize
	}
	return b, nil
}

// unixTime reads argument i as whole Unix seconds in [1, MaxUnixSeconds].
func (a *args) unixTime(i int) (time.Time, *Error) {
	if err := a.kind(i, KindNumber); err != nil {
		return time.Time{}, err
	}
	f, err := a.values[i].Float()
	if err != nil {
		return time.Time{}, a.badArg(a.fn.Params[i], "unreadable number")
	}
	n, over, ok := wholeNumber(f, MaxUnixSeconds)
	if !ok || over || n == 0 {
		return time.Time{}, a.badArg(a.fn.Params[i], "want whole Unix seconds in [1, %d], got %v", int64(MaxUnixSeconds), f)
	}
	return time.Unix(n, 0), nil
}

// lengths reads argument i as an Array of at most MaxBatch text lengths.
// Entries above MaxText are returned as -1.
func (a *args) lengths(i int) ([]int, *Error) {
	if err := a.kind(i, KindArray); err != nil {
		return nil, err
	}
	name := a.fn.Params[i]
	n, err := a.values[i].Len()
	if err != nil {
		return nil, a.badArg(name, "unreadable Array")
	}
	if n > MaxBatch {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s: %s: %d entries, limit %d", a.fn.Signature(), name, n, MaxBatch)}
	}
	vals, bad, err := a.values[i].Floats(MaxBatch)
	switch {
	case err != nil:
		return nil, a.badArg(name, "want an Array of numbers (%v)", err)
	case bad >= 0:
		return nil, a.badArg(fmt.Sprintf("%s[%d]", name, bad), "want a finite number")
	case len(vals) > MaxBatch:
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s: %s: %d entries, limit %d", a.fn.Signature(), name, len(vals), MaxBatch)}
	}
	out := make([]int, len(vals))
	for j, f := range vals {
		n, over, ok := wholeNumber(f, MaxText)
		switch {
		case !ok:
			return nil, a.badArg(fmt.Sprintf("%s[%d]", name, j), "want a whole number ≥ 0, got %v", f)
		case over:
			out[j] = -1
		default:
			out[j] = int(n)
		}
	}
	return out, nil
}
