//go:build cgo

package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/keystore"
)

var ctx = context.Background()

// t0 is a fixed clock for the tests.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSource(t testing.TB) (*keystore.Static, *keystore.Key) {
	t.Helper()
	k, err := keystore.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return keystore.NewStatic(k, keystore.ModePassphrase), k
}

func openTemp(t testing.TB) (*DB, string, *keystore.Static) {
	t.Helper()
	dir := t.TempDir()
	src, _ := newSource(t)
	db, err := Open(ctx, filepath.Join(dir, FileName), src)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dir, src
}

func mustUpdate(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.Update(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func mustView(t testing.TB, db *DB, fn func(tx *Tx) error) {
	t.Helper()
	if err := db.View(ctx, fn); err != nil {
		t.Fatal(err)
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func msgID(b byte) MessageID {
	var id MessageID
	id[0] = b
	id[15] = 0xee
	return id
}

func addContact(t testing.TB, db *DB, name string) ContactID {
	t.Helper()
	var id ContactID
	mustUpdate(t, db, func(tx *Tx) error {
		var err error
		id, err = tx.AddContact(name, []byte("identity of "+name), t0)
		return err
	})
	return id
}

func TestSelfTest(t *testing.T) {
	if err := SelfTest(); err != nil {
		t.Fatalf("SelfTest in a cgo build: %v", err)
	}
}

func TestOpenReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	src, _ := newSource(t)
	db, err := Open(ctx, path, src)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil || v != len(migrations) {
		t.Fatalf("schema version %d, %v; want %d", v, err, len(migrations))
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.PutIdentity([]byte("identity blob"), t0) })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db, err = Open(ctx, path, src)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	mustView(t, db, func(tx *Tx) error {
		b, err := tx.Identity()
		if err != nil || string(b) != "identity blob" {
			t.Errorf("identity after reopen: %q, %v", b, err)
		}
		return nil
	})
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	src, _ := newSource(t)
	db, err := Open(ctx, path, src)
	if err != nil {
		t.Fatal(err)
	}
	mustUpdate(t, db, func(tx *Tx) error { return tx.PutIdentity([]byte("x"), t0) })
	db.Close()
	before, _ := os.ReadFile(path)

	other, _ := newSource(t)
	if db, err := Open(ctx, path, other); !errors.Is(err, ErrWrongKey) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open with another key: %v, want ErrWrongKey", err)
	}
	// One flipped key bit is a wrong key too.
	k, _ := src.Key()
	k.Bytes()[31] ^= 1
	if _, err := Open(ctx, path, keystore.NewStatic(k, keystore.ModePassphrase)); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with a one-bit-off key: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("a failed open changed the database file")
	}
	if !strings.Contains(ErrWrongKey.Error(), "wrong key") {
		t.Fatal("ErrWrongKey should say so")
	}
	// And the right key still works.
	db, err = Open(ctx, path, src)
	if err != nil {
		t.Fatalf("right key after wrong ones: %v", err)
	}
	db.Close()
}

