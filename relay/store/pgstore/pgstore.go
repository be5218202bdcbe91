// Package pgstore is the relay's PostgreSQL store (docs/PROTOCOL.md §14
// "PostgreSQL store", docs/relay-postgres.md): a store.Store that several
// relay processes share, so a relay can grow past one machine. It keeps the
// contract of package store exactly as the bbolt store does, proven by the
// same conformance suite (relay/store/storetest):
//
//   - A deposit is acknowledged only after its transaction committed with
//     synchronous_commit on (the WAL is flushed). Concurrent deposits share
//     one transaction (group commit, per process); PostgreSQL groups the
//     WAL flushes of concurrent transactions across processes.
//   - Quotas are decided inside that transaction by the database's counts,
//     never by process memory: a deposit transaction locks the usage rows
//     of its tokens and, last, row 0 of relay_totals, then decides; so the
//     decisions of all processes are serialized and a quota cannot be
//     overshot.
//   - The dedupe table (stamp time, digest) is the replay memory every
//     process shares: a deposit retried through another relay process gets
//     the first receipt. A unique key makes concurrent duplicates store
//     one item.
//   - Fetch locks the rows it reads with FOR UPDATE SKIP LOCKED, so two
//     concurrent fetches (in any processes) never get the same item; it
//     deletes nothing. Ack deletes; Sweep deletes expired items with SKIP
//     LOCKED too, so several relays can sweep at once.
//   - The schema is versioned and migrated on Open under an advisory lock,
//     so relays may start concurrently.
//   - A lost connection or a database that is down or restarting makes an
//     operation fail with store.ErrUnavailable (the relay's retryable code
//     "unavailable"); the pool reconnects when the database is back.
//     Nothing acknowledged is lost: a receipt is only ever sent after the
//     commit returned.
//
// Every statement runs under a deadline (Options.OpTimeout), every batch is
// bounded (MaxBatch operations, MaxBatchBytes of blobs), and a transaction
// left idle by a stuck process is aborted by the server
// (idle_in_transaction_session_timeout), so one hung relay cannot hold the
// quota lock for the others.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/relay/store"
)

// Kind is the store kind the health endpoint reports.
const Kind = "postgres"

// Limits and defaults.
const (
	// MaxBatch is the most operations one transaction takes.
	MaxBatch = 1024
	// MaxBatchBytes bounds the blob bytes one deposit transaction sends.
	MaxBatchBytes = 8 << 20
	// queueSize is each operation queue's capacity.
	queueSize = 4096
	// SweepBatch is the most items, or dedupe entries, one sweep
	// transaction deletes.
	SweepBatch = 4096
	// DefaultWriters is how many goroutines commit deposit batches (and
	// as many ack batches, and answer lookups) in one process. One: each
	// transaction ends at the quota lock, which every process shares, so
	// more transactions in flight mean smaller batches waiting for it,
	// not more throughput; a second process already overlaps one's
	// commit with the other's inserts (measured: two writers in each of
	// two processes deposit about a third less than one in each).
	DefaultWriters = 1
	// MaxWriters bounds Options.Writers.
	MaxWriters = 16
	// DefaultOpTimeout bounds one database operation.
	DefaultOpTimeout = 10 * time.Second
	// DefaultMaxConns is the pool size when the URL sets no
	// pool_max_conns.
	DefaultMaxConns = 16
	// DefaultConnectTimeout bounds a connection attempt when the URL sets
	// no connect_timeout.
	DefaultConnectTimeout = 5 * time.Second
	// refreshInterval is how often Usage's totals are re-read, so they
	// follow the other processes' deposits and acks.
	refreshInterval = 2 * time.Second
	// unavailableLogInterval spaces out "database unreachable" logs.
	unavailableLogInterval = 10 * time.Second
)

// Options tune a Store; the zero value means the defaults.
type Options struct {
	// Writers is how many deposit batches (and ack batches) one process
	// commits at once, 1..MaxWriters; zero means DefaultWriters.
	Writers int
	// OpTimeout bounds each database operation; zero means
	// DefaultOpTimeout.
	OpTimeout time.Duration
	// Logger gets reachability changes of the database (never request
	// data); nil discards.
	Logger *slog.Logger
}

// Store is a store.Store on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	limits  store.Limits
	ttl     int64 // seconds
	window  int64 // seconds
	timeout time.Duration
	log     *slog.Logger

	mu      sync.RWMutex // held for reading while queueing, for writing by Close
	closed  bool
	deps    chan *op
	acks    chan *op
	lookups chan *lookupOp
	wg      sync.WaitGroup // writers, lookuppers and the refresher
	stop    chan struct{}  // closed by Close: stops the refresher

	items   atomic.Int64
	bytes   atomic.Int64
	commits atomic.Uint64
	down    atomic.Bool  // the last operation found the database unreachable
	lastLog atomic.Int64 // unix nanoseconds of the last unreachable log
}

type op struct {
	dep   store.Deposit
	now   int64
	token address.Token
	ids   []uint64

	receipt store.Receipt
	n       int
	err     error
	done    chan struct{}
}

