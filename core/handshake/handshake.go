// Package handshake implements Parley's first contact (docs/PROTOCOL.md
// §First contact, byte-exact in docs/PROTOCOL.md §First contact): an
// asynchronous key agreement shaped like Signal's PQXDH (revision 3, §3),
// with X-Wing (draft-connolly-cfrg-xwing-kem-05) as the KEM.
//
// The initiator A takes the responder B's prekey.Bundle and computes
//
//	DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)
//	(CT, SS) = X-Wing.Encapsulate(PQPK_B)
//	SK = HKDF-SHA256(salt = TH, ikm = DH1 || DH2 || DH3 || SS, info = LabelHandshakeKDF)
//
// where PQPK_B is B's one-time X-Wing prekey (or the last-resort one) and TH
// is a transcript hash binding both identities, every public key, both
// prekey ids, the last-resort flag, the ciphertext and A's first X-Wing
// ratchet key. A sends an InitMessage; B recomputes SK with Respond.
//
// The InitMessage carries no MAC of its own. The first Double Ratchet
// message, sealed under keys derived from SK with Result.AD as associated
// data, authenticates it: the responder's caller must commit the state
// Respond changed (the consumed one-time prekey, the new session) only after
// that first message opens, and should reject a Result.Transcript it has
// seen before (a replayed init message to the last-resort prekey yields the
// same transcript).
package handshake

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Sizes.
const (
	// InitMessageSize is the size of an encoded InitMessage: header,
	// initiator identity, ephemeral key, signed prekey id, KEM prekey id,
	// X-Wing ciphertext, X-Wing ratchet key.
	InitMessageSize = wire.HeaderSize + identity.PublicSize + suite.DHPublicKeySize + 4 + 4 +
		suite.KEMCiphertextSize + suite.KEMPublicKeySize
	// MaxInitMessageSize bounds ParseInitMessage's input; an init message
	// has exactly InitMessageSize bytes.
	MaxInitMessageSize = InitMessageSize
	// SharedSecretSize is the size of the derived root key.
	SharedSecretSize = suite.KeySize
)

// InitMessage is the initiator's first-contact message (PQXDH §3.3 "initial
// message").
type InitMessage struct {
	// Initiator is the initiator's identity (IK_A).
	Initiator identity.PublicIdentity
	// Ephemeral is the initiator's fresh X25519 key (EK_A).
	Ephemeral suite.DHPublicKey
	// SignedPrekeyID and KEMPrekeyID name the responder's prekeys used.
	SignedPrekeyID uint32
	KEMPrekeyID    uint32
	// KEMCiphertext is the X-Wing encapsulation to the KEM prekey (CT).
	KEMCiphertext [suite.KEMCiphertextSize]byte
	// RatchetKEM is the initiator's first X-Wing ratchet key, to which the
	// responder's first PQ ratchet step encapsulates.
	RatchetKEM *suite.KEMPublicKey

	// verified is the Initiator value whose binding signature was checked
	// by ParseInitMessage or set by Initiate, so Respond need not check it
	// again; any change to Initiator makes Respond check it.
	verified    identity.PublicIdentity
	hasVerified bool
}

// ErrOwnIdentity is returned when the peer of a first contact shares a key
// (Ed25519 or X25519) with our own identity: a bundle of our own (we scanned
// our own invite) or an init message that claims to come from us (a
// reflection). Neither can be a real contact.
var ErrOwnIdentity = errors.New("handshake: peer shares a key with our own identity")

// sharesKey reports whether a and b have the same Ed25519 or the same X25519
// key. Both are public.
func sharesKey(a, b *identity.PublicIdentity) bool {
	return a.SigningKey == b.SigningKey || a.DHKey == b.DHKey
}

// Result is what a completed first contact yields to the Double Ratchet.
// It holds secrets: call Clear when done with it.
type Result struct {
	_ incomparable
	// SharedSecret is SK, the ratchet's initial root key.
	SharedSecret [SharedSecretSize]byte
	// Transcript is TH. The responder's caller rejects a Transcript it has
	// already accepted (replay of an init message to the last-resort key).
	Transcript [suite.HashSize]byte
	// AD is the ratchet's associated data: the initiator's identity
	// encoding || the responder's identity encoding (PQXDH §3.3 AD).
	AD []byte
	// Peer is the other party's identity.
	Peer *identity.PublicIdentity
	// LastResort reports that the last-resort KEM prekey was used.
	LastResort bool

	// Initiator side: the responder's signed prekey, which is the
	// responder's first ratchet key, and the private half of
	// InitMessage.RatchetKEM.
	PeerRatchetKey suite.DHPublicKey
	RatchetKEM     *suite.KEMPrivateKey

	// Responder side: the signed prekey's private key, which is the
	// responder's first ratchet key (shared with the prekey.Secrets: do not
	// modify), and the initiator's first X-Wing ratchet key.
	RatchetKey     *suite.DHPrivateKey
	PeerRatchetKEM *suite.KEMPublicKey
}

