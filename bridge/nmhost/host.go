package nmhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

const (
	// DefaultMaxConcurrent is how many requests run at once unless Options
	// says otherwise. The reader waits for a free slot, so memory stays
	// bounded by MaxConcurrent frames.
	DefaultMaxConcurrent = 8

	// DefaultShutdownGrace is how long Serve lets running requests finish
	// and write their replies after stdin closes, before it cancels them.
	DefaultShutdownGrace = 5 * time.Second
)

// Options configure a Host. The zero value is usable.
type Options struct {
	// MaxConcurrent bounds the requests handled at once (0 means
	// DefaultMaxConcurrent, 1 serializes requests).
	MaxConcurrent int
	// ShutdownGrace is how long running requests may finish after stdin
	// closes (0 means DefaultShutdownGrace).
	ShutdownGrace time.Duration
	// Logger receives failures of methods (internal errors, panics, replies
	// too large). It never receives params, results or frame contents. Nil
	// discards.
	Logger *slog.Logger
}

// Host serves requests read from the browser on one stream and writes
// replies and events to another. Handlers run concurrently; frames are
// written one at a time. Create it with NewHost.
type Host struct {
	in     *FrameReader
	out    *FrameWriter
	router *Router
	max    int
	grace  time.Duration
	log    *slog.Logger
}

// NewHost returns a Host that reads requests from in, answers on out, and
// dispatches to router. The caller must not write to out otherwise (a stray
// byte on a browser's stdout corrupts the stream).
func NewHost(in io.Reader, out io.Writer, router *Router, opts Options) *Host {
	h := &Host{
		in:     NewFrameReader(in),
		out:    NewFrameWriter(out),
		router: router,
		max:    opts.MaxConcurrent,
		grace:  opts.ShutdownGrace,
		log:    opts.Logger,
	}
	if h.max <= 0 {
		h.max = DefaultMaxConcurrent
	}
	if h.grace <= 0 {
		h.grace = DefaultShutdownGrace
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h
}

// Emit pushes an event frame {event, data}. It is safe to call from any
// goroutine, during or after Serve. An event that would not fit in a frame is
// not sent and ErrFrameTooLarge is returned.
func (h *Host) Emit(name string, data any) error {
	b, err := marshal(event{Event: name, Data: data})
	if err != nil {
		return fmt.Errorf("nmhost: encode event %s: %w", name, err)
	}
	return h.out.WriteFrame(b)
}

type readResult struct {
	frame []byte
	err   error
}

// Serve reads and answers requests until stdin ends, ctx is cancelled or a
// reply cannot be written.
//
// Every request gets exactly one reply (as long as the output works): a
// result, or an error with one of the Code constants. Bad frames never stop
// the host. When stdin ends — at a frame boundary or in the middle of one —
// Serve stops reading, lets running requests finish and write their replies
// (up to ShutdownGrace, then cancels their contexts), and returns nil. When
// ctx is cancelled it cancels running requests, waits for them and returns
// ctx's error. When a write fails (the browser went away) it does the same
// and returns the write error.
//
// A read blocked in the underlying reader cannot be interrupted: after ctx is
// cancelled that goroutine lingers until the reader returns (for os.Stdin,
// until the process exits).
func (h *Host) Serve(ctx context.Context) error {
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	frames := make(chan readResult)
	stopRead := make(chan struct{})
	defer close(stopRead)
	go func() {
		for {
			frame, err := h.in.ReadFrame()
			select {
			case frames <- readResult{frame, err}:
			case <-stopRead:
				return
			}
			if err != nil && !errors.Is(err, ErrFrameTooLarge) {
				return
			}
		}
	}()

	slots := make(chan struct{}, h.max)
	var wg sync.WaitGroup
	var result error
loop:
	for {
		var rr readResult
		select {
		case rr = <-frames:
		case <-hctx.Done():
			result = context.Cause(hctx)
			break loop
		}
		switch {
		case rr.err == nil:
		case errors.Is(rr.err, ErrFrameTooLarge):
			h.replyError(cancel, nullID, NewError(CodeFrameTooLarge,
				fmt.Sprintf("frame exceeds %d bytes and was discarded", MaxFrameSize)))
			continue
		case errors.Is(rr.err, io.EOF), errors.Is(rr.err, io.ErrUnexpectedEOF):
			h.drain(&wg, cancel)
			return nil
		default:
			h.drain(&wg, cancel)
			return fmt.Errorf("nmhost: read: %w", rr.err)
		}

		req, id, perr := DecodeRequest(rr.frame)
		if perr != nil {
			h.replyError(cancel, id, perr)
			continue
		}
		handler := h.router.lookup(req.Method)
		if handler == nil {
			h.replyError(cancel, req.ID, Errorf(CodeUnknownMethod, "unknown method %q", req.Method))
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-hctx.Done():
			h.replyError(cancel, req.ID, NewError(CodeShuttingDown, "host is shutting down"))
			result = context.Cause(hctx)
			break loop
		}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			h.run(hctx, cancel, req, handler)
		}()
	}
	cancel(result)
	wg.Wait()
	return result
}

