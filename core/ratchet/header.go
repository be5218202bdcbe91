package ratchet

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// flagPQ marks a header that carries the PQ part. Every other flag bit must
// be zero.
const flagPQ = 0x01

// header is a ratchet header (docs/PROTOCOL.md §Message ratchet §Header). In a parsed
// header the PQ slices alias the message; in a header being sent they alias
// the State. A header never outlives the call that made it.
type header struct {
	dh     suite.DHPublicKey // sender's current ratchet public key
	pn     uint32            // messages in the sender's previous sending chain
	n      uint32            // this message's number in its chain
	pq     bool              // the PQ part is present
	kemPub []byte            // sender's newly announced X-Wing key
	kemID  uint32            // id of kemPub
	ct     []byte            // X-Wing ciphertext to the receiver's key target
	target uint32            // id of the receiver's X-Wing key ct is for
}

// appendHeader appends the canonical encoding of h to dst. It writes into
// dst's spare capacity so that Encrypt allocates once.
func appendHeader(dst []byte, h *header) []byte {
	var flags byte
	if h.pq {
		flags = flagPQ
	}
	dst = append(dst, byte(wire.TagRatchetHeader), wire.Version, flags)
	dst = append(dst, h.dh[:]...)
	dst = binary.BigEndian.AppendUint32(dst, h.pn)
	dst = binary.BigEndian.AppendUint32(dst, h.n)
	if h.pq {
		dst = append(dst, h.kemPub...)
		dst = binary.BigEndian.AppendUint32(dst, h.kemID)
		dst = append(dst, h.ct...)
		dst = binary.BigEndian.AppendUint32(dst, h.target)
	}
	return dst
}

// readHeader reads one header from s into h.
func readHeader(s *cryptobyte.String, h *header) error {
	if err := wire.ReadHeader(s, wire.TagRatchetHeader); err != nil {
		return fmt.Errorf("ratchet: parse header: %w", err)
	}
	var flags uint8
	if !s.ReadUint8(&flags) || flags&^flagPQ != 0 ||
		!s.CopyBytes(h.dh[:]) || !s.ReadUint32(&h.pn) || !s.ReadUint32(&h.n) {
		return fmt.Errorf("ratchet: parse header: %w", wire.ErrMalformed)
	}
	if flags&flagPQ != 0 {
		h.pq = true
		if !s.ReadBytes(&h.kemPub, suite.KEMPublicKeySize) || !s.ReadUint32(&h.kemID) ||
			!s.ReadBytes(&h.ct, suite.KEMCiphertextSize) || !s.ReadUint32(&h.target) {
			return fmt.Errorf("ratchet: parse header: %w", wire.ErrMalformed)
		}
	}
	return nil
}

// parseHeader parses exactly one encoded header.
func parseHeader(b []byte, h *header) error {
	if err := wire.Check(b, HeaderSizePQ); err != nil {
		return fmt.Errorf("ratchet: parse header: %w", err)
	}
	s := cryptobyte.String(b)
	if err := readHeader(&s, h); err != nil {
		*h = header{}
		return err
	}
	if !s.Empty() {
		*h = header{}
		return fmt.Errorf("ratchet: parse header: %w", wire.ErrMalformed)
	}
	return nil
}

// parseMessage parses an encoded Message into h and returns its ciphertext
// (which aliases msg): tag, version, header, then the ciphertext with a
// 2-byte length prefix, at least suite.TagSize bytes, and nothing after it.
func parseMessage(msg []byte, h *header) ([]byte, error) {
	if err := wire.Check(msg, MaxMessageSize); err != nil {
		return nil, fmt.Errorf("ratchet: parse message: %w", err)
	}
	s := cryptobyte.String(msg)
	if err := wire.ReadHeader(&s, wire.TagRatchetMessage); err != nil {
		return nil, fmt.Errorf("ratchet: parse message: %w", err)
	}
	if err := readHeader(&s, h); err != nil {
		*h = header{}
		return nil, err
	}
	var ct cryptobyte.String
	if !s.ReadUint16LengthPrefixed(&ct) || len(ct) < suite.TagSize || !s.Empty() {
		*h = header{}
		return nil, fmt.Errorf("ratchet: parse message: %w", wire.ErrMalformed)
	}
	return ct, nil
}