// incomparable makes a struct unusable with ==.
type incomparable [0]func()

// Clear wipes SharedSecret and the initiator's ratchet KEM seed.
func (r *Result) Clear() {
	clear(r.SharedSecret[:])
	if r.RatchetKEM != nil {
		r.RatchetKEM.Clear()
	}
}

// transcriptInputs are the fields of the transcript hash, in order.
type transcriptInputs struct {
	initiator, responder []byte // identity encodings (identity.PublicSize)
	spkID                uint32
	spk                  suite.DHPublicKey
	kemID                uint32
	kem                  *[suite.KEMPublicKeySize]byte
	lastResort           bool
	ephemeral            suite.DHPublicKey
	ciphertext           *[suite.KEMCiphertextSize]byte
	ratchetKEM           *[suite.KEMPublicKeySize]byte
}

// transcriptHash computes TH: a suite.Transcript started with
// LabelHandshakeTranscript, then one length-prefixed field each for the
// initiator identity, responder identity, signed prekey id (4 bytes BE),
// signed prekey, KEM prekey id (4 bytes BE), KEM prekey, last-resort flag
// (1 byte), ephemeral key, ciphertext, ratchet KEM key.
func transcriptHash(in *transcriptInputs) [suite.HashSize]byte {
	var id [4]byte
	t := suite.NewTranscript(suite.LabelHandshakeTranscript)
	t.Add(in.initiator)
	t.Add(in.responder)
	binary.BigEndian.PutUint32(id[:], in.spkID)
	t.Add(id[:])
	t.Add(in.spk[:])
	binary.BigEndian.PutUint32(id[:], in.kemID)
	t.Add(id[:])
	t.Add(in.kem[:])
	flag := [1]byte{0}
	if in.lastResort {
		flag[0] = 1
	}
	t.Add(flag[:])
	t.Add(in.ephemeral[:])
	t.Add(in.ciphertext[:])
	t.Add(in.ratchetKEM[:])
	return t.Sum()
}

// deriveSecret computes SK = HKDF-SHA256(salt = th, ikm = dh1 || dh2 ||
// dh3 || ss, info = LabelHandshakeKDF), 32 bytes (PQXDH §3.3 "SK =
// KDF(DH1 || DH2 || DH3 || SS)").
func deriveSecret(dh1, dh2, dh3 *[suite.DHSharedSize]byte, ss *[suite.KEMSharedSize]byte, th *[suite.HashSize]byte) [SharedSecretSize]byte {
	var ikm [3*suite.DHSharedSize + suite.KEMSharedSize]byte
	copy(ikm[:], dh1[:])
	copy(ikm[suite.DHSharedSize:], dh2[:])
	copy(ikm[2*suite.DHSharedSize:], dh3[:])
	copy(ikm[3*suite.DHSharedSize:], ss[:])
	var sk [SharedSecretSize]byte
	suite.KDF(sk[:], ikm[:], th[:], suite.LabelHandshakeKDF)
	clear(ikm[:])
	return sk
}

