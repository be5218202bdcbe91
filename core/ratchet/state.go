package ratchet

import (
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// State flag bits (docs/PROTOCOL.md §Message ratchet §State encoding). Every other
// bit must be zero.
const (
	stHasDHR     = 0x01 // DHr is known
	stSendReady  = 0x02 // a sending chain exists for DHs
	stSendPQ     = 0x04 // the sending chain is a PQ chain (needs stSendReady, stHasPeerKEM)
	stHasCKR     = 0x08 // a receiving chain exists (needs stHasDHR)
	stHasPeerKEM = 0x10 // the peer's latest X-Wing key is known
	stAllFlags   = stHasDHR | stSendReady | stSendPQ | stHasCKR | stHasPeerKEM
)

// MaxStateSize is the largest encoded State: every optional field present
// and every list at its limit. ParseState rejects anything larger first.
const MaxStateSize = wire.HeaderSize +
	3*4 + // config
	2 + MaxADSize + // ad
	1 + // flags
	suite.KeySize + suite.DHPrivateKeySize + suite.DHPublicKeySize + // rk, DHs, DHr
	4 + 4 + suite.KeySize + PQPartSize + 4 + // Ns, PN, CKs, PQ part, chains since PQ
	suite.KeySize + 4 + // CKr, Nr
	4 + suite.KEMPublicKeySize + 4 + // next key id, peer key and id
	1 + MaxOwnKEMKeys*(4+suite.KEMSeedSize) +
	1 + MaxPrevChains*suite.DHPublicKeySize +
	4 + MaxSkipLimit*skippedKeySize

// Marshal returns the versioned encoding of every field of s
// (wire.TagRatchetState), at most MaxStateSize bytes. It holds every secret
// of the session: store it only encrypted, and wipe it after use.
func (s *State) Marshal() []byte {
	var flags uint8
	if s.hasDHR {
		flags |= stHasDHR
	}
	if s.sendReady {
		flags |= stSendReady
	}
	if s.sendPQ {
		flags |= stSendPQ
	}
	if s.hasCKR {
		flags |= stHasCKR
	}
	if s.peerKEM != nil {
		flags |= stHasPeerKEM
	}
	b := cryptobyte.NewBuilder(make([]byte, 0, s.marshalSize()))
	wire.AddHeader(b, wire.TagRatchetState)
	b.AddUint32(uint32(s.cfg.MaxSkipPerStep))
	b.AddUint32(uint32(s.cfg.MaxSkipTotal))
	b.AddUint32(uint32(s.cfg.PQInterval))
	b.AddUint16LengthPrefixed(func(b *cryptobyte.Builder) { b.AddBytes(s.ad) })
	b.AddUint8(flags)
	b.AddBytes(s.rk[:])
	dhs := s.dhs.Bytes()
	b.AddBytes(dhs[:])
	clear(dhs[:])
	if s.hasDHR {
		b.AddBytes(s.dhr[:])
	}
	b.AddUint32(s.ns)
	b.AddUint32(s.pn)
	if s.sendReady {
		b.AddBytes(s.cks[:])
	}
	if s.sendPQ {
		b.AddBytes(s.pq.kemPub[:])
		b.AddUint32(s.pq.kemID)
		b.AddBytes(s.pq.ct[:])
		b.AddUint32(s.pq.target)
	}
	b.AddUint32(s.chainsSincePQ)
	if s.hasCKR {
		b.AddBytes(s.ckr[:])
		b.AddUint32(s.nr)
	}
	b.AddUint32(s.nextKEMID)
	if s.peerKEM != nil {
		b.AddBytes(s.peerKEM.Bytes()[:])
		b.AddUint32(s.peerKEMID)
	}
	b.AddUint8(uint8(len(s.own)))
	for _, k := range s.own {
		b.AddUint32(k.id)
		seed := k.key.Seed()
		b.AddBytes(seed[:])
		clear(seed[:])
	}
	b.AddUint8(uint8(len(s.prev)))
	for i := range s.prev {
		b.AddBytes(s.prev[i][:])
	}
	b.AddUint32(uint32(len(s.skipped)))
	for i := range s.skipped {
		b.AddBytes(s.skipped[i].dh[:])
		b.AddUint32(s.skipped[i].n)
		b.AddBytes(s.skipped[i].mk[:])
	}
	return b.BytesOrPanic() // every length is bounded by construction
}

// marshalSize is the exact size Marshal produces.
func (s *State) marshalSize() int {
	n := wire.HeaderSize + 3*4 + 2 + len(s.ad) + 1 + suite.KeySize + suite.DHPrivateKeySize + 4 + 4 + 4 + 4 +
		1 + len(s.own)*(4+suite.KEMSeedSize) + 1 + len(s.prev)*suite.DHPublicKeySize + 4 + len(s.skipped)*skippedKeySize
	if s.hasDHR {
		n += suite.DHPublicKeySize
	}
	if s.sendReady {
		n += suite.KeySize
	}
	if s.sendPQ {
		n += PQPartSize
	}
	if s.hasCKR {
		n += suite.KeySize + 4
	}
	if s.peerKEM != nil {
		n += suite.KEMPublicKeySize + 4
	}
	return n
}

// ParseState parses an encoding made by Marshal. It checks MaxStateSize
// first, every count against its limit before allocating, and every
// invariant a State keeps; the costly key derivations run only once all
// bytes are read. On error it returns nil and a wrapped wire sentinel.
func ParseState(b []byte) (*State, error) {
	if err := wire.Check(b, MaxStateSize); err != nil {
		return nil, fmt.Errorf("ratchet: parse state: %w", err)
	}
	in := cryptobyte.String(b)
	if err := wire.ReadHeader(&in, wire.TagRatchetState); err != nil {
		return nil, fmt.Errorf("ratchet: parse state: %w", err)
	}
	s := new(State)
	if err := s.read(&in); err != nil {
		s.wipe()
		return nil, fmt.Errorf("ratchet: parse state: %w", err)
	}
	s.initADBuf()
	return s, nil
}

// read fills s from in (everything after the tag and version) and requires
// in to be consumed entirely.
func (s *State) read(in *cryptobyte.String) error {
	var skipPerStep, skipTotal, pqInterval uint32
	if !in.ReadUint32(&skipPerStep) || !in.ReadUint32(&skipTotal) || !in.ReadUint32(&pqInterval) {
		return wire.ErrMalformed
	}
	if skipPerStep > MaxSkipLimit || skipTotal > MaxSkipLimit || pqInterval > MaxPQInterval {
		return wire.ErrMalformed
	}
	s.cfg = Config{MaxSkipPerStep: int(skipPerStep), MaxSkipTotal: int(skipTotal), PQInterval: int(pqInterval)}
	if s.cfg.Validate() != nil {
		return wire.ErrMalformed
	}
	var ad cryptobyte.String
	var flags uint8
	if !in.ReadUint16LengthPrefixed(&ad) || len(ad) == 0 || len(ad) > MaxADSize || !in.ReadUint8(&flags) {
		return wire.ErrMalformed
	}
	s.ad = append([]byte(nil), ad...)
	s.hasDHR = flags&stHasDHR != 0
	s.sendReady = flags&stSendReady != 0
	s.sendPQ = flags&stSendPQ != 0
	s.hasCKR = flags&stHasCKR != 0
	hasPeerKEM := flags&stHasPeerKEM != 0
	if flags&^stAllFlags != 0 ||
		(s.sendReady && !s.hasDHR) || (s.sendPQ && (!s.sendReady || !hasPeerKEM)) || (s.hasCKR && !s.hasDHR) {
		return wire.ErrMalformed
	}

	var dhs [suite.DHPrivateKeySize]byte
	defer clear(dhs[:])
	if !in.CopyBytes(s.rk[:]) || !in.CopyBytes(dhs[:]) ||
		(s.hasDHR && !in.CopyBytes(s.dhr[:])) ||
		!in.ReadUint32(&s.ns) || !in.ReadUint32(&s.pn) ||
		(s.sendReady && !in.CopyBytes(s.cks[:])) {
		return wire.ErrMalformed
	}
	if s.sendPQ && (!in.CopyBytes(s.pq.kemPub[:]) || !in.ReadUint32(&s.pq.kemID) ||
		!in.CopyBytes(s.pq.ct[:]) || !in.ReadUint32(&s.pq.target)) {
		return wire.ErrMalformed
	}
	if !in.ReadUint32(&s.chainsSincePQ) || s.chainsSincePQ > pqInterval-1 ||
		(s.hasCKR && (!in.CopyBytes(s.ckr[:]) || !in.ReadUint32(&s.nr))) ||
		!in.ReadUint32(&s.nextKEMID) {
		return wire.ErrMalformed
	}
	var peerPK []byte
	if hasPeerKEM && (!in.ReadBytes(&peerPK, suite.KEMPublicKeySize) || !in.ReadUint32(&s.peerKEMID)) {
		return wire.ErrMalformed
	}

	var nOwn uint8
	var ownIDs [MaxOwnKEMKeys]uint32
	var ownSeeds [MaxOwnKEMKeys][suite.KEMSeedSize]byte
	defer clear(ownSeeds[:])
	if !in.ReadUint8(&nOwn) || nOwn > MaxOwnKEMKeys {
		return wire.ErrMalformed
	}
	for i := range nOwn {
		if !in.ReadUint32(&ownIDs[i]) || !in.CopyBytes(ownSeeds[i][:]) ||
			ownIDs[i] >= s.nextKEMID || (i > 0 && ownIDs[i] <= ownIDs[i-1]) {
			return wire.ErrMalformed // ids strictly increase and were all issued
		}
	}

	var nPrev uint8
	if !in.ReadUint8(&nPrev) || nPrev > MaxPrevChains {
		return wire.ErrMalformed
	}
	s.prev = make([]suite.DHPublicKey, nPrev)
	for i := range s.prev {
		if !in.CopyBytes(s.prev[i][:]) {
			return wire.ErrMalformed
		}
	}

	var nSkipped uint32
	if !in.ReadUint32(&nSkipped) || nSkipped > skipTotal || int(nSkipped)*skippedKeySize != len(*in) {
		return wire.ErrMalformed // also rejects trailing bytes
	}
	s.skipped = make([]skippedKey, nSkipped)
	seen := make(map[skippedID]struct{}, nSkipped)
	for i := range s.skipped {
		k := &s.skipped[i]
		if !in.CopyBytes(k.dh[:]) || !in.ReadUint32(&k.n) || !in.CopyBytes(k.mk[:]) {
			return wire.ErrMalformed
		}
		id := skippedID{k.dh, k.n}
		if _, dup := seen[id]; dup {
			return wire.ErrMalformed // a key stored twice could open a message twice
		}
		seen[id] = struct{}{}
	}
	if !in.Empty() {
		return wire.ErrMalformed
	}

	// Everything is read: now the key derivations.
	var err error
	if s.dhs, err = suite.NewDHPrivateKey(dhs[:]); err != nil {
		return wire.ErrMalformed
	}
	if hasPeerKEM {
		if s.peerKEM, err = suite.ParseKEMPublicKey(peerPK); err != nil {
			return wire.ErrMalformed
		}
	}
	s.own = make([]ownKEM, 0, nOwn)
	for i := range nOwn {
		key, err := suite.NewKEMPrivateKey(ownSeeds[i][:])
		if err != nil {
			return wire.ErrMalformed
		}
		s.own = append(s.own, ownKEM{id: ownIDs[i], key: key})
	}
	return nil
}

// skippedID names a stored message key.
type skippedID struct {
	dh suite.DHPublicKey
	n  uint32
}

// Format prints "ratchet.State{redacted}" for every verb: a State holds
// every secret of the session.
func (State) Format(f fmt.State, _ rune) { io.WriteString(f, "ratchet.State{redacted}") }
