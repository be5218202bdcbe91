// Package preview is the logic behind core.wasm, the WebAssembly module the
// extension loads (docs/WASM.md, API version 1; DESIGN.md §Extension). It
// computes previews from public data only: the size of the blob a message
// will make, safety numbers from two public identities, the public fields of
// an invite, and an invite's QR code. It never holds a key.
//
// Package main (wasm/main.go) adapts JavaScript values to Value and registers
// each Function on the global object parleyCore; everything else is here,
// in pure Go, so it is tested natively. A Function checks the number, types
// and sizes of its arguments before converting any of them, then returns a
// Reply: {ok: true, …} or {ok: false, error, code}. Call recovers from any
// panic, so nothing crosses the boundary as an exception.
//
// # Invites
//
// An invite's text is a bearer capability: it carries the invite secret,
// from which the first-contact mailbox token and seal key are derived.
// parseInvite and inviteQR have to read it, as the user has pasted it or the
// bridge has made it, but their replies hold public fields only (the
// inviter's identity and fingerprint, the relay address, the expiry) — never
// the secret, the token or the seal key. The QR code inviteQR draws is the
// invite itself, as the link is: show it only to the intended contact. Go
// cannot wipe the copies of the text it makes; they are garbage once the
// call returns.
package preview

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/parley-im/parley/core/envelope"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/wasm/qr"
)

// APIVersion is the version of the parleyCore JavaScript API (docs/WASM.md).
// It changes when a function's parameters or reply change incompatibly.
const APIVersion = 1

// Limits. Each argument is checked against its limit before it is converted
// to a Go value, so a caller cannot make the module allocate more than these.
const (
	// MaxText is the longest message text, in UTF-8 bytes
	// (session.MaxTextSize). A text length above it is too_large; a string
	// of more than MaxText UTF-16 code units has more than MaxText UTF-8
	// bytes, so previewText refuses it unread.
	MaxText = session.MaxTextSize
	// MaxBatch is the most lengths previewSizes takes in one call.
	MaxBatch = 4096
	// MaxInviteText is the longest invite text, in characters
	// (invite.MaxTextSize).
	MaxInviteText = invite.MaxTextSize
	// IdentitySize is the size of an encoded public identity
	// (identity.PublicSize): safetyNumber takes exactly this many bytes.
	IdentitySize = identity.PublicSize
	// MaxUnixSeconds is the latest time accepted: 9999-12-31T23:59:59Z.
	MaxUnixSeconds = 253402300799
	// QRLevel is the error correction level of invite QR codes.
	QRLevel = qr.LevelM
	// QRQuietZone is the light margin, in modules, a renderer must draw
	// around an invite QR code.
	QRQuietZone = qr.QuietZone
)

// Code is a stable error code: the extension branches on it and shows
// Error.Message.
type Code string

// Error codes (docs/WASM.md §Errors).
const (
	// CodeBadArgument: wrong number of arguments, a wrong type, or a
	// number that is not a whole number in range.
	CodeBadArgument Code = "bad_argument"
	// CodeTooLarge: an input over its limit — a text too long for any
	// envelope, a string or array over its bound.
	CodeTooLarge Code = "too_large"
	// CodeBadIdentity: the bytes are not an encoded public identity with a
	// valid binding signature.
	CodeBadIdentity Code = "bad_identity"
	// CodeBadInvite: not a valid invite: prefix, base32, structure, relay
	// address, signature or prekeys.
	CodeBadInvite Code = "bad_invite"
	// CodeInviteChecksum: the invite's checksum does not match: most
	// likely a typo or a truncated copy.
	CodeInviteChecksum Code = "invite_checksum"
	// CodeInviteExpired: the invite expired at or before the time given.
	CodeInviteExpired Code = "invite_expired"
	// CodeUnsupportedVersion: the input is from a protocol version this
	// module does not speak (a newer Parley).
	CodeUnsupportedVersion Code = "unsupported_version"
	// CodeInternal: a bug in the module; the call had no effect.
	CodeInternal Code = "internal"
)

// Error is a failed call's reply.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return e.Message }

// Reply is one call's result, converted to a plain JavaScript object by
// package main. Values are bool, int, string, []int, []string or []byte
// (a Uint8Array).
type Reply map[string]any

// ok returns a success reply with fields.
func ok(fields Reply) Reply {
	fields["ok"] = true
	return fields
}

// Reply returns the error as {ok: false, error, code}.
func (e *Error) Reply() Reply {
	return Reply{"ok": false, "error": e.Message, "code": string(e.Code)}
}

