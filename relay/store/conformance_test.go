package store_test

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/parley-im/parley/relay/store"
	"github.com/parley-im/parley/relay/store/storetest"
)

// bolt is the conformance suite's harness for the bbolt store: one file
// per test; it cannot be shared by two processes, so Second is nil.
func bolt() storetest.Harness {
	var paths sync.Map // *store.Bolt -> its file
	open := func(t testing.TB, path string, l store.Limits) store.Store {
		s, err := store.OpenBolt(path, l)
		if err != nil {
			t.Fatal(err)
		}
		paths.Store(s, path)
		t.Cleanup(func() { s.Close() })
		return s
	}
	return storetest.Harness{
		Open: func(t testing.TB, l store.Limits) store.Store {
			return open(t, filepath.Join(t.TempDir(), "relay.db"), l)
		},
		Reopen: func(t testing.TB, s store.Store, l store.Limits) store.Store {
			path, _ := paths.Load(s)
			return open(t, path.(string), l)
		},
		Check: func(t testing.TB, s store.Store) error { return s.(*store.Bolt).Check() },
		Hold: func(t testing.TB, s store.Store, ids []uint64) func() {
			return store.HoldFetch(s.(*store.Bolt), ids)
		},
		Commits: func(s store.Store) uint64 { return s.(*store.Bolt).Commits() },
	}
}

// TestConformance runs the store conformance suite (relay/store/storetest)
// against the bbolt store; pgstore runs the same suite against PostgreSQL.
func TestConformance(t *testing.T) {
	storetest.Run(t, bolt())
}
