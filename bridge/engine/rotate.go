package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/session"
)

// Settings keys of identity rotation (engine-private, never shown by
// settings.get).
const (
	// settingRotationSeq is the sequence number of this profile's last
	// rotation.
	settingRotationSeq = "identity.rotation.seq"
	// settingRetiredPrefix + hex(SHA-256(public identity)) records an
	// identity this profile rotated away from.
	settingRetiredPrefix = "identity.retired."
)

// contactSeqKey holds the last rotation sequence number accepted from a
// contact.
func contactSeqKey(id store.ContactID) string {
	return "contact.rotation.seq." + strconv.FormatInt(int64(id), 10)
}

// contactRetiredKey marks an identity a contact rotated away from: a later
// rotation may never move the contact back to it.
func contactRetiredKey(id store.ContactID, p *identity.PublicIdentity) string {
	return "contact.retired." + strconv.FormatInt(int64(id), 10) + "." + identityHash(p)
}

func identityHash(p *identity.PublicIdentity) string {
	h := sha256.Sum256(p.Marshal())
	return hex.EncodeToString(h[:])
}

func settingUint(tx *store.Tx, key string) (uint64, error) {
	v, err := tx.Setting(key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(v, 10, 64)
}

// RotateResult is the result of identity.rotate.
type RotateResult struct {
	// Identity is the new public identity.
	Identity IdentityInfo `json:"identity"`
	// Previous is the fingerprint of the retired identity.
	Previous string `json:"previous"`
	// Notified is how many contacts the rotation statement was queued for.
	Notified int `json:"notified"`
	// RevokedInvites is how many open invites (issued under the old
	// identity) stopped working.
	RevokedInvites int `json:"revokedInvites"`
}

// RotateIdentity replaces the profile's identity (identity.rotate). In one
// transaction it generates a new identity and fresh prekeys under it,
// signs the rotation statement (identity.NewRotation, sequence number above
// every earlier one: max(last+1, now in Unix ms)), queues the statement
// through the outbox to every contact with a conversation (a
// session.KindRotation payload), records the old identity as retired and
// revokes the open invites, which name the old identity. Conversations go
// on; future invites and first contacts use the new identity.
func (e *Engine) RotateIdentity(ctx context.Context) (*RotateResult, error) {
	now, err := e.clock()
	if err != nil {
		return nil, err
	}
	var res RotateResult
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		old, err := loadSelf(tx)
		if err != nil {
			return err
		}
		last, err := settingUint(tx, settingRotationSeq)
		if err != nil {
			return err
		}
		seq := max(last+1, uint64(now.UnixMilli()))
		next, err := identity.Generate(e.rand)
		if err != nil {
			return err
		}
		rot := identity.NewRotation(old, next, seq)
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
				return err
			}
			p, err := session.NewRotation(e.rand, rot, now)
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
			res.Notified++
		}
		keys, err := prekey.Generate(e.rand, next, now, e.cfg.PrekeyLifetime, e.cfg.OneTimePrekeys)
		if err != nil {
			return err
		}
		defer keys.Clear()
		kb := keys.Marshal()
		defer clear(kb)
		if err := tx.PutPrekeys(kb, now); err != nil {
			return err
		}
		priv := next.MarshalPrivate()
		defer clear(priv)
		if err := tx.PutIdentity(priv, now); err != nil {
			return err
		}
		if err := tx.SetSetting(settingRotationSeq, strconv.FormatUint(seq, 10)); err != nil {
			return err
		}
		if err := tx.SetSetting(settingRetiredPrefix+identityHash(old.Public()), strconv.FormatInt(now.UnixMilli(), 10)); err != nil {
			return err
		}
		for {
			invs, err := tx.ActiveInvites(now, maxInvitesPolled)
			if err != nil {
				return err
			}
			if len(invs) == 0 {
				break
			}
			for _, inv := range invs {
				if err := tx.UseInvite(inv.ID, now); err != nil {
					return err
				}
				res.RevokedInvites++
			}
		}
		res.Identity = *identityInfo(next.Public())
		res.Previous = identityInfo(old.Public()).Fingerprint
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.kick()
	e.emitStatus(ctx)
	return &res, nil
}

// receiveRotation handles a rotation statement that arrived in a contact's
// conversation, in the receive transaction: the conversation state and the
// seen id are committed; if the payload is fresh, the contact's pin moves
// to the new identity only if the statement verifies against the pinned
// identity with a sequence number above the last accepted one and a new
// identity the contact has not retired (identity.Rotation.Verify).
// Anything else is a key change: the new identity becomes pending and
// sending stays blocked until contact.acceptKeyChange. changed reports
// whether the contact changed.
func receiveRotation(tx *store.Tx, id store.ContactID, conv *session.Conversation, p *session.Payload, now time.Time) (changed bool, err error) {
	st := conv.Marshal()
	defer clear(st)
	if err := tx.PutSession(id, st, now); err != nil {
		return false, err
	}
	fresh, err := tx.MarkSeen(id, store.MessageID(p.ID), now)
	if err != nil || !fresh {
		return false, err
	}
	rot, err := identity.ParseRotation(p.Body)
	if err != nil {
		return false, nil // unreachable: ParsePayload parsed it
	}
	c, err := tx.Contact(id)
	if err != nil {
		return false, err
	}
	pinned, err := identity.ParsePublic(c.Identity)
	if err != nil {
		return false, err
	}
	last, err := settingUint(tx, contactSeqKey(id))
	if err != nil {
		return false, err
	}
	var lookupErr error
	retired := func(p *identity.PublicIdentity) bool {
		_, err := tx.Setting(contactRetiredKey(id, p))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			lookupErr = err
			return true
		}
		return err == nil
	}
	newID := rot.New.Marshal()
	verr := rot.Verify(pinned, last, retired)
	if lookupErr != nil {
		return false, lookupErr
	}
	if verr == nil {
		err = tx.MoveIdentity(id, newID, now)
		if errors.Is(err, store.ErrExists) {
			verr = err // another contact has that identity: not a silent merge
		} else if err != nil {
			return false, err
		}
	}
	if verr != nil {
		return true, tx.MarkIdentityChanged(id, newID, now)
	}
	if err := tx.SetSetting(contactSeqKey(id), strconv.FormatUint(rot.Seq, 10)); err != nil {
		return false, err
	}
	oldID := rot.Old
	return true, tx.SetSetting(contactRetiredKey(id, &oldID), strconv.FormatInt(now.UnixMilli(), 10))
}