// Open connects to the database at url (a postgres:// or postgresql://
// URL or a key=value connection string; see docs/relay-postgres.md),
// applies the missing schema migrations and returns the store. It refuses
// a server running with fsync off: a receipt would not mean durable.
func Open(ctx context.Context, url string, limits store.Limits, o Options) (*Store, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	if o.Writers == 0 {
		o.Writers = DefaultWriters
	}
	if o.OpTimeout == 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.Writers < 1 || o.Writers > MaxWriters || o.OpTimeout < 0 {
		return nil, errors.New("pgstore: options out of range")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx redacts any password from the message.
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	if need := int32(3*o.Writers + 2); cfg.MaxConns < need {
		return nil, fmt.Errorf("pgstore: pool_max_conns %d is below %d (three per writer, plus fetches)", cfg.MaxConns, need)
	}
	if !strings.Contains(url, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "parley-relay"
	}
	if v := strings.ToLower(rp["synchronous_commit"]); v == "off" || v == "false" || v == "no" || v == "0" {
		return nil, errors.New("pgstore: synchronous_commit=off in the connection string: a receipt would not mean durable")
	}
	// Every statement finds its rows through an index (see lookupSQL), but
	// a generic plan made while a table was nearly empty would keep a
	// sequential scan per looked-up key as the table grows (time in
	// proportion to the table, until autovacuum's next ANALYZE). Plan each
	// execution with the table's current size instead: these statements
	// run once per batch, so planning costs little. Fetch and ack
	// transactions, one per request, keep their plans instead (keepPlans).
	if rp["plan_cache_mode"] == "" {
		rp["plan_cache_mode"] = "force_custom_plan"
	}
	// A transaction a stuck process leaves open is aborted by the server,
	// releasing the quota lock for the other relays.
	rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(int64(2*o.OpTimeout/time.Millisecond), 10)
	cfg.AfterConnect = afterConnect
	cfg.PingTimeout = o.OpTimeout
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Store{
		pool:    pool,
		limits:  limits,
		ttl:     int64((limits.TTL + time.Second - 1) / time.Second),
		window:  int64((limits.DedupeWindow + time.Second - 1) / time.Second),
		timeout: o.OpTimeout,
		log:     o.Logger,
		deps:    make(chan *op, queueSize),
		acks:    make(chan *op, queueSize),
		lookups: make(chan *lookupOp, queueSize),
		stop:    make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.init(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	for range o.Writers {
		s.wg.Add(3)
		go s.writer(s.deps, s.commitDeposits)
		go s.writer(s.acks, s.commitAcks)
		go s.lookupper()
	}
	s.wg.Add(1)
	go s.refresher()
	return s, nil
}

// afterConnect makes every connection commit durably: a server or role
// default of synchronous_commit=off is overridden (other values, such as
// remote_apply, are at least as strong and are kept).
func afterConnect(ctx context.Context, c *pgx.Conn) error {
	var sc string
	if err := c.QueryRow(ctx, "SELECT current_setting('synchronous_commit')").Scan(&sc); err != nil {
		return err
	}
	if sc == "off" {
		if _, err := c.Exec(ctx, "SET synchronous_commit TO on"); err != nil {
			return err
		}
	}
	return nil
}

// init checks the server's durability settings, migrates the schema and
// loads the totals.
func (s *Store) init(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 6*s.timeout) // a migration may wait for another relay's
	defer cancel()
	var fsync string
	if err := s.pool.QueryRow(ctx, "SELECT current_setting('fsync')").Scan(&fsync); err != nil {
		return s.fail(ctx, ctx, err)
	}
	if fsync != "on" {
		return errors.New("pgstore: the PostgreSQL server runs with fsync off: a receipt would not mean durable")
	}
	if err := migrate(ctx, s.pool); err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return err
		}
		return s.fail(ctx, ctx, fmt.Errorf("migrate: %w", err))
	}
	return s.refresh(ctx)
}

// Usage returns the totals as of the last transaction or refresh (at most
// a few seconds old; the database's own totals decide every quota).
func (s *Store) Usage() store.Usage {
	return store.Usage{Items: uint64(max(s.items.Load(), 0)), Bytes: uint64(max(s.bytes.Load(), 0))}
}

// Commits returns the number of deposit and ack transactions committed,
// for tests and benchmarks (deposits per commit shows group commit).
func (s *Store) Commits() uint64 { return s.commits.Load() }

// Health reports the kind "postgres" and whether the database answers a
// ping within ctx.
func (s *Store) Health(ctx context.Context) store.Health {
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return store.Health{Kind: Kind}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.pool.Ping(ctx)
	if err != nil {
		s.noteDown(err)
	} else {
		s.noteUp()
	}
	return store.Health{Kind: Kind, Reachable: err == nil}
}

// refresher re-reads the totals every refreshInterval until Close.
func (s *Store) refresher() {
	defer s.wg.Done()
	t := time.NewTicker(refreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			s.refresh(ctx)
			cancel()
		}
	}
}

// refresh reads the totals.
func (s *Store) refresh(ctx context.Context) error {
	var items, bytes int64
	err := s.pool.QueryRow(ctx, "SELECT coalesce(sum(items), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM relay_totals").Scan(&items, &bytes)
	if err != nil {
		return s.fail(ctx, ctx, err)
	}
	s.noteUp()
	s.items.Store(items)
	s.bytes.Store(bytes)
	return nil
}

