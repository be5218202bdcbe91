package store

import (
	"context"
	"database/sql"
	"fmt"
)

// A migration moves the schema from version i to i+1 (its index + 1). It
// runs in one transaction together with the user_version bump, so a failed
// migration leaves the database at the previous version, untouched.
// Migrations are append-only: a released one never changes.
type migration struct {
	name string
	sql  string
}

// migrations is the schema history; len(migrations) is the current version.
var migrations = []migration{
	{"initial schema", schemaV1},
}

// schemaV1 is the first schema. Times are Unix milliseconds (0 = unset);
// blobs are opaque encodings owned by the core (identity, prekeys,
// conversation state) or the engine.
const schemaV1 = `
CREATE TABLE identity (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	blob    BLOB    NOT NULL,
	updated INTEGER NOT NULL
);
CREATE TABLE prekeys (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	blob    BLOB    NOT NULL,
	updated INTEGER NOT NULL
);
CREATE TABLE contacts (
	id               INTEGER PRIMARY KEY,
	name             TEXT    NOT NULL DEFAULT '',
	identity         BLOB    NOT NULL UNIQUE,
	pin_state        INTEGER NOT NULL CHECK (pin_state IN (1, 2, 3)),
	safety_verified  INTEGER NOT NULL DEFAULT 0 CHECK (safety_verified IN (0, 1)),
	pending_identity BLOB,
	session          BLOB,
	created          INTEGER NOT NULL,
	updated          INTEGER NOT NULL,
	CHECK ((pin_state = 3) = (pending_identity IS NOT NULL))
);
CREATE TABLE messages (
	seq        INTEGER PRIMARY KEY,
	id         BLOB    NOT NULL UNIQUE CHECK (length(id) = 16),
	contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	direction  INTEGER NOT NULL CHECK (direction IN (1, 2)),
	body       TEXT    NOT NULL,
	sent_at    INTEGER NOT NULL,
	status     INTEGER NOT NULL,
	created    INTEGER NOT NULL
);
CREATE INDEX messages_by_contact ON messages (contact_id, seq);
CREATE TABLE outbox (
	message_id BLOB    PRIMARY KEY CHECK (length(message_id) = 16),
	contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	token      BLOB    NOT NULL,
	blob       BLOB    NOT NULL,
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    INTEGER NOT NULL
);
CREATE INDEX outbox_by_next ON outbox (next_at);
CREATE TABLE seen (
	contact_id INTEGER NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
	message_id BLOB    NOT NULL,
	seen_at    INTEGER NOT NULL,
	PRIMARY KEY (contact_id, message_id)
) WITHOUT ROWID;
CREATE INDEX seen_by_time ON seen (seen_at);
CREATE TABLE invites (
	id        INTEGER PRIMARY KEY,
	secret    BLOB    NOT NULL UNIQUE,
	prekey_id INTEGER NOT NULL,
	expires   INTEGER NOT NULL,
	used      INTEGER NOT NULL DEFAULT 0,
	created   INTEGER NOT NULL
);
CREATE TABLE settings (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE transcripts (
	hash        BLOB    PRIMARY KEY CHECK (length(hash) = 32),
	contact_id  INTEGER REFERENCES contacts(id) ON DELETE SET NULL,
	accepted_at INTEGER NOT NULL
) WITHOUT ROWID;
`

// beginner is what *sql.DB and *sql.Conn share for transactions.
type beginner interface {
	BeginTx(ctx context.Context, opts *sql.TxOptions) (*sql.Tx, error)
}

// migrate applies the migrations after the database's user_version, each in
// its own transaction. A database newer than list is refused.
func migrate(ctx context.Context, db beginner, list []migration) error {
	for {
		done, err := migrateOne(ctx, db, list)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any. The version is read inside
// the write transaction, so two openers cannot both apply it.
func migrateOne(ctx context.Context, db beginner, list []migration) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: migrate: begin: %w", classifyOpenError(err))
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return false, fmt.Errorf("store: migrate: %w", classifyOpenError(err))
	}
	switch {
	case v > len(list):
		return false, fmt.Errorf("%w: version %d, this bridge knows %d", ErrSchemaTooNew, v, len(list))
	case v == len(list):
		return true, nil
	}
	m := list[v]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("store: migrate to v%d (%s): %w", v+1, m.name, err)
	}
	// PRAGMA takes no bound parameters; v+1 is an int.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", v+1)); err != nil {
		return false, fmt.Errorf("store: migrate to v%d: %w", v+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: migrate to v%d: commit: %w", v+1, err)
	}
	return false, nil
}
