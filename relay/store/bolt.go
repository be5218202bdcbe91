package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/parley-im/parley/core/address"
)

// Bolt file layout (docs/PROTOCOL.md §Relay, "Storage"). All integers are
// big-endian, so keys sort by number.
//
//	items   token[32] || u64 id        -> u64 deposit time || blob
//	expiry  u64 id                     -> token[32] || u64 deposit time
//	dedupe  u64 stamp time || digest   -> u64 id || u64 expires
//	usage   token[32]                  -> u32 items || u64 bytes
//	meta    "schema"                   -> u32 schemaVersion
//	        "totals"                   -> u64 items || u64 bytes
//
// Ids come from the items bucket's sequence, so they are never reused.
var (
	bucketItems  = []byte("items")
	bucketExpiry = []byte("expiry")
	bucketDedupe = []byte("dedupe")
	bucketUsage  = []byte("usage")
	bucketMeta   = []byte("meta")
	keySchema    = []byte("schema")
	keyTotals    = []byte("totals")
)

const (
	schemaVersion = 1
	itemKeySize   = address.TokenSize + 8
	dedupeKeySize = 8 + 32
	// MaxBatch is the most operations one commit takes.
	MaxBatch = 4096
	// queueSize is the operation queue's capacity.
	queueSize = 4096
	// sweepBatch is the most items or dedupe entries one sweep commit
	// deletes, so a sweep never holds the writer for long.
	sweepBatch = 4096
	// openTimeout bounds the wait for the file lock another process holds.
	openTimeout = 2 * time.Second
)

// ErrLocked is returned by OpenBolt when another process has the file open.
var ErrLocked = errors.New("store: database in use by another process")

// Bolt is a Store on one bbolt file. One goroutine writes: it takes every
// queued operation (up to MaxBatch), applies them in one transaction and
// commits once, then answers them all.
type Bolt struct {
	db     *bolt.DB
	limits Limits
	ttl    uint64 // seconds
	window uint64 // seconds

	mu     sync.RWMutex // held for reading while queueing, for writing by Close
	closed bool
	ops    chan *op
	done   chan struct{} // closed when the writer exits

	items    atomic.Uint64
	bytes    atomic.Uint64
	lastTime uint64 // writer only: latest deposit time
	commits  atomic.Uint64

	// inFlight holds the ids of items that a running Fetch is reading, so
	// a concurrent Fetch skips them (one item, one fetcher at a time). Its
	// size is bounded by the number of concurrent fetches times their item
	// limit.
	flightMu sync.Mutex
	inFlight map[uint64]struct{}
}

type opKind uint8

const (
	opDeposit opKind = iota + 1
	opAck
	opSweep
)

type op struct {
	kind  opKind
	dep   Deposit
	token address.Token
	ids   []uint64
	now   uint64

	receipt Receipt
	n       int
	full    bool // sweep: a batch limit was hit, sweep again
	err     error
	done    chan struct{}
}

// OpenBolt opens or creates the store file at path. It fails with ErrLocked
// when another process holds the file.
func OpenBolt(path string, limits Limits) (*Bolt, error) {
	if err := limits.Validate(); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        openTimeout,
		NoFreelistSync: true, // rebuilt on open; halves the pages a commit writes
		FreelistType:   bolt.FreelistMapType,
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	s := &Bolt{
		db:       db,
		limits:   limits,
		ttl:      uint64((limits.TTL + time.Second - 1) / time.Second),
		window:   uint64((limits.DedupeWindow + time.Second - 1) / time.Second),
		ops:      make(chan *op, queueSize),
		done:     make(chan struct{}),
		inFlight: map[uint64]struct{}{},
	}
	if err := s.init(); err != nil {
		db.Close()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// init creates the buckets, checks the schema and loads the totals.
func (s *Bolt) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketItems, bucketExpiry, bucketDedupe, bucketUsage, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket: %w", err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		if v := meta.Get(keySchema); v == nil {
			if err := meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, schemaVersion)); err != nil {
				return fmt.Errorf("store: write schema: %w", err)
			}
		} else if len(v) != 4 || binary.BigEndian.Uint32(v) != schemaVersion {
			return fmt.Errorf("store: unsupported schema %x", v)
		}
		if v := meta.Get(keyTotals); v != nil {
			if len(v) != 16 {
				return errors.New("store: corrupt totals")
			}
			s.items.Store(binary.BigEndian.Uint64(v))
			s.bytes.Store(binary.BigEndian.Uint64(v[8:]))
		}
		if k, v := tx.Bucket(bucketExpiry).Cursor().Last(); k != nil && len(v) == address.TokenSize+8 {
			s.lastTime = binary.BigEndian.Uint64(v[address.TokenSize:])
		}
		return nil
	})
}

