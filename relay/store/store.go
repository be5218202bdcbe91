// Package store keeps the relay's items (docs/PROTOCOL.md §Relay,
// "Storage"): blobs deposited under mailbox tokens, until the recipient acks
// them or their time to live runs out.
//
// The contract every Store keeps:
//
//   - Deposit returns only once the item is durable (on disk and fsynced).
//     Concurrent deposits share one commit (group commit).
//   - A deposit is identified by its DedupeKey (the stamp's time and
//     digest, which bind token and blob). Depositing the same key again
//     stores nothing and returns the first receipt with Duplicate set, for as
//     long as the stamp could still be accepted (Limits.DedupeWindow), across
//     restarts. A retried deposit is therefore stored exactly once.
//   - Fetch never deletes: an item is delivered again until acked. It never
//     returns an item past its TTL, swept or not (expiry fails closed).
//   - Fetch never hands one item to two fetchers at once: while one Fetch
//     is reading an item, a concurrent Fetch skips it (row locking with
//     SKIP LOCKED in PostgreSQL, an in-memory in-flight set in bbolt).
//     Once a Fetch has returned, its items are delivered again to any
//     later Fetch until they are acked.
//   - Ack deletes durably; acking an unknown id does nothing.
//   - Quotas (items per token, total bytes) are checked inside the commit,
//     so concurrent deposits cannot overshoot them.
//
// Bolt implements Store on go.etcd.io/bbolt; package
// relay/store/pgstore implements it on PostgreSQL, shared by several relay
// processes; package relay/store/storetest is the conformance suite both
// pass.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/parley-im/parley/core/address"
)

// Errors. ErrQuotaToken and ErrQuotaTotal refuse one deposit; the others
// mean the store cannot serve.
var (
	// ErrQuotaToken: the token already holds Limits.MaxItemsPerToken items.
	ErrQuotaToken = errors.New("store: token quota exceeded")
	// ErrQuotaTotal: the deposit would take the store over
	// Limits.MaxTotalBytes.
	ErrQuotaTotal = errors.New("store: total quota exceeded")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store: closed")
	// ErrClock: the time given is zero or before 1970; fail closed.
	ErrClock = errors.New("store: clock not set")
	// ErrUnavailable: the store's database cannot be reached or failed
	// transiently (a lost connection, a restarting server). The operation
	// may or may not have taken effect; retrying the same request is safe
	// (a deposit is deduplicated by its key, an ack is idempotent). The
	// relay answers proto.CodeUnavailable.
	ErrUnavailable = errors.New("store: unavailable")
)

// DedupeKey identifies one deposit: its stamp's time (Unix seconds) and its
// stamp's digest. The digest binds token, blob and stamp, so equal keys mean
// the same deposit.
type DedupeKey struct {
	Time   uint64
	Digest [32]byte
}

// Deposit is one item to store.
type Deposit struct {
	Token address.Token
	Blob  []byte
	Key   DedupeKey
}

// Receipt says where and until when an item is stored.
type Receipt struct {
	ID        uint64
	Expires   time.Time
	Duplicate bool
}

// Item is one stored blob.
type Item struct {
	Token address.Token
	ID    uint64
	Blob  []byte
}

// FetchLimit bounds one Fetch: at most Items items, and at most Bytes in
// all, where each item costs PerItem plus its blob's length.
type FetchLimit struct {
	Items   int
	Bytes   int
	PerItem int
}

// Usage is the store's content in aggregate.
type Usage struct {
	Items uint64
	Bytes uint64
}

// Limits are enforced by the store.
type Limits struct {
	// TTL is how long an item is kept unacked (at least one second).
	TTL time.Duration
	// MaxItemsPerToken is the most items one token may hold (at least 1).
	MaxItemsPerToken int
	// MaxTotalBytes is the most blob bytes the store holds (at least 1).
	MaxTotalBytes int64
	// DedupeWindow is how long after its stamp time a deposit's dedupe
	// entry is kept: at least the longest a stamp may be accepted (the
	// verifier's MaxAge plus MaxSkew).
	DedupeWindow time.Duration
}

// Validate checks that the limits are in range.
func (l Limits) Validate() error {
	if l.TTL < time.Second || l.MaxItemsPerToken < 1 || l.MaxTotalBytes < 1 || l.DedupeWindow < time.Second {
		return errors.New("store: limits out of range")
	}
	return nil
}

// Validate checks that the fetch limit is in range.
func (l FetchLimit) Validate() error {
	if l.Items < 1 || l.Bytes < 1 || l.PerItem < 0 {
		return errors.New("store: fetch limit out of range")
	}
	return nil
}

// Health is what a store tells the health endpoint: its kind and whether
// its database answers. Aggregate only.
type Health struct {
	// Kind is "bbolt" or "postgres".
	Kind string
	// Reachable reports whether the store could serve a request now.
	Reachable bool
}

// HealthReporter is implemented by stores that report their Health. The
// report must not block longer than ctx allows.
type HealthReporter interface {
	Health(ctx context.Context) Health
}

// Store keeps items. Implementations are safe for concurrent use.
type Store interface {
	// Deposit stores d at time now and returns once it is durable.
	Deposit(ctx context.Context, d Deposit, now time.Time) (Receipt, error)
	// Lookup returns the receipt of the deposit with key, if the store
	// holds its dedupe entry (even after the item was acked).
	Lookup(ctx context.Context, key DedupeKey) (r Receipt, found bool, err error)
	// Fetch returns live items under tokens, oldest first per token,
	// tokens in order, within limit. more reports that further items
	// did not fit.
	Fetch(ctx context.Context, tokens []address.Token, limit FetchLimit, now time.Time) (items []Item, more bool, err error)
	// Ack deletes the items with ids under token and returns once the
	// deletion is durable, with the number deleted.
	Ack(ctx context.Context, token address.Token, ids []uint64) (int, error)
	// Sweep deletes items past their TTL and dedupe entries past their
	// window, and returns the number of items deleted.
	Sweep(ctx context.Context, now time.Time) (int, error)
	// Usage returns the current totals.
	Usage() Usage
	// Close finishes pending operations and closes the store.
	Close() error
}

// UnixSeconds checks now and returns it in Unix seconds: a zero time or one
// before 1970 is ErrClock (a store never acts on an unset clock).
func UnixSeconds(now time.Time) (uint64, error) { return unixSeconds(now) }

// unixSeconds checks now and returns it in Unix seconds.
func unixSeconds(now time.Time) (uint64, error) {
	if now.IsZero() || now.Unix() < 0 {
		return 0, ErrClock
	}
	return uint64(now.Unix()), nil
}
