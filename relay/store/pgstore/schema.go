package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/wire"
)

// Schema (docs/relay-postgres.md, "Schema"). Every table lives in the
// connection's current schema (the first of its search_path), so one
// database can hold several independent relays in separate schemas.
//
//	relay_items   one row per stored item: token, id, expires (Unix
//	              seconds), blob; key (token, id). Ids come from the
//	              sequence relay_item_id: unique, increasing, never
//	              reused.
//	relay_dedupe  one row per accepted deposit key (stamp time, digest),
//	              with its receipt (id, expires), kept for the dedupe
//	              window: the replay memory all processes share.
//	relay_usage   items and bytes per token (no row for an empty token).
//	relay_totals  items and bytes in all, as 17 shards whose sums are the
//	              totals: deposits add to shard 0 under its row lock,
//	              which serializes every quota decision across processes;
//	              acks and sweeps subtract from shards 1..16, so they
//	              never wait for that lock.
//	relay_schema  the migrations applied (version, name, time).

// migration is one versioned schema change, applied once, in order, in its
// own transaction.
type migration struct {
	version int
	name    string
	sql     string
}

// TotalShards is the number of rows in relay_totals.
const TotalShards = 17

// migrations are the schema's versions. Append only: a released migration
// never changes.
var migrations = []migration{
	{1, "initial", `
CREATE SEQUENCE relay_item_id AS bigint MINVALUE 1 NO CYCLE;
-- Ids are unique by the sequence; every access names the token too, so
-- (token, id) is the one key (fetch order, ack), and expires the one
-- other index (sweep).
CREATE TABLE relay_items (
	token   bytea  NOT NULL CHECK (octet_length(token) = ` + strconv.Itoa(address.TokenSize) + `),
	id      bigint NOT NULL,
	expires bigint NOT NULL,
	blob    bytea  NOT NULL CHECK (octet_length(blob) BETWEEN 1 AND ` + strconv.Itoa(wire.MaxBlobSize) + `),
	PRIMARY KEY (token, id)
);
-- Blobs are ciphertext: compressing them is wasted work.
ALTER TABLE relay_items ALTER COLUMN blob SET STORAGE EXTERNAL;
CREATE INDEX relay_items_expires ON relay_items (expires);
CREATE TABLE relay_dedupe (
	stamp_time bigint NOT NULL,
	digest     bytea  NOT NULL CHECK (octet_length(digest) = 32),
	id         bigint NOT NULL,
	expires    bigint NOT NULL,
	PRIMARY KEY (stamp_time, digest)
);
CREATE TABLE relay_usage (
	token bytea   PRIMARY KEY CHECK (octet_length(token) = ` + strconv.Itoa(address.TokenSize) + `),
	items integer NOT NULL CHECK (items >= 0),
	bytes bigint  NOT NULL CHECK (bytes >= 0)
);
CREATE TABLE relay_totals (
	shard integer PRIMARY KEY CHECK (shard >= 0 AND shard < ` + strconv.Itoa(TotalShards) + `),
	items bigint  NOT NULL,
	bytes bigint  NOT NULL
);
INSERT INTO relay_totals SELECT g, 0, 0 FROM generate_series(0, ` + strconv.Itoa(TotalShards-1) + `) g;
`},
}

// SchemaVersion is the schema version this code reads and writes.
func SchemaVersion() int { return migrations[len(migrations)-1].version }

// ErrSchemaTooNew is returned by Open when the database's schema is newer
// than this relay: it refuses to touch data it does not understand.
var ErrSchemaTooNew = errors.New("pgstore: database schema is newer than this relay")

// migrateLockKey is the advisory lock taken while migrating: one per
// schema, so relays in different schemas do not wait for each other.
const migrateLockKey = `hashtext('parley/relay/schema:' || current_schema())`

// migrate applies the missing migrations, holding the schema's advisory
// lock, so relays starting at the same time apply each migration once and
// all start on the same schema.
func migrate(ctx context.Context, pool *pgxpool.Pool) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var schema *string
	if err := conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if schema == nil {
		return errors.New("pgstore: no schema selected (search_path names no existing schema)")
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+migrateLockKey+")"); err != nil {
		return err
	}
	defer func() {
		if _, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+migrateLockKey+")"); uerr != nil {
			// The session lock ends with the connection: close it.
			conn.Conn().Close(context.WithoutCancel(ctx))
			err = errors.Join(err, uerr)
		}
	}()
	// Created only when missing, so that once migrated a role with only
	// SELECT, INSERT, UPDATE and DELETE on the tables can run the relay.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass(quote_ident(current_schema()) || '.relay_schema') IS NOT NULL").Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE TABLE relay_schema (
	version    integer     PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM relay_schema").Scan(&current); err != nil {
		return err
	}
	if current > SchemaVersion() {
		return fmt.Errorf("%w: version %d, this relay knows up to %d", ErrSchemaTooNew, current, SchemaVersion())
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO relay_schema (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("pgstore: migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}