// Usage returns the totals as of the last commit.
func (s *Bolt) Usage() Usage { return Usage{Items: s.items.Load(), Bytes: s.bytes.Load()} }

// Health reports the kind "bbolt", reachable while the store is open.
func (s *Bolt) Health(context.Context) Health {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Health{Kind: "bbolt", Reachable: !s.closed}
}

// hold marks id as being read by a Fetch; it reports false when another
// Fetch holds it.
func (s *Bolt) hold(id uint64) bool {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	if _, busy := s.inFlight[id]; busy {
		return false
	}
	s.inFlight[id] = struct{}{}
	return true
}

// release ends the holds of a Fetch.
func (s *Bolt) release(ids []uint64) {
	s.flightMu.Lock()
	defer s.flightMu.Unlock()
	for _, id := range ids {
		delete(s.inFlight, id)
	}
}

// Path returns the database file's path.
func (s *Bolt) Path() string { return s.db.Path() }

// Commits returns the number of write transactions committed, for tests and
// benchmarks (deposits per commit shows group commit at work).
func (s *Bolt) Commits() uint64 { return s.commits.Load() }

// submit queues o and waits for its result or ctx.
func (s *Bolt) submit(ctx context.Context, o *op) error {
	o.done = make(chan struct{})
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	select {
	case s.ops <- o:
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

// Deposit stores d and returns once it is durable.
func (s *Bolt) Deposit(ctx context.Context, d Deposit, now time.Time) (Receipt, error) {
	t, err := unixSeconds(now)
	if err != nil {
		return Receipt{}, err
	}
	if len(d.Blob) == 0 {
		return Receipt{}, errors.New("store: empty blob")
	}
	o := &op{kind: opDeposit, dep: d, now: t}
	if err := s.submit(ctx, o); err != nil {
		return Receipt{}, err
	}
	return o.receipt, nil
}

// Ack deletes the items ids under token and returns once that is durable.
func (s *Bolt) Ack(ctx context.Context, token address.Token, ids []uint64) (int, error) {
	o := &op{kind: opAck, token: token, ids: ids}
	if err := s.submit(ctx, o); err != nil {
		return 0, err
	}
	return o.n, nil
}

// Sweep deletes expired items and dedupe entries, one bounded commit at a
// time, until none is left or ctx is done.
func (s *Bolt) Sweep(ctx context.Context, now time.Time) (int, error) {
	t, err := unixSeconds(now)
	if err != nil {
		return 0, err
	}
	total := 0
	for {
		o := &op{kind: opSweep, now: t}
		if err := s.submit(ctx, o); err != nil {
			return total, err
		}
		total += o.n
		if !o.full {
			return total, nil
		}
	}
}

// Lookup reads a dedupe entry in a read transaction.
func (s *Bolt) Lookup(ctx context.Context, key DedupeKey) (Receipt, bool, error) {
	if err := ctx.Err(); err != nil {
		return Receipt{}, false, err
	}
	dk := dedupeKey(&key)
	var r Receipt
	found := false
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDedupe).Get(dk)
		if v == nil {
			return nil
		}
		var err error
		r, err = dedupeReceipt(v)
		found = err == nil
		return err
	})
	if err != nil {
		return Receipt{}, false, fmt.Errorf("store: lookup: %w", err)
	}
	return r, found, nil
}

func dedupeKey(k *DedupeKey) []byte {
	dk := make([]byte, dedupeKeySize)
	binary.BigEndian.PutUint64(dk, k.Time)
	copy(dk[8:], k.Digest[:])
	return dk
}

