// Package store keeps a Parley profile's state in an SQLCipher database
// (docs/DESIGN.md §Bridge; issue 4 "Profile, keystore, store"): the identity,
// prekeys, contacts with their pin state and conversation state, messages,
// the outbox, seen message ids, invites, settings and accepted handshake
// transcripts.
//
// The database is encrypted with SQLCipher 4 (go-sqlcipher/v4) under a
// 32-byte raw key from a keystore.Source, passed in the DSN
// (`_pragma_key=x'<hex>'`, `_pragma_cipher_page_size=4096`), in WAL mode with
// synchronous=NORMAL and secure_delete on. Every page of the database and of
// its WAL is encrypted; nothing in the profile directory is plaintext.
//
// Writes go through Update, reads through View; each runs a function in one
// transaction, so "decrypt, commit, then ack" and "enqueue before sending"
// are single commits. One dedicated connection (BEGIN IMMEDIATE, prepared
// statements reused) serializes writers; a small pool of read-only
// connections serves readers concurrently from WAL snapshots.
//
// Known limits: the key also lives in the DSN string held by database/sql
// for the life of the DB (Go strings cannot be wiped); old page images stay
// in the WAL until a checkpoint overwrites them (they are encrypted).
package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	// SQLCipher 4.4.2 on SQLite 3.33.0, registered as database/sql driver
	// "sqlite3". Never import mattn/go-sqlite3 next to it.
	_ "github.com/mutecomm/go-sqlcipher/v4"

	"github.com/parley-im/parley/bridge/keystore"
)

const (
	// FileName is the database file inside a profile directory. SQLite
	// adds FileName+"-wal" and FileName+"-shm" beside it.
	FileName = "parley.db"

	// CipherPageSize is SQLCipher's page size, fixed for the life of a
	// database.
	CipherPageSize = 4096

	// maxReaders bounds the read-only connection pool.
	maxReaders = 4

	// busyTimeoutMS is how long a connection waits for a lock.
	busyTimeoutMS = 5000
)

var (
	// ErrWrongKey means the database did not open with the key: a wrong key,
	// or a file that is not a Parley database.
	ErrWrongKey = errors.New("store: wrong key, or not a parley database")

	// ErrNoSQLCipher means this binary has no working SQLCipher: it was
	// built with CGO_ENABLED=0 (go-sqlcipher then compiles to a stub) or
	// links a plain SQLite. The bridge must not run like that.
	ErrNoSQLCipher = errors.New("store: this build has no working SQLCipher (built with CGO_ENABLED=0?)")

	// ErrPlaintext means the database file on disk is an unencrypted SQLite
	// file. The store refuses to use it.
	ErrPlaintext = errors.New("store: database file is not encrypted")

	// ErrSchemaTooNew means the database was written by a newer bridge.
	ErrSchemaTooNew = errors.New("store: database schema is newer than this bridge")

	// ErrNotFound is returned by lookups that find nothing.
	ErrNotFound = errors.New("store: not found")

	// ErrExists is returned by inserts whose unique key is already present.
	ErrExists = errors.New("store: already exists")
)

// DB is an open profile database. It is safe for concurrent use.
type DB struct {
	path string

	// The writer: one dedicated connection, one transaction at a time
	// (wmu), and its prepared statements, keyed by query text (the queries
	// are constants of this package, so the map stays small). Preparing
	// dominates the cost of a small statement; reusing it makes inserts
	// several times cheaper.
	w      *sql.DB
	wconn  *sql.Conn
	wmu    sync.Mutex
	wStmts map[string]*sql.Stmt

	// Readers: a pool of read-only connections.
	r *sql.DB
}

// plaintextHeader starts every unencrypted SQLite 3 file.
const plaintextHeader = "SQLite format 3\x00"

