package store

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Size limits checked before anything is written.
const (
	// MaxBlobSize bounds every opaque blob (identity, prekeys, conversation
	// state, outbox envelope).
	MaxBlobSize = 1 << 20
	// MaxBodySize bounds a message body, in bytes of UTF-8.
	MaxBodySize = 64 << 10
	// MaxNameSize bounds a contact's display name, in bytes.
	MaxNameSize = 256
	// MaxSettingSize bounds a setting's key and value, in bytes.
	MaxSettingSize = 4096
	// MaxPageSize bounds the messages returned by one Messages call.
	MaxPageSize = 500
	// MessageIDSize is the size of a message id.
	MessageIDSize = 16
	// TranscriptHashSize is the size of a handshake transcript hash.
	TranscriptHashSize = 32
)

var (
	// ErrInviteUsed is returned by UseInvite for an invite already used.
	ErrInviteUsed = errors.New("store: invite already used")
	// ErrInviteExpired is returned by UseInvite for an invite past its
	// expiry.
	ErrInviteExpired = errors.New("store: invite expired")
	// ErrPinState is returned for a trust change the contact's pin state
	// does not allow (verifying a changed identity before accepting it,
	// accepting a change that is not pending).
	ErrPinState = errors.New("store: not allowed in the contact's pin state")
	// ErrInvalid is wrapped by errors for arguments out of range: unknown
	// enum values, oversized fields, invalid UTF-8, zero times.
	ErrInvalid = errors.New("store: invalid argument")
)

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func checkBlob(what string, b []byte) error {
	if len(b) == 0 || len(b) > MaxBlobSize {
		return invalid("%s must be 1 to %d bytes", what, MaxBlobSize)
	}
	return nil
}

func checkNow(now time.Time) error {
	if now.IsZero() {
		return errZeroTime
	}
	return nil
}

// ---- identity and prekeys ----

// Identity returns the stored identity blob (the core's private identity
// encoding), or ErrNotFound.
func (tx *Tx) Identity() ([]byte, error) { return tx.singleton("identity") }

// PutIdentity stores the identity blob, replacing any previous one.
func (tx *Tx) PutIdentity(blob []byte, now time.Time) error {
	return tx.putSingleton("identity", blob, now)
}

// Prekeys returns the stored prekeys blob, or ErrNotFound.
func (tx *Tx) Prekeys() ([]byte, error) { return tx.singleton("prekeys") }

// PutPrekeys stores the prekeys blob, replacing any previous one.
func (tx *Tx) PutPrekeys(blob []byte, now time.Time) error {
	return tx.putSingleton("prekeys", blob, now)
}

// singleton reads the blob of a one-row table (table is a constant).
func (tx *Tx) singleton(table string) ([]byte, error) {
	var b []byte
	err := tx.queryRow("SELECT blob FROM " + table + " WHERE id = 1").Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: %s: %w", table, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", table, err)
	}
	return b, nil
}

func (tx *Tx) putSingleton(table string, blob []byte, now time.Time) error {
	if err := checkBlob(table, blob); err != nil {
		return err
	}
	if err := checkNow(now); err != nil {
		return err
	}
	_, err := tx.exec("INSERT INTO "+table+" (id, blob, updated) VALUES (1, ?, ?) "+
		"ON CONFLICT (id) DO UPDATE SET blob = excluded.blob, updated = excluded.updated", blob, toMillis(now))
	if err != nil {
		return fmt.Errorf("store: put %s: %w", table, err)
	}
	return nil
}

// ---- contacts ----

// ContactID is a contact's local id.
type ContactID int64

// PinState is where a contact's pinned identity stands.
type PinState uint8

const (
	// PinUnverified: identity pinned on first use, safety number not
	// compared.
	PinUnverified PinState = 1
	// PinVerified: the user compared safety numbers for the pinned identity.
	PinVerified PinState = 2
	// PinChanged: the contact presented another identity (PendingIdentity);
	// sending is blocked until the user accepts it.
	PinChanged PinState = 3
)

// String returns "unverified", "verified" or "changed".
func (p PinState) String() string {
	switch p {
	case PinUnverified:
		return "unverified"
	case PinVerified:
		return "verified"
	case PinChanged:
		return "changed"
	}
	return fmt.Sprintf("PinState(%d)", uint8(p))
}