// drain waits for running requests, cancelling them after the grace period.
func (h *Host) drain(wg *sync.WaitGroup, cancel context.CancelCauseFunc) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(h.grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cancel(errors.New("nmhost: shutdown grace period over"))
		<-done
	}
}

// run calls one handler and writes its reply. A panic is recovered into
// CodeInternal.
func (h *Host) run(ctx context.Context, cancel context.CancelCauseFunc, req *Request, handler HandlerFunc) {
	var (
		res any
		err error
	)
	func() {
		defer func() {
			if p := recover(); p != nil {
				// Log runtime errors (their text is the runtime's own) and
				// otherwise only the panic value's type: a handler's panic
				// value could hold user data.
				what := fmt.Sprintf("%T", p)
				if re, ok := p.(runtime.Error); ok {
					what = re.Error()
				}
				h.log.Error("nmhost: method panicked", "method", req.Method, "panic", what, "stack", string(debug.Stack()))
				err = NewError(CodeInternal, "internal error")
			}
		}()
		res, err = handler(ctx, req.Params)
	}()
	if err != nil {
		var e *Error
		switch {
		case errors.As(err, &e):
		case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
			e = NewError(CodeShuttingDown, "host is shutting down")
		default:
			h.log.Error("nmhost: method failed", "method", req.Method, "err", err)
			e = NewError(CodeInternal, "internal error")
		}
		h.replyError(cancel, req.ID, e)
		return
	}
	b, merr := marshal(reply{ID: req.ID, Result: res})
	switch {
	case merr != nil:
		h.log.Error("nmhost: encode result", "method", req.Method, "err", merr)
		h.replyError(cancel, req.ID, NewError(CodeInternal, "internal error"))
		return
	case len(b) > MaxFrameSize:
		h.log.Warn("nmhost: reply too large", "method", req.Method, "bytes", len(b))
		h.replyError(cancel, req.ID, Errorf(CodeReplyTooLarge,
			"reply of %d bytes exceeds %d; request a smaller page", len(b), MaxFrameSize))
		return
	}
	h.write(cancel, b)
}

// replyError writes an error reply. Error messages are bounded here so an
// error reply always fits in a frame.
func (h *Host) replyError(cancel context.CancelCauseFunc, id []byte, e *Error) {
	const maxMessage = 1024
	msg := e.Message
	if len(msg) > maxMessage {
		msg = msg[:maxMessage]
	}
	b, err := marshal(errorReply{ID: id, Error: &Error{Code: e.Code, Message: msg}})
	if err != nil { // cannot happen: strings and a validated raw id
		h.log.Error("nmhost: encode error reply", "err", err)
		return
	}
	h.write(cancel, b)
}

// write sends one frame; a failure stops Serve.
func (h *Host) write(cancel context.CancelCauseFunc, b []byte) {
	if err := h.out.WriteFrame(b); err != nil {
		cancel(err)
	}
}
