package engine

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/relay/proto"
)

// target is what a polled token belongs to: a contact's conversation or an
// invite's first-contact mailbox.
type target struct {
	contact store.ContactID
	invite  *store.Invite
	// cover marks this device's own cover token: its blobs are reclaimed
	// (acked) unread.
	cover bool
}

// SeenRetention is how long received message ids are remembered for
// duplicate detection: past the relay's longest TTL (policy.MaxTTL, 90
// days), so a resend the relay still holds is recognised.
const SeenRetention = 120 * 24 * time.Hour

// housekeepingInterval is how often expired invites and old seen ids are
// removed.
const housekeepingInterval = time.Hour

// pollLoop polls every mailbox at PollInterval (jittered) until ctx ends,
// and does the housekeeping every housekeepingInterval.
func (e *Engine) pollLoop(ctx context.Context) {
	var lastClean time.Time
	for {
		if now, err := e.clock(); err == nil && now.Sub(lastClean) >= housekeepingInterval {
			lastClean = now
			if err := e.housekeeping(ctx, now); err != nil && ctx.Err() == nil {
				e.log.Warn("engine: housekeeping failed", "err", err)
			}
		}
		if err := e.Poll(ctx); err != nil && ctx.Err() == nil {
			var ee *Error
			if !errors.As(err, &ee) {
				e.log.Warn("engine: poll failed", "err", err)
			}
		}
		if !sleep(ctx, e.jitter(e.cfg.PollInterval), e.pollCh) {
			return
		}
	}
}

// housekeeping deletes expired invites and forgets seen ids older than
// SeenRetention.
func (e *Engine) housekeeping(ctx context.Context, now time.Time) error {
	return e.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.DeleteExpiredInvites(now); err != nil {
			return err
		}
		_, err := tx.PruneSeen(now.Add(-SeenRetention))
		return err
	})
}

