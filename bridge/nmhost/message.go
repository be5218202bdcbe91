package nmhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Error codes, the `code` of an error reply. docs/NATIVE_MESSAGING.md lists
// them with their meaning; the extension branches on them, so they never
// change meaning.
const (
	// CodeFrameTooLarge: the request frame exceeded MaxFrameSize; it was
	// read, discarded and not acted on. The reply's id is null.
	CodeFrameTooLarge = "frame_too_large"
	// CodeBadRequest: the frame is not a UTF-8 JSON object of the request
	// shape. The id is null unless a valid id could be read.
	CodeBadRequest = "bad_request"
	// CodeUnknownMethod: no method of that name.
	CodeUnknownMethod = "unknown_method"
	// CodeInvalidParams: params missing, of the wrong type, with unknown
	// fields, or refused by the method's validation.
	CodeInvalidParams = "invalid_params"
	// CodeInternal: the method failed unexpectedly (or panicked); nothing
	// about the failure is disclosed beyond this code.
	CodeInternal = "internal_error"
	// CodeReplyTooLarge: the method's result would not fit in one frame; the
	// caller should ask for a smaller page.
	CodeReplyTooLarge = "reply_too_large"
	// CodeShuttingDown: the host stopped before the method finished.
	CodeShuttingDown = "shutting_down"
)

const (
	// MaxIDSize bounds the JSON text of a request id, in bytes.
	MaxIDSize = 128
	// MaxMethodSize bounds a method name, in bytes.
	MaxMethodSize = 64
)

// Error is the `error` member of an error reply. Methods return an *Error
// (possibly wrapped) to choose the code and message the extension sees; any
// other error becomes CodeInternal with a fixed message. A Message must never
// contain secret material.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// NewError returns an *Error with the given code and message.
func NewError(code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Errorf returns an *Error whose message is formatted from format and args.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error implements error.
func (e *Error) Error() string { return "nmhost: " + e.Code + ": " + e.Message }

// Request is a decoded request frame.
type Request struct {
	// ID is the request id as it appeared in the frame: a JSON string or
	// number of at most MaxIDSize bytes. Replies echo it byte for byte.
	ID json.RawMessage
	// Method is the method name, 1 to MaxMethodSize bytes.
	Method string
	// Params is the raw `params` member, nil when absent.
	Params json.RawMessage
}

// nullID is the id of replies to frames whose id could not be read.
var nullID = json.RawMessage("null")

// DecodeRequest parses one request frame: a UTF-8 JSON object with members
// "id" (string or number, required), "method" (non-empty string, required)
// and "params" (any JSON value, optional), and nothing else. On failure it
// returns an *Error with CodeBadRequest and the id to answer with: the
// request's id if that much was valid, else null.
func DecodeRequest(frame []byte) (*Request, json.RawMessage, *Error) {
	if !utf8.Valid(frame) {
		return nil, nullID, NewError(CodeBadRequest, "frame is not valid UTF-8")
	}
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nullID, NewError(CodeBadRequest, "frame is not a JSON object")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(frame, &members); err != nil {
		return nil, nullID, NewError(CodeBadRequest, "frame is not valid JSON")
	}
	id, ok := members["id"]
	if !ok {
		return nil, nullID, NewError(CodeBadRequest, "missing id")
	}
	if !validID(id) {
		return nil, nullID, Errorf(CodeBadRequest, "id must be a string or number of at most %d bytes", MaxIDSize)
	}
	id = bytes.Clone(id)
	for name := range members {
		if name != "id" && name != "method" && name != "params" {
			return nil, id, NewError(CodeBadRequest, "unknown member in request (allowed: id, method, params)")
		}
	}
	rawMethod, ok := members["method"]
	if !ok {
		return nil, id, NewError(CodeBadRequest, "missing method")
	}
	var method string
	if err := json.Unmarshal(rawMethod, &method); err != nil {
		return nil, id, NewError(CodeBadRequest, "method must be a string")
	}
	if method == "" || len(method) > MaxMethodSize {
		return nil, id, Errorf(CodeBadRequest, "method must be 1 to %d bytes", MaxMethodSize)
	}
	return &Request{ID: id, Method: method, Params: members["params"]}, id, nil
}

// validID reports whether raw (a complete JSON value, as cut out by
// encoding/json) is a string or a number no longer than MaxIDSize.
func validID(raw json.RawMessage) bool {
	if len(raw) == 0 || len(raw) > MaxIDSize {
		return false
	}
	switch c := raw[0]; {
	case c == '"':
		return true
	case c == '-' || '0' <= c && c <= '9':
		return true
	}
	return false
}

// reply is a success reply, {id, result}.
type reply struct {
	ID     json.RawMessage `json:"id"`
	Result any             `json:"result"`
}

// errorReply is an error reply, {id, error: {code, message}}.
type errorReply struct {
	ID    json.RawMessage `json:"id"`
	Error *Error          `json:"error"`
}

// event is a pushed event, {event, data}.
type event struct {
	Event string `json:"event"`
	Data  any    `json:"data"`
}

// marshal encodes v as compact JSON without HTML escaping (message text
// keeps its '<', '>' and '&').
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