// fail maps a database error of an operation called with caller and run
// under ctx (the caller's context with the operation's deadline). The
// caller's cancellation stays itself; a connection failure, our own
// deadline, a server shutting down or out of resources, or a transient
// conflict is store.ErrUnavailable; anything else (a bug, corruption) is a
// plain error, which the relay answers as "internal".
func (s *Store) fail(caller, ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if caller.Err() != nil {
		return caller.Err()
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) {
		return err
	}
	if transient(err) || ctx.Err() != nil {
		s.noteDown(err)
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return fmt.Errorf("pgstore: %w", err)
}

// transient reports whether err means the database could not serve now:
// a server error of class 08 (connection), 40 (transaction rollback:
// serialization, deadlock), 53 (insufficient resources), 57 (operator
// intervention: shutdown, cancel) or 58 (system error, I/O); or any error
// that is not the server's answer at all (no connection, a broken one, a
// timeout).
func transient(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:min(2, len(pe.Code))] {
		case "08", "40", "53", "57", "58":
			return true
		}
		return false
	}
	return true
}

// noteDown records that the database is unreachable and logs it, at most
// every unavailableLogInterval.
func (s *Store) noteDown(err error) {
	s.down.Store(true)
	now := time.Now().UnixNano()
	if last := s.lastLog.Load(); now-last > int64(unavailableLogInterval) && s.lastLog.CompareAndSwap(last, now) {
		s.log.Error("relay: postgres unreachable; answering unavailable", "err", err)
	}
}

// noteUp records that the database answered.
func (s *Store) noteUp() {
	if s.down.CompareAndSwap(true, false) {
		s.log.Info("relay: postgres reachable again")
	}
}

// submit queues o on q and waits for its result or ctx.
func (s *Store) submit(ctx context.Context, q chan *op, o *op) error {
	o.done = make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.ErrClosed
	}
	select {
	case q <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case <-o.done:
		return o.err
	case <-ctx.Done():
		// The operation may still commit; the caller treats this like a
		// lost response (a deposit retry is deduplicated).
		return ctx.Err()
	}
}

// Deposit stores d and returns once its transaction has committed.
func (s *Store) Deposit(ctx context.Context, d store.Deposit, now time.Time) (store.Receipt, error) {
	t, err := store.UnixSeconds(now)
	if err != nil {
		return store.Receipt{}, err
	}
	if len(d.Blob) == 0 || len(d.Blob) > wire.MaxBlobSize {
		// Checked here, not only by the table's constraint, so one bad
		// deposit cannot fail the batch it would share.
		return store.Receipt{}, fmt.Errorf("pgstore: blob of %d bytes", len(d.Blob))
	}
	if d.Key.Time > 1<<62 || t > 1<<62 {
		return store.Receipt{}, errors.New("pgstore: time out of range")
	}
	o := &op{dep: d, now: int64(t)}
	if err := s.submit(ctx, s.deps, o); err != nil {
		return store.Receipt{}, err
	}
	return o.receipt, nil
}

// Ack deletes the items ids under token and returns once that committed.
func (s *Store) Ack(ctx context.Context, token address.Token, ids []uint64) (int, error) {
	o := &op{token: token, ids: ids}
	if err := s.submit(ctx, s.acks, o); err != nil {
		return 0, err
	}
	return o.n, nil
}

// Lookup reads a dedupe entry. Concurrent lookups share one query.
func (s *Store) Lookup(ctx context.Context, key store.DedupeKey) (store.Receipt, bool, error) {
	if err := s.open(ctx); err != nil {
		return store.Receipt{}, false, err
	}
	if key.Time > 1<<62 {
		return store.Receipt{}, false, nil // no deposit can have it
	}
	o := &lookupOp{key: key, done: make(chan struct{})}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return store.Receipt{}, false, store.ErrClosed
	}
	select {
	case s.lookups <- o:
	case <-ctx.Done():
		s.mu.RUnlock()
		return store.Receipt{}, false, ctx.Err()
	}
	s.mu.RUnlock()
	select {
	case <-o.done:
		return o.receipt, o.found, o.err
	case <-ctx.Done():
		return store.Receipt{}, false, ctx.Err()
	}
}

// lookupOp is one queued Lookup.
type lookupOp struct {
	key     store.DedupeKey
	receipt store.Receipt
	found   bool
	err     error
	done    chan struct{}
}