func dedupeReceipt(v []byte) (Receipt, error) {
	if len(v) != 16 {
		return Receipt{}, errors.New("store: corrupt dedupe entry")
	}
	return Receipt{
		ID:        binary.BigEndian.Uint64(v),
		Expires:   time.Unix(int64(binary.BigEndian.Uint64(v[8:])), 0),
		Duplicate: true,
	}, nil
}

// Fetch reads live items in a read transaction; it does not go through the
// writer. Items another running Fetch holds are skipped.
func (s *Bolt) Fetch(ctx context.Context, tokens []address.Token, limit FetchLimit, now time.Time) ([]Item, bool, error) {
	t, err := unixSeconds(now)
	if err != nil {
		return nil, false, err
	}
	if err := limit.Validate(); err != nil {
		return nil, false, err
	}
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return nil, false, ErrClosed
	}
	var items []Item
	var held []uint64
	defer func() { s.release(held) }()
	more := false
	used := 0
	err = s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketItems).Cursor()
	tokens:
		for i := range tokens {
			tok := tokens[i][:]
			for k, v := c.Seek(tok); k != nil && bytes.HasPrefix(k, tok); k, v = c.Next() {
				if len(k) != itemKeySize || len(v) <= 8 {
					return errors.New("store: corrupt item")
				}
				if binary.BigEndian.Uint64(v)+s.ttl <= t {
					continue // expired, not yet swept: never delivered
				}
				id := binary.BigEndian.Uint64(k[address.TokenSize:])
				if !s.hold(id) {
					continue // another Fetch is reading it
				}
				held = append(held, id)
				cost := limit.PerItem + len(v) - 8
				if len(items) == limit.Items || used+cost > limit.Bytes {
					more = true
					break tokens
				}
				used += cost
				items = append(items, Item{
					Token: tokens[i],
					ID:    id,
					Blob:  bytes.Clone(v[8:]),
				})
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: fetch: %w", err)
	}
	return items, more, nil
}

// Close stops accepting operations, lets the writer commit everything
// queued, and closes the file.
func (s *Bolt) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.ops)
	s.mu.Unlock()
	<-s.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// writer is the single goroutine that writes: group commit.
func (s *Bolt) writer() {
	defer close(s.done)
	batch := make([]*op, 0, MaxBatch)
	for {
		o, ok := <-s.ops
		if !ok {
			return
		}
		batch = append(batch[:0], o)
	fill:
		for len(batch) < MaxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
		clear(batch)
	}
}

// commit applies batch in one transaction. An operation refused by policy
// (quota) gets its own error and changes nothing; any storage error fails
// the whole transaction and every operation in it.
func (s *Bolt) commit(batch []*op) {
	items, byteCount := s.items.Load(), s.bytes.Load()
	lastTime := s.lastTime
	err := s.db.Update(func(tx *bolt.Tx) error {
		w := writeTx{
			items:  tx.Bucket(bucketItems),
			expiry: tx.Bucket(bucketExpiry),
			dedupe: tx.Bucket(bucketDedupe),
			usage:  tx.Bucket(bucketUsage),
			s:      s, totalItems: items, totalBytes: byteCount, lastTime: lastTime,
		}
		w.expiry.FillPercent = 1.0 // keys only ever grow
		for _, o := range batch {
			o.err = nil
			var err error
			switch o.kind {
			case opDeposit:
				o.receipt, err = w.deposit(&o.dep, o.now)
			case opAck:
				o.n, err = w.ack(o.token, o.ids)
			case opSweep:
				o.n, o.full, err = w.sweep(o.now)
			}
			if errors.Is(err, ErrQuotaToken) || errors.Is(err, ErrQuotaTotal) {
				o.err = err
				continue
			}
			if err != nil {
				return err
			}
		}
		var totals [16]byte
		binary.BigEndian.PutUint64(totals[:], w.totalItems)
		binary.BigEndian.PutUint64(totals[8:], w.totalBytes)
		if err := tx.Bucket(bucketMeta).Put(keyTotals, totals[:]); err != nil {
			return err
		}
		items, byteCount, lastTime = w.totalItems, w.totalBytes, w.lastTime
		return nil
	})
	if err != nil {
		err = fmt.Errorf("store: commit: %w", err)
		for _, o := range batch {
			o.err, o.receipt, o.n, o.full = err, Receipt{}, 0, false
		}
	} else {
		s.items.Store(items)
		s.bytes.Store(byteCount)
		s.lastTime = lastTime
		s.commits.Add(1)
	}
	for _, o := range batch {
		close(o.done)
	}
}

