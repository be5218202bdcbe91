// Package ratchet implements Parley's message ratchet (docs/PROTOCOL.md
// §Ratchet, written out byte for byte in docs/PROTOCOL.md §Message ratchet): the
// Double Ratchet of the Signal specification, revision 4
// (https://signal.org/docs/specifications/doubleratchet/, §3 and §5.2
// recommended cryptographic algorithms) with ChaCha20-Poly1305 as the AEAD,
// extended by a post-quantum ratchet step.
//
// Every cfg.PQInterval-th sending chain is a "PQ chain": its DH ratchet step
// also encapsulates to the peer's latest X-Wing key and mixes the shared
// secret into the root key before the DH output, and every message of the
// chain announces a fresh X-Wing key of the sender. A party whose whole state
// was stolen therefore heals against an attacker who also learns every later
// X25519 secret (a quantum attacker) at its next PQ chain.
//
// The DH ratchet defers new ratchet key generation (Signal §6.5): a
// received step only derives the receiving chain; the sending half (a fresh
// DH key, and the KEM part on PQ chains) runs at the next Encrypt, which is
// the only call given randomness. Both sides see the same sequence of
// root-key updates as with the specification's eager DHRatchet.
//
// A State is not safe for concurrent use. Decrypt is transactional: on any
// error the State is exactly as before. Encrypt is transactional too.
//
// Go copies memory freely; wiping chain and message keys, and clearing
// X-Wing seeds (suite.KEMPrivateKey.Clear), shortens how long a secret
// lingers but cannot promise it is gone. X25519 private keys are dropped, not
// wiped: crypto/ecdh offers no way to wipe them.
package ratchet