// Open opens (creating if needed) the database at path with the key from
// src, checks that SQLCipher is present and the file is encrypted, and
// applies pending schema migrations. Errors: ErrNoSQLCipher, ErrWrongKey,
// ErrPlaintext, ErrSchemaTooNew, or the key source's error (for example
// keystore.ErrNoKeystore).
func Open(ctx context.Context, path string, src keystore.Source) (*DB, error) {
	if err := SelfTest(); err != nil {
		return nil, err
	}
	if err := checkNotPlaintext(path); err != nil {
		return nil, err
	}
	key, err := src.Key()
	if err != nil {
		return nil, fmt.Errorf("store: get database key: %w", err)
	}
	hexKey := make([]byte, 2*keystore.KeySize)
	hex.Encode(hexKey, key.Bytes())
	key.Wipe()
	writer := dsn(path, hexKey, "_txlock=immediate&_journal_mode=WAL&_synchronous=NORMAL&_foreign_keys=1&_secure_delete=1")
	reader := dsn(path, hexKey, "_txlock=deferred&_synchronous=NORMAL&_foreign_keys=1&_query_only=1")
	clear(hexKey)

	db := &DB{path: path, wStmts: map[string]*sql.Stmt{}}
	if db.w, err = sql.Open("sqlite3", writer); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxIdleTime(0)
	db.w.SetConnMaxLifetime(0)
	if db.wconn, err = db.w.Conn(ctx); err != nil {
		db.w.Close()
		return nil, classifyOpenError(err)
	}
	fail := func(err error) (*DB, error) {
		db.wconn.Close()
		db.w.Close()
		return nil, err
	}
	if err := checkCipher(ctx, db.wconn); err != nil {
		return fail(err)
	}
	if err := migrate(ctx, db.wconn, migrations); err != nil {
		return fail(err)
	}
	if err := checkNotPlaintext(path); err != nil {
		return fail(err)
	}
	if db.r, err = sql.Open("sqlite3", reader); err != nil {
		return fail(fmt.Errorf("store: open: %w", err))
	}
	db.r.SetMaxOpenConns(maxReaders)
	db.r.SetMaxIdleConns(maxReaders)
	return db, nil
}

// dsn builds a go-sqlcipher DSN: a file: URI whose path escapes the
// characters that would end it early, the raw key, the page size and opts.
func dsn(path string, hexKey []byte, opts string) string {
	p := filepath.ToSlash(path)
	if runtime.GOOS == "windows" && filepath.VolumeName(path) != "" {
		p = "/" + p // file:/C:/...
	}
	p = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
	var b strings.Builder
	b.WriteString("file:")
	b.WriteString(p)
	b.WriteString("?_pragma_key=")
	b.WriteString(url.QueryEscape("x'" + string(hexKey) + "'"))
	fmt.Fprintf(&b, "&_pragma_cipher_page_size=%d&_busy_timeout=%d&", CipherPageSize, busyTimeoutMS)
	b.WriteString(opts)
	return b.String()
}

// classifyOpenError turns the driver's "file is not a database" (what
// SQLCipher says for a wrong key) into ErrWrongKey and the cgo stub's error
// into ErrNoSQLCipher.
func classifyOpenError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "file is not a database"):
		return ErrWrongKey
	case strings.Contains(msg, "CGO_ENABLED=0"):
		return fmt.Errorf("%w: %v", ErrNoSQLCipher, err)
	}
	return fmt.Errorf("store: open: %w", err)
}

// SelfTest fails loudly unless this binary links a working SQLCipher. The
// bridge calls it at start-up (Open calls it too). A CGO_ENABLED=0 build
// compiles go-sqlcipher's stub, which fails only when used; this turns that
// into ErrNoSQLCipher before any profile is touched.
func SelfTest() error {
	db, err := sql.Open("sqlite3", "file:parley-selftest?mode=memory")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoSQLCipher, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %v", ErrNoSQLCipher, err)
	}
	return checkCipher(ctx, db)
}

// queryer is what *sql.DB and *sql.Conn share for one-row queries.
type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// checkCipher asks the connection for SQLCipher's version: plain SQLite has
// no such pragma and answers nothing.
func checkCipher(ctx context.Context, db queryer) error {
	var v string
	err := db.QueryRowContext(ctx, "PRAGMA cipher_version").Scan(&v)
	if err != nil || v == "" {
		if err != nil && strings.Contains(err.Error(), "file is not a database") {
			return ErrWrongKey
		}
		return fmt.Errorf("%w: PRAGMA cipher_version gave %q (%v)", ErrNoSQLCipher, v, err)
	}
	return nil
}

