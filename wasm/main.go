//go:build js && wasm

// Command wasm is core.wasm, the WebAssembly module the extension loads
// (docs/WASM.md). It registers one global object, parleyCore, whose
// functions are package preview's, and then waits for calls for as long as
// the page lives.
//
// The package only adapts JavaScript values to preview.Value and replies back
// to plain JavaScript objects. It reads arguments through calls that
// wasm_exec.js guards with try/catch (Reflect.get, Array.isArray,
// ArrayBuffer.isView, the Uint8Array constructor) rather than plain property
// reads, which it does not guard, so a getter that throws, a Proxy or a
// BigInt argument gives an error reply instead of an exception that would
// unwind through the Go runtime.
package main

import (
	"fmt"
	"os"

	"github.com/hack-pad/safejs"

	"github.com/parley-im/parley/wasm/preview"
)

// GlobalName is the name of the global object the module registers.
const GlobalName = "parleyCore"

func main() {
	if err := register(); err != nil {
		fmt.Fprintf(os.Stderr, "core.wasm: error: %v\n", err)
		os.Exit(1)
	}
	// The functions are called from JavaScript; main must not return.
	select {}
}

// register builds parleyCore, freezes it, and sets it on globalThis.
func register() error {
	r, err := newRealm()
	if err != nil {
		return err
	}
	obj, err := r.object.New()
	if err != nil {
		return fmt.Errorf("new object: %w", err)
	}
	for _, f := range preview.Functions() {
		fn, err := safejs.FuncOf(r.handler(f))
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if err := obj.Set(f.Name, fn); err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
	}
	if _, err := r.object.Call("freeze", obj); err != nil {
		return fmt.Errorf("freeze: %w", err)
	}
	if err := safejs.Global().Set(GlobalName, obj); err != nil {
		return fmt.Errorf("set %s: %w", GlobalName, err)
	}
	return nil
}

// handler wraps f as a JavaScript function that never throws.
func (r *realm) handler(f *preview.Function) func(safejs.Value, []safejs.Value) any {
	return func(_ safejs.Value, args []safejs.Value) (result any) {
		defer func() {
			if recover() != nil {
				result = internalError(f)
			}
		}()
		vals := make([]preview.Value, len(args))
		for i, a := range args {
			vals[i] = &jsValue{r: r, v: a, kind: r.kindOf(a)}
		}
		out, err := r.toJS(f.Call(vals))
		if err != nil {
			return internalError(f)
		}
		return out
	}
}

// internalError is the reply when something failed past preview.Call.
func internalError(f *preview.Function) map[string]any {
	return map[string]any{"ok": false, "error": f.Signature() + ": internal error", "code": string(preview.CodeInternal)}
}