// writeTx applies operations inside one write transaction.
type writeTx struct {
	items, expiry, dedupe, usage *bolt.Bucket
	s                            *Bolt
	totalItems, totalBytes       uint64
	lastTime                     uint64
}

func itemKey(token *address.Token, id uint64) []byte {
	k := make([]byte, itemKeySize)
	copy(k, token[:])
	binary.BigEndian.PutUint64(k[address.TokenSize:], id)
	return k
}

func (w *writeTx) getUsage(token []byte) (count uint32, size uint64, err error) {
	v := w.usage.Get(token)
	if v == nil {
		return 0, 0, nil
	}
	if len(v) != 12 {
		return 0, 0, errors.New("store: corrupt usage")
	}
	return binary.BigEndian.Uint32(v), binary.BigEndian.Uint64(v[4:]), nil
}

func (w *writeTx) putUsage(token []byte, count uint32, size uint64) error {
	if count == 0 {
		return w.usage.Delete(token)
	}
	v := make([]byte, 12)
	binary.BigEndian.PutUint32(v, count)
	binary.BigEndian.PutUint64(v[4:], size)
	return w.usage.Put(bytes.Clone(token), v)
}

func (w *writeTx) deposit(d *Deposit, now uint64) (Receipt, error) {
	dk := dedupeKey(&d.Key)
	if v := w.dedupe.Get(dk); v != nil {
		return dedupeReceipt(v)
	}
	count, size, err := w.getUsage(d.Token[:])
	if err != nil {
		return Receipt{}, err
	}
	blobLen := uint64(len(d.Blob))
	if int64(count) >= int64(w.s.limits.MaxItemsPerToken) {
		return Receipt{}, ErrQuotaToken
	}
	if w.totalBytes+blobLen > uint64(w.s.limits.MaxTotalBytes) {
		return Receipt{}, ErrQuotaTotal
	}
	id, err := w.items.NextSequence()
	if err != nil {
		return Receipt{}, err
	}
	t := max(now, w.lastTime) // deposit times never decrease along ids
	w.lastTime = t
	expires := t + w.s.ttl

	v := make([]byte, 8+len(d.Blob))
	binary.BigEndian.PutUint64(v, t)
	copy(v[8:], d.Blob)
	if err := w.items.Put(itemKey(&d.Token, id), v); err != nil {
		return Receipt{}, err
	}
	ev := make([]byte, address.TokenSize+8)
	copy(ev, d.Token[:])
	binary.BigEndian.PutUint64(ev[address.TokenSize:], t)
	if err := w.expiry.Put(binary.BigEndian.AppendUint64(nil, id), ev); err != nil {
		return Receipt{}, err
	}
	dv := make([]byte, 16)
	binary.BigEndian.PutUint64(dv, id)
	binary.BigEndian.PutUint64(dv[8:], expires)
	if err := w.dedupe.Put(dk, dv); err != nil {
		return Receipt{}, err
	}
	if err := w.putUsage(d.Token[:], count+1, size+blobLen); err != nil {
		return Receipt{}, err
	}
	w.totalItems++
	w.totalBytes += blobLen
	return Receipt{ID: id, Expires: time.Unix(int64(expires), 0)}, nil
}

// remove deletes one item whose key and value are known.
func (w *writeTx) remove(token []byte, id uint64, blobLen uint64) error {
	if err := w.items.Delete(itemKey((*address.Token)(token), id)); err != nil {
		return err
	}
	if err := w.expiry.Delete(binary.BigEndian.AppendUint64(nil, id)); err != nil {
		return err
	}
	count, size, err := w.getUsage(token)
	if err != nil {
		return err
	}
	if count == 0 || size < blobLen || w.totalItems == 0 || w.totalBytes < blobLen {
		return errors.New("store: usage out of step")
	}
	if err := w.putUsage(token, count-1, size-blobLen); err != nil {
		return err
	}
	w.totalItems--
	w.totalBytes -= blobLen
	return nil
}