import (
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Encoded sizes and limits (docs/PROTOCOL.md §Message ratchet §Sizes and limits).
const (
	// HeaderSize is the size of a header without PQ part: tag, version,
	// flags, DH ratchet key, PN, N.
	HeaderSize = wire.HeaderSize + 1 + suite.DHPublicKeySize + 4 + 4
	// PQPartSize is the size of a header's PQ part: the sender's new X-Wing
	// key and its id, the X-Wing ciphertext and the id of the key it targets.
	PQPartSize = suite.KEMPublicKeySize + 4 + suite.KEMCiphertextSize + 4
	// HeaderSizePQ is the size of a header with PQ part.
	HeaderSizePQ = HeaderSize + PQPartSize
	// MaxMessageSize is the largest encoded Message: the largest envelope
	// bucket. Decrypt rejects anything larger before parsing.
	MaxMessageSize = 64 * 1024
	// MaxPlaintextSize is the largest plaintext Encrypt accepts, so that
	// every Message, PQ or not, fits MaxMessageSize.
	MaxPlaintextSize = MaxMessageSize - overheadPQ
	// MaxADSize bounds the associated data (both identities) a State binds.
	MaxADSize = 1024
	// MaxSkipLimit is the largest MaxSkipPerStep and MaxSkipTotal a Config
	// may set; it bounds the state size.
	MaxSkipLimit = 5000
	// MaxPQInterval is the largest PQInterval a Config may set.
	MaxPQInterval = 1024
	// MaxOwnKEMKeys bounds the X-Wing private keys a State keeps: announced
	// keys the peer may still target.
	MaxOwnKEMKeys = 3
	// MaxPrevChains bounds the previous receiving DH keys a State remembers
	// to answer ErrDuplicate (rather than ErrAuth) for late messages of old
	// chains.
	MaxPrevChains = 32

	overhead   = wire.HeaderSize + HeaderSize + 2 + suite.TagSize
	overheadPQ = wire.HeaderSize + HeaderSizePQ + 2 + suite.TagSize
)

// Sentinel errors. Every other error wraps a wire sentinel or describes a
// misuse; all of them leave the State unchanged.
var (
	// ErrDuplicate: the message's key was already used, was evicted from
	// the skipped-key store, or belongs to a chain that already ended. The
	// caller drops the message silently (the sender retransmits nothing).
	ErrDuplicate = errors.New("ratchet: duplicate or expired message")
	// ErrTooManySkipped: opening the message would need more than
	// Config.MaxSkipPerStep skipped message keys in one chain. The message
	// is not authenticated; the caller drops it.
	ErrTooManySkipped = errors.New("ratchet: too many skipped messages")
	// ErrAuth is the single opaque error for every authentication failure
	// (wrong key, forged or altered header, AD or ciphertext).
	ErrAuth = errors.New("ratchet: message authentication failed")
)

var (
	errConfig    = errors.New("ratchet: invalid config")
	errNoPeerKey = errors.New("ratchet: cannot send before the peer's first message")
	errExhausted = errors.New("ratchet: counter exhausted")
)

// Config bounds a State. The zero Config is invalid; start from
// DefaultConfig.
type Config struct {
	// MaxSkipPerStep is the most message keys one Decrypt may skip in one
	// chain (Signal's MAX_SKIP).
	MaxSkipPerStep int
	// MaxSkipTotal is the most skipped message keys a State stores; the
	// oldest are evicted (and wiped) beyond it.
	MaxSkipTotal int
	// PQInterval makes every PQInterval-th sending chain a PQ chain (1 =
	// every chain).
	PQInterval int
}

// DefaultConfig returns the configuration Parley uses: 1000 skips per step,
// 2000 in total, and a PQ chain every 4 sending chains
// (docs/PROTOCOL.md §Message ratchet §PQ interval explains the choice).
func DefaultConfig() Config {
	return Config{MaxSkipPerStep: 1000, MaxSkipTotal: 2000, PQInterval: 4}
}

// Validate checks that every field is positive and within its limit, and
// that MaxSkipPerStep does not exceed MaxSkipTotal.
func (c Config) Validate() error {
	switch {
	case c.MaxSkipPerStep <= 0 || c.MaxSkipPerStep > MaxSkipLimit:
		return fmt.Errorf("%w: MaxSkipPerStep must be in 1..%d", errConfig, MaxSkipLimit)
	case c.MaxSkipTotal <= 0 || c.MaxSkipTotal > MaxSkipLimit:
		return fmt.Errorf("%w: MaxSkipTotal must be in 1..%d", errConfig, MaxSkipLimit)
	case c.MaxSkipPerStep > c.MaxSkipTotal:
		return fmt.Errorf("%w: MaxSkipPerStep exceeds MaxSkipTotal", errConfig)
	case c.PQInterval <= 0 || c.PQInterval > MaxPQInterval:
		return fmt.Errorf("%w: PQInterval must be in 1..%d", errConfig, MaxPQInterval)
	}
	return nil
}

// MessageOverhead returns exactly how many bytes an encoded Message adds to
// its plaintext: with the PQ part (pq) or without.
func MessageOverhead(pq bool) int {
	if pq {
		return overheadPQ
	}
	return overhead
}

type incomparable [0]func()

type (
	rootKey    [suite.KeySize]byte
	chainKey   [suite.KeySize]byte
	messageKey [suite.KeySize]byte
)

// ownKEM is an X-Wing private key this State announced, with its id.
type ownKEM struct {
	id  uint32
	key *suite.KEMPrivateKey
}

// pqPart is the PQ part of every header of the current sending chain.
type pqPart struct {
	kemPub [suite.KEMPublicKeySize]byte // our announced key
	kemID  uint32
	ct     [suite.KEMCiphertextSize]byte // to the peer's key targetID
	target uint32
}

// State is one side of a ratchet session. Its zero value is not usable:
// create it with NewInitiator, NewResponder or ParseState.
type State struct {
	_   incomparable
	cfg Config
	ad  []byte

	rk     rootKey
	dhs    *suite.DHPrivateKey // DHs: our current ratchet key pair
	dhr    suite.DHPublicKey   // DHr: the peer's current ratchet key
	hasDHR bool

	// Sending chain. sendReady is false after a received DH step (and for
	// a new responder): the next Encrypt performs the sending half.
	sendReady     bool
	cks           chainKey
	ns, pn        uint32
	sendPQ        bool // the current sending chain is a PQ chain
	pq            pqPart
	chainsSincePQ uint32 // classical sending chains since the last PQ one, capped at PQInterval-1

	// Receiving chain.
	hasCKR bool
	ckr    chainKey
	nr     uint32

	own       []ownKEM // oldest first, ids increasing
	nextKEMID uint32
	peerKEM   *suite.KEMPublicKey // nil until known
	peerKEMID uint32

	prev    []suite.DHPublicKey // previous DHr values, oldest first
	skipped []skippedKey        // insertion order, oldest first

	// adBuf is scratch space holding len(ad) || ad, to which each message's
	// header is appended to form the AEAD associated data. Not state.
	adBuf []byte

	// tmp is working space for the hot path (see scratch). Not state.
	tmp scratch

	// observe, set only by tests, sees every (key, nonce) pair sealed
	// (sealing true) or successfully opened.
	observe func(sealing bool, key *[suite.KeySize]byte, nonce *[suite.NonceSize]byte)
}

// scratch holds the temporaries of Encrypt and Decrypt. The suite calls take
// slices of them, which would move each local to the heap; living in the
// State they cost no allocation. Each is wiped right after use.
type scratch struct {
	ck chainKey
	mk messageKey
	kn [messageKeysSize]byte // AEAD key || nonce
}

// newState checks the common inputs and fills what both roles share.
func newState(sharedSecret *[32]byte, ad []byte, cfg Config) (*State, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(ad) == 0 || len(ad) > MaxADSize {
		return nil, fmt.Errorf("ratchet: associated data must be 1..%d bytes", MaxADSize)
	}
	var zero [32]byte
	if subtle.ConstantTimeCompare(sharedSecret[:], zero[:]) == 1 {
		return nil, errors.New("ratchet: all-zero shared secret")
	}
	s := &State{cfg: cfg, ad: append([]byte(nil), ad...), chainsSincePQ: uint32(cfg.PQInterval - 1)}
	s.rk = rootKey(*sharedSecret)
	s.initADBuf()
	return s, nil
}

// NewInitiator starts the session of the party that sent the first-contact
// message (Signal §3.3 RatchetInitAlice): it generates a DH ratchet key from
// rand (32 bytes; crypto/rand if nil) and derives the first sending chain
// from sharedSecret and DH(new key, peerRatchetKey). That first chain has no
// PQ part (the peer's X-Wing key is not known yet; the handshake already
// mixed one in). myKEM is the X-Wing key announced in the handshake; it has
// key id 0. The State keeps its own copy of it. ad (both identities, from
// the handshake) is bound into every message.
func NewInitiator(rand io.Reader, sharedSecret [32]byte, ad []byte, peerRatchetKey suite.DHPublicKey, myKEM *suite.KEMPrivateKey, cfg Config) (*State, error) {
	defer clear(sharedSecret[:])
	if myKEM == nil {
		return nil, errors.New("ratchet: missing X-Wing key")
	}
	s, err := newState(&sharedSecret, ad, cfg)
	if err != nil {
		return nil, err
	}
	seed := myKEM.Seed()
	k, err := suite.NewKEMPrivateKey(seed[:])
	clear(seed[:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	s.own = []ownKEM{{id: 0, key: k}}
	s.nextKEMID = 1
	s.dhr, s.hasDHR = peerRatchetKey, true
	if err := s.sendStep(rand); err != nil {
		s.wipe()
		return nil, err
	}
	return s, nil
}

// NewResponder starts the session of the party that received the
// first-contact message (Signal §3.3 RatchetInitBob): myRatchetKey is the
// DH key the initiator's ratchet key was combined with, peerKEM the
// initiator's X-Wing key from the handshake (key id 0). The responder cannot
// send before its first Decrypt; its first sending chain is a PQ chain. The
// State keeps its own copy of myRatchetKey.
func NewResponder(sharedSecret [32]byte, ad []byte, myRatchetKey *suite.DHPrivateKey, peerKEM *suite.KEMPublicKey, cfg Config) (*State, error) {
	defer clear(sharedSecret[:])
	if myRatchetKey == nil || peerKEM == nil {
		return nil, errors.New("ratchet: missing key")
	}
	s, err := newState(&sharedSecret, ad, cfg)
	if err != nil {
		return nil, err
	}
	b := myRatchetKey.Bytes()
	s.dhs, err = suite.NewDHPrivateKey(b[:])
	clear(b[:])
	if err != nil {
		return nil, fmt.Errorf("ratchet: %w", err)
	}
	s.peerKEM, s.peerKEMID = peerKEM, 0
	return s, nil
}

// NextMessagePQ reports whether the next Encrypt will carry the PQ part, so
// its Message is MessageOverhead(true) bytes longer than the plaintext. It
// reveals nothing that the next message's size does not.
func (s *State) NextMessagePQ() bool {
	if s.sendReady {
		return s.sendPQ
	}
	return s.pqDue()
}

// pqDue reports whether the next sending chain is a PQ chain.
func (s *State) pqDue() bool {
	return s.peerKEM != nil && s.chainsSincePQ >= uint32(s.cfg.PQInterval-1)
}

// sendStep is the sending half of the DH ratchet (Signal §3.5 DHRatchet,
// second half, extended by the PQ step). It reads from rand, in this order:
// the 32-byte X25519 seed; then, in a PQ chain, the 64-byte X-Wing
// encapsulation seed and the 32-byte seed of our next X-Wing key. Root-key
// order in a PQ chain: rk = KDF_PQ(rk, ss), then rk, CKs = KDF_RK(rk, DH).
// It commits only when every step succeeded.
func (s *State) sendStep(rand io.Reader) error {
	if !s.hasDHR {
		return errNoPeerKey
	}
	pq := s.pqDue()
	if pq && s.nextKEMID == math.MaxUint32 {
		return errExhausted
	}
	dhs, err := suite.GenerateDH(rand)
	if err != nil {
		return fmt.Errorf("ratchet: %w", err)
	}
	rk := s.rk
	defer clear(rk[:])
	var newKEM *suite.KEMPrivateKey
	var ct [suite.KEMCiphertextSize]byte
	if pq {
		var ss [suite.KEMSharedSize]byte
		ct, ss, err = suite.Encapsulate(rand, s.peerKEM)
		if err != nil {
			return fmt.Errorf("ratchet: %w", err)
		}
		newKEM, err = suite.GenerateKEM(rand)
		if err != nil {
			clear(ss[:])
			return fmt.Errorf("ratchet: %w", err)
		}
		rk = kdfPQ(&rk, &ss)
		clear(ss[:])
	}
	dhOut, err := dhs.DH(s.dhr)
	if err != nil {
		if newKEM != nil {
			newKEM.Clear()
		}
		return fmt.Errorf("ratchet: peer ratchet key: %w", err)
	}
	newRK, ck := kdfRK(&rk, &dhOut)
	clear(dhOut[:])

	// Commit.
	s.rk, s.cks, s.dhs = newRK, ck, dhs
	clear(newRK[:])
	clear(ck[:])
	s.pn, s.ns = s.ns, 0
	s.sendReady = true
	s.sendPQ = pq
	if pq {
		s.pq = pqPart{kemPub: *newKEM.Public().Bytes(), kemID: s.nextKEMID, ct: ct, target: s.peerKEMID}
		s.addOwnKEM(ownKEM{id: s.nextKEMID, key: newKEM})
		s.nextKEMID++
		s.chainsSincePQ = 0
	} else {
		s.pq = pqPart{}
		if s.chainsSincePQ < uint32(s.cfg.PQInterval-1) {
			s.chainsSincePQ++
		}
	}
	return nil
}

// addOwnKEM appends k, clearing the oldest key beyond MaxOwnKEMKeys.
func (s *State) addOwnKEM(k ownKEM) {
	if len(s.own) == MaxOwnKEMKeys {
		s.own[0].key.Clear()
		s.own = append(s.own[:0], s.own[1:]...)
	}
	s.own = append(s.own, k)
}

// findOwnKEM returns our X-Wing key with the given id, or nil.
func (s *State) findOwnKEM(id uint32) *suite.KEMPrivateKey {
	for _, k := range s.own {
		if k.id == id {
			return k.key
		}
	}
	return nil
}

// dropOwnKEMBefore clears and forgets our keys older than id, once the peer
// has targeted id: the peer never targets an older key again.
func (s *State) dropOwnKEMBefore(id uint32) {
	kept := s.own[:0]
	for _, k := range s.own {
		if k.id < id {
			k.key.Clear()
			continue
		}
		kept = append(kept, k)
	}
	clear(s.own[len(kept):])
	s.own = kept
}

// Encrypt seals plaintext as the next message of the sending chain (Signal
// §3.4 RatchetEncrypt), first performing the sending half of a DH ratchet
// step when the peer has answered our current key (see sendStep for what it
// reads from rand; crypto/rand if nil). It returns the encoded Message.
func (s *State) Encrypt(rand io.Reader, plaintext []byte) ([]byte, error) {
	if len(plaintext) > MaxPlaintextSize {
		return nil, fmt.Errorf("ratchet: encrypt: plaintext: %w", wire.ErrTooLarge)
	}
	if s.sendReady && s.ns == math.MaxUint32 {
		return nil, errExhausted
	}
	if !s.sendReady {
		if err := s.sendStep(rand); err != nil {
			return nil, err
		}
	}
	// From here nothing can fail: the step above is committed only
	// together with this message.
	t := &s.tmp
	var next chainKey
	t.mk, next = kdfCK(&s.cks)
	key, nonce := messageKeys(&t.mk, &t.kn)
	clear(t.mk[:])

	h := header{dh: s.dhs.Public(), pn: s.pn, n: s.ns}
	if s.sendPQ {
		h.pq = true
		h.kemPub, h.kemID = s.pq.kemPub[:], s.pq.kemID
		h.ct, h.target = s.pq.ct[:], s.pq.target
	}
	out := make([]byte, 0, MessageOverhead(h.pq)+len(plaintext))
	out = append(out, byte(wire.TagRatchetMessage), wire.Version)
	out = appendHeader(out, &h)
	out = binary.BigEndian.AppendUint16(out, uint16(len(plaintext)+suite.TagSize))
	if s.observe != nil {
		s.observe(true, key, nonce)
	}
	out = suite.Seal(out, key, nonce, plaintext, s.aeadAD(&h))
	clear(t.kn[:])

	s.cks = next
	clear(next[:])
	s.ns++
	return out, nil
}

// Decrypt authenticates and decrypts an encoded Message (Signal §3.5
// RatchetDecrypt): from the skipped-key store, from the current receiving
// chain, or after the receiving half of a DH ratchet step (with the PQ step
// first when the header has a PQ part). It is transactional: on any error
// the State is unchanged. Errors: ErrDuplicate, ErrTooManySkipped, ErrAuth,
// or a parse error wrapping a wire sentinel.
func (s *State) Decrypt(msg []byte) ([]byte, error) {
	if err := wire.Check(msg, MaxMessageSize); err != nil {
		return nil, fmt.Errorf("ratchet: decrypt: %w", err)
	}
	var h header
	ct, err := parseMessage(msg, &h)
	if err != nil {
		return nil, err
	}
	if h.n == math.MaxUint32 {
		return nil, ErrAuth // a sender never uses the last counter value
	}
	if s.hasCKR && h.dh == s.dhr {
		if h.n >= s.nr {
			return s.decryptCurrent(&h, ct)
		}
		if i := s.findSkipped(&h.dh, h.n); i >= 0 {
			return s.decryptSkipped(i, &h, ct)
		}
		return nil, ErrDuplicate
	}
	if i := s.findSkipped(&h.dh, h.n); i >= 0 {
		return s.decryptSkipped(i, &h, ct)
	}
	if s.hasDHR && h.dh == s.dhr {
		return nil, ErrAuth // the peer's initial key never starts a chain
	}
	for i := range s.prev {
		if s.prev[i] == h.dh {
			return nil, ErrDuplicate
		}
	}
	return s.decryptNewChain(&h, ct)
}

// decryptCurrent opens message h.n >= Nr of the current receiving chain,
// storing the keys of messages it skips (Signal §3.5 SkipMessageKeys).
func (s *State) decryptCurrent(h *header, ct []byte) ([]byte, error) {
	if h.n-s.nr > uint32(s.cfg.MaxSkipPerStep) {
		return nil, ErrTooManySkipped
	}
	t := &s.tmp
	t.ck = s.ckr
	pending := s.skipChain(&t.ck, h.dh, s.nr, h.n)
	var next chainKey
	t.mk, next = kdfCK(&t.ck)
	clear(t.ck[:])
	pt, err := s.open(&t.mk, h, ct)
	clear(t.mk[:])
	if err != nil {
		clear(next[:])
		wipeSkipped(pending)
		return nil, err
	}
	s.addSkipped(pending)
	s.ckr = next
	clear(next[:])
	s.nr = h.n + 1
	return pt, nil
}

// decryptSkipped opens a message with stored key i and deletes that key.
func (s *State) decryptSkipped(i int, h *header, ct []byte) ([]byte, error) {
	pt, err := s.open(&s.skipped[i].mk, h, ct)
	if err != nil {
		return nil, err
	}
	s.deleteSkipped(i)
	return pt, nil
}

// decryptNewChain performs the receiving half of a DH ratchet step (Signal
// §3.5 DHRatchet, first half) on locals: skip the rest of the current
// receiving chain up to h.pn; in a PQ chain decapsulate with our key
// h.target and set rk = KDF_PQ(rk, ss); then rk, CKr = KDF_RK(rk, DH(DHs,
// h.dh)); skip to h.n and open. It commits only after the message opened.
func (s *State) decryptNewChain(h *header, ct []byte) ([]byte, error) {
	if s.hasDHR && !s.sendReady {
		// The peer starts a chain only in answer to a key we sent; we
		// have sent none since its last chain.
		return nil, ErrAuth
	}
	var oldSkip uint32
	if s.hasCKR && h.pn > s.nr {
		oldSkip = h.pn - s.nr
	}
	if oldSkip > uint32(s.cfg.MaxSkipPerStep) || h.n > uint32(s.cfg.MaxSkipPerStep) {
		return nil, ErrTooManySkipped
	}
	rk := s.rk
	defer clear(rk[:])
	if h.pq {
		k := s.findOwnKEM(h.target)
		if k == nil {
			return nil, ErrAuth
		}
		ss, err := k.Decapsulate(h.ct)
		if err != nil {
			return nil, ErrAuth
		}
		rk = kdfPQ(&rk, &ss)
		clear(ss[:])
	}
	dhOut, err := s.dhs.DH(h.dh)
	if err != nil {
		return nil, ErrAuth
	}
	newRK, ck := kdfRK(&rk, &dhOut)
	clear(dhOut[:])
	defer clear(newRK[:])
	t := &s.tmp
	t.ck = ck
	clear(ck[:])
	pending := s.skipChain(&t.ck, h.dh, 0, h.n)
	var next chainKey
	t.mk, next = kdfCK(&t.ck)
	clear(t.ck[:])
	pt, err := s.open(&t.mk, h, ct)
	clear(t.mk[:])
	if err != nil {
		clear(next[:])
		wipeSkipped(pending)
		return nil, err
	}
	var peerKEM *suite.KEMPublicKey
	if h.pq {
		if peerKEM, err = suite.ParseKEMPublicKey(h.kemPub); err != nil {
			clear(pt)
			clear(next[:])
			wipeSkipped(pending)
			return nil, fmt.Errorf("ratchet: decrypt: announced X-Wing key: %w", wire.ErrMalformed)
		}
	}

	// Commit. The old chain's skipped keys are derived only now that the
	// message is authentic, and stored first: they are older.
	if oldSkip > 0 {
		t.ck = s.ckr
		oldKeys := s.skipChain(&t.ck, s.dhr, s.nr, h.pn)
		clear(t.ck[:])
		s.addSkipped(oldKeys)
	}
	s.addSkipped(pending)
	if s.hasDHR {
		if len(s.prev) == MaxPrevChains {
			s.prev = append(s.prev[:0], s.prev[1:]...)
		}
		s.prev = append(s.prev, s.dhr)
	}
	s.dhr, s.hasDHR = h.dh, true
	s.rk = newRK
	s.ckr, s.nr, s.hasCKR = next, h.n+1, true
	clear(next[:])
	s.sendReady, s.sendPQ = false, false
	clear(s.cks[:])
	s.pq = pqPart{}
	if h.pq {
		s.peerKEM, s.peerKEMID = peerKEM, h.kemID
		s.dropOwnKEMBefore(h.target)
	}
	return pt, nil
}

// open derives the AEAD key and nonce from mk and opens ct with AD = len(ad)
// || ad || header (docs/PROTOCOL.md §Message ratchet §Message encryption).
func (s *State) open(mk *messageKey, h *header, ct []byte) ([]byte, error) {
	key, nonce := messageKeys(mk, &s.tmp.kn)
	pt, err := suite.Open(nil, key, nonce, ct, s.aeadAD(h))
	if err == nil && s.observe != nil {
		s.observe(false, key, nonce)
	}
	clear(s.tmp.kn[:])
	if err != nil {
		return nil, ErrAuth
	}
	return pt, nil
}

// initADBuf sets adBuf to the 2-byte length of ad followed by ad, with room
// for the largest header.
func (s *State) initADBuf() {
	s.adBuf = make([]byte, 0, 2+len(s.ad)+HeaderSizePQ)
	s.adBuf = binary.BigEndian.AppendUint16(s.adBuf, uint16(len(s.ad)))
	s.adBuf = append(s.adBuf, s.ad...)
}

// aeadAD returns len(ad) || ad || encoded header, in the scratch buffer.
// Because the header encoding is canonical, re-encoding a parsed header
// yields the exact bytes that were received.
func (s *State) aeadAD(h *header) []byte {
	s.adBuf = appendHeader(s.adBuf[:2+len(s.ad)], h)
	return s.adBuf
}

// wipe clears every secret of s; s must not be used afterwards.
func (s *State) wipe() {
	clear(s.rk[:])
	clear(s.cks[:])
	clear(s.ckr[:])
	for _, k := range s.own {
		k.key.Clear()
	}
	s.own = nil
	wipeSkipped(s.skipped)
	s.skipped = nil
	s.dhs = nil
}