// Contact is a contact's public record (the conversation state is read
// separately with Session).
type Contact struct {
	ID       ContactID
	Name     string
	Identity []byte // the pinned public identity encoding
	Pin      PinState
	// SafetyVerified records that the user has verified this contact's
	// safety number at least once; it survives a key change, so the UI can
	// say "this contact was verified before the change".
	SafetyVerified  bool
	PendingIdentity []byte // set only in PinChanged
	Created         time.Time
	Updated         time.Time
}

const contactColumns = "id, name, identity, pin_state, safety_verified, pending_identity, created, updated"

func scanContact(s rowScanner) (*Contact, error) {
	var c Contact
	var created, updated int64
	if err := s.Scan(&c.ID, &c.Name, &c.Identity, &c.Pin, &c.SafetyVerified, &c.PendingIdentity, &created, &updated); err != nil {
		return nil, err
	}
	c.Created, c.Updated = fromMillis(created), fromMillis(updated)
	return &c, nil
}

// AddContact pins identity for a new contact (PinUnverified) and returns
// its id; ErrExists if a contact already has that identity.
func (tx *Tx) AddContact(name string, identity []byte, now time.Time) (ContactID, error) {
	if err := checkName(name); err != nil {
		return 0, err
	}
	if err := checkBlob("identity", identity); err != nil {
		return 0, err
	}
	if err := checkNow(now); err != nil {
		return 0, err
	}
	res, err := tx.exec("INSERT INTO contacts (name, identity, pin_state, created, updated) VALUES (?, ?, ?, ?, ?) "+
		"ON CONFLICT (identity) DO NOTHING", name, identity, PinUnverified, toMillis(now), toMillis(now))
	if err := inserted(res, err, "add contact"); err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: add contact: %w", err)
	}
	return ContactID(id), nil
}

func checkName(name string) error {
	if len(name) > MaxNameSize || !utf8.ValidString(name) {
		return invalid("name must be valid UTF-8 of at most %d bytes", MaxNameSize)
	}
	return nil
}

// Contact returns a contact by id, or ErrNotFound.
func (tx *Tx) Contact(id ContactID) (*Contact, error) {
	c, err := scanContact(tx.queryRow("SELECT "+contactColumns+" FROM contacts WHERE id = ?", id))
	return c, notFound(err, "contact")
}

// ContactByIdentity returns the contact whose pinned identity is identity,
// or ErrNotFound.
func (tx *Tx) ContactByIdentity(identity []byte) (*Contact, error) {
	c, err := scanContact(tx.queryRow("SELECT "+contactColumns+" FROM contacts WHERE identity = ?", identity))
	return c, notFound(err, "contact")
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// Contacts returns every contact, by id.
func (tx *Tx) Contacts() ([]Contact, error) {
	rows, err := tx.query("SELECT " + contactColumns + " FROM contacts ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	defer rows.Close()
	var out []Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, fmt.Errorf("store: contacts: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: contacts: %w", err)
	}
	return out, nil
}

// RenameContact sets a contact's display name.
func (tx *Tx) RenameContact(id ContactID, name string, now time.Time) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := checkNow(now); err != nil {
		return err
	}
	res, err := tx.exec("UPDATE contacts SET name = ?, updated = ? WHERE id = ?", name, toMillis(now), id)
	return affectedOne(res, err, "rename contact")
}

// SetVerified marks the pinned identity verified (PinVerified, and
// SafetyVerified set) or not (PinUnverified; SafetyVerified keeps its
// history). ErrPinState while a change is pending.
func (tx *Tx) SetVerified(id ContactID, verified bool, now time.Time) error {
	if err := checkNow(now); err != nil {
		return err
	}
	pin := PinUnverified
	if verified {
		pin = PinVerified
	}
	res, err := tx.exec("UPDATE contacts SET pin_state = ?, safety_verified = (safety_verified OR ?), updated = ? "+
		"WHERE id = ? AND pin_state != ?", pin, verified, toMillis(now), id, PinChanged)
	return tx.pinResult(res, err, id, "set verified")
}

