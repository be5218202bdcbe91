package nmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
)

// HandlerFunc handles one request. params is the raw `params` member (nil
// when absent). The result is encoded as the reply's `result`; an error
// becomes an error reply (see Error). ctx is cancelled when the host shuts
// down.
type HandlerFunc func(ctx context.Context, params json.RawMessage) (any, error)

// Validator is implemented by params types that check their own values
// beyond their JSON shape (required fields, ranges). A non-nil error is
// answered with CodeInvalidParams and the error's text as message, so it
// must not contain secret material.
type Validator interface {
	Validate() error
}

// Router maps method names to handlers. Register every method before
// serving; a Router is read-only once a Host uses it.
type Router struct {
	handlers map[string]HandlerFunc
}

// NewRouter returns an empty Router.
func NewRouter() *Router {
	return &Router{handlers: make(map[string]HandlerFunc)}
}

// HandleFunc registers h for method. It panics if method is empty, too long
// or already registered: those are programming errors.
func (r *Router) HandleFunc(method string, h HandlerFunc) {
	if method == "" || len(method) > MaxMethodSize {
		panic(fmt.Sprintf("nmhost: invalid method name %q", method))
	}
	if h == nil {
		panic("nmhost: nil handler for " + method)
	}
	if _, dup := r.handlers[method]; dup {
		panic("nmhost: method registered twice: " + method)
	}
	r.handlers[method] = h
}

// Handle registers a typed handler for method: the request's params are
// decoded into a P with unknown fields refused (absent or null params decode
// as the zero P, so a method without params takes struct{}), then validated
// if P implements Validator. A decoding or validation failure is answered
// with CodeInvalidParams without calling fn.
func Handle[P, R any](r *Router, method string, fn func(ctx context.Context, params P) (R, error)) {
	r.HandleFunc(method, func(ctx context.Context, raw json.RawMessage) (any, error) {
		var p P
		if err := DecodeParams(raw, &p); err != nil {
			return nil, err
		}
		return fn(ctx, p)
	})
}

// DecodeParams decodes raw params into dst (a pointer) strictly: one JSON
// value, no unknown object fields, no trailing data. Absent or null params
// leave dst at its zero value. If *dst implements Validator it is validated.
// Every failure is an *Error with CodeInvalidParams.
func DecodeParams(raw json.RawMessage, dst any) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) != 0 && !bytes.Equal(trimmed, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			return NewError(CodeInvalidParams, describeDecodeError(err))
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return NewError(CodeInvalidParams, "params: trailing data")
		}
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			return NewError(CodeInvalidParams, err.Error())
		}
	}
	return nil
}

// describeDecodeError turns a decoding error into a message that names the
// field and the expected type but never echoes the offending value.
func describeDecodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field != "" {
			return fmt.Sprintf("params: field %q must be %s", typeErr.Field, typeErr.Type)
		}
		return fmt.Sprintf("params must be %s", typeErr.Type)
	case errors.As(err, &syntaxErr):
		return "params: malformed JSON"
	}
	// DisallowUnknownFields reports `json: unknown field "name"`; the name
	// came from the caller but is bounded by the frame and quoted.
	const prefix = "json: "
	msg := err.Error()
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		msg = msg[len(prefix):]
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return "params: " + msg
}

// Methods returns the registered method names, sorted.
func (r *Router) Methods() []string {
	names := make([]string, 0, len(r.handlers))
	for name := range r.handlers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

func (r *Router) lookup(method string) HandlerFunc {
	return r.handlers[method]
}