// lookupper answers queued lookups, up to MaxBatch in one query, until
// Close.
func (s *Store) lookupper() {
	defer s.wg.Done()
	batch := make([]*lookupOp, 0, MaxBatch)
	for {
		o, ok := <-s.lookups
		if !ok {
			return
		}
		batch = append(batch[:0], o)
	fill:
		for len(batch) < MaxBatch {
			select {
			case o, ok := <-s.lookups:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.lookupBatch(batch)
		for _, o := range batch {
			close(o.done)
		}
		clear(batch)
	}
}

// lookupSQL reads the dedupe entries of a list of keys. Every statement
// that looks rows up by a list does so through a LATERAL subquery or an
// "= ANY(ARRAY(…))" on an indexed column, so each row is found through its
// index whatever the planner estimates (a hash join over a sequential scan
// would cost time in proportion to the table).
const lookupSQL = `
SELECT k.t, k.dg, d.id, d.expires
FROM unnest($1::bigint[], $2::bytea[]) AS k(t, dg)
CROSS JOIN LATERAL (SELECT id, expires FROM relay_dedupe WHERE stamp_time = k.t AND digest = k.dg) d`

// rowKey makes the dedupe key of a row's stamp time and digest; false for
// a malformed row.
func rowKey(t int64, d []byte) (store.DedupeKey, bool) {
	if t < 0 || len(d) != 32 {
		return store.DedupeKey{}, false
	}
	return store.DedupeKey{Time: uint64(t), Digest: [32]byte(d)}, true
}

// lookupBatch reads the dedupe entries of a batch of lookups.
func (s *Store) lookupBatch(batch []*lookupOp) {
	times := make([]int64, len(batch))
	digests := make([][]byte, len(batch))
	for i, o := range batch {
		times[i], digests[i] = int64(o.key.Time), o.key.Digest[:]
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	found := map[store.DedupeKey]store.Receipt{}
	rows, err := s.pool.Query(ctx, lookupSQL, times, digests)
	if err == nil {
		for rows.Next() {
			var t, id, exp int64
			var d []byte
			if err = rows.Scan(&t, &d, &id, &exp); err != nil {
				break
			}
			k, ok := rowKey(t, d)
			if !ok || id < 1 {
				err = errors.New("pgstore: corrupt dedupe row")
				break
			}
			found[k] = store.Receipt{ID: uint64(id), Expires: time.Unix(exp, 0), Duplicate: true}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	if err != nil {
		err = s.fail(context.Background(), ctx, err)
		for _, o := range batch {
			o.err = err
		}
		return
	}
	s.noteUp()
	for _, o := range batch {
		o.receipt, o.found = found[o.key]
	}
}

// open checks ctx and that the store is open.
func (s *Store) open(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// fetchSQL locks, in one statement, the live items of the requested
// tokens that no concurrent fetch holds (FOR UPDATE SKIP LOCKED), at most
// $3 per token (a locked row keeps its ctid, by which it is read back),
// then numbers them in delivery order (tokens in request
// order, ids ascending) with their running cost, and returns the blobs of
// those that fit: the first $4 items, while the running cost stays within
// $6 (cost = $5 + blob length per item). Rows that do not fit come back
// without a blob, which tells the caller there is more.
const fetchSQL = `
WITH locked AS (
	SELECT t.ord, i.id, i.ctid AS row, octet_length(i.blob) AS len
	FROM unnest($1::bytea[]) WITH ORDINALITY AS t(token, ord)
	CROSS JOIN LATERAL (
		SELECT id, ctid, blob FROM relay_items
		WHERE token = t.token AND expires > $2
		ORDER BY id
		LIMIT $3
		FOR UPDATE SKIP LOCKED
	) i
), ranked AS (
	SELECT ord, id, row, row_number() OVER w AS n, sum(len + $5) OVER w AS cost
	FROM locked
	WINDOW w AS (ORDER BY ord, id)
)
SELECT r.ord, r.id, CASE WHEN r.n <= $4 AND r.cost <= $6 THEN i.blob END
FROM ranked r CROSS JOIN LATERAL (SELECT blob FROM relay_items WHERE ctid = r.row) i
ORDER BY r.ord, r.id`

// keepPlans makes the rest of a fetch or ack transaction keep prepared
// plans (plan_cache_mode auto) made without sequential scans
// (enable_seqscan off): these statements run once per request, so planning
// each time would cost more than running them; and a plan first made on a
// nearly empty table must still find rows through the indexes as the
// table grows. With $1 true it also turns synchronous_commit off (a
// transaction that only locks rows need not wait for a flush).
const keepPlans = `SELECT set_config('plan_cache_mode', 'auto', true), set_config('enable_seqscan', 'off', true),
	CASE WHEN $1::boolean THEN set_config('synchronous_commit', 'off', true) END`

// Fetch returns live items under tokens within limit. The rows are locked
// for the statement's transaction, so a concurrent fetch skips them; the
// transaction changes nothing and commits without waiting for a flush.
func (s *Store) Fetch(ctx context.Context, tokens []address.Token, limit store.FetchLimit, now time.Time) ([]store.Item, bool, error) {
	t, err := store.UnixSeconds(now)
	if err != nil {
		return nil, false, err
	}
	if err := limit.Validate(); err != nil {
		return nil, false, err
	}
	if err := s.open(ctx); err != nil {
		return nil, false, err
	}
	if len(tokens) == 0 {
		return nil, false, nil
	}
	toks := make([][]byte, len(tokens))
	for i := range tokens {
		toks[i] = tokens[i][:]
	}
	dctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(dctx)
	if err != nil {
		return nil, false, s.fail(ctx, dctx, err)
	}
	defer conn.Release() // destroyed if a failure left it in a transaction
	var items []store.Item
	more := false
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(keepPlans, true) // it only locks: no flush to wait for
	b.Queue(fetchSQL, toks, int64(min(t, 1<<62)), limit.Items+1, limit.Items, limit.PerItem, limit.Bytes).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var ord, id int64
			var blob []byte
			if err := rows.Scan(&ord, &id, &blob); err != nil {
				return err
			}
			if blob == nil {
				more = true
				continue
			}
			if ord < 1 || ord > int64(len(tokens)) || id < 1 {
				return errors.New("pgstore: corrupt fetch row")
			}
			items = append(items, store.Item{Token: tokens[ord-1], ID: uint64(id), Blob: blob})
		}
		return rows.Err()
	})
	b.Queue("COMMIT")
	if err := conn.SendBatch(dctx, b).Close(); err != nil {
		return nil, false, s.fail(ctx, dctx, err)
	}
	s.noteUp()
	return items, more, nil
}

// Sweep deletes expired items and dedupe entries past their window, one
// bounded transaction at a time, skipping rows another transaction holds
// (a fetch, an ack, another relay's sweep): several relays may sweep at
// once, and each row is deleted by one of them.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	t, err := store.UnixSeconds(now)
	if err != nil {
		return 0, err
	}
	if err := s.open(ctx); err != nil {
		return 0, err
	}
	at := int64(min(t, 1<<62))
	total := 0
	for {
		n, err := s.sweepItems(ctx, at)
		total += n
		if err != nil {
			return total, err
		}
		if n < SweepBatch {
			break
		}
	}
	for {
		n, err := s.sweepDedupe(ctx, at-s.window)
		if err != nil {
			return total, err
		}
		if n < SweepBatch {
			return total, nil
		}
	}
}

// change is one row's effect on the usage and the totals.
type change struct {
	token []byte
	items int64
	bytes int64
}

// applyChanges queues, on b, the statements that add the net changes per
// token to relay_usage (locking rows in token order, so concurrent
// transactions never deadlock on them), delete emptied usage rows, and add
// the sums to relay_totals row shard. The changes are all additions (a
// deposit transaction) or all deletions (an ack or a sweep).
func applyChanges(b *pgx.Batch, changes []change, shard int) {
	net := map[string]*change{}
	var di, db int64
	for _, c := range changes {
		di += c.items
		db += c.bytes
		k := string(c.token)
		if n := net[k]; n != nil {
			n.items += c.items
			n.bytes += c.bytes
		} else {
			net[k] = &change{token: c.token, items: c.items, bytes: c.bytes}
		}
	}
	keys := make([]string, 0, len(net))
	for k, c := range net {
		if c.items != 0 || c.bytes != 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return
	}
	slices.Sort(keys)
	toks := make([][]byte, len(keys))
	items := make([]int64, len(keys))
	bytes := make([]int64, len(keys))
	for i, k := range keys {
		toks[i], items[i], bytes[i] = net[k].token, net[k].items, net[k].bytes
	}
	if di > 0 {
		// Deposits: add, creating rows for new tokens.
		b.Queue(`INSERT INTO relay_usage (token, items, bytes)
			SELECT * FROM unnest($1::bytea[], $2::integer[], $3::bigint[]) ORDER BY 1
			ON CONFLICT (token) DO UPDATE SET items = relay_usage.items + excluded.items, bytes = relay_usage.bytes + excluded.bytes`,
			toks, items, bytes)
	} else {
		// Deletions: lock the rows in token order first (an UPDATE
		// joined to a list locks in no particular order), subtract, and
		// drop the rows that reach zero.
		b.Queue("SELECT 1 FROM relay_usage WHERE token = ANY($1) ORDER BY token FOR UPDATE", toks)
		b.Queue(`UPDATE relay_usage u SET items = u.items + d.items, bytes = u.bytes + d.bytes
			FROM unnest($1::bytea[], $2::integer[], $3::bigint[]) AS d(token, items, bytes)
			WHERE u.token = d.token AND u.token = ANY($1)`,
			toks, items, bytes)
		b.Queue("DELETE FROM relay_usage WHERE token = ANY($1) AND items = 0", toks)
	}
	b.Queue("UPDATE relay_totals SET items = items + $1, bytes = bytes + $2 WHERE shard = $3", di, db, shard)
}

// deltaShard picks a totals row for an ack or a sweep.
func deltaShard() int { return 1 + rand.IntN(TotalShards-1) }

// sweepItems deletes up to SweepBatch expired items in one transaction.
func (s *Store) sweepItems(ctx context.Context, now int64) (int, error) {
	dctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	conn, err := s.pool.Acquire(dctx)
	if err != nil {
		return 0, s.fail(ctx, dctx, err)
	}
	defer conn.Release()
	var changes []change
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// A lost sweep is swept again: no need to wait for the flush.
	b.Queue("SET LOCAL synchronous_commit TO off")
	b.Queue(`DELETE FROM relay_items WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM relay_items WHERE expires <= $1 ORDER BY expires LIMIT $2 FOR UPDATE SKIP LOCKED))
		RETURNING token, octet_length(blob)`, now, SweepBatch).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var c change
			if err := rows.Scan(&c.token, &c.bytes); err != nil {
				return err
			}
			c.items, c.bytes = -1, -c.bytes
			changes = append(changes, c)
		}
		return rows.Err()
	})
	if err := conn.SendBatch(dctx, b).Close(); err != nil {
		return 0, s.fail(ctx, dctx, err)
	}
	b = &pgx.Batch{}
	applyChanges(b, changes, deltaShard())
	b.Queue("COMMIT")
	if err := conn.SendBatch(dctx, b).Close(); err != nil {
		return 0, s.fail(ctx, dctx, err)
	}
	s.account(changes)
	return len(changes), nil
}