// checkNotPlaintext refuses an existing database file that starts with the
// plaintext SQLite header.
func checkNotPlaintext(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	var hdr [len(plaintextHeader)]byte
	n, _ := f.Read(hdr[:])
	if n == len(hdr) && string(hdr[:]) == plaintextHeader {
		return ErrPlaintext
	}
	return nil
}

// Close closes the database. A clean close checkpoints the WAL into the
// database file. It waits for a running Update.
func (db *DB) Close() error {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	for q, st := range db.wStmts {
		st.Close()
		delete(db.wStmts, q)
	}
	var rerr error
	if db.r != nil {
		rerr = db.r.Close()
	}
	return errors.Join(rerr, db.wconn.Close(), db.w.Close())
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Update runs fn in one write transaction and commits it if fn returns nil
// (otherwise, or if fn panics, rolls it back and returns fn's error).
// Writers are serialized. fn must not keep tx, and must not call Update or
// View.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) (err error) {
	db.wmu.Lock()
	defer db.wmu.Unlock()
	if _, err := db.wconn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	// Rollback and commit must happen even if ctx is cancelled meanwhile.
	end := context.WithoutCancel(ctx)
	committed := false
	defer func() {
		if committed {
			return
		}
		if _, rerr := db.wconn.ExecContext(end, "ROLLBACK"); rerr != nil && err != nil {
			err = errors.Join(err, fmt.Errorf("store: rollback: %w", rerr))
		}
	}()
	if err := fn(&Tx{db: db, ctx: ctx, write: true}); err != nil {
		return err
	}
	if _, err := db.wconn.ExecContext(end, "COMMIT"); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	committed = true
	return nil
}

// View runs fn in one read-only transaction: a consistent snapshot that
// does not block writers. Write methods fail inside View.
func (db *DB) View(ctx context.Context, fn func(tx *Tx) error) error {
	stx, err := db.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer stx.Rollback() // a read-only transaction has nothing to commit
	return fn(&Tx{db: db, ctx: ctx, rtx: stx})
}

// SchemaVersion returns the database's schema version (PRAGMA
// user_version).
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := db.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// Tx is one transaction, valid only inside the Update or View call that
// created it.
type Tx struct {
	db    *DB
	ctx   context.Context
	write bool    // Update: statements run on db.wconn
	rtx   *sql.Tx // View
}

var errReadOnly = errors.New("store: write inside View")

// wstmt returns the writer's prepared statement for query.
func (tx *Tx) wstmt(query string) (*sql.Stmt, error) {
	if st, ok := tx.db.wStmts[query]; ok {
		return st, nil
	}
	st, err := tx.db.wconn.PrepareContext(tx.ctx, query)
	if err != nil {
		return nil, err
	}
	tx.db.wStmts[query] = st
	return st, nil
}

func (tx *Tx) exec(query string, args ...any) (sql.Result, error) {
	if !tx.write {
		return nil, errReadOnly
	}
	st, err := tx.wstmt(query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(tx.ctx, args...)
}

// queryRow runs a one-row query; a preparation error surfaces at Scan.
func (tx *Tx) queryRow(query string, args ...any) rowScanner {
	if !tx.write {
		return tx.rtx.QueryRowContext(tx.ctx, query, args...)
	}
	st, err := tx.wstmt(query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(tx.ctx, args...)
}

// query runs a query returning rows.
func (tx *Tx) query(query string, args ...any) (*sql.Rows, error) {
	if !tx.write {
		return tx.rtx.QueryContext(tx.ctx, query, args...)
	}
	st, err := tx.wstmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(tx.ctx, args...)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// affectedOne maps "no row changed" to ErrNotFound.
func affectedOne(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return nil
}

// inserted maps "no row inserted" (ON CONFLICT DO NOTHING) to ErrExists.
func inserted(res sql.Result, err error, what string) error {
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: %s: %w", what, ErrExists)
	}
	return nil
}

// Times are stored as Unix milliseconds; zero means unset.
func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// errZeroTime is returned when a required timestamp is the zero time (the
// caller forgot to pass now): fail closed rather than store 1970.
var errZeroTime = errors.New("store: zero time")