// Initiate runs the initiator's side of first contact (PQXDH §3.3) with
// identity self towards the responder's bundle peer at time now.
//
// It first refuses a peer that shares a key with self (ErrOwnIdentity),
// verifies peer (prekey.Bundle.Verify: identity binding, both
// prekey signatures, both expiries; ErrClock for a zero now), then reads
// from rand (crypto/rand if nil), in order, 32 bytes for EK_A, 32 bytes for
// the ratchet X-Wing key and 64 bytes for the encapsulation. Any all-zero
// DH result fails with suite.ErrZeroDH. Temporaries are wiped.
func Initiate(rand io.Reader, self *identity.PrivateIdentity, peer *prekey.Bundle, now time.Time) (*InitMessage, *Result, error) {
	if self == nil || peer == nil {
		return nil, nil, errors.New("handshake: initiate: nil argument")
	}
	if sharesKey(self.Public(), &peer.Identity) {
		return nil, nil, fmt.Errorf("handshake: initiate: %w", ErrOwnIdentity)
	}
	if err := peer.Verify(now); err != nil {
		return nil, nil, fmt.Errorf("handshake: initiate: %w", err)
	}
	ek, err := suite.GenerateDH(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("handshake: initiate: %w", err)
	}
	ratchet, err := suite.GenerateKEM(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("handshake: initiate: %w", err)
	}
	ct, ss, err := suite.Encapsulate(rand, peer.KEMPrekey.Key)
	defer clear(ss[:])
	if err != nil {
		ratchet.Clear()
		return nil, nil, fmt.Errorf("handshake: initiate: %w", err)
	}
	var dh1, dh2, dh3 [suite.DHSharedSize]byte
	defer clear(dh1[:])
	defer clear(dh2[:])
	defer clear(dh3[:])
	if dh1, err = self.DH(peer.SignedPrekey.Key); err == nil {
		if dh2, err = ek.DH(peer.Identity.DHKey); err == nil {
			dh3, err = ek.DH(peer.SignedPrekey.Key)
		}
	}
	if err != nil {
		ratchet.Clear()
		return nil, nil, fmt.Errorf("handshake: initiate: %w", err)
	}

	msg := &InitMessage{
		Initiator:      *self.Public(),
		Ephemeral:      ek.Public(),
		SignedPrekeyID: peer.SignedPrekey.ID,
		KEMPrekeyID:    peer.KEMPrekey.ID,
		KEMCiphertext:  ct,
		RatchetKEM:     ratchet.Public(),
	}
	msg.verified, msg.hasVerified = msg.Initiator, true

	initiator := msg.Initiator.Marshal()
	responder := peer.Identity.Marshal()
	res := &Result{
		Peer:           &identity.PublicIdentity{},
		LastResort:     peer.KEMPrekey.LastResort,
		PeerRatchetKey: peer.SignedPrekey.Key,
		RatchetKEM:     ratchet,
	}
	*res.Peer = peer.Identity
	res.Transcript = transcriptHash(&transcriptInputs{
		initiator:  initiator,
		responder:  responder,
		spkID:      peer.SignedPrekey.ID,
		spk:        peer.SignedPrekey.Key,
		kemID:      peer.KEMPrekey.ID,
		kem:        peer.KEMPrekey.Key.Bytes(),
		lastResort: peer.KEMPrekey.LastResort,
		ephemeral:  msg.Ephemeral,
		ciphertext: &msg.KEMCiphertext,
		ratchetKEM: msg.RatchetKEM.Bytes(),
	})
	res.SharedSecret = deriveSecret(&dh1, &dh2, &dh3, &ss, &res.Transcript)
	res.AD = append(initiator, responder...)
	return msg, res, nil
}