// sweepDedupe deletes up to SweepBatch dedupe entries whose stamp time is
// at or before cutoff.
func (s *Store) sweepDedupe(ctx context.Context, cutoff int64) (int, error) {
	dctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tag, err := s.pool.Exec(dctx, `DELETE FROM relay_dedupe WHERE ctid = ANY(ARRAY(
		SELECT ctid FROM relay_dedupe WHERE stamp_time <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))`, cutoff, SweepBatch)
	if err != nil {
		return 0, s.fail(ctx, dctx, err)
	}
	return int(tag.RowsAffected()), nil
}

// account applies committed changes to the cached totals.
func (s *Store) account(changes []change) {
	var di, db int64
	for _, c := range changes {
		di += c.items
		db += c.bytes
	}
	s.items.Add(di)
	s.bytes.Add(db)
}

// writer is one goroutine committing batches from q: it takes every queued
// operation (up to MaxBatch, and MaxBatchBytes of blobs), commits them in
// one transaction, then answers them all.
func (s *Store) writer(q chan *op, commit func([]*op)) {
	defer s.wg.Done()
	batch := make([]*op, 0, MaxBatch)
	for {
		o, ok := <-q
		if !ok {
			return
		}
		batch = append(batch[:0], o)
		size := len(o.dep.Blob)
	fill:
		for len(batch) < MaxBatch && size < MaxBatchBytes {
			select {
			case o, ok := <-q:
				if !ok {
					break fill
				}
				batch = append(batch, o)
				size += len(o.dep.Blob)
			default:
				break fill
			}
		}
		commit(batch)
		for _, o := range batch {
			close(o.done)
		}
		clear(batch)
	}
}

