package nmhost

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
)

const (
	// HeaderSize is the size of a frame's length prefix: a uint32 in the
	// machine's native byte order, as the browsers write it.
	HeaderSize = 4

	// MaxFrameSize is the largest frame payload, in bytes, in either
	// direction: strictly less than 1 MiB. Chromium closes the port when a
	// host sends a message of 1 MiB or more; the host applies the same bound
	// to what it reads so that one limit governs both directions.
	MaxFrameSize = 1<<20 - 1

	// discardBufSize is the buffer an oversized frame is drained through.
	discardBufSize = 32 << 10
)

// ErrFrameTooLarge is returned by FrameReader.ReadFrame after it has read and
// discarded a frame whose length prefix exceeds MaxFrameSize (the stream stays
// in sync), and by FrameWriter.WriteFrame for a payload over MaxFrameSize
// (nothing is written).
var ErrFrameTooLarge = errors.New("nmhost: frame too large")

// FrameReader reads native-messaging frames. It is not safe for concurrent
// use. Its memory is bounded: one discard buffer plus, per frame, the
// frame's payload (at most MaxFrameSize bytes).
type FrameReader struct {
	r       io.Reader
	hdr     [HeaderSize]byte
	discard []byte
}

// NewFrameReader returns a FrameReader reading from r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: r, discard: make([]byte, discardBufSize)}
}

// ReadFrame returns the payload of the next frame in a new slice the caller
// owns. It returns io.EOF when the stream ends cleanly between frames,
// io.ErrUnexpectedEOF when it ends inside a frame (header or payload), and
// ErrFrameTooLarge after draining an oversized frame. An oversized frame is
// drained through a fixed buffer, so even a 4 GiB length allocates nothing.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return nil, err // io.EOF or io.ErrUnexpectedEOF or a read error
	}
	n := binary.NativeEndian.Uint32(fr.hdr[:])
	if n > MaxFrameSize {
		if err := fr.skip(uint64(n)); err != nil {
			return nil, err
		}
		return nil, ErrFrameTooLarge // unwrapped: draining must not allocate
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(fr.r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, nil
}

// skip reads and drops n bytes.
func (fr *FrameReader) skip(n uint64) error {
	for n > 0 {
		chunk := fr.discard
		if uint64(len(chunk)) > n {
			chunk = chunk[:n]
		}
		m, err := fr.r.Read(chunk)
		if m < 0 || m > len(chunk) {
			return errors.New("nmhost: reader returned an invalid count")
		}
		n -= uint64(m)
		if err != nil {
			if n == 0 && errors.Is(err, io.EOF) {
				return nil
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// FrameWriter writes native-messaging frames. It is safe for concurrent
// use: each frame is written whole, in one Write call, and flushed (if the
// underlying writer has a Flush method) before the next one starts. After a
// write error every later WriteFrame returns that error.
type FrameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

// NewFrameWriter returns a FrameWriter writing to w.
func NewFrameWriter(w io.Writer) *FrameWriter {
	return &FrameWriter{w: w}
}

type flusher interface{ Flush() error }

// WriteFrame writes payload as one frame and flushes it. A payload over
// MaxFrameSize is refused with ErrFrameTooLarge and nothing is written.
func (fw *FrameWriter) WriteFrame(payload []byte) error {
	if len(payload) > MaxFrameSize {
		return fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, len(payload), MaxFrameSize)
	}
	frame := make([]byte, HeaderSize+len(payload))
	binary.NativeEndian.PutUint32(frame, uint32(len(payload)))
	copy(frame[HeaderSize:], payload)

	fw.mu.Lock()
	defer fw.mu.Unlock()
	if fw.err != nil {
		return fw.err
	}
	if _, err := fw.w.Write(frame); err != nil {
		fw.err = fmt.Errorf("nmhost: write frame: %w", err)
		return fw.err
	}
	if f, ok := fw.w.(flusher); ok {
		if err := f.Flush(); err != nil {
			fw.err = fmt.Errorf("nmhost: flush frame: %w", err)
			return fw.err
		}
	}
	return nil
}
