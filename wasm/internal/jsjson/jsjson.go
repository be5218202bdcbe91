// Package jsjson is the JSON that carries data across core.wasm's
// JavaScript boundary in one call, where reading or writing element by
// element would cross it once per element (docs/WASM.md, performance): a
// reply object goes out as one JSON.parse, an array of numbers comes in as
// one JSON.stringify. It handles only the shapes the module uses, so it is
// small and has no reflection.
package jsjson

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// AppendObject appends fields as a JSON object, keys sorted. Values must be
// bool, int, string, []int or []string.
func AppendObject(dst []byte, fields map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
		dst = append(dst, ':')
		switch v := fields[k].(type) {
		case bool:
			dst = strconv.AppendBool(dst, v)
		case int:
			dst = strconv.AppendInt(dst, int64(v), 10)
		case string:
			dst = appendString(dst, v)
		case []int:
			dst = append(dst, '[')
			for j, e := range v {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = strconv.AppendInt(dst, int64(e), 10)
			}
			dst = append(dst, ']')
		case []string:
			dst = append(dst, '[')
			for j, e := range v {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, e)
			}
			dst = append(dst, ']')
		default:
			return nil, fmt.Errorf("jsjson: field %q: unsupported type %T", k, v)
		}
	}
	return append(dst, '}'), nil
}

// appendString appends s as a JSON string (RFC 8259 §7): quote, backslash
// and control characters escaped, everything else as is.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// MaxNumberSize is the longest number JSON.stringify writes:
// "-1.7976931348623157e+308".
const MaxNumberSize = 24

// ErrNotArray is returned for text that is not a JSON array.
var ErrNotArray = errors.New("jsjson: not a JSON array")

// ParseNumbers parses what JSON.stringify makes of an Array. It returns the
// elements if every one is a number; otherwise bad is the index of the
// first that is not (null stands for NaN, ±Infinity, undefined and holes)
// and vals is nil. Text that is not an array is ErrNotArray.
func ParseNumbers(s string) (vals []float64, bad int, err error) {
	inner, ok := strings.CutPrefix(s, "[")
	if !ok {
		return nil, -1, ErrNotArray
	}
	if inner, ok = strings.CutSuffix(inner, "]"); !ok {
		return nil, -1, ErrNotArray
	}
	if inner == "" {
		return []float64{}, -1, nil
	}
	// Only numbers are accepted, and a number holds no comma, so the
	// elements up to the first non-number are split correctly.
	n := strings.Count(inner, ",") + 1
	vals = make([]float64, 0, n)
	for i := 0; ; i++ {
		e, rest, more := strings.Cut(inner, ",")
		f, ok := number(e)
		if !ok {
			return nil, i, nil
		}
		vals = append(vals, f)
		if !more {
			return vals, -1, nil
		}
		inner = rest
	}
}

// number parses a JSON number (RFC 8259 §6) of at most MaxNumberSize
// bytes.
func number(e string) (float64, bool) {
	if len(e) == 0 || len(e) > MaxNumberSize || !isNumber(e) {
		return 0, false
	}
	f, err := strconv.ParseFloat(e, 64)
	return f, err == nil
}

// isNumber checks the JSON number grammar:
// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
func isNumber(s string) bool {
	i := 0
	digits := func() int {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - start
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