// retries is how often a batch is retried at once after a transient
// failure that guarantees nothing was sent, or a serialization or deadlock
// abort (which rolled everything back).
const retries = 2

// retryable reports whether a failed batch may be retried at once.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return pgconn.SafeToRetry(err)
}

// runBatch runs fn on a connection until it succeeds, fails for good, or
// has been retried retries times, and maps the error.
func (s *Store) runBatch(fn func(ctx context.Context, conn *pgxpool.Conn) error) error {
	var err error
	for range retries + 1 {
		err = func() error {
			ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
			defer cancel()
			conn, err := s.pool.Acquire(ctx)
			if err != nil {
				return err
			}
			defer conn.Release() // destroyed if left in a transaction
			return fn(ctx, conn)
		}()
		if err == nil {
			s.commits.Add(1)
			s.noteUp()
			return nil
		}
		if !retryable(err) {
			break
		}
	}
	bg := context.Background()
	return s.fail(bg, bg, err)
}

// depositState is one deposit transaction's view of its batch.
type depositState struct {
	ops     []*op
	leaders []*op         // the first op of each distinct key
	follow  map[*op]*op   // later ops with a leader's key
	ids     map[*op]int64 // ids the dedupe insert assigned
}

// commitDeposits stores a batch of deposits in one transaction, in two
// round trips, holding the quota lock only at the very end:
//
//  1. one statement (insertSQL) inserts the dedupe entries, in key order,
//     each with a fresh id; a key already present (from any process,
//     committed or committing) is a duplicate. It adds the new items to
//     their tokens' usage rows (locking them, in token order) and inserts
//     the items, and last adds them to relay_totals row 0: that row's lock
//     serializes the final quota decision of every process. Pipelined
//     behind it, a read of the totals;
//  2. decide the quotas in the order the deposits arrived, from the usage
//     and totals the transaction sees under its locks (exact for deposits:
//     every other deposit to the same token or total waits for them);
//     undo what was refused, read the receipts of duplicates, and commit.
func (s *Store) commitDeposits(batch []*op) {
	st := &depositState{ops: batch, follow: map[*op]*op{}}
	first := map[store.DedupeKey]*op{}
	for _, o := range batch {
		o.err, o.receipt = nil, store.Receipt{}
		if l := first[o.dep.Key]; l != nil {
			st.follow[o] = l
			continue
		}
		first[o.dep.Key] = o
		st.leaders = append(st.leaders, o)
	}
	var stored []change
	err := s.runBatch(func(ctx context.Context, conn *pgxpool.Conn) error {
		var err error
		stored, err = s.depositTx(ctx, conn, st)
		return err
	})
	if err != nil {
		for _, o := range batch {
			o.err, o.receipt = err, store.Receipt{}
		}
		return
	}
	s.account(stored)
	for o, l := range st.follow {
		o.err = l.err
		if l.err == nil {
			o.receipt = l.receipt
			o.receipt.Duplicate = true
		}
	}
}

// insertSQL is step 1 of a deposit transaction. Its common table
// expressions run in this order: the dedupe entries (rows are inserted in
// the order of the ORDER BY, so two batches wait for each other's keys in
// one order and never deadlock), the usage rows of the tokens (an
// aggregate: it reads every new entry first; locked in token order), then,
// as statements the main query does not read, the items and last the
// totals row 0 (the quota lock). It returns, per new entry, its id and its
// token's item count after the batch.
const insertSQL = `
WITH batch AS (
	SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bigint[], $5::bytea[])
		AS b(stamp_time, digest, token, expires, blob)
), entries AS (
	INSERT INTO relay_dedupe (stamp_time, digest, id, expires)
	SELECT stamp_time, digest, nextval('relay_item_id'), expires FROM batch ORDER BY stamp_time, digest
	ON CONFLICT DO NOTHING
	RETURNING stamp_time, digest, id, expires
), fresh AS (
	SELECT e.stamp_time, e.digest, e.id, e.expires, b.token, b.blob
	FROM entries e JOIN batch b ON b.stamp_time = e.stamp_time AND b.digest = e.digest
), added AS (
	SELECT token, count(*)::integer AS items, sum(octet_length(blob))::bigint AS bytes FROM fresh GROUP BY token
), usage AS (
	INSERT INTO relay_usage (token, items, bytes)
	SELECT token, items, bytes FROM added ORDER BY token
	ON CONFLICT (token) DO UPDATE SET items = relay_usage.items + excluded.items, bytes = relay_usage.bytes + excluded.bytes
	RETURNING token, items
), items AS (
	INSERT INTO relay_items (id, token, expires, blob) SELECT id, token, expires, blob FROM fresh
), totals AS (
	UPDATE relay_totals SET items = items + (SELECT count(*) FROM fresh),
		bytes = bytes + (SELECT coalesce(sum(octet_length(blob)), 0) FROM fresh)
	WHERE shard = 0
)
SELECT f.stamp_time, f.digest, f.id, u.items FROM fresh f JOIN usage u ON u.token = f.token`