func (w *writeTx) ack(token address.Token, ids []uint64) (int, error) {
	n := 0
	for _, id := range ids {
		v := w.items.Get(itemKey(&token, id))
		if v == nil {
			continue
		}
		if len(v) <= 8 {
			return 0, errors.New("store: corrupt item")
		}
		if err := w.remove(token[:], id, uint64(len(v)-8)); err != nil {
			return 0, err
		}
		n++
	}
	return n, nil
}

// sweep deletes up to sweepBatch expired items and as many dedupe entries
// past their window. full reports that a limit was hit.
func (w *writeTx) sweep(now uint64) (n int, full bool, err error) {
	type victim struct {
		token []byte
		id    uint64
	}
	var victims []victim
	c := w.expiry.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != 8 || len(v) != address.TokenSize+8 {
			return 0, false, errors.New("store: corrupt expiry entry")
		}
		if binary.BigEndian.Uint64(v[address.TokenSize:])+w.s.ttl > now {
			break
		}
		if len(victims) == sweepBatch {
			full = true
			break
		}
		victims = append(victims, victim{bytes.Clone(v[:address.TokenSize]), binary.BigEndian.Uint64(k)})
	}
	for _, vi := range victims {
		v := w.items.Get(itemKey((*address.Token)(vi.token), vi.id))
		if len(v) <= 8 {
			return 0, false, errors.New("store: expiry entry without item")
		}
		if err := w.remove(vi.token, vi.id, uint64(len(v)-8)); err != nil {
			return 0, false, err
		}
	}
	var stale [][]byte
	dc := w.dedupe.Cursor()
	for k, _ := dc.First(); k != nil; k, _ = dc.Next() {
		if len(k) != dedupeKeySize {
			return 0, false, errors.New("store: corrupt dedupe key")
		}
		if binary.BigEndian.Uint64(k)+w.s.window > now {
			break
		}
		if len(stale) == sweepBatch {
			full = true
			break
		}
		stale = append(stale, bytes.Clone(k))
	}
	for _, k := range stale {
		if err := w.dedupe.Delete(k); err != nil {
			return 0, false, err
		}
	}
	return len(victims), full, nil
}

// Check recomputes the totals and per-token usage from the items and
// compares them with what is stored, and checks that every item has its
// expiry entry and back. It is for tests and operators (a crash must never
// leave the store inconsistent).
func (s *Bolt) Check() error {
	return s.db.View(func(tx *bolt.Tx) error {
		usage := map[address.Token][2]uint64{}
		var items, size uint64
		err := tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			if len(k) != itemKeySize || len(v) <= 8 {
				return errors.New("store: check: corrupt item")
			}
			var tok address.Token
			copy(tok[:], k)
			u := usage[tok]
			u[0]++
			u[1] += uint64(len(v) - 8)
			usage[tok] = u
			items++
			size += uint64(len(v) - 8)
			ev := tx.Bucket(bucketExpiry).Get(k[address.TokenSize:])
			if ev == nil || !bytes.Equal(ev[:address.TokenSize], k[:address.TokenSize]) {
				return fmt.Errorf("store: check: item %x has no expiry entry", k[address.TokenSize:])
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n := tx.Bucket(bucketExpiry).Stats().KeyN; uint64(n) != items {
			return fmt.Errorf("store: check: %d expiry entries for %d items", n, items)
		}
		n := 0
		err = tx.Bucket(bucketUsage).ForEach(func(k, v []byte) error {
			n++
			var tok address.Token
			copy(tok[:], k)
			u := usage[tok]
			if len(v) != 12 || uint64(binary.BigEndian.Uint32(v)) != u[0] || binary.BigEndian.Uint64(v[4:]) != u[1] {
				return fmt.Errorf("store: check: usage of %v is out of step", tok)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if n != len(usage) {
			return fmt.Errorf("store: check: %d usage entries for %d tokens", n, len(usage))
		}
		v := tx.Bucket(bucketMeta).Get(keyTotals)
		if items == 0 && v == nil {
			return nil
		}
		if len(v) != 16 || binary.BigEndian.Uint64(v) != items || binary.BigEndian.Uint64(v[8:]) != size {
			return fmt.Errorf("store: check: totals out of step (%d items, %d bytes)", items, size)
		}
		return nil
	})
}