// MarkIdentityChanged records that the contact presented another identity:
// PinChanged with newIdentity pending. Sending stays blocked until
// AcceptIdentityChange.
func (tx *Tx) MarkIdentityChanged(id ContactID, newIdentity []byte, now time.Time) error {
	if err := checkBlob("identity", newIdentity); err != nil {
		return err
	}
	if err := checkNow(now); err != nil {
		return err
	}
	res, err := tx.exec("UPDATE contacts SET pin_state = ?, pending_identity = ?, updated = ? WHERE id = ?",
		PinChanged, newIdentity, toMillis(now), id)
	return affectedOne(res, err, "mark identity changed")
}

// AcceptIdentityChange pins the pending identity (PinUnverified).
// ErrPinState unless a change is pending; ErrExists if another contact
// already has that identity.
func (tx *Tx) AcceptIdentityChange(id ContactID, now time.Time) error {
	if err := checkNow(now); err != nil {
		return err
	}
	var taken bool
	err := tx.queryRow("SELECT EXISTS (SELECT 1 FROM contacts o, contacts c WHERE c.id = ? AND o.id != c.id AND o.identity = c.pending_identity)", id).Scan(&taken)
	if err != nil {
		return fmt.Errorf("store: accept identity change: %w", err)
	}
	if taken {
		return fmt.Errorf("store: accept identity change: %w", ErrExists)
	}
	res, err := tx.exec("UPDATE contacts SET identity = pending_identity, pending_identity = NULL, pin_state = ?, updated = ? "+
		"WHERE id = ? AND pin_state = ?", PinUnverified, toMillis(now), id, PinChanged)
	return tx.pinResult(res, err, id, "accept identity change")
}

// MoveIdentity replaces a contact's pinned identity with newIdentity after
// the caller verified a rotation statement from the pinned one. The pin
// state, the verified flag and any pending change stay as they are.
// ErrExists if another contact already has that identity.
func (tx *Tx) MoveIdentity(id ContactID, newIdentity []byte, now time.Time) error {
	if err := checkBlob("identity", newIdentity); err != nil {
		return err
	}
	if err := checkNow(now); err != nil {
		return err
	}
	if c, err := tx.ContactByIdentity(newIdentity); err == nil && c.ID != id {
		return fmt.Errorf("store: move identity: %w", ErrExists)
	} else if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	res, err := tx.exec("UPDATE contacts SET identity = ?, updated = ? WHERE id = ?", newIdentity, toMillis(now), id)
	return affectedOne(res, err, "move identity")
}

// pinResult tells "no such contact" from "wrong pin state" when an
// UPDATE … WHERE pin_state … changed nothing.
func (tx *Tx) pinResult(res sql.Result, err error, id ContactID, what string) error {
	if err := affectedOne(res, err, what); !errors.Is(err, ErrNotFound) {
		return err
	}
	if _, err := tx.Contact(id); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return fmt.Errorf("store: %s: %w", what, ErrPinState)
}

// Session returns a contact's conversation state blob: nil (and no error)
// if none is stored, ErrNotFound if there is no such contact.
func (tx *Tx) Session(id ContactID) ([]byte, error) {
	var b []byte
	err := tx.queryRow("SELECT session FROM contacts WHERE id = ?", id).Scan(&b)
	return b, notFound(err, "session")
}

// PutSession stores a contact's conversation state blob (nil clears it).
func (tx *Tx) PutSession(id ContactID, blob []byte, now time.Time) error {
	if blob != nil {
		if err := checkBlob("session", blob); err != nil {
			return err
		}
	}
	if err := checkNow(now); err != nil {
		return err
	}
	res, err := tx.exec("UPDATE contacts SET session = ?, updated = ? WHERE id = ?", blob, toMillis(now), id)
	return affectedOne(res, err, "put session")
}

// DeleteContact removes a contact with its messages, outbox entries and
// seen ids.
func (tx *Tx) DeleteContact(id ContactID) error {
	res, err := tx.exec("DELETE FROM contacts WHERE id = ?", id)
	return affectedOne(res, err, "delete contact")
}

// ---- messages ----