// depositTx runs one deposit transaction for st's leaders and sets their
// results; it returns the items stored.
func (s *Store) depositTx(ctx context.Context, conn *pgxpool.Conn, st *depositState) ([]change, error) {
	leaders := st.leaders
	n := len(leaders)
	stampTimes := make([]int64, n)
	digests := make([][]byte, n)
	toks := make([][]byte, n)
	expires := make([]int64, n)
	blobs := make([][]byte, n)
	byKey := make(map[store.DedupeKey]*op, n)
	for i, o := range leaders {
		o.err, o.receipt = nil, store.Receipt{}
		stampTimes[i] = int64(o.dep.Key.Time)
		digests[i] = o.dep.Key.Digest[:]
		toks[i] = o.dep.Token[:]
		expires[i] = o.now + s.ttl
		blobs[i] = o.dep.Blob
		byKey[o.dep.Key] = o
	}
	st.ids = map[*op]int64{}

	// 1. Insert and lock; then read the totals under the lock.
	after := map[address.Token]int64{} // items per token, this batch's included
	var totalBytes int64               // all shards, this batch's included
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	// insertSQL and the totals read only insert by unique keys and read a
	// 17-row table: their plans cannot degrade as the tables grow, so
	// keep them rather than plan the large statement for every batch.
	b.Queue("SELECT set_config('plan_cache_mode', 'auto', true)")
	b.Queue(insertSQL, stampTimes, digests, toks, expires, blobs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var t, id, count int64
			var d []byte
			if err := rows.Scan(&t, &d, &id, &count); err != nil {
				return err
			}
			k, ok := rowKey(t, d)
			o := byKey[k]
			if !ok || o == nil || id < 1 || count < 1 {
				return errors.New("pgstore: corrupt dedupe row")
			}
			st.ids[o] = id
			after[o.dep.Token] = count
		}
		return rows.Err()
	})
	b.Queue("SELECT coalesce(sum(bytes), 0)::bigint FROM relay_totals").QueryRow(func(row pgx.Row) error {
		return row.Scan(&totalBytes)
	})
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}

	// 2. Quotas, in the order the deposits arrived, from the state before
	// this batch.
	count := map[address.Token]int64{}
	total := totalBytes
	for _, o := range leaders {
		if _, ok := st.ids[o]; ok {
			count[o.dep.Token]++
			total -= int64(len(o.dep.Blob))
		}
	}
	for tok, c := range count {
		count[tok] = after[tok] - c
	}
	var stored, refused []change
	var refusedIDs, refusedTimes, dupTimes []int64
	var refusedToks, refusedDigests, dupDigests [][]byte
	for _, o := range st.ops {
		if st.follow[o] != nil {
			continue
		}
		id, ok := st.ids[o]
		if !ok {
			dupTimes = append(dupTimes, int64(o.dep.Key.Time))
			dupDigests = append(dupDigests, o.dep.Key.Digest[:])
			continue
		}
		size := int64(len(o.dep.Blob))
		switch {
		case count[o.dep.Token] >= int64(s.limits.MaxItemsPerToken):
			o.err = store.ErrQuotaToken
		case total+size > s.limits.MaxTotalBytes:
			o.err = store.ErrQuotaTotal
		}
		if o.err != nil {
			refused = append(refused, change{token: o.dep.Token[:], items: -1, bytes: -size})
			refusedToks = append(refusedToks, o.dep.Token[:])
			refusedIDs = append(refusedIDs, id)
			refusedTimes = append(refusedTimes, int64(o.dep.Key.Time))
			refusedDigests = append(refusedDigests, o.dep.Key.Digest[:])
			continue
		}
		count[o.dep.Token]++
		total += size
		stored = append(stored, change{token: o.dep.Token[:], items: 1, bytes: size})
		o.receipt = store.Receipt{ID: uint64(id), Expires: time.Unix(o.now+s.ttl, 0)}
	}
	b = &pgx.Batch{}
	if len(refused) > 0 || len(dupTimes) > 0 {
		// Lookups by key follow: kept plans must use the indexes.
		b.Queue("SELECT set_config('enable_seqscan', 'off', true)")
	}
	if len(refused) > 0 {
		b.Queue(`DELETE FROM relay_items WHERE ctid = ANY(ARRAY(
			SELECT i.ctid FROM unnest($1::bytea[], $2::bigint[]) AS k(token, id)
			CROSS JOIN LATERAL (SELECT ctid FROM relay_items WHERE token = k.token AND id = k.id) i))`,
			refusedToks, refusedIDs)
		b.Queue(`DELETE FROM relay_dedupe WHERE ctid = ANY(ARRAY(
			SELECT d.ctid FROM unnest($1::bigint[], $2::bytea[]) AS k(t, dg)
			CROSS JOIN LATERAL (SELECT ctid FROM relay_dedupe WHERE stamp_time = k.t AND digest = k.dg) d))`,
			refusedTimes, refusedDigests)
		applyChanges(b, refused, 0) // rows this transaction already holds
	}
	if len(dupTimes) > 0 {
		b.Queue(lookupSQL, dupTimes, dupDigests).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var t, id, exp int64
				var d []byte
				if err := rows.Scan(&t, &d, &id, &exp); err != nil {
					return err
				}
				k, ok := rowKey(t, d)
				o := byKey[k]
				if !ok || o == nil || id < 1 {
					return errors.New("pgstore: corrupt dedupe row")
				}
				o.receipt = store.Receipt{ID: uint64(id), Expires: time.Unix(exp, 0), Duplicate: true}
			}
			if err := rows.Err(); err != nil {
				return err
			}
			for _, o := range leaders {
				if _, ok := st.ids[o]; !ok && o.receipt.ID == 0 {
					// Conflicted, yet gone: a concurrent transaction
					// deleted it (a refused deposit, a sweep). Retry.
					return &pgconn.PgError{Code: "40001", Message: "pgstore: dedupe entry vanished"}
				}
			}
			return nil
		})
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return stored, nil
}

