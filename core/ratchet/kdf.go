package ratchet

import "github.com/parley-im/parley/core/suite"

// messageKeysSize is the output of the message-key expansion: the AEAD key
// then the nonce.
const messageKeysSize = suite.KeySize + suite.NonceSize

// kdfRK is KDF_RK (Signal §5.2): HKDF-SHA256 with salt = rk, input key
// material = the X25519 output, info = LabelRatchetRoot, 64 bytes; the first
// 32 are the new root key, the last 32 the new chain key.
func kdfRK(rk *rootKey, dhOut *[suite.DHSharedSize]byte) (newRK rootKey, ck chainKey) {
	var out [2 * suite.KeySize]byte
	suite.KDF(out[:], dhOut[:], rk[:], suite.LabelRatchetRoot)
	copy(newRK[:], out[:suite.KeySize])
	copy(ck[:], out[suite.KeySize:])
	clear(out[:])
	return newRK, ck
}

// kdfPQ is the PQ step's root-key update (docs/PROTOCOL.md §Message ratchet §PQ
// step): HKDF-SHA256 with salt = rk, input key material = the X-Wing shared
// secret, info = LabelRatchetPQ, 32 bytes: the new root key.
func kdfPQ(rk *rootKey, ss *[suite.KEMSharedSize]byte) (newRK rootKey) {
	suite.KDF(newRK[:], ss[:], rk[:], suite.LabelRatchetPQ)
	return newRK
}

// kdfCK is KDF_CK (Signal §5.2): message key = HMAC-SHA256(ck,
// LabelChainMessageKey), next chain key = HMAC-SHA256(ck, LabelChainNext).
func kdfCK(ck *chainKey) (mk messageKey, next chainKey) {
	mk = suite.MAC(ck[:], suite.LabelChainMessageKey)
	next = suite.MAC(ck[:], suite.LabelChainNext)
	return mk, next
}

// messageKeys expands a message key (Signal §5.2 ENCRYPT, with
// ChaCha20-Poly1305 in place of AES-CBC + HMAC): HKDF-SHA256 with an empty
// salt (32 zero bytes), input key material = mk, info = LabelMessageKeys,
// 44 bytes into kn: the 32-byte AEAD key, then the 12-byte nonce (returned
// as views of kn).
//
// Why the derived nonce is safe: ChaCha20-Poly1305 only requires that no
// (key, nonce) pair seal two different plaintexts. Each message key is used
// for exactly one message (a chain never yields the same mk twice, a DH step
// starts a chain from a fresh root-key output, and Decrypt deletes a stored
// key when it opens), so each AEAD key seals exactly one plaintext and any
// nonce would do. Key and nonce come from the same HKDF output, so two
// messages can share a nonce under one key only if they share mk.
func messageKeys(mk *messageKey, kn *[messageKeysSize]byte) (key *[suite.KeySize]byte, nonce *[suite.NonceSize]byte) {
	suite.KDF(kn[:], mk[:], nil, suite.LabelMessageKeys)
	return (*[suite.KeySize]byte)(kn[:suite.KeySize]), (*[suite.NonceSize]byte)(kn[suite.KeySize:])
}
