package invite

import (
	"crypto/sha256"
	"encoding/binary"
	"strings"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/suite"
)

// Fingerprint returns a short, human-comparable rendering of an identity,
// for the UI to show before an invite is accepted and for the inviter to read
// out (docs/PROTOCOL.md §Invite, fingerprint): FingerprintDigits decimal
// digits in groups of five, e.g. "01234 56789 01234 56789".
//
// The digits are the first 20 of the identity's 30-digit half of the safety
// number (identity.NewSafetyNumber; docs/PROTOCOL.md §Identity): the iterated
// hash
//
//	h = SHA-256(LabelSafetyNumber || u16(SafetyNumberVersion) || key || key)
//	repeat SafetyNumberIterations-1 times: h = SHA-256(h || key)
//
// with key = Ed25519 key || X25519 key, whose first 20 bytes, as four 5-byte
// big-endian integers each reduced mod 100000, give four groups of five
// digits. So the users later find the same groups in their safety number.
// Matching a given fingerprint takes about 2^66 identities of 5200 hashes
// each.
func Fingerprint(id *identity.PublicIdentity) string {
	const keySize = suite.SignPublicKeySize + suite.DHPublicKeySize
	var key [keySize]byte
	copy(key[:], id.SigningKey[:])
	copy(key[suite.SignPublicKeySize:], id.DHKey[:])

	first := make([]byte, 0, len(suite.LabelSafetyNumber)+2+2*keySize)
	first = append(first, suite.LabelSafetyNumber...)
	first = binary.BigEndian.AppendUint16(first, identity.SafetyNumberVersion)
	first = append(first, key[:]...)
	first = append(first, key[:]...)
	h := sha256.Sum256(first)
	var buf [sha256.Size + keySize]byte
	copy(buf[sha256.Size:], key[:])
	for range identity.SafetyNumberIterations - 1 {
		copy(buf[:], h[:])
		h = sha256.Sum256(buf[:])
	}

	var out strings.Builder
	for i := range FingerprintDigits / 5 {
		c := h[5*i : 5*i+5]
		v := (uint64(c[0])<<32 | uint64(c[1])<<24 | uint64(c[2])<<16 | uint64(c[3])<<8 | uint64(c[4])) % 100000
		if i > 0 {
			out.WriteByte(' ')
		}
		var d [5]byte
		for j := 4; j >= 0; j-- {
			d[j] = '0' + byte(v%10)
			v /= 10
		}
		out.Write(d[:])
	}
	return out.String()
}