// Poll fetches every mailbox this profile listens on once: each contact's
// current tokens and each active invite's first-contact token. Each blob
// is committed before it is acknowledged.
func (e *Engine) Poll(ctx context.Context) error {
	now, err := e.clock()
	if err != nil {
		return err
	}
	groups := map[string]map[address.Token]target{}
	add := func(relay string, tok address.Token, t target) {
		if relay == "" {
			return
		}
		if groups[relay] == nil {
			groups[relay] = map[address.Token]target{}
		}
		groups[relay][tok] = t
	}
	cover, err := e.coverTokens(ctx, now)
	if err != nil {
		return err
	}
	err = e.db.View(ctx, func(tx *store.Tx) error {
		own, err := tx.Setting(store.SettingRelayAddress)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, tok := range cover {
			add(own, tok, target{cover: true})
		}
		invs, err := tx.ActiveInvites(now, maxInvitesPolled)
		if err != nil {
			return err
		}
		for i := range invs {
			sec, err := address.InviteSecretFromBytes(invs[i].Secret)
			if err != nil {
				continue
			}
			add(own, sec.FirstContactToken(), target{invite: &invs[i]})
			sec.Clear()
		}
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for _, c := range cs {
			st, err := tx.Session(c.ID)
			if err != nil {
				return err
			}
			if len(st) == 0 {
				continue
			}
			conv, err := session.ParseConversation(st)
			clear(st)
			if err != nil {
				e.log.Error("engine: stored conversation does not parse", "contact", int64(c.ID))
				continue
			}
			mbs, err := conv.Mailboxes(now)
			if err != nil {
				return err
			}
			r, err := contactRelay(tx, c.ID)
			if err != nil {
				return err
			}
			for _, mb := range mbs {
				add(r, mb.Token, target{contact: c.ID})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for relayAddr, toks := range groups {
		if err := e.pollRelay(ctx, relayAddr, toks); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pollRelay fetches the tokens of one relay. If that relay is the user's
// primary and unreachable, and the user configured a second relay, it
// fetches the same tokens there (failover; status.changed names the relay
// in use). The primary is tried first at every poll.
func (e *Engine) pollRelay(ctx context.Context, relayAddr string, toks map[address.Token]target) error {
	err := e.pollAt(ctx, relayAddr, relayAddr, toks)
	if err == nil {
		e.setRelayUp(true)
		e.setInUse(relayAddr)
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	if alt := e.alternate(ctx, relayAddr); alt != "" {
		aerr := e.pollAt(ctx, alt, relayAddr, toks)
		if aerr == nil {
			e.setRelayUp(true)
			e.setInUse(alt)
			return nil
		}
		err = errors.Join(err, aerr)
	}
	e.setRelayUp(false)
	return err
}

// pollAt fetches the tokens at relay at, in chunks; logical is the relay
// the tokens belong to (what a first contact records).
func (e *Engine) pollAt(ctx context.Context, at, logical string, toks map[address.Token]target) error {
	r, err := e.relay(at)
	if err != nil {
		return err
	}
	all := make([]address.Token, 0, len(toks))
	for t := range toks {
		all = append(all, t)
	}
	for chunk := range slices.Chunk(all, proto.MaxFetchTokens) {
		for range maxFetchRounds {
			items, err := r.Fetch(ctx, chunk, fetchLimit)
			if err != nil {
				return err
			}
			acks := map[address.Token][]uint64{}
			for _, it := range items.Items {
				t, ok := toks[it.Token]
				if !ok {
					continue
				}
				if e.handle(ctx, logical, it, t) {
					acks[it.Token] = append(acks[it.Token], it.ID)
				}
			}
			// Acknowledge only what is committed (or dropped for good).
			for tok, ids := range acks {
				slices.Sort(ids)
				ids = slices.Compact(ids)
				if _, err := r.Ack(ctx, tok, ids); err != nil {
					return err
				}
			}
			if !items.More {
				break
			}
		}
	}
	return nil
}

// handle processes one fetched item and reports whether it may be acked:
// true once it is committed or must be dropped for good (forged, not for
// us, duplicate, replayed first contact), false on a local failure (retry
// at the next poll).
func (e *Engine) handle(ctx context.Context, relayAddr string, it proto.Item, t target) bool {
	if t.cover {
		return true // a cover blob: reclaimed unread, never a message
	}
	now, err := e.clock()
	if err != nil {
		return false
	}
	if t.invite != nil {
		return e.firstContact(ctx, relayAddr, it, t.invite, now)
	}
	var (
		msg     *store.Message
		changed bool
	)
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		st, err := tx.Session(t.contact)
		if err != nil {
			return err
		}
		if len(st) == 0 {
			return errDrop
		}
		conv, err := session.ParseConversation(st)
		clear(st)
		if err != nil {
			return err
		}
		p, err := conv.Receive(it.Token, it.Blob, now)
		if errors.Is(err, session.ErrDuplicate) || errors.Is(err, session.ErrNotForUs) {
			return errDrop
		}
		if err != nil {
			return err
		}
		if p.Kind == session.KindRotation {
			changed, err = receiveRotation(tx, t.contact, conv, p, now)
			return err
		}
		m, err := commitIncoming(tx, t.contact, conv, p, now)
		msg = m
		return err
	})
	if err == nil && changed {
		e.contactChanged(ctx, t.contact)
	}
	return e.received(ctx, t.contact, msg, err)
}

// errDrop rolls back a transaction whose blob is dropped (and acked).
var errDrop = errors.New("engine: drop")

// received reports the outcome of a receive transaction.
func (e *Engine) received(ctx context.Context, contact store.ContactID, msg *store.Message, err error) bool {
	switch {
	case errors.Is(err, errDrop):
		return true
	case err != nil:
		if ctx.Err() == nil {
			e.log.Error("engine: receive", "err", err)
		}
		return false
	}
	if msg != nil {
		e.emit(EventMessageReceived, messageView(msg))
	}
	return true
}

// commitIncoming stores the advanced conversation and, unless its id was
// seen before or it has no text, the message.
func commitIncoming(tx *store.Tx, id store.ContactID, conv *session.Conversation, p *session.Payload, now time.Time) (*store.Message, error) {
	st := conv.Marshal()
	defer clear(st)
	if err := tx.PutSession(id, st, now); err != nil {
		return nil, err
	}
	fresh, err := tx.MarkSeen(id, store.MessageID(p.ID), now)
	if err != nil || !fresh || len(p.Body) == 0 || p.Kind != session.KindText {
		return nil, err
	}
	m := &store.Message{ID: store.MessageID(p.ID), Contact: id, Direction: store.Incoming, Body: string(p.Body),
		SentAt: p.SentAt, Status: store.StatusReceived, Created: now}
	if err := tx.AddMessage(m); errors.Is(err, store.ErrExists) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return m, nil
}

// firstContact accepts a first contact at an invite's mailbox: it checks
// the handshake, rejects a transcript seen before, marks the invite used,
// pins the initiator and stores the conversation, all in one transaction.
func (e *Engine) firstContact(ctx context.Context, relayAddr string, it proto.Item, inv *store.Invite, now time.Time) bool {
	var (
		id    store.ContactID
		msg   *store.Message
		isNew bool
	)
	err := e.db.Update(ctx, func(tx *store.Tx) error {
		self, err := loadSelf(tx)
		if err != nil {
			return err
		}
		kb, err := tx.Prekeys()
		if err != nil {
			return err
		}
		keys, err := prekey.ParseSecrets(kb)
		clear(kb)
		if err != nil {
			return err
		}
		defer keys.Clear()
		sec, err := address.InviteSecretFromBytes(inv.Secret)
		if err != nil {
			return errDrop
		}
		defer sec.Clear()
		acc, err := session.Accept(self, keys, sec, it.Blob, now)
		if err != nil {
			return errDrop // forged, corrupted or not for this invite
		}
		defer acc.Keys.Clear()
		if seen, err := tx.HasTranscript(acc.Transcript); err != nil {
			return err
		} else if seen {
			return errDrop // a replayed handshake
		}
		if err := tx.UseInvite(inv.ID, now); errors.Is(err, store.ErrInviteUsed) || errors.Is(err, store.ErrInviteExpired) || errors.Is(err, store.ErrNotFound) {
			return errDrop // single use
		} else if err != nil {
			return err
		}
		peer := acc.Conversation.Peer()
		pb := peer.Marshal()
		if self.Public().Equal(peer) {
			return errDrop
		}
		c, err := tx.ContactByIdentity(pb)
		switch {
		case errors.Is(err, store.ErrNotFound):
			if id, err = tx.AddContact(invite.Fingerprint(peer), pb, now); err != nil {
				return err
			}
			isNew = true
		case err != nil:
			return err
		default:
			id = c.ID // a known contact started over: the new conversation replaces the old
		}
		if err := tx.SetSetting(contactRelayKey(id), relayAddr); err != nil {
			return err
		}
		nk := acc.Keys.Marshal()
		defer clear(nk)
		if err := tx.PutPrekeys(nk, now); err != nil {
			return err
		}
		if _, err := tx.AcceptTranscript(acc.Transcript, id, now); err != nil {
			return err
		}
		msg, err = commitIncoming(tx, id, acc.Conversation, acc.First, now)
		return err
	})
	if err == nil {
		e.contactChanged(ctx, id)
		if isNew {
			e.emitStatus(ctx)
		}
	}
	return e.received(ctx, id, msg, err)
}
