package engine

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/parley-im/parley/bridge/store"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/relay/addr"
)

// Event names.
const (
	EventMessageReceived = "message.received"
	EventMessageStatus   = "message.status"
	EventContactChanged  = "contact.changed"
	EventStatusChanged   = "status.changed"
)

// IdentityInfo is the public part of the profile's identity.
type IdentityInfo struct {
	// Fingerprint is invite.Fingerprint of the identity.
	Fingerprint string `json:"fingerprint"`
	// Public is the public identity encoding (public keys and binding).
	Public []byte `json:"public"`
}

// Contact is a contact as the API shows it.
type Contact struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"`
	// Pin is "unverified", "verified" or "changed".
	Pin string `json:"pin"`
	// Verified is true if the safety number was verified at least once.
	Verified bool `json:"verified"`
	// CanSend is false while a key change is pending or before a session
	// exists.
	CanSend bool `json:"canSend"`
	// PendingFingerprint is the fingerprint of the new identity while Pin
	// is "changed".
	PendingFingerprint string `json:"pendingFingerprint,omitempty"`
	Created            int64  `json:"created"`
}

// Message is a message as the API shows it.
type Message struct {
	Seq     int64  `json:"seq"`
	ID      string `json:"id"`
	Contact int64  `json:"contact"`
	// Direction is "out" or "in".
	Direction string `json:"direction"`
	Text      string `json:"text"`
	SentAt    int64  `json:"sentAt"`
	Status    string `json:"status"`
	Created   int64  `json:"created"`
}

// Status is the engine's state.
type Status struct {
	Identity bool   `json:"identity"`
	Relay    string `json:"relay"`
	// RelayReachable is null until the relay was tried.
	RelayReachable *bool `json:"relayReachable"`
	Contacts       int   `json:"contacts"`
	Outbox         int   `json:"outbox"`
	// RelayInUse is the relay the last exchange went to ("" before any):
	// Relay, or the second relay while Relay is unreachable.
	RelayInUse string `json:"relayInUse"`
	// Failover is true while the second relay stands in for Relay.
	Failover bool `json:"failover"`
}

// SafetyNumber is a contact's safety number.
type SafetyNumber struct {
	Contact int64    `json:"contact"`
	Digits  string   `json:"digits"`
	Emoji   []string `json:"emoji"`
}

// MessageStatus is the data of a message.status event.
type MessageStatus struct {
	Contact int64  `json:"contact"`
	ID      string `json:"id"`
	Status  string `json:"status"`
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func contactView(c *store.Contact, hasSession bool) Contact {
	v := Contact{ID: int64(c.ID), Name: c.Name, Pin: c.Pin.String(), Verified: c.SafetyVerified,
		CanSend: hasSession && c.Pin != store.PinChanged, Created: ms(c.Created)}
	if p, err := identity.ParsePublic(c.Identity); err == nil {
		v.Fingerprint = invite.Fingerprint(p)
	}
	if len(c.PendingIdentity) > 0 {
		if p, err := identity.ParsePublic(c.PendingIdentity); err == nil {
			v.PendingFingerprint = invite.Fingerprint(p)
		}
	}
	return v
}

func messageView(m *store.Message) Message {
	dir := "in"
	if m.Direction == store.Outgoing {
		dir = "out"
	}
	return Message{Seq: m.Seq, ID: hex.EncodeToString(m.ID[:]), Contact: int64(m.Contact), Direction: dir,
		Text: m.Body, SentAt: ms(m.SentAt), Status: m.Status.String(), Created: ms(m.Created)}
}

// loadSelf reads the private identity; CodeNoIdentity if there is none.
func loadSelf(tx *store.Tx) (*identity.PrivateIdentity, error) {
	b, err := tx.Identity()
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(CodeNoIdentity, "no identity yet: call identity.create")
	}
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return identity.ParsePrivate(b)
}

func (e *Engine) clock() (time.Time, error) {
	now := e.now()
	if now.IsZero() || now.Unix() <= 0 {
		return time.Time{}, errors.New("engine: clock not set")
	}
	return now, nil
}