// Function is one function of parleyCore.
type Function struct {
	// Name is the JavaScript name.
	Name string
	// Params names the parameters, in order.
	Params []string
	run    func(a *args) Reply
}

// Signature returns "name(param, …)", for error messages.
func (f *Function) Signature() string {
	s := f.Name + "("
	for i, p := range f.Params {
		if i > 0 {
			s += ", "
		}
		s += p
	}
	return s + ")"
}

// Call runs the function on JavaScript arguments. It never panics: a panic
// becomes an internal error reply.
func (f *Function) Call(values []Value) (r Reply) {
	defer func() {
		if recover() != nil {
			r = (&Error{Code: CodeInternal, Message: f.Signature() + ": internal error"}).Reply()
		}
	}()
	a := &args{fn: f, values: values}
	if err := a.count(); err != nil {
		return err.Reply()
	}
	return f.run(a)
}

// Functions returns the functions of parleyCore (docs/WASM.md).
func Functions() []*Function {
	return []*Function{
		{Name: "version", Params: nil, run: version},
		{Name: "previewSize", Params: []string{"textLength", "pq"}, run: previewSize},
		{Name: "previewText", Params: []string{"text", "pq"}, run: previewText},
		{Name: "previewSizes", Params: []string{"lengths", "pq"}, run: previewSizes},
		{Name: "safetyNumber", Params: []string{"a", "b"}, run: safetyNumber},
		{Name: "parseInvite", Params: []string{"text", "nowUnixSeconds"}, run: parseInvite},
		{Name: "inviteQR", Params: []string{"text", "nowUnixSeconds"}, run: inviteQR},
	}
}

// version reports the API, protocol and build versions and the limits.
func version(*args) Reply {
	build := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		build = info.Main.Path + "@" + info.Main.Version
	}
	return ok(Reply{
		"api":           APIVersion,
		"protocol":      int(wire.Version),
		"build":         build,
		"go":            runtime.Version(),
		"maxText":       MaxText,
		"maxBatch":      MaxBatch,
		"maxInviteText": MaxInviteText,
		"identitySize":  IdentitySize,
		"buckets":       envelope.Buckets(),
		"qrLevel":       QRLevel.String(),
		"qrQuietZone":   QRQuietZone,
	})
}

// Size is the preview of one message size.
type Size struct {
	// BlobSize is the exact size of the blob the relay stores.
	BlobSize int
	// Bucket is the padded plaintext size, one of envelope.Buckets.
	Bucket int
}

// SizeOf returns the blob a text of textLen UTF-8 bytes makes, with or
// without a PQ ratchet step (session.BlobSize). It wraps session.ErrTooLarge
// above MaxText.
func SizeOf(textLen int, pq bool) (Size, error) {
	n, err := session.BlobSize(textLen, pq)
	if err != nil {
		return Size{}, err
	}
	return Size{BlobSize: n, Bucket: n - envelope.SealOverhead}, nil
}

