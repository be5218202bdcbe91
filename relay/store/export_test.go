package store

// HoldFetch marks ids as read by a running Fetch until release is called,
// as a concurrent fetcher would (for the conformance suite).
func HoldFetch(s *Bolt, ids []uint64) (release func()) {
	var held []uint64
	for _, id := range ids {
		if s.hold(id) {
			held = append(held, id)
		}
	}
	return func() { s.release(held) }
}
