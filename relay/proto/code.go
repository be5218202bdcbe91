package proto

import "strconv"

// Code is a relay error code (docs/PROTOCOL.md §Relay, "Error codes"). It is
// sent as a u16 in an Error response or a Welcome. Code implements error, so
// a caller can branch with errors.Is(err, proto.CodeQuotaToken).
//
// Codes are append-only: a value, once assigned, keeps its meaning.
type Code uint16

// Error codes. CodeOK appears only in a Welcome.
const (
	// CodeOK: no error.
	CodeOK Code = 0
	// CodeMalformed: the request is not a valid encoding (truncated,
	// trailing bytes, a field out of range).
	CodeMalformed Code = 1
	// CodeVersion: the request's version is not one the relay speaks.
	CodeVersion Code = 2
	// CodeUnknownType: the request's tag names no request.
	CodeUnknownType Code = 3
	// CodeAccessDenied: the relay is private and the hello carried no
	// access key, or the wrong one. Sent in the Welcome; the relay then
	// closes the connection.
	CodeAccessDenied Code = 4
	// CodeTooLarge: the blob exceeds the relay's size cap.
	CodeTooLarge Code = 5
	// CodeInsufficientWork: the stamp claims fewer bits than the relay
	// requires, or its hash lacks the bits it claims (including a stamp
	// made for another token or blob).
	CodeInsufficientWork Code = 6
	// CodeStaleStamp: the stamp's time is too far in the past.
	CodeStaleStamp Code = 7
	// CodeFutureStamp: the stamp's time is too far in the future.
	CodeFutureStamp Code = 8
	// CodeBusy: the relay cannot take the request now (its stamp replay
	// cache is full of live entries). Nothing was recorded; retry later.
	CodeBusy Code = 9
	// CodeQuotaToken: the token's mailbox holds the most items the relay
	// allows.
	CodeQuotaToken Code = 10
	// CodeQuotaTotal: the relay holds the most bytes it allows.
	CodeQuotaTotal Code = 11
	// CodeInternal: the relay failed to store or read (for example a disk
	// error). Nothing was stored; retry later.
	CodeInternal Code = 12
	// CodeUnavailable: the relay's store cannot be reached for now (its
	// database is down or restarting, or a connection to it was lost).
	// The request may or may not have taken effect: retry the same
	// request later (a retried DEPOSIT is deduplicated, an ACK is
	// idempotent).
	CodeUnavailable Code = 13
)

// maxCode is the largest assigned code.
const maxCode = CodeUnavailable

// codeNames are the stable names used in logs and health counters.
var codeNames = [...]string{
	CodeOK:               "ok",
	CodeMalformed:        "malformed",
	CodeVersion:          "version",
	CodeUnknownType:      "unknown_type",
	CodeAccessDenied:     "access_denied",
	CodeTooLarge:         "too_large",
	CodeInsufficientWork: "insufficient_work",
	CodeStaleStamp:       "stale_stamp",
	CodeFutureStamp:      "future_stamp",
	CodeBusy:             "busy",
	CodeQuotaToken:       "quota_token",
	CodeQuotaTotal:       "quota_total",
	CodeInternal:         "internal",
	CodeUnavailable:      "unavailable",
}

// Codes returns every assigned error code but CodeOK, in order.
func Codes() []Code {
	out := make([]Code, 0, maxCode)
	for c := CodeMalformed; c <= maxCode; c++ {
		out = append(out, c)
	}
	return out
}

// Known reports whether c is an assigned code.
func (c Code) Known() bool { return c <= maxCode }

// String returns the code's stable name, or "code_N" for an unassigned one.
func (c Code) String() string {
	if c.Known() {
		return codeNames[c]
	}
	return "code_" + strconv.Itoa(int(c))
}

// Error returns "relay: NAME (code N)".
func (c Code) Error() string {
	return "relay: " + c.String() + " (code " + strconv.Itoa(int(c)) + ")"
}

// Retryable reports whether the same request may succeed later unchanged:
// CodeBusy, CodeInternal and CodeUnavailable.
func (c Code) Retryable() bool { return c == CodeBusy || c == CodeInternal || c == CodeUnavailable }