func TestOpenRefusesOtherFiles(t *testing.T) {
	t.Parallel()
	src, _ := newSource(t)
	for name, tc := range map[string]struct {
		content []byte
		want    error
	}{
		"random bytes":     {randBytes(8192), ErrWrongKey},
		"plaintext sqlite": {append([]byte(plaintextHeader), make([]byte, 4080)...), ErrPlaintext},
	} {
		path := filepath.Join(t.TempDir(), FileName)
		os.WriteFile(path, tc.content, 0o600)
		if db, err := Open(ctx, path, src); !errors.Is(err, tc.want) {
			if db != nil {
				db.Close()
			}
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

// The key source's failure is passed on, and nothing is created.
func TestOpenKeySourceError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Open(ctx, filepath.Join(dir, FileName), failingSource{})
	if !errors.Is(err, keystore.ErrNoKeystore) {
		t.Fatalf("Open = %v, want keystore.ErrNoKeystore", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files created without a key: %v", entries)
	}
}

type failingSource struct{}

func (failingSource) Key() (*keystore.Key, error) { return nil, keystore.ErrNoKeystore }
func (failingSource) Mode() keystore.Mode         { return keystore.ModeOS }

// At rest: after writing a message with a unique marker and key-like random
// bytes, no file in the profile directory contains either — while the
// database is open (the WAL holds the pages) and after it is closed — nor
// the database key.
func TestAtRestNothingInTheClear(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src, key := newSource(t)
	db, err := Open(ctx, filepath.Join(dir, FileName), src)
	if err != nil {
		t.Fatal(err)
	}
	marker := "PARLEY-AT-REST-MARKER-" + hex.EncodeToString(randBytes(8))
	secret := randBytes(32)
	body := marker + " " + hex.EncodeToString(secret) + " " + base64.StdEncoding.EncodeToString(secret)
	contact := addContact(t, db, "alice")
	mustUpdate(t, db, func(tx *Tx) error {
		if err := tx.PutIdentity(append([]byte(marker), secret...), t0); err != nil {
			return err
		}
		if err := tx.PutSession(contact, secret, t0); err != nil {
			return err
		}
		if err := tx.SetSetting(SettingRelayAddress, marker); err != nil {
			return err
		}
		return tx.AddMessage(&Message{ID: msgID(1), Contact: contact, Direction: Outgoing, Body: body, SentAt: t0, Status: StatusQueued, Created: t0})
	})

	needles := map[string][]byte{
		"marker":        []byte(marker),
		"secret (raw)":  secret,
		"secret (hex)":  []byte(hex.EncodeToString(secret)),
		"db key (raw)":  key.Bytes(),
		"db key (hex)":  []byte(hex.EncodeToString(key.Bytes())),
		"db key (HEX)":  []byte(strings.ToUpper(hex.EncodeToString(key.Bytes()))),
		"db key (b64)":  []byte(base64.StdEncoding.EncodeToString(key.Bytes())),
		"sqlite header": []byte(plaintextHeader),
		"table name":    []byte("CREATE TABLE"),
	}
	scan := func(when string) {
		t.Helper()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var total int
		for _, e := range entries {
			switch e.Name() {
			case FileName, FileName + "-wal", FileName + "-shm":
			default:
				t.Errorf("%s: unexpected file %q in the profile", when, e.Name())
			}
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			total += len(b)
			for what, n := range needles {
				if bytes.Contains(b, n) {
					t.Errorf("%s: %s found in %s", when, what, e.Name())
				}
			}
		}
		if total == 0 {
			t.Fatalf("%s: nothing on disk to scan", when)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, FileName+"-wal")); err != nil {
		t.Fatalf("no WAL while open: %v", err)
	}
	scan("open")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	scan("closed")

	// Control: the same writes in a database opened without a key are found
	// by the same scan, so the check above is not vacuous.
	plainDir := t.TempDir()
	plain, err := sql.Open("sqlite3", "file:"+filepath.Join(plainDir, "plain.db")+"?_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.ExecContext(ctx, "CREATE TABLE m (body TEXT, blob BLOB)"); err != nil {
		t.Fatal(err)
	}
	if _, err := plain.ExecContext(ctx, "INSERT INTO m VALUES (?, ?)", body, secret); err != nil {
		t.Fatal(err)
	}
	var found int
	entries, _ := os.ReadDir(plainDir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(plainDir, e.Name()))
		if bytes.Contains(b, needles["marker"]) && bytes.Contains(b, needles["secret (raw)"]) {
			found++
		}
	}
	if found == 0 {
		t.Fatal("control: the scan does not find the marker in a plaintext database")
	}
}

func schemaDump(t *testing.T, db *DB) string {
	t.Helper()
	rows, err := db.r.QueryContext(ctx, "SELECT type, name, coalesce(sql, '') FROM sqlite_master ORDER BY type, name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, sql string
		rows.Scan(&typ, &name, &sql)
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, sql)
	}
	return b.String()
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	src, _ := newSource(t)
	db, err := Open(ctx, path, src)
	if err != nil {
		t.Fatal(err)
	}
	first := schemaDump(t, db)
	if !strings.Contains(first, "messages_by_contact") {
		t.Fatalf("schema lacks the message index:\n%s", first)
	}
	// Running the migrations again changes nothing.
	if err := migrate(ctx, db.wconn, migrations); err != nil {
		t.Fatal(err)
	}
	if again := schemaDump(t, db); again != first {
		t.Fatalf("schema changed on a second migrate:\n%s\nvs\n%s", first, again)
	}
	db.Close()
	db, err = Open(ctx, path, src)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if again := schemaDump(t, db); again != first {
		t.Fatal("schema changed on reopen")
	}
	if v, _ := db.SchemaVersion(ctx); v != len(migrations) {
		t.Fatalf("version %d", v)
	}
}

// A failing migration leaves nothing behind: it runs in one transaction
// with its version bump.
func TestMigrationFailureRollsBack(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	before := schemaDump(t, db)
	bad := append(append([]migration{}, migrations...), migration{"broken", "CREATE TABLE half_done (a); THIS IS NOT SQL;"})
	if err := migrate(ctx, db.wconn, bad); err == nil {
		t.Fatal("broken migration succeeded")
	}
	if after := schemaDump(t, db); after != before {
		t.Fatalf("failed migration left changes:\n%s", after)
	}
	if v, _ := db.SchemaVersion(ctx); v != len(migrations) {
		t.Fatalf("version moved to %d", v)
	}
	// A good next migration applies and bumps the version.
	good := append(append([]migration{}, migrations...), migration{"extra", "CREATE TABLE extra (a);"})
	if err := migrate(ctx, db.wconn, good); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.SchemaVersion(ctx); v != len(good) {
		t.Fatalf("version %d, want %d", v, len(good))
	}
}

func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	src, _ := newSource(t)
	db, err := Open(ctx, path, src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.wconn.ExecContext(ctx, "PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if db, err := Open(ctx, path, src); !errors.Is(err, ErrSchemaTooNew) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
}

func TestUpdateRollsBack(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	boom := errors.New("boom")
	err := db.Update(ctx, func(tx *Tx) error {
		if err := tx.SetSetting("k", "v"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic swallowed")
			}
		}()
		db.Update(ctx, func(tx *Tx) error {
			tx.SetSetting("k2", "v")
			panic("inside update")
		})
	}()
	mustView(t, db, func(tx *Tx) error {
		for _, k := range []string{"k", "k2"} {
			if _, err := tx.Setting(k); !errors.Is(err, ErrNotFound) {
				t.Errorf("setting %s survived a rollback: %v", k, err)
			}
		}
		return nil
	})
	// The writer is usable afterwards.
	mustUpdate(t, db, func(tx *Tx) error { return tx.SetSetting("k", "v") })
}

func TestViewIsReadOnly(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	err := db.View(ctx, func(tx *Tx) error { return tx.SetSetting("k", "v") })
	if err == nil {
		t.Fatal("write inside View succeeded")
	}
	// Even bypassing the Tx guard, the connection refuses writes.
	err = db.View(ctx, func(tx *Tx) error {
		_, err := tx.rtx.ExecContext(ctx, "INSERT INTO settings VALUES ('k','v')")
		return err
	})
	if err == nil {
		t.Fatal("reader connection accepted a write")
	}
}

// A reader sees a consistent snapshot while a writer works, and concurrent
// writers are serialized without loss.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	c := addContact(t, db, "c")
	const writers, each = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				err := db.Update(ctx, func(tx *Tx) error {
					return tx.AddMessage(&Message{ID: MessageID{byte(w), byte(i), 1}, Contact: c, Direction: Incoming,
						Body: "m", SentAt: t0, Status: StatusReceived, Created: t0})
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				db.View(ctx, func(tx *Tx) error {
					p1, err := tx.Messages(c, 0, MaxPageSize)
					if err != nil {
						t.Error(err)
						return err
					}
					p2, _ := tx.Messages(c, 0, MaxPageSize)
					if len(p1.Messages) != len(p2.Messages) {
						t.Error("snapshot changed inside one View")
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	mustView(t, db, func(tx *Tx) error {
		p, _ := tx.Messages(c, 0, MaxPageSize)
		if len(p.Messages) != writers*each {
			t.Errorf("%d messages, want %d", len(p.Messages), writers*each)
		}
		return nil
	})
}

// The connection settings the package promises: WAL, synchronous=NORMAL,
// foreign keys, secure_delete on the writer, SQLCipher's 4096-byte pages,
// and read-only readers.
func TestPragmas(t *testing.T) {
	t.Parallel()
	db, _, _ := openTemp(t)
	check := func(name string, q queryer, pragma, want string) {
		t.Helper()
		var got string
		if err := q.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatalf("%s %s: %v", name, pragma, err)
		}
		if got != want {
			t.Errorf("%s: PRAGMA %s = %q, want %q", name, pragma, got, want)
		}
	}
	for name, q := range map[string]queryer{"writer": db.wconn, "reader": db.r} {
		check(name, q, "journal_mode", "wal")
		check(name, q, "synchronous", "1") // NORMAL
		check(name, q, "foreign_keys", "1")
		check(name, q, "cipher_page_size", "4096")
	}
	check("writer", db.wconn, "secure_delete", "1")
	check("reader", db.r, "query_only", "1")
}