// MessageID is a message's protocol id (random, chosen by the sender).
type MessageID [MessageIDSize]byte

// Direction says who wrote a message.
type Direction uint8

const (
	// Outgoing: written by the user.
	Outgoing Direction = 1
	// Incoming: received from the contact.
	Incoming Direction = 2
)

// Status is a message's delivery state.
type Status uint8

const (
	// StatusQueued: committed to the outbox, not yet accepted by the relay.
	StatusQueued Status = 1
	// StatusSent: the relay accepted it.
	StatusSent Status = 2
	// StatusDelivered: the contact confirmed receipt.
	StatusDelivered Status = 3
	// StatusFailed: given up.
	StatusFailed Status = 4
	// StatusReceived: an incoming message.
	StatusReceived Status = 5
)

// String returns the status name used in the native-messaging API.
func (s Status) String() string {
	switch s {
	case StatusQueued:
		return "queued"
	case StatusSent:
		return "sent"
	case StatusDelivered:
		return "delivered"
	case StatusFailed:
		return "failed"
	case StatusReceived:
		return "received"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

func (s Status) valid() bool { return s >= StatusQueued && s <= StatusReceived }

// Message is one message of a conversation.
type Message struct {
	// Seq is the local order (assigned by AddMessage); pages are in Seq
	// order.
	Seq       int64
	ID        MessageID
	Contact   ContactID
	Direction Direction
	Body      string
	SentAt    time.Time // the sender's clock
	Status    Status
	Created   time.Time // when this profile stored it
}

// AddMessage stores m and sets m.Seq. ErrExists if a message with m.ID is
// already stored.
func (tx *Tx) AddMessage(m *Message) error {
	if m.Direction != Outgoing && m.Direction != Incoming {
		return invalid("direction %d", m.Direction)
	}
	if !m.Status.valid() {
		return invalid("status %d", m.Status)
	}
	if len(m.Body) > MaxBodySize || !utf8.ValidString(m.Body) {
		return invalid("body must be valid UTF-8 of at most %d bytes", MaxBodySize)
	}
	if err := checkNow(m.Created); err != nil {
		return err
	}
	res, err := tx.exec("INSERT INTO messages (id, contact_id, direction, body, sent_at, status, created) "+
		"VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		m.ID[:], m.Contact, m.Direction, m.Body, toMillis(m.SentAt), m.Status, toMillis(m.Created))
	if err := inserted(res, err, "add message"); err != nil {
		return err
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("store: add message: %w", err)
	}
	m.Seq = seq
	return nil
}

const messageColumns = "seq, id, contact_id, direction, body, sent_at, status, created"

func scanMessage(s rowScanner, m *Message) error {
	var id []byte
	var sent, created int64
	if err := s.Scan(&m.Seq, &id, &m.Contact, &m.Direction, &m.Body, &sent, &m.Status, &created); err != nil {
		return err
	}
	if len(id) != MessageIDSize {
		return fmt.Errorf("message id of %d bytes", len(id))
	}
	m.ID = MessageID(id)
	m.SentAt, m.Created = fromMillis(sent), fromMillis(created)
	return nil
}

// Message returns a message by id, or ErrNotFound.
func (tx *Tx) Message(id MessageID) (*Message, error) {
	var m Message
	err := scanMessage(tx.queryRow("SELECT "+messageColumns+" FROM messages WHERE id = ?", id[:]), &m)
	if err != nil {
		return nil, notFound(err, "message")
	}
	return &m, nil
}

// SetMessageStatus changes a message's status.
func (tx *Tx) SetMessageStatus(id MessageID, s Status) error {
	if !s.valid() {
		return invalid("status %d", s)
	}
	res, err := tx.exec("UPDATE messages SET status = ? WHERE id = ?", s, id[:])
	return affectedOne(res, err, "set message status")
}

// Cursor marks a position in a conversation for paging; the zero Cursor
// means "the newest end".
type Cursor int64

// Page is one page of a conversation.
type Page struct {
	// Messages, oldest first.
	Messages []Message
	// Older is the cursor for the page before this one, or 0 if this page
	// reaches the first message.
	Older Cursor
}

// Messages returns up to limit (1..MaxPageSize) messages of a conversation
// that come before the cursor (zero: the newest), oldest first. It is keyset
// paging on the (contact_id, seq) index: its cost does not grow with the
// conversation's length or the page's depth.
func (tx *Tx) Messages(contact ContactID, before Cursor, limit int) (Page, error) {
	if limit < 1 || limit > MaxPageSize {
		return Page{}, invalid("page size must be 1 to %d", MaxPageSize)
	}
	if before <= 0 {
		before = Cursor(1<<63 - 1)
	}
	rows, err := tx.query("SELECT "+messageColumns+" FROM messages "+
		"WHERE contact_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?", contact, before, limit+1)
	if err != nil {
		return Page{}, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	msgs := make([]Message, 0, limit)
	more := false
	for rows.Next() {
		if len(msgs) == limit {
			more = true
			break
		}
		var m Message
		if err := scanMessage(rows, &m); err != nil {
			return Page{}, fmt.Errorf("store: messages: %w", err)
		}
		msgs = append(msgs, m)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("store: messages: %w", err)
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	p := Page{Messages: msgs}
	if more {
		p.Older = Cursor(msgs[0].Seq)
	}
	return p, nil
}

// ---- outbox ----

// OutboxItem is an encrypted envelope waiting to be deposited at the relay.
type OutboxItem struct {
	MessageID MessageID
	Contact   ContactID
	Token     []byte // the relay mailbox token to deposit to
	Blob      []byte // the envelope, ready to send
	Attempts  int
	NextAt    time.Time // not before
}

// Enqueue adds an item to the outbox; ErrExists if its message id is
// already queued. Commit it in the same transaction as the message, before
// any network I/O.
func (tx *Tx) Enqueue(it *OutboxItem) error {
	if err := checkBlob("token", it.Token); err != nil {
		return err
	}
	if err := checkBlob("envelope", it.Blob); err != nil {
		return err
	}
	if err := checkNow(it.NextAt); err != nil {
		return err
	}
	res, err := tx.exec("INSERT INTO outbox (message_id, contact_id, token, blob, attempts, next_at) VALUES (?, ?, ?, ?, ?, ?) "+
		"ON CONFLICT (message_id) DO NOTHING", it.MessageID[:], it.Contact, it.Token, it.Blob, it.Attempts, toMillis(it.NextAt))
	return inserted(res, err, "enqueue")
}

// DueOutbox returns up to limit items whose NextAt is not after now, the
// most overdue first.
func (tx *Tx) DueOutbox(now time.Time, limit int) ([]OutboxItem, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, invalid("limit must be 1 to %d", MaxPageSize)
	}
	rows, err := tx.query("SELECT message_id, contact_id, token, blob, attempts, next_at FROM outbox "+
		"WHERE next_at <= ? ORDER BY next_at, message_id LIMIT ?", toMillis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: due outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
		var id []byte
		var next int64
		if err := rows.Scan(&id, &it.Contact, &it.Token, &it.Blob, &it.Attempts, &next); err != nil {
			return nil, fmt.Errorf("store: due outbox: %w", err)
		}
		if len(id) != MessageIDSize {
			return nil, fmt.Errorf("store: due outbox: message id of %d bytes", len(id))
		}
		it.MessageID, it.NextAt = MessageID(id), fromMillis(next)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: due outbox: %w", err)
	}
	return out, nil
}

// NextOutboxAt returns the earliest NextAt in the outbox; ok is false when
// the outbox is empty.
func (tx *Tx) NextOutboxAt() (at time.Time, ok bool, err error) {
	var ms sql.NullInt64
	if err := tx.queryRow("SELECT min(next_at) FROM outbox").Scan(&ms); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next outbox: %w", err)
	}
	if !ms.Valid {
		return time.Time{}, false, nil
	}
	return fromMillis(ms.Int64), true, nil
}

// RetryOutbox counts a failed attempt and reschedules the item.
func (tx *Tx) RetryOutbox(id MessageID, nextAt time.Time) error {
	if err := checkNow(nextAt); err != nil {
		return err
	}
	res, err := tx.exec("UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE message_id = ?", toMillis(nextAt), id[:])
	return affectedOne(res, err, "retry outbox")
}

// RemoveOutbox removes a delivered (or abandoned) item.
func (tx *Tx) RemoveOutbox(id MessageID) error {
	res, err := tx.exec("DELETE FROM outbox WHERE message_id = ?", id[:])
	return affectedOne(res, err, "remove outbox")
}

// ---- seen message ids ----

// MarkSeen records that the contact's message id was received. fresh is
// false if it had been seen before: the receiver drops the duplicate (and
// still acks it). Call it in the transaction that stores the message.
func (tx *Tx) MarkSeen(contact ContactID, id MessageID, now time.Time) (fresh bool, err error) {
	if err := checkNow(now); err != nil {
		return false, err
	}
	res, err := tx.exec("INSERT INTO seen (contact_id, message_id, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		contact, id[:], toMillis(now))
	if err := inserted(res, err, "mark seen"); err != nil {
		if errors.Is(err, ErrExists) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// PruneSeen forgets ids seen before the given time and returns how many.
// Only prune past the relay's retention, or a late duplicate would pass.
func (tx *Tx) PruneSeen(before time.Time) (int64, error) {
	if err := checkNow(before); err != nil {
		return 0, err
	}
	res, err := tx.exec("DELETE FROM seen WHERE seen_at < ?", toMillis(before))
	if err != nil {
		return 0, fmt.Errorf("store: prune seen: %w", err)
	}
	return res.RowsAffected()
}

// ---- invites ----

// Invite is an invitation this profile issued. Secret is secret material.
type Invite struct {
	ID       int64
	Secret   []byte
	PrekeyID uint32 // the one-time prekey reserved for it
	Expires  time.Time
	Used     time.Time // zero while unused
	Created  time.Time
}

// AddInvite stores a new invite and sets inv.ID; ErrExists for a repeated
// secret.
func (tx *Tx) AddInvite(inv *Invite) error {
	if len(inv.Secret) < 16 || len(inv.Secret) > 1024 {
		return invalid("invite secret must be 16 to 1024 bytes")
	}
	if err := checkNow(inv.Expires); err != nil {
		return err
	}
	if err := checkNow(inv.Created); err != nil {
		return err
	}
	res, err := tx.exec("INSERT INTO invites (secret, prekey_id, expires, used, created) VALUES (?, ?, ?, 0, ?) "+
		"ON CONFLICT (secret) DO NOTHING", inv.Secret, inv.PrekeyID, toMillis(inv.Expires), toMillis(inv.Created))
	if err := inserted(res, err, "add invite"); err != nil {
		return err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("store: add invite: %w", err)
	}
	inv.ID = id
	return nil
}

// InviteBySecret returns the invite with that secret, or ErrNotFound.
func (tx *Tx) InviteBySecret(secret []byte) (*Invite, error) {
	var inv Invite
	var exp, used, created int64
	err := tx.queryRow("SELECT id, secret, prekey_id, expires, used, created FROM invites WHERE secret = ?", secret).
		Scan(&inv.ID, &inv.Secret, &inv.PrekeyID, &exp, &used, &created)
	if err != nil {
		return nil, notFound(err, "invite")
	}
	inv.Expires, inv.Used, inv.Created = fromMillis(exp), fromMillis(used), fromMillis(created)
	return &inv, nil
}

// ActiveInvites returns the invites that are unused and not expired at
// now, oldest first, at most limit (1..MaxPageSize): the ones whose
// first-contact mailbox the engine polls.
func (tx *Tx) ActiveInvites(now time.Time, limit int) ([]Invite, error) {
	if err := checkNow(now); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxPageSize {
		return nil, invalid("limit must be 1 to %d", MaxPageSize)
	}
	rows, err := tx.query("SELECT id, secret, prekey_id, expires, used, created FROM invites "+
		"WHERE used = 0 AND expires > ? ORDER BY id LIMIT ?", toMillis(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: active invites: %w", err)
	}
	defer rows.Close()
	var out []Invite
	for rows.Next() {
		var inv Invite
		var exp, used, created int64
		if err := rows.Scan(&inv.ID, &inv.Secret, &inv.PrekeyID, &exp, &used, &created); err != nil {
			return nil, fmt.Errorf("store: active invites: %w", err)
		}
		inv.Expires, inv.Used, inv.Created = fromMillis(exp), fromMillis(used), fromMillis(created)
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: active invites: %w", err)
	}
	return out, nil
}

// UseInvite marks an invite used, once: ErrInviteUsed if it already was,
// ErrInviteExpired if now is past its expiry, ErrNotFound if there is none.
func (tx *Tx) UseInvite(id int64, now time.Time) error {
	if err := checkNow(now); err != nil {
		return err
	}
	res, err := tx.exec("UPDATE invites SET used = ? WHERE id = ? AND used = 0 AND expires > ?", toMillis(now), id, toMillis(now))
	if err := affectedOne(res, err, "use invite"); !errors.Is(err, ErrNotFound) {
		return err
	}
	var used, exp int64
	if err := tx.queryRow("SELECT used, expires FROM invites WHERE id = ?", id).Scan(&used, &exp); err != nil {
		return notFound(err, "use invite")
	}
	if used != 0 {
		return ErrInviteUsed
	}
	return ErrInviteExpired
}

// DeleteExpiredInvites removes invites that expired before now (used or
// not) and returns how many.
func (tx *Tx) DeleteExpiredInvites(now time.Time) (int64, error) {
	if err := checkNow(now); err != nil {
		return 0, err
	}
	res, err := tx.exec("DELETE FROM invites WHERE expires <= ?", toMillis(now))
	if err != nil {
		return 0, fmt.Errorf("store: delete expired invites: %w", err)
	}
	return res.RowsAffected()
}

// ---- settings ----

// Setting keys.
const (
	// SettingRelayAddress is the relay the user chose.
	SettingRelayAddress = "relay.address"
	// SettingRelayFallback is the second relay, used only if the user set
	// one.
	SettingRelayFallback = "relay.fallback"
)

// Setting returns a setting's value, or ErrNotFound.
func (tx *Tx) Setting(key string) (string, error) {
	var v string
	err := tx.queryRow("SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	return v, notFound(err, "setting")
}

// SetSetting stores a setting, replacing its value.
func (tx *Tx) SetSetting(key, value string) error {
	if key == "" || len(key) > MaxSettingSize || len(value) > MaxSettingSize || !utf8.ValidString(key) || !utf8.ValidString(value) {
		return invalid("setting key and value must be UTF-8, key 1 to %d bytes, value at most %d", MaxSettingSize, MaxSettingSize)
	}
	_, err := tx.exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value)
	if err != nil {
		return fmt.Errorf("store: set setting: %w", err)
	}
	return nil
}

// DeleteSetting removes a setting (no error if it was not set).
func (tx *Tx) DeleteSetting(key string) error {
	if _, err := tx.exec("DELETE FROM settings WHERE key = ?", key); err != nil {
		return fmt.Errorf("store: delete setting: %w", err)
	}
	return nil
}

// ---- accepted handshake transcripts ----

// AcceptTranscript records the hash of an accepted first-contact handshake
// transcript. fresh is false if it was accepted before: a replayed
// handshake, to be dropped. contact 0 records none.
func (tx *Tx) AcceptTranscript(hash [TranscriptHashSize]byte, contact ContactID, now time.Time) (fresh bool, err error) {
	if err := checkNow(now); err != nil {
		return false, err
	}
	var c sql.NullInt64
	if contact != 0 {
		c = sql.NullInt64{Int64: int64(contact), Valid: true}
	}
	res, err := tx.exec("INSERT INTO transcripts (hash, contact_id, accepted_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		hash[:], c, toMillis(now))
	if err := inserted(res, err, "accept transcript"); err != nil {
		if errors.Is(err, ErrExists) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// HasTranscript reports whether a transcript hash was accepted.
func (tx *Tx) HasTranscript(hash [TranscriptHashSize]byte) (bool, error) {
	var ok bool
	if err := tx.queryRow("SELECT EXISTS (SELECT 1 FROM transcripts WHERE hash = ?)", hash[:]).Scan(&ok); err != nil {
		return false, fmt.Errorf("store: has transcript: %w", err)
	}
	return ok, nil
}