// CreateIdentity makes the profile's identity and prekeys (identity.create);
// CodeExists if it has one.
func (e *Engine) CreateIdentity(ctx context.Context) (*IdentityInfo, error) {
	now, err := e.clock()
	if err != nil {
		return nil, err
	}
	var info *IdentityInfo
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.Identity(); err == nil {
			return errorf(CodeExists, "the profile already has an identity")
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		id, err := identity.Generate(e.rand)
		if err != nil {
			return err
		}
		keys, err := prekey.Generate(e.rand, id, now, e.cfg.PrekeyLifetime, e.cfg.OneTimePrekeys)
		if err != nil {
			return err
		}
		defer keys.Clear()
		priv := id.MarshalPrivate()
		defer clear(priv)
		if err := tx.PutIdentity(priv, now); err != nil {
			return err
		}
		kb := keys.Marshal()
		defer clear(kb)
		if err := tx.PutPrekeys(kb, now); err != nil {
			return err
		}
		info = identityInfo(id.Public())
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.emitStatus(ctx)
	return info, nil
}

func identityInfo(p *identity.PublicIdentity) *IdentityInfo {
	return &IdentityInfo{Fingerprint: invite.Fingerprint(p), Public: p.Marshal()}
}

// Identity returns the public identity (identity.get).
func (e *Engine) Identity(ctx context.Context) (*IdentityInfo, error) {
	var info *IdentityInfo
	err := e.db.View(ctx, func(tx *store.Tx) error {
		self, err := loadSelf(tx)
		if err != nil {
			return err
		}
		info = identityInfo(self.Public())
		return nil
	})
	return info, err
}

// Settings are the user's settings.
type Settings struct {
	// Relay is the relay address this profile's invites name and polls.
	Relay string `json:"relay"`
	// Relay2 is an optional second relay (parley-relay:// address; "" if
	// none): used only while Relay is unreachable, never instead of it
	// (see Status.RelayInUse).
	Relay2 string `json:"relay2"`
	// Cover turns cover traffic on (see docs/NATIVE_MESSAGING.md).
	Cover bool `json:"cover"`
}

// SettingsUpdate changes some settings: nil fields stay as they are.
type SettingsUpdate struct {
	Relay  *string `json:"relay"`
	Relay2 *string `json:"relay2"`
	Cover  *bool   `json:"cover"`
}

// SettingCover is the settings key of Settings.Cover ("1" when on).
const SettingCover = "cover"

// Settings returns the settings (settings.get).
func (e *Engine) Settings(ctx context.Context) (*Settings, error) {
	var s *Settings
	err := e.db.View(ctx, func(tx *store.Tx) error {
		var err error
		s, err = readSettings(tx)
		return err
	})
	return s, err
}

func readSettings(tx *store.Tx) (*Settings, error) {
	var s Settings
	for _, f := range []struct {
		key string
		to  *string
	}{{store.SettingRelayAddress, &s.Relay}, {store.SettingRelayFallback, &s.Relay2}} {
		v, err := tx.Setting(f.key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		*f.to = v
	}
	v, err := tx.Setting(SettingCover)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	s.Cover = v == "1"
	return &s, nil
}

func coverValue(on bool) string {
	if on {
		return "1"
	}
	return ""
}

func checkRelay(field, a string) error {
	if a == "" {
		return nil
	}
	if _, err := addr.Parse(a); err != nil {
		return errorf(CodeInvalidParams, "%s: not a valid parley-relay:// address", field)
	}
	if err := invite.CheckRelayAddress(a); err != nil {
		return errorf(CodeInvalidParams, "%s: not a valid relay address for invites", field)
	}
	return nil
}

// SetSettings replaces the settings (all fields). An empty relay clears
// it.
func (e *Engine) SetSettings(ctx context.Context, s Settings) (*Settings, error) {
	return e.UpdateSettings(ctx, SettingsUpdate{Relay: &s.Relay, Relay2: &s.Relay2, Cover: &s.Cover})
}

// UpdateSettings changes the settings named in u (settings.set), in one
// transaction, and returns them all. The second relay must differ from the
// first and needs one.
func (e *Engine) UpdateSettings(ctx context.Context, u SettingsUpdate) (*Settings, error) {
	if u.Relay != nil {
		if err := checkRelay("relay", *u.Relay); err != nil {
			return nil, err
		}
	}
	if u.Relay2 != nil {
		if err := checkRelay("relay2", *u.Relay2); err != nil {
			return nil, err
		}
	}
	var out *Settings
	err := e.db.Update(ctx, func(tx *store.Tx) error {
		s, err := readSettings(tx)
		if err != nil {
			return err
		}
		if u.Relay != nil {
			s.Relay = *u.Relay
		}
		if u.Relay2 != nil {
			s.Relay2 = *u.Relay2
		}
		if u.Cover != nil {
			s.Cover = *u.Cover
		}
		if s.Relay2 != "" && s.Relay == "" {
			return errorf(CodeInvalidParams, "relay2: needs a relay")
		}
		if s.Relay2 != "" && s.Relay2 == s.Relay {
			return errorf(CodeInvalidParams, "relay2: must differ from relay")
		}
		for _, f := range []struct{ key, v string }{
			{store.SettingRelayAddress, s.Relay}, {store.SettingRelayFallback, s.Relay2}, {SettingCover, coverValue(s.Cover)},
		} {
			if f.v == "" {
				err = tx.DeleteSetting(f.key)
			} else {
				err = tx.SetSetting(f.key, f.v)
			}
			if err != nil {
				return err
			}
		}
		out = s
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.emitStatus(ctx)
	e.PollNow()
	return out, nil
}

// Status returns the engine's state (status).
func (e *Engine) Status(ctx context.Context) (*Status, error) {
	var st Status
	err := e.db.View(ctx, func(tx *store.Tx) error {
		if _, err := tx.Identity(); err == nil {
			st.Identity = true
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		v, err := tx.Setting(store.SettingRelayAddress)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		st.Relay = v
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		st.Contacts = len(cs)
		due, err := tx.DueOutbox(time.Unix(1<<40, 0), store.MaxPageSize)
		if err != nil {
			return err
		}
		st.Outbox = len(due)
		return nil
	})
	e.mu.Lock()
	if e.relayUp != nil {
		v := *e.relayUp
		st.RelayReachable = &v
	}
	st.RelayInUse = e.inUse
	e.mu.Unlock()
	st.Failover = st.RelayInUse != "" && st.Relay != "" && st.RelayInUse != st.Relay
	return &st, err
}

func (e *Engine) emitStatus(ctx context.Context) {
	if st, err := e.Status(ctx); err == nil {
		e.emit(EventStatusChanged, st)
	}
}

// contactRelayKey is the setting that holds the relay a contact's
// conversation uses (the relay named by the invite that started it).
func contactRelayKey(id store.ContactID) string {
	return "contact.relay." + strconv.FormatInt(int64(id), 10)
}

// Contacts lists the contacts (contacts.list).
func (e *Engine) Contacts(ctx context.Context) ([]Contact, error) {
	out := []Contact{}
	err := e.db.View(ctx, func(tx *store.Tx) error {
		cs, err := tx.Contacts()
		if err != nil {
			return err
		}
		for i := range cs {
			s, err := tx.Session(cs[i].ID)
			if err != nil {
				return err
			}
			out = append(out, contactView(&cs[i], len(s) > 0))
			clear(s)
		}
		return nil
	})
	return out, err
}

func (e *Engine) contact(tx *store.Tx, id int64) (*store.Contact, error) {
	c, err := tx.Contact(store.ContactID(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(CodeNotFound, "no contact %d", id)
	}
	return c, err
}

func (e *Engine) contactChanged(ctx context.Context, id store.ContactID) {
	var v Contact
	err := e.db.View(ctx, func(tx *store.Tx) error {
		c, err := tx.Contact(id)
		if err != nil {
			return err
		}
		s, err := tx.Session(id)
		if err != nil {
			return err
		}
		v = contactView(c, len(s) > 0)
		clear(s)
		return nil
	})
	if err == nil {
		e.emit(EventContactChanged, v)
	}
}

// Safety returns a contact's safety number (contact.safety), computed with
// the pinned identity.
func (e *Engine) Safety(ctx context.Context, contact int64) (*SafetyNumber, error) {
	var sn *SafetyNumber
	err := e.db.View(ctx, func(tx *store.Tx) error {
		self, err := loadSelf(tx)
		if err != nil {
			return err
		}
		c, err := e.contact(tx, contact)
		if err != nil {
			return err
		}
		peer, err := identity.ParsePublic(c.Identity)
		if err != nil {
			return fmt.Errorf("engine: stored identity: %w", err)
		}
		n := identity.NewSafetyNumber(self.Public(), peer)
		sn = &SafetyNumber{Contact: contact, Digits: n.Digits(), Emoji: n.Emoji()}
		return nil
	})
	return sn, err
}

// Verify marks a contact's safety number verified or not (contact.verify).
func (e *Engine) Verify(ctx context.Context, contact int64, verified bool) (*Contact, error) {
	return e.changeContact(ctx, contact, func(tx *store.Tx, c *store.Contact, now time.Time) error {
		if c.Pin == store.PinChanged {
			return errorf(CodePinState, "a key change is pending: accept it first")
		}
		return tx.SetVerified(c.ID, verified, now)
	})
}

// AcceptKeyChange pins a contact's new identity (contact.acceptKeyChange);
// CodePinState unless a change is pending.
func (e *Engine) AcceptKeyChange(ctx context.Context, contact int64) (*Contact, error) {
	return e.changeContact(ctx, contact, func(tx *store.Tx, c *store.Contact, now time.Time) error {
		if c.Pin != store.PinChanged {
			return errorf(CodePinState, "no key change is pending")
		}
		return tx.AcceptIdentityChange(c.ID, now)
	})
}

// Rename sets a contact's display name (contact.rename).
func (e *Engine) Rename(ctx context.Context, contact int64, name string) (*Contact, error) {
	return e.changeContact(ctx, contact, func(tx *store.Tx, c *store.Contact, now time.Time) error {
		return tx.RenameContact(c.ID, name, now)
	})
}

func (e *Engine) changeContact(ctx context.Context, contact int64, fn func(tx *store.Tx, c *store.Contact, now time.Time) error) (*Contact, error) {
	now, err := e.clock()
	if err != nil {
		return nil, err
	}
	var v Contact
	err = e.db.Update(ctx, func(tx *store.Tx) error {
		c, err := e.contact(tx, contact)
		if err != nil {
			return err
		}
		if err := fn(tx, c, now); err != nil {
			return err
		}
		c, err = tx.Contact(c.ID)
		if err != nil {
			return err
		}
		s, err := tx.Session(c.ID)
		if err != nil {
			return err
		}
		v = contactView(c, len(s) > 0)
		clear(s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	e.emit(EventContactChanged, v)
	return &v, nil
}