// sizeReply answers previewSize and previewText for a length in range.
func sizeReply(fn *Function, textLen int, pq bool, extra Reply) Reply {
	s, err := SizeOf(textLen, pq)
	if err != nil {
		return tooLargeText(&Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s: %v", fn.Signature(), err)}, extra)
	}
	extra["blobSize"], extra["bucket"], extra["maxText"] = s.BlobSize, s.Bucket, MaxText
	return ok(extra)
}

// tooLargeText is a failure reply that also tells the limit (and extra).
func tooLargeText(e *Error, extra Reply) Reply {
	r := e.Reply()
	if e.Code == CodeTooLarge {
		r["maxText"] = MaxText
		for k, v := range extra {
			r[k] = v
		}
	}
	return r
}

// previewSize(textLength, pq) → {blobSize, bucket, maxText}.
func previewSize(a *args) Reply {
	n, err := a.length(a.fn.Params[0], a.values[0])
	if err != nil {
		return tooLargeText(err, nil)
	}
	pq, err := a.bool(1)
	if err != nil {
		return err.Reply()
	}
	return sizeReply(a.fn, n, pq, Reply{})
}

// previewText(text, pq) → {textBytes, blobSize, bucket, maxText}. The
// length is the text's UTF-8 byte count, which JavaScript's length (UTF-16
// code units) is not.
func previewText(a *args) Reply {
	pq, err := a.bool(1)
	if err != nil {
		return err.Reply()
	}
	text, err := a.string(0, MaxText)
	if err != nil {
		return tooLargeText(err, nil)
	}
	n := len(text)
	if n > MaxText {
		return tooLargeText(&Error{Code: CodeTooLarge, Message: fmt.Sprintf("%s: text: %d bytes of UTF-8, limit %d", a.fn.Signature(), n, MaxText)}, Reply{"textBytes": n})
	}
	return sizeReply(a.fn, n, pq, Reply{"textBytes": n})
}

// previewSizes(lengths, pq) → {blobSizes, buckets, maxText}: one entry per
// length, 0 where the length is above maxText.
func previewSizes(a *args) Reply {
	pq, err := a.bool(1)
	if err != nil {
		return err.Reply()
	}
	lengths, err := a.lengths(0)
	if err != nil {
		return err.Reply()
	}
	blobs, buckets := make([]int, len(lengths)), make([]int, len(lengths))
	for i, n := range lengths {
		if n < 0 {
			continue
		}
		s, err := SizeOf(n, pq)
		if err != nil {
			continue // unreachable: n ≤ MaxText
		}
		blobs[i], buckets[i] = s.BlobSize, s.Bucket
	}
	return ok(Reply{"blobSizes": blobs, "buckets": buckets, "maxText": MaxText})
}

// codeOf maps a core error to the code the extension branches on; other
// errors get fallback.
func codeOf(err error, fallback Code) Code {
	switch {
	case errors.Is(err, invite.ErrExpired):
		return CodeInviteExpired
	case errors.Is(err, invite.ErrChecksum):
		return CodeInviteChecksum
	case errors.Is(err, wire.ErrVersion):
		return CodeUnsupportedVersion
	case errors.Is(err, wire.ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, invite.ErrClock):
		return CodeBadArgument
	}
	return fallback
}

// safetyNumber(a, b) → {digits, emoji}: the safety number of two encoded
// public identities (identity.NewSafetyNumber), the same in either order.
func safetyNumber(a *args) Reply {
	var ids [2]*identity.PublicIdentity
	for i := range ids {
		b, err := a.bytes(i, IdentitySize, CodeBadIdentity)
		if err != nil {
			return err.Reply()
		}
		id, perr := identity.ParsePublic(b)
		if perr != nil {
			return (&Error{Code: codeOf(perr, CodeBadIdentity), Message: fmt.Sprintf("%s: %s: %v", a.fn.Signature(), a.fn.Params[i], perr)}).Reply()
		}
		ids[i] = id
	}
	sn := identity.NewSafetyNumber(ids[0], ids[1])
	return ok(Reply{"digits": sn.Digits(), "emoji": sn.Emoji()})
}

// readInvite reads and verifies the (text, nowUnixSeconds) arguments.
func readInvite(a *args) (*invite.Invite, time.Time, *Error) {
	now, err := a.unixTime(1)
	if err != nil {
		return nil, time.Time{}, err
	}
	text, err := a.string(0, MaxInviteText)
	if err != nil {
		return nil, time.Time{}, err
	}
	inv, perr := invite.Parse(text, now)
	if perr != nil {
		return nil, time.Time{}, &Error{Code: codeOf(perr, CodeBadInvite), Message: fmt.Sprintf("%s: %v", a.fn.Signature(), perr)}
	}
	return inv, now, nil
}

// parseInvite(text, nowUnixSeconds) → {fingerprint, relay, expires,
// expiresIn, inviter}: an invite's public fields, after full verification
// (invite.Parse). Never the secret, nor anything derived from it.
func parseInvite(a *args) Reply {
	inv, now, err := readInvite(a)
	if err != nil {
		return err.Reply()
	}
	exp := inv.Expires().Unix()
	return ok(Reply{
		"fingerprint": inv.Fingerprint(),
		"relay":       inv.RelayAddress(),
		"expires":     int(exp),
		"expiresIn":   int(exp - now.Unix()),
		"inviter":     inv.Inviter().Marshal(),
	})
}

// inviteQR(text, nowUnixSeconds) → {size, version, level, quietZone,
// modules}: the QR code of a valid invite, carrying the invite's binary form
// (invite.Invite.Bytes) in byte mode at level M. modules is a Uint8Array of
// size×size bytes, row by row from the top, 1 for a dark module.
func inviteQR(a *args) Reply {
	inv, _, err := readInvite(a)
	if err != nil {
		return err.Reply()
	}
	m, qerr := qr.EncodeBytes(inv.Bytes(), QRLevel)
	if qerr != nil {
		// Unreachable: invite.MaxBytesSize fits a version 40-M symbol.
		return (&Error{Code: CodeInternal, Message: fmt.Sprintf("%s: %v", a.fn.Signature(), qerr)}).Reply()
	}
	return ok(Reply{
		"size":      m.Size(),
		"version":   m.Version(),
		"level":     m.Level().String(),
		"quietZone": QRQuietZone,
		"modules":   m.Modules(),
	})
}
