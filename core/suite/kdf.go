package suite

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// KDF is HKDF-SHA256 (RFC 5869): Extract(salt, secret) then Expand with info
// = label, filling out. label must be one of the constants in labels.go, so
// every derivation in Parley is domain-separated and versioned. len(out) must
// be at most 255*32; larger is a programmer error and panics.
func KDF(out, secret, salt []byte, label string) {
	prk, err := hkdf.Extract(sha256.New, secret, salt)
	if err != nil {
		panic("suite: hkdf extract: " + err.Error())
	}
	okm, err := hkdf.Expand(sha256.New, prk, label, len(out))
	clear(prk)
	if err != nil {
		panic("suite: hkdf expand: " + err.Error())
	}
	copy(out, okm)
	clear(okm)
}

// MAC is HMAC-SHA256(key, label || data...). The label is written first so a
// MAC for one purpose never equals one for another.
func MAC(key []byte, label string, data ...[]byte) [HashSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	for _, d := range data {
		m.Write(d)
	}
	var out [HashSize]byte
	m.Sum(out[:0])
	return out
}

// Hash is SHA-256 of the concatenation of its arguments.
func Hash(data ...[]byte) [HashSize]byte {
	h := sha256.New()
	for _, d := range data {
		h.Write(d)
	}
	var out [HashSize]byte
	h.Sum(out[:0])
	return out
}

// Transcript is a SHA-256 running hash over length-prefixed fields. Each
// field is written as a 4-byte big-endian length then the bytes, so no two
// different field sequences hash alike. A Transcript starts with its label.
type Transcript struct {
	h hash.Hash
}

// NewTranscript returns a transcript whose first field is label.
func NewTranscript(label string) *Transcript {
	t := &Transcript{h: sha256.New()}
	t.Add([]byte(label))
	return t
}

// Add appends one length-prefixed field.
func (t *Transcript) Add(field []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(field)))
	t.h.Write(n[:])
	t.h.Write(field)
}

// Sum returns the hash of all fields so far.
func (t *Transcript) Sum() [HashSize]byte {
	var out [HashSize]byte
	t.h.Sum(out[:0])
	return out
}
