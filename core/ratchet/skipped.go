package ratchet

import (
	"slices"

	"github.com/parley-im/parley/core/suite"
)

// skippedKey is a stored message key of a message not yet received (Signal
// §3.2 MKSKIPPED), named by the sender's ratchet key and message number.
type skippedKey struct {
	_  incomparable
	dh suite.DHPublicKey
	n  uint32
	mk messageKey
}

// skippedKeySize is the encoded size of one skippedKey in a State.
const skippedKeySize = suite.DHPublicKeySize + 4 + suite.KeySize

// skipChain advances ck from message from to message to (exclusive),
// returning the skipped keys (Signal §3.5 SkipMessageKeys). ck ends as the
// chain key of message to. The caller has checked to-from against
// MaxSkipPerStep. It returns nil when nothing is skipped.
func (s *State) skipChain(ck *chainKey, dh suite.DHPublicKey, from, to uint32) []skippedKey {
	if to <= from {
		return nil
	}
	out := make([]skippedKey, 0, to-from)
	for i := from; i < to; i++ {
		mk, next := kdfCK(ck)
		out = append(out, skippedKey{dh: dh, n: i, mk: mk})
		clear(mk[:])
		*ck = next
		clear(next[:])
	}
	return out
}

// findSkipped returns the index of the stored key for (dh, n), or -1. The
// header fields are public, so the search need not be constant time.
func (s *State) findSkipped(dh *suite.DHPublicKey, n uint32) int {
	for i := range s.skipped {
		if s.skipped[i].n == n && s.skipped[i].dh == *dh {
			return i
		}
	}
	return -1
}

// deleteSkipped wipes and removes stored key i, keeping the order.
func (s *State) deleteSkipped(i int) {
	clear(s.skipped[i].mk[:])
	s.skipped = slices.Delete(s.skipped, i, i+1)
}

// addSkipped appends keys to the store (oldest first) and then evicts and
// wipes the oldest stored keys beyond MaxSkipTotal.
func (s *State) addSkipped(keys []skippedKey) {
	if len(keys) == 0 {
		return
	}
	if need := len(s.skipped) + len(keys); need > cap(s.skipped) {
		// Grow by hand so the old backing array is wiped, not left to
		// the garbage collector with keys in it.
		grown := make([]skippedKey, len(s.skipped), max(need, 2*cap(s.skipped)))
		copy(grown, s.skipped)
		wipeSkipped(s.skipped)
		s.skipped = grown
	}
	s.skipped = append(s.skipped, keys...)
	wipeSkipped(keys)
	if excess := len(s.skipped) - s.cfg.MaxSkipTotal; excess > 0 {
		wipeSkipped(s.skipped[:excess])
		s.skipped = slices.Delete(s.skipped, 0, excess)
	}
}

// wipeSkipped clears the message keys in keys.
func wipeSkipped(keys []skippedKey) {
	for i := range keys {
		clear(keys[i].mk[:])
	}
}
