package engine

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/session"
)

// Paging limits of messages.list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
	// MaxPageBytes bounds the encoded messages of one page, so that a reply
	// stays well under the native-messaging frame limit.
	MaxPageBytes = 768 << 10
)

// Send writes text to a contact (messages.send). The message is committed
// with the advanced conversation and its outbox entry before this returns;
// the deposit runs in the background (message.status events follow).
func (e *Engine) Send(ctx context.Context, contact int64, text string) (*Message, error) {
	if text == "" {
		return nil, errorf(CodeInvalidParams, "text: empty")
	}
	if len(text) > MaxTextSize {
		return nil, errorf(CodeInvalidParams, "text: longer than %d bytes", MaxTextSize)
	}
	now, err := e.clock()
	if err != nil {
		return nil, err
	}
	p, err := session.NewText(e.rand, text, now)
	if err != nil {
		return nil, errorf(CodeInvalidParams, "text: not valid UTF-8 or too long")
	}
	var v Message
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		c, err := e.contact(tx, contact)
		if err != nil {
			return err
		}
		if c.Pin == store.PinChanged {
			return errorf(CodeKeyChanged, "the contact's identity changed: accept or verify it before sending")
		}
		st, err := tx.Session(c.ID)
		if err != nil {
			return err
		}
		if len(st) == 0 {
			return errorf(CodeNoSession, "no conversation with this contact")
		}
		conv, err := session.ParseConversation(st)
		clear(st)
		if err != nil {
			return err
		}
		out, err := conv.Send(e.rand, p, now)
		if err != nil {
			return err
		}
		if err := commitOutgoing(tx, c.ID, conv, out, p, now); err != nil {
			return err
		}
		m, err := tx.Message(store.MessageID(p.ID))
		if err != nil {
			return err
		}
		v = messageView(m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.kick()
	return &v, nil
}

// Page is a page of messages.list.
type Page struct {
	Messages []Message `json:"messages"`
	// Older is the cursor for the previous page (0: this page reaches the
	// first message).
	Older int64 `json:"older"`
}

// Messages returns a page of a conversation, oldest first, before the
// cursor (0: the newest) (messages.list).
func (e *Engine) Messages(ctx context.Context, contact, before int64, limit int) (*Page, error) {
	if limit == 0 {
		limit = DefaultPageSize
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, errorf(CodeInvalidParams, "limit: must be 1 to %d", MaxPageSize)
	}
	if before < 0 {
		return nil, errorf(CodeInvalidParams, "before: must not be negative")
	}
	out := &Page{Messages: []Message{}}
	err := e.db.View(ctx, func(tx *store.Tx) error {
		if _, err := e.contact(tx, contact); err != nil {
			return err
		}
		pg, err := tx.Messages(store.ContactID(contact), store.Cursor(before), limit)
		if err != nil {
			return err
		}
		// Keep the newest messages that fit MaxPageBytes.
		size, first := 0, len(pg.Messages)
		for i := len(pg.Messages) - 1; i >= 0; i-- {
			b, _ := json.Marshal(messageView(&pg.Messages[i]))
			if size+len(b) > MaxPageBytes && first < len(pg.Messages) {
				break
			}
			size += len(b) + 1
			first = i
		}
		for i := first; i < len(pg.Messages); i++ {
			out.Messages = append(out.Messages, messageView(&pg.Messages[i]))
		}
		out.Older = int64(pg.Older)
		if first > 0 {
			out.Older = pg.Messages[first].Seq
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// outboxLoop deposits due outbox items, oldest due first, with exponential
// backoff per item, until ctx ends.
func (e *Engine) outboxLoop(ctx context.Context) {
	for {
		wait := e.flushOutbox(ctx)
		if !sleep(ctx, wait, e.kickCh) {
			return
		}
	}
}

// flushOutbox sends what is due and returns how long to wait before the
// next round.
func (e *Engine) flushOutbox(ctx context.Context) time.Duration {
	const idle = time.Minute
	for ctx.Err() == nil {
		now, err := e.clock()
		if err != nil {
			return idle
		}
		var due []store.OutboxItem
		relays := map[store.ContactID]string{}
		err = e.db.View(ctx, func(tx *store.Tx) error {
			var err error
			if due, err = tx.DueOutbox(now, outboxBatch); err != nil {
				return err
			}
			for _, it := range due {
				if _, ok := relays[it.Contact]; ok {
					continue
				}
				r, err := contactRelay(tx, it.Contact)
				if err != nil {
					return err
				}
				relays[it.Contact] = r
			}
			return nil
		})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("engine: read outbox", "err", err)
			}
			return e.cfg.RetryBase
		}
		if len(due) == 0 {
			var next time.Time
			var ok bool
			if err := e.db.View(ctx, func(tx *store.Tx) error {
				var err error
				next, ok, err = tx.NextOutboxAt()
				return err
			}); err != nil || !ok {
				return idle
			}
			return max(time.Until(next), 10*time.Millisecond)
		}
		failed := false
		for _, it := range due {
			if !e.deposit(ctx, it, relays[it.Contact]) {
				failed = true
			}
		}
		if failed {
			// Failed items were rescheduled; pause before the next round
			// so a persistent failure never spins.
			return e.cfg.RetryBase
		}
	}
	return idle
}

// depositAt deposits one blob at one relay.
func (e *Engine) depositAt(ctx context.Context, relayAddr string, tok address.Token, blob []byte) error {
	r, err := e.relay(relayAddr)
	if err != nil {
		return err
	}
	_, err = r.Deposit(ctx, tok, blob)
	return err
}

// contactRelay returns the relay of a contact's conversation.
func contactRelay(tx *store.Tx, id store.ContactID) (string, error) {
	r, err := tx.Setting(contactRelayKey(id))
	if errors.Is(err, store.ErrNotFound) {
		r, err = tx.Setting(store.SettingRelayAddress)
	}
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	return r, err
}

// deposit sends one outbox item and records the outcome; false if it
// failed.
func (e *Engine) deposit(ctx context.Context, it store.OutboxItem, relayAddr string) bool {
	tok, err := address.ParseToken(it.Token)
	if err == nil && relayAddr == "" {
		err = errors.New("no relay")
	}
	if err == nil {
		used := relayAddr
		err = e.depositAt(ctx, relayAddr, tok, it.Blob)
		if err != nil && ctx.Err() == nil {
			// Failover: the user's second relay, only for the user's
			// primary and only if configured.
			if alt := e.alternate(ctx, relayAddr); alt != "" {
				if aerr := e.depositAt(ctx, alt, tok, it.Blob); aerr == nil {
					err, used = nil, alt
				}
			}
		}
		if err == nil {
			e.setInUse(used)
		}
	}
	now, cerr := e.clock()
	if cerr != nil || ctx.Err() != nil {
		return false
	}
	id := hex.EncodeToString(it.MessageID[:])
	if err != nil {
		e.setRelayUp(false)
		back := e.cfg.RetryBase << min(it.Attempts, 20)
		back = e.jitter(min(back, e.cfg.RetryMax))
		if uerr := e.db.Update(ctx, func(tx *store.Tx) error { return tx.RetryOutbox(it.MessageID, now.Add(back)) }); uerr != nil && ctx.Err() == nil {
			e.log.Error("engine: reschedule outbox item", "err", uerr)
		}
		return false
	}
	e.setRelayUp(true)
	var hasMessage bool
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		if err := tx.RemoveOutbox(it.MessageID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		err := tx.SetMessageStatus(it.MessageID, store.StatusSent)
		if errors.Is(err, store.ErrNotFound) {
			return nil // a first contact without text
		}
		hasMessage = err == nil
		return err
	})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("engine: mark sent", "err", err)
		}
		return false
	}
	if hasMessage {
		e.emit(EventMessageStatus, MessageStatus{Contact: int64(it.Contact), ID: id, Status: store.StatusSent.String()})
	}
	return true
}