// Respond runs the responder's side of first contact (PQXDH §3.4) with
// identity self and prekeys keys, at time now.
//
// It checks the clock, that keys belong to self, that the initiator shares
// no key with self (ErrOwnIdentity: a reflected or self-addressed init
// message), the initiator's identity binding (unless ParseInitMessage
// already did), then looks up the signed
// prekey and the KEM prekey by id — failing with prekey.ErrUnknownPrekey
// or prekey.ErrExpired before any expensive work — computes DH1..DH3
// (all-zero results fail with suite.ErrZeroDH), decapsulates and derives
// SK exactly as Initiate does. Only then, if the KEM prekey was a one-time
// prekey, it deletes it from keys (prekey.Secrets.ConsumeOneTime), so a
// failed call consumes nothing.
//
// Respond cannot tell a forged init message from a real one (X-Wing
// decapsulation never fails): the caller persists keys and accepts the
// session only after the first ratchet message opens under the result, and
// otherwise discards keys' in-memory changes. Errors are for the local
// caller; never report them to the peer.
func Respond(self *identity.PrivateIdentity, keys *prekey.Secrets, msg *InitMessage, now time.Time) (*Result, error) {
	if self == nil || keys == nil || msg == nil {
		return nil, errors.New("handshake: respond: nil argument")
	}
	if now.IsZero() || now.Unix() <= 0 {
		return nil, fmt.Errorf("handshake: respond: %w", prekey.ErrClock)
	}
	if msg.RatchetKEM == nil {
		return nil, fmt.Errorf("handshake: respond: missing ratchet key: %w", wire.ErrMalformed)
	}
	selfPub := self.Public()
	if !keys.Owner().Equal(selfPub) {
		return nil, errors.New("handshake: respond: prekeys belong to another identity")
	}
	if sharesKey(selfPub, &msg.Initiator) {
		return nil, fmt.Errorf("handshake: respond: initiator: %w", ErrOwnIdentity)
	}
	spkPriv, spk, err := keys.SignedPrekey(msg.SignedPrekeyID, now)
	if err != nil {
		return nil, fmt.Errorf("handshake: respond: %w", err)
	}
	kemPriv, kem, err := keys.KEMPrekey(msg.KEMPrekeyID, now)
	if err != nil {
		return nil, fmt.Errorf("handshake: respond: %w", err)
	}
	if !msg.hasVerified || msg.verified != msg.Initiator {
		if err := msg.Initiator.Verify(); err != nil {
			return nil, fmt.Errorf("handshake: respond: initiator: %w", err)
		}
	}

	var dh1, dh2, dh3 [suite.DHSharedSize]byte
	defer clear(dh1[:])
	defer clear(dh2[:])
	defer clear(dh3[:])
	if dh1, err = spkPriv.DH(msg.Initiator.DHKey); err == nil {
		if dh2, err = self.DH(msg.Ephemeral); err == nil {
			dh3, err = spkPriv.DH(msg.Ephemeral)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("handshake: respond: %w", err)
	}
	ss, err := kemPriv.Decapsulate(msg.KEMCiphertext[:])
	defer clear(ss[:])
	if err != nil {
		return nil, fmt.Errorf("handshake: respond: %w", err)
	}

	initiator := msg.Initiator.Marshal()
	responder := selfPub.Marshal()
	res := &Result{
		Peer:           &identity.PublicIdentity{},
		LastResort:     kem.LastResort,
		RatchetKey:     spkPriv,
		PeerRatchetKEM: msg.RatchetKEM,
	}
	*res.Peer = msg.Initiator
	res.Transcript = transcriptHash(&transcriptInputs{
		initiator:  initiator,
		responder:  responder,
		spkID:      spk.ID,
		spk:        spk.Key,
		kemID:      kem.ID,
		kem:        kem.Key.Bytes(),
		lastResort: kem.LastResort,
		ephemeral:  msg.Ephemeral,
		ciphertext: &msg.KEMCiphertext,
		ratchetKEM: msg.RatchetKEM.Bytes(),
	})
	res.SharedSecret = deriveSecret(&dh1, &dh2, &dh3, &ss, &res.Transcript)
	res.AD = append(initiator, responder...)
	if !kem.LastResort {
		if err := keys.ConsumeOneTime(kem.ID); err != nil {
			res.Clear()
			return nil, fmt.Errorf("handshake: respond: %w", err)
		}
	}
	return res, nil
}

// Marshal returns the InitMessageSize-byte encoding. It panics if
// RatchetKEM is nil (a message built by hand without a key).
func (m *InitMessage) Marshal() []byte {
	var b cryptobyte.Builder
	if m.RatchetKEM == nil {
		panic("handshake: marshal init message: missing ratchet key")
	}
	wire.AddHeader(&b, wire.TagInitMessage)
	m.Initiator.AddTo(&b)
	b.AddBytes(m.Ephemeral[:])
	b.AddUint32(m.SignedPrekeyID)
	b.AddUint32(m.KEMPrekeyID)
	b.AddBytes(m.KEMCiphertext[:])
	b.AddBytes(m.RatchetKEM.Bytes()[:])
	return b.BytesOrPanic()
}

// ParseInitMessage parses an encoded InitMessage: size (MaxInitMessageSize)
// first, header, the initiator identity (whose binding it verifies), the
// fixed-size fields, the X-Wing ratchet key (FIPS 203 encapsulation-key
// check), no trailing bytes.
func ParseInitMessage(b []byte) (*InitMessage, error) {
	if err := wire.Check(b, MaxInitMessageSize); err != nil {
		return nil, fmt.Errorf("handshake: parse init message: %w", err)
	}
	s := cryptobyte.String(b)
	if err := wire.ReadHeader(&s, wire.TagInitMessage); err != nil {
		return nil, fmt.Errorf("handshake: parse init message: %w", err)
	}
	id, err := identity.ReadPublic(&s)
	if err != nil {
		return nil, fmt.Errorf("handshake: parse init message: %w", err)
	}
	m := &InitMessage{Initiator: *id}
	var rk []byte
	if !s.CopyBytes(m.Ephemeral[:]) || !s.ReadUint32(&m.SignedPrekeyID) || !s.ReadUint32(&m.KEMPrekeyID) ||
		!s.CopyBytes(m.KEMCiphertext[:]) || !s.ReadBytes(&rk, suite.KEMPublicKeySize) || !s.Empty() {
		return nil, fmt.Errorf("handshake: parse init message: %w", wire.ErrMalformed)
	}
	if m.RatchetKEM, err = suite.ParseKEMPublicKey(rk); err != nil {
		return nil, fmt.Errorf("handshake: parse init message: %w: %w", wire.ErrMalformed, err)
	}
	m.verified, m.hasVerified = m.Initiator, true
	return m, nil
}

// Format prints "handshake.Result{redacted}" for every verb: a Result holds
// the root key.
func (Result) Format(f fmt.State, _ rune) { io.WriteString(f, "handshake.Result{redacted}") }
