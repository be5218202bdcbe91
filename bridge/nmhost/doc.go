// Package nmhost speaks the browsers' native-messaging protocol for
// parley-bridge (docs/NATIVE_MESSAGING.md; docs/DESIGN.md §Bridge).
//
// A frame is a 4-byte length in the machine's native byte order followed by
// that many bytes of UTF-8 JSON; every frame, in either direction, is at most
// MaxFrameSize bytes (under 1 MiB). The extension sends requests
// {id, method, params}; the host answers each with {id, result} or
// {id, error: {code, message}} and pushes events {event, data}.
//
// Bad input keeps the host serving and changes nothing: an oversized frame is
// drained in bounded memory and answered CodeFrameTooLarge; bytes that are not
// a JSON request get CodeBadRequest (id null when no id could be read); an
// unknown method gets CodeUnknownMethod; params that do not decode or
// validate get CodeInvalidParams; a method that fails or panics gets
// CodeInternal; a result too large for one frame gets CodeReplyTooLarge.
//
// Host runs handlers concurrently (bounded) and serializes writes, flushing
// after each frame. CheckCaller decides from the process arguments whether
// an allowed extension started the host.
package nmhost
