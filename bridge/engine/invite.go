package engine

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/session"
)

// CreatedInvite is the result of invite.create. Text and QR carry the
// invite's secret: they are the invite, to be shown to its one recipient.
type CreatedInvite struct {
	// Text is the invite link (invite.Prefix + base32).
	Text string `json:"text"`
	// QR is the QR code's payload (binary invite + checksum); JSON
	// encodes it in base64.
	QR []byte `json:"qr"`
	// Expires is when the invite stops working (Unix ms).
	Expires     int64  `json:"expires"`
	Fingerprint string `json:"fingerprint"`
}

// CreateInvite issues a single-use invite naming the profile's relay
// (invite.create). lifetime zero means invite.DefaultLifetime.
func (e *Engine) CreateInvite(ctx context.Context, lifetime time.Duration) (*CreatedInvite, error) {
	if lifetime == 0 {
		lifetime = invite.DefaultLifetime
	}
	if lifetime < invite.MinLifetime || lifetime > invite.MaxLifetime {
		return nil, errorf(CodeInvalidParams, "lifetime must lie between %v and %v", invite.MinLifetime, invite.MaxLifetime)
	}
	now, err := e.clock()
	if err != nil {
		return nil, err
	}
	var out *CreatedInvite
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		self, err := loadSelf(tx)
		if err != nil {
			return err
		}
		relay, err := tx.Setting(store.SettingRelayAddress)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(CodeNoRelay, "no relay configured: call settings.set with a relay address")
		} else if err != nil {
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
		bundle, err := keys.Bundle(now)
		if errors.Is(err, prekey.ErrExpired) {
			if err := keys.Rotate(e.rand, self, now, e.cfg.PrekeyLifetime); err != nil {
				return err
			}
			bundle, err = keys.Bundle(now)
		}
		if err != nil {
			return err
		}
		if bundle.KEMPrekey.LastResort {
			// Out of one-time prekeys: refill, then issue again.
			if err := keys.Refill(e.rand, self, now, e.cfg.PrekeyLifetime, e.cfg.OneTimePrekeys); err != nil {
				return err
			}
			if bundle, err = keys.Bundle(now); err != nil {
				return err
			}
		}
		inv, secret, err := invite.New(e.rand, self, bundle, relay, now, lifetime)
		if err != nil {
			return err
		}
		defer secret.Clear()
		sb := secret.Bytes()
		defer clear(sb[:])
		if err := tx.AddInvite(&store.Invite{Secret: sb[:], PrekeyID: bundle.KEMPrekey.ID, Expires: inv.Expires(), Created: now}); err != nil {
			return err
		}
		nk := keys.Marshal()
		defer clear(nk)
		if err := tx.PutPrekeys(nk, now); err != nil {
			return err
		}
		out = &CreatedInvite{Text: inv.Text(), QR: inv.Bytes(), Expires: ms(inv.Expires()), Fingerprint: inv.Fingerprint()}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.PollNow()
	return out, nil
}

// AcceptInvite makes first contact with an invite's owner (invite.accept):
// it pins the inviter (trust on first use), runs the handshake, and commits
// the contact, the conversation, the first message (text, possibly empty)
// and its outbox entry before any network I/O. The deposit follows in the
// background.
func (e *Engine) AcceptInvite(ctx context.Context, text, name, first string) (*Contact, error) {
	if len(first) > MaxTextSize {
		return nil, errorf(CodeInvalidParams, "message: longer than %d bytes", MaxTextSize)
	}
	if len(name) > 200 {
		return nil, errorf(CodeInvalidParams, "name: longer than 200 bytes")
	}
	now, err := e.clock()
	if err != nil {
		return nil, err
	}
	inv, err := invite.Parse(strings.TrimSpace(text), now)
	if err != nil {
		var msg string
		switch {
		case errors.Is(err, invite.ErrExpired):
			msg = "the invite has expired"
		case errors.Is(err, invite.ErrChecksum):
			msg = "the invite is mistyped (checksum mismatch)"
		default:
			msg = "not a valid invite"
		}
		return nil, errorf(CodeInvalidInvite, "%s", msg)
	}
	secret := inv.Secret()
	defer secret.Clear()
	payload, err := session.NewText(e.rand, first, now)
	if err != nil {
		return nil, errorf(CodeInvalidParams, "message: not valid UTF-8 or too long")
	}
	peer := inv.Inviter().Marshal()
	if name == "" {
		name = inv.Fingerprint()
	}
	var id store.ContactID
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		self, err := loadSelf(tx)
		if err != nil {
			return err
		}
		if self.Public().Equal(inv.Inviter()) {
			return errorf(CodeInvalidInvite, "this is your own invite")
		}
		if _, err := tx.ContactByIdentity(peer); err == nil {
			return errorf(CodeExists, "the inviter is already a contact")
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		conv, out, err := session.Begin(e.rand, self, inv.Bundle(), secret, payload, now)
		if err != nil {
			return errorf(CodeInvalidInvite, "first contact failed")
		}
		if id, err = tx.AddContact(name, peer, now); err != nil {
			return err
		}
		if err := tx.SetSetting(contactRelayKey(id), inv.RelayAddress()); err != nil {
			return err
		}
		if err := commitOutgoing(tx, id, conv, out, payload, now); err != nil {
			return err
		}
		// Our own relay defaults to the inviter's, so our invites work.
		if _, err := tx.Setting(store.SettingRelayAddress); errors.Is(err, store.ErrNotFound) {
			return tx.SetSetting(store.SettingRelayAddress, inv.RelayAddress())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.kick()
	e.PollNow()
	e.contactChanged(ctx, id)
	var v Contact
	err = e.db.View(ctx, func(tx *store.Tx) error {
		c, err := tx.Contact(id)
		if err != nil {
			return err
		}
		v = contactView(c, true)
		return nil
	})
	return &v, err
}

// commitOutgoing stores the advanced conversation, the message (if it is a
// non-empty text) and its outbox entry, in the caller's transaction.
func commitOutgoing(tx *store.Tx, id store.ContactID, conv *session.Conversation, out *session.Outgoing, p *session.Payload, now time.Time) error {
	st := conv.Marshal()
	defer clear(st)
	if err := tx.PutSession(id, st, now); err != nil {
		return err
	}
	if len(p.Body) > 0 && p.Kind == session.KindText {
		m := &store.Message{ID: store.MessageID(p.ID), Contact: id, Direction: store.Outgoing, Body: string(p.Body),
			SentAt: p.SentAt, Status: store.StatusQueued, Created: now}
		if err := tx.AddMessage(m); err != nil {
			return err
		}
	}
	return tx.Enqueue(&store.OutboxItem{MessageID: store.MessageID(p.ID), Contact: id, Token: out.Token[:],
		Blob: out.Blob, NextAt: now})
}
