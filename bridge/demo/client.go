// Package demo drives parley-bridge processes over native-messaging frames,
// exactly as the extension does (docs/NATIVE_MESSAGING.md): Client speaks
// the protocol to one host, and Run is the `make demo` scenario — a relay
// and two bridges (alice and bob) on loopback, an invite, first contact, a
// short chat both ways, bob offline and back.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/parley-im/parley/bridge/nmhost"
)

// RemoteError is an error reply.
type RemoteError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error implements error.
func (e *RemoteError) Error() string { return e.Code + ": " + e.Message }

// Event is a pushed event.
type Event struct {
	Name string          `json:"event"`
	Data json.RawMessage `json:"data"`
}

type reply struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *RemoteError    `json:"error"`
	Event  string          `json:"event"`
	Data   json.RawMessage `json:"data"`
}

// Client talks to one native-messaging host. Calls may run concurrently.
type Client struct {
	w *nmhost.FrameWriter

	mu      sync.Mutex
	next    int
	pending map[string]chan reply
	events  []Event
	evCh    chan struct{}
	err     error
	done    chan struct{}
}

// NewClient returns a Client writing requests to toHost (the host's stdin)
// and reading frames from fromHost (its stdout). Its reader goroutine ends
// when fromHost ends; Done is closed then.
func NewClient(toHost io.Writer, fromHost io.Reader) *Client {
	c := &Client{w: nmhost.NewFrameWriter(toHost), pending: map[string]chan reply{},
		evCh: make(chan struct{}), done: make(chan struct{})}
	go c.read(nmhost.NewFrameReader(fromHost))
	return c
}

// Done is closed when the host's output ended.
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) read(fr *nmhost.FrameReader) {
	defer close(c.done)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			c.mu.Lock()
			c.err = err
			for _, ch := range c.pending {
				close(ch)
			}
			c.pending = map[string]chan reply{}
			close(c.evCh)
			c.mu.Unlock()
			return
		}
		var r reply
		if err := json.Unmarshal(f, &r); err != nil {
			continue
		}
		c.mu.Lock()
		if r.Event != "" {
			c.events = append(c.events, Event{Name: r.Event, Data: r.Data})
			close(c.evCh)
			c.evCh = make(chan struct{})
		} else if ch, ok := c.pending[string(r.ID)]; ok {
			delete(c.pending, string(r.ID))
			ch <- r
		}
		c.mu.Unlock()
	}
}

// Call sends a request and decodes the result into result (if not nil).
// An error reply is a *RemoteError.
func (c *Client) Call(ctx context.Context, method string, params, result any) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return fmt.Errorf("demo: host gone: %w", c.err)
	}
	c.next++
	id := strconv.Itoa(c.next)
	ch := make(chan reply, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	req := map[string]any{"id": c.next, "method": method}
	if params != nil {
		req["params"] = params
	}
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if err := c.w.WriteFrame(b); err != nil {
		return err
	}
	select {
	case r, ok := <-ch:
		if !ok {
			return errors.New("demo: host exited before replying")
		}
		if r.Error != nil {
			return r.Error
		}
		if result != nil {
			return json.Unmarshal(r.Result, result)
		}
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// Events returns the events received so far.
func (c *Client) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// WaitEvents waits until fn, called with all events so far, returns true.
func (c *Client) WaitEvents(ctx context.Context, fn func([]Event) bool) error {
	for {
		c.mu.Lock()
		evs := append([]Event(nil), c.events...)
		ch := c.evCh
		gone := c.err
		c.mu.Unlock()
		if fn(evs) {
			return nil
		}
		if gone != nil {
			return fmt.Errorf("demo: host gone: %w", gone)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// Received returns the texts of the message.received events so far.
func Received(evs []Event) []string {
	var out []string
	for _, e := range evs {
		if e.Name != "message.received" {
			continue
		}
		var m struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(e.Data, &m) == nil {
			out = append(out, m.Text)
		}
	}
	return out
}