// ackSQL deletes the items of a list of (token, id). It finds their row
// addresses through the key, then deletes by address: a TID scan visits
// (and so locks) the rows in address order, one order for every
// transaction, so two acks of the same items never deadlock. A row another
// transaction holds is waited for; one deleted meanwhile is skipped.
const ackSQL = `
DELETE FROM relay_items WHERE ctid = ANY(ARRAY(
	SELECT i.ctid FROM unnest($1::bytea[], $2::bigint[]) AS a(token, id)
	CROSS JOIN LATERAL (SELECT ctid FROM relay_items WHERE token = a.token AND id = a.id) i))
RETURNING token, id, octet_length(blob)`

// commitAcks deletes, in one transaction, the items a batch of acks names
// (each only under its own token; see ackSQL), and subtracts
// them from relay_usage and from one relay_totals delta shard.
func (s *Store) commitAcks(batch []*op) {
	type key struct {
		token address.Token
		id    int64
	}
	var keys []key
	for _, o := range batch {
		o.err, o.n = nil, 0
		for _, id := range o.ids {
			if id == 0 || id > 1<<63-1 {
				continue // no item has it
			}
			keys = append(keys, key{o.token, int64(id)})
		}
	}
	if len(keys) == 0 {
		return
	}
	toks := make([][]byte, len(keys))
	ids := make([]int64, len(keys))
	for i := range keys {
		toks[i], ids[i] = keys[i].token[:], keys[i].id
	}
	var deleted map[key]bool
	var changes []change
	err := s.runBatch(func(ctx context.Context, conn *pgxpool.Conn) error {
		deleted = map[key]bool{}
		changes = changes[:0]
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		b.Queue(keepPlans, false) // durable: synchronous_commit stays
		b.Queue(ackSQL, toks, ids).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var c change
				var id int64
				if err := rows.Scan(&c.token, &id, &c.bytes); err != nil {
					return err
				}
				if len(c.token) != address.TokenSize {
					return errors.New("pgstore: corrupt item row")
				}
				deleted[key{address.Token(c.token), id}] = true
				c.items, c.bytes = -1, -c.bytes
				changes = append(changes, c)
			}
			return rows.Err()
		})
		if err := conn.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		b = &pgx.Batch{}
		applyChanges(b, changes, deltaShard())
		b.Queue("COMMIT")
		return conn.SendBatch(ctx, b).Close()
	})
	if err != nil {
		for _, o := range batch {
			o.err = err
		}
		return
	}
	s.account(changes)
	// Credit each deletion to the first ack of the batch that named it.
	for _, o := range batch {
		for _, id := range o.ids {
			k := key{o.token, int64(id)}
			if id != 0 && id <= 1<<63-1 && deleted[k] {
				delete(deleted, k)
				o.n++
			}
		}
	}
}

// Close stops accepting operations, lets the writers commit everything
// queued, and closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	close(s.deps)
	close(s.acks)
	close(s.lookups)
	close(s.stop)
	s.mu.Unlock()
	s.wg.Wait()
	s.pool.Close()
	return nil
}

// Check verifies, in one snapshot, that the totals and every token's usage
// equal what the items add up to, that no usage row is empty, and that the
// schema is the current version. It is for tests and operators.
func (s *Store) Check(ctx context.Context) error {
	if err := s.open(ctx); err != nil {
		return err
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var items, bytes, tItems, tBytes int64
		if err := tx.QueryRow(ctx, "SELECT count(*), coalesce(sum(octet_length(blob)), 0)::bigint FROM relay_items").Scan(&items, &bytes); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(sum(items), 0)::bigint, coalesce(sum(bytes), 0)::bigint FROM relay_totals").Scan(&tItems, &tBytes); err != nil {
			return err
		}
		if items != tItems || bytes != tBytes {
			return fmt.Errorf("pgstore: check: totals say %d items, %d bytes; the items add up to %d, %d", tItems, tBytes, items, bytes)
		}
		var bad int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (
			SELECT token, count(*)::integer AS items, sum(octet_length(blob))::bigint AS bytes FROM relay_items GROUP BY token) a
			FULL JOIN relay_usage u USING (token)
			WHERE a.items IS DISTINCT FROM u.items OR a.bytes IS DISTINCT FROM u.bytes`).Scan(&bad); err != nil {
			return err
		}
		if bad != 0 {
			return fmt.Errorf("pgstore: check: usage of %d tokens is out of step", bad)
		}
		var version int
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM relay_schema").Scan(&version); err != nil {
			return err
		}
		if version != SchemaVersion() {
			return fmt.Errorf("pgstore: check: schema version %d, want %d", version, SchemaVersion())
		}
		return nil
	})
}
