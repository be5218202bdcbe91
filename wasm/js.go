//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"math"

	"github.com/hack-pad/safejs"

	"github.com/parley-im/parley/wasm/internal/jsjson"
	"github.com/parley-im/parley/wasm/preview"
)

// realm holds the JavaScript built-ins the adapter calls, looked up once at
// start-up.
type realm struct {
	object, reflect, array, arrayBuffer, uint8Array, uint8Proto, json safejs.Value
}

func newRealm() (*realm, error) {
	g := safejs.Global()
	var r realm
	for name, dst := range map[string]*safejs.Value{
		"Object": &r.object, "Reflect": &r.reflect, "Array": &r.array,
		"ArrayBuffer": &r.arrayBuffer, "Uint8Array": &r.uint8Array, "JSON": &r.json,
	} {
		v, err := g.Get(name)
		if err != nil || v.Type() != safejs.TypeFunction && v.Type() != safejs.TypeObject {
			return nil, fmt.Errorf("no %s in this JavaScript environment", name)
		}
		*dst = v
	}
	p, err := r.uint8Array.Get("prototype")
	if err != nil {
		return nil, fmt.Errorf("no Uint8Array.prototype: %w", err)
	}
	r.uint8Proto = p
	return &r, nil
}

// isTrue reports whether a guarded call returned true.
func isTrue(v safejs.Value, err error) bool {
	if err != nil || v.Type() != safejs.TypeBoolean {
		return false
	}
	b, err := v.Bool()
	return err == nil && b
}

// kindOf sorts a value. Type reads the value's reference and calls no
// JavaScript, but panics on a BigInt (wasm_exec.js gives it no type flag).
func (r *realm) kindOf(v safejs.Value) (k preview.Kind) {
	defer func() {
		if recover() != nil {
			k = preview.KindOther
		}
	}()
	switch v.Type() {
	case safejs.TypeUndefined:
		return preview.KindUndefined
	case safejs.TypeNull:
		return preview.KindNull
	case safejs.TypeBoolean:
		return preview.KindBoolean
	case safejs.TypeNumber:
		return preview.KindNumber
	case safejs.TypeString:
		return preview.KindString
	case safejs.TypeObject:
		if isTrue(r.array.Call("isArray", v)) {
			return preview.KindArray
		}
		// isView is false for a Proxy, so the value has the internal
		// slots the Uint8Array constructor copies from.
		if isTrue(r.arrayBuffer.Call("isView", v)) && isTrue(r.uint8Proto.Call("isPrototypeOf", v)) {
			return preview.KindUint8Array
		}
	}
	return preview.KindOther
}

// jsValue is a preview.Value read from JavaScript.
type jsValue struct {
	r    *realm
	v    safejs.Value
	kind preview.Kind
}

var errKind = errors.New("wrong kind of value")

func (j *jsValue) Kind() preview.Kind { return j.kind }

func (j *jsValue) Bool() (bool, error) {
	if j.kind != preview.KindBoolean {
		return false, errKind
	}
	return j.v.Bool()
}

func (j *jsValue) Float() (float64, error) {
	if j.kind != preview.KindNumber {
		return 0, errKind
	}
	return j.v.Float()
}

// Len reads length through Reflect.get, which wasm_exec.js guards; a
// primitive string is first wrapped by Object(), whose length is a plain
// data property, so no JavaScript of the caller's runs.
func (j *jsValue) Len() (int, error) {
	switch j.kind {
	case preview.KindString:
		w, err := j.r.object.Invoke(j.v)
		if err != nil {
			return 0, err
		}
		return j.r.length(w)
	case preview.KindArray, preview.KindUint8Array:
		return j.r.length(j.v)
	}
	return 0, errKind
}

// length returns v.length read by Reflect.get, a whole number ≥ 0.
func (r *realm) length(v safejs.Value) (int, error) {
	n, err := r.reflect.Call("get", v, "length")
	if err != nil || n.Type() != safejs.TypeNumber {
		return 0, errors.New("unreadable length")
	}
	f, err := n.Float()
	if err != nil || math.IsNaN(f) || f < 0 || f > 1<<53 {
		return 0, errors.New("unreadable length")
	}
	return int(f), nil
}

func (j *jsValue) String() (string, error) {
	if j.kind != preview.KindString {
		return "", errKind
	}
	return j.v.String()
}

// CopyBytes copies through a fresh Uint8Array made by the constructor, which
// reads the source's internal slots, not its (overridable) properties.
func (j *jsValue) CopyBytes(dst []byte) (int, error) {
	if j.kind != preview.KindUint8Array {
		return 0, errKind
	}
	fresh, err := j.r.uint8Array.New(j.v)
	if err != nil {
		return 0, err
	}
	n, err := j.r.length(fresh)
	if err != nil || n > len(dst) {
		return n, err
	}
	return safejs.CopyBytesToGo(dst[:n], fresh)
}

// Floats reads the whole array in one guarded call, JSON.stringify, which
// writes every element that is not a finite number as something other than
// a number (null for NaN, ±Infinity, undefined and holes).
func (j *jsValue) Floats(max int) ([]float64, int, error) {
	if j.kind != preview.KindArray {
		return nil, -1, errKind
	}
	s, err := j.r.json.Call("stringify", j.v)
	if err != nil || s.Type() != safejs.TypeString {
		return nil, -1, errors.New("JSON.stringify failed")
	}
	w, err := j.r.object.Invoke(s)
	if err != nil {
		return nil, -1, err
	}
	n, err := j.r.length(w)
	if err != nil {
		return nil, -1, err
	}
	if n > 2+max*(jsjson.MaxNumberSize+1) {
		return nil, -1, errors.New("entries that are not numbers")
	}
	text, err := s.String()
	if err != nil {
		return nil, -1, err
	}
	return jsjson.ParseNumbers(text)
}

// toJS converts a reply to a plain object in one guarded call, JSON.parse,
// then adds each []byte field as a Uint8Array.
func (r *realm) toJS(reply preview.Reply) (safejs.Value, error) {
	plain := make(map[string]any, len(reply))
	var blobs []string
	for k, v := range reply {
		if _, ok := v.([]byte); ok {
			blobs = append(blobs, k)
			continue
		}
		plain[k] = v
	}
	text, err := jsjson.AppendObject(nil, plain)
	if err != nil {
		return safejs.Value{}, err
	}
	obj, err := r.json.Call("parse", string(text))
	if err != nil {
		return safejs.Value{}, err
	}
	for _, k := range blobs {
		b := reply[k].([]byte)
		u, err := r.uint8Array.New(len(b))
		if err != nil {
			return safejs.Value{}, err
		}
		if _, err := safejs.CopyBytesToJS(u, b); err != nil {
			return safejs.Value{}, err
		}
		if err := obj.Set(k, u); err != nil {
			return safejs.Value{}, err
		}
	}
	return obj, nil
}
