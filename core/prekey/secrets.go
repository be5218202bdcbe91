package prekey

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// Limits of the owner's prekey store.
const (
	// MaxOneTimePrekeys bounds the pool of one-time X-Wing prekeys.
	MaxOneTimePrekeys = 200
	// MaxSignedPrekeys bounds how many signed X25519 prekeys are kept: the
	// current one plus older ones still honoured until they expire.
	MaxSignedPrekeys = 4
	// MaxLastResortPrekeys bounds how many last-resort X-Wing prekeys are
	// kept, as for MaxSignedPrekeys.
	MaxLastResortPrekeys = 4
	// MinPrekeyLifetime and MaxPrekeyLifetime bound the lifetime given to
	// Generate, Rotate and Refill.
	MinPrekeyLifetime = time.Minute
	MaxPrekeyLifetime = 366 * 24 * time.Hour

	// signedSecretSize is one stored signed prekey: id, expiry, X25519
	// scalar, signature.
	signedSecretSize = IDSize + ExpirySize + suite.DHPrivateKeySize + suite.SignatureSize
	// kemSecretSize is one stored last-resort prekey: id, expiry, X-Wing
	// seed, signature.
	kemSecretSize = IDSize + ExpirySize + suite.KEMSeedSize + suite.SignatureSize
	// oneTimeSecretSize is one stored one-time prekey: as kemSecretSize
	// plus the issued flag.
	oneTimeSecretSize = kemSecretSize + 1

	// MaxSecretsSize bounds ParseSecrets' input: header, owner identity,
	// next id, then the three counted lists at their maximum lengths.
	MaxSecretsSize = wire.HeaderSize + identity.PublicSize + IDSize +
		1 + MaxSignedPrekeys*signedSecretSize +
		1 + MaxLastResortPrekeys*kemSecretSize +
		2 + MaxOneTimePrekeys*oneTimeSecretSize
)

// incomparable makes a struct unusable with ==.
type incomparable [0]func()

type signedSecret struct {
	pub  SignedPrekey
	priv *suite.DHPrivateKey
}

type kemSecret struct {
	pub    KEMPrekey
	priv   *suite.KEMPrivateKey
	issued bool // handed out in a Bundle (one-time prekeys only)
}

// Secrets is the owner's private prekey material: the signed X25519
// prekeys, the last-resort X-Wing prekeys and the pool of one-time X-Wing
// prekeys, each with its private key. The last signed and last last-resort
// prekeys are the current ones; older ones are honoured until they expire.
//
// Prekey ids come from one counter shared by all three kinds, start at 1
// and are never reused, so an id names at most one key ever. Secrets is not
// safe for concurrent use. Every method that changes it (Bundle,
// ConsumeOneTime, Rotate, Refill, Prune) must be followed by persisting
// Marshal's output, encrypted, before acting on the result.
type Secrets struct {
	_          incomparable
	owner      identity.PublicIdentity
	nextID     uint32
	signed     []*signedSecret // oldest first; never empty
	lastResort []*kemSecret    // oldest first; never empty
	oneTime    []*kemSecret    // creation order
}

// errEmpty is returned by a Secrets that was cleared or never generated.
var errEmpty = errors.New("prekey: no prekeys (cleared or not generated)")

// usable reports whether s holds current prekeys.
func (s *Secrets) usable() error {
	if len(s.signed) == 0 || len(s.lastResort) == 0 {
		return errEmpty
	}
	return nil
}

func checkLifetime(lifetime time.Duration) error {
	if lifetime < MinPrekeyLifetime || lifetime > MaxPrekeyLifetime {
		return fmt.Errorf("prekey: lifetime %v outside [%v, %v]", lifetime, MinPrekeyLifetime, MaxPrekeyLifetime)
	}
	return nil
}

// expiryFor is the expiry of a prekey made at now with lifetime, rounded
// down to whole seconds so the in-memory value equals the signed one.
func expiryFor(now time.Time, lifetime time.Duration) time.Time {
	return time.Unix(now.Add(lifetime).Unix(), 0).UTC()
}

// allocID returns the next unused prekey id.
func (s *Secrets) allocID() (uint32, error) {
	if s.nextID == math.MaxUint32 {
		return 0, errors.New("prekey: prekey ids exhausted")
	}
	id := s.nextID
	s.nextID++
	return id, nil
}

func (s *Secrets) checkOwner(id *identity.PrivateIdentity) error {
	if s.nextID == 0 {
		return errEmpty
	}
	if id == nil || !id.Public().Equal(&s.owner) {
		return errors.New("prekey: identity does not own these prekeys")
	}
	return nil
}

// newSigned draws a 32-byte X25519 scalar from rand and signs the public key.
func (s *Secrets) newSigned(rand io.Reader, id *identity.PrivateIdentity, exp time.Time) (*signedSecret, error) {
	priv, err := suite.GenerateDH(rand)
	if err != nil {
		return nil, fmt.Errorf("prekey: generate signed prekey: %w", err)
	}
	n, err := s.allocID()
	if err != nil {
		return nil, err
	}
	p := SignedPrekey{ID: n, Key: priv.Public(), Expires: exp}
	p.Sig = id.Sign(suite.LabelSignedPrekey, signedPrekeyBody(s.owner.SigningKey, p.ID, p.Key, exp))
	return &signedSecret{pub: p, priv: priv}, nil
}

// newKEM draws a 32-byte X-Wing seed from rand and signs the public key.
func (s *Secrets) newKEM(rand io.Reader, id *identity.PrivateIdentity, lastResort bool, exp time.Time) (*kemSecret, error) {
	priv, err := suite.GenerateKEM(rand)
	if err != nil {
		return nil, fmt.Errorf("prekey: generate KEM prekey: %w", err)
	}
	n, err := s.allocID()
	if err != nil {
		return nil, err
	}
	p := KEMPrekey{ID: n, Key: priv.Public(), LastResort: lastResort, Expires: exp}
	p.Sig = id.Sign(suite.LabelKEMPrekey, kemPrekeyBody(s.owner.SigningKey, p.ID, p.Key, lastResort, exp))
	return &kemSecret{pub: p, priv: priv}, nil
}

// Generate creates the prekeys of identity id at time now, each expiring
// after lifetime: one signed X25519 prekey (id 1), one last-resort X-Wing
// prekey (id 2) and oneTimeCount one-time X-Wing prekeys (ids 3, 4, …).
// It reads, in that order, 32 bytes per key from rand (crypto/rand if nil).
func Generate(rand io.Reader, id *identity.PrivateIdentity, now time.Time, lifetime time.Duration, oneTimeCount int) (*Secrets, error) {
	if err := checkClock(now); err != nil {
		return nil, err
	}
	if id == nil {
		return nil, errors.New("prekey: generate: nil identity")
	}
	if err := checkLifetime(lifetime); err != nil {
		return nil, err
	}
	if oneTimeCount < 0 || oneTimeCount > MaxOneTimePrekeys {
		return nil, fmt.Errorf("prekey: generate: %d one-time prekeys outside [0, %d]", oneTimeCount, MaxOneTimePrekeys)
	}
	s := &Secrets{owner: *id.Public(), nextID: 1}
	if err := s.Rotate(rand, id, now, lifetime); err != nil {
		return nil, err
	}
	if err := s.Refill(rand, id, now, lifetime, oneTimeCount); err != nil {
		return nil, err
	}
	return s, nil
}

// Owner returns the identity that signed these prekeys.
func (s *Secrets) Owner() *identity.PublicIdentity {
	o := s.owner
	return &o
}

// Rotate makes a new current signed X25519 prekey and a new current
// last-resort X-Wing prekey (PQXDH §2.4: replaced periodically), then
// prunes expired ones (Prune). Older prekeys stay valid for responses until
// they expire, but at most MaxSignedPrekeys and MaxLastResortPrekeys are
// kept: the oldest are dropped first.
func (s *Secrets) Rotate(rand io.Reader, id *identity.PrivateIdentity, now time.Time, lifetime time.Duration) error {
	if err := checkClock(now); err != nil {
		return err
	}
	if err := s.checkOwner(id); err != nil {
		return err
	}
	if err := checkLifetime(lifetime); err != nil {
		return err
	}
	exp := expiryFor(now, lifetime)
	spk, err := s.newSigned(rand, id, exp)
	if err != nil {
		return err
	}
	lr, err := s.newKEM(rand, id, true, exp)
	if err != nil {
		return err
	}
	s.signed = append(s.signed, spk)
	s.lastResort = append(s.lastResort, lr)
	if n := len(s.signed) - MaxSignedPrekeys; n > 0 {
		s.signed = append(s.signed[:0], s.signed[n:]...)
	}
	if n := len(s.lastResort) - MaxLastResortPrekeys; n > 0 {
		for _, k := range s.lastResort[:n] {
			k.priv.Clear()
		}
		s.lastResort = append(s.lastResort[:0], s.lastResort[n:]...)
	}
	s.Prune(now)
	return nil
}

// Refill prunes expired prekeys (Prune), then adds n one-time X-Wing
// prekeys expiring after lifetime. It fails, adding none, if the pool would
// exceed MaxOneTimePrekeys.
func (s *Secrets) Refill(rand io.Reader, id *identity.PrivateIdentity, now time.Time, lifetime time.Duration, n int) error {
	if err := checkClock(now); err != nil {
		return err
	}
	if err := s.checkOwner(id); err != nil {
		return err
	}
	if err := checkLifetime(lifetime); err != nil {
		return err
	}
	s.Prune(now)
	if n < 0 || len(s.oneTime)+n > MaxOneTimePrekeys {
		return fmt.Errorf("prekey: refill: %d + %d one-time prekeys exceeds %d", len(s.oneTime), n, MaxOneTimePrekeys)
	}
	exp := expiryFor(now, lifetime)
	added := make([]*kemSecret, 0, n)
	for range n {
		k, err := s.newKEM(rand, id, false, exp)
		if err != nil {
			for _, a := range added {
				a.priv.Clear()
			}
			return err
		}
		added = append(added, k)
	}
	s.oneTime = append(s.oneTime, added...)
	return nil
}

// Prune deletes every prekey expired at now, except the current signed and
// last-resort prekeys, which stay until Rotate replaces them (lookups still
// reject them once expired). A zero now prunes nothing.
func (s *Secrets) Prune(now time.Time) {
	if checkClock(now) != nil || s.usable() != nil {
		return
	}
	keepSigned := s.signed[:0]
	for i, k := range s.signed {
		if i == len(s.signed)-1 || !expiredAt(k.pub.Expires, now) {
			keepSigned = append(keepSigned, k)
		}
	}
	clear(s.signed[len(keepSigned):])
	s.signed = keepSigned
	s.lastResort = pruneKEM(s.lastResort, now, true)
	s.oneTime = pruneKEM(s.oneTime, now, false)
}

func pruneKEM(list []*kemSecret, now time.Time, keepLast bool) []*kemSecret {
	keep := list[:0]
	for i, k := range list {
		if (keepLast && i == len(list)-1) || !expiredAt(k.pub.Expires, now) {
			keep = append(keep, k)
			continue
		}
		k.priv.Clear()
	}
	clear(list[len(keep):])
	return keep
}

// OneTimeAvailable returns how many one-time prekeys are neither issued in
// a bundle nor expired at now, so the caller knows when to Refill.
func (s *Secrets) OneTimeAvailable(now time.Time) int {
	n := 0
	for _, k := range s.oneTime {
		if !k.issued && !expiredAt(k.pub.Expires, now) {
			n++
		}
	}
	return n
}

// Bundle returns a bundle for one initiator (PQXDH §2.4): the current
// signed prekey and the first one-time prekey that is neither issued nor
// expired, which it marks issued so no other bundle carries it; with none
// left it uses the current last-resort prekey. It fails with ErrClock or,
// when the current prekeys have expired (Rotate is overdue), ErrExpired.
func (s *Secrets) Bundle(now time.Time) (*Bundle, error) {
	if err := checkClock(now); err != nil {
		return nil, err
	}
	if err := s.usable(); err != nil {
		return nil, err
	}
	spk := s.signed[len(s.signed)-1]
	if expiredAt(spk.pub.Expires, now) {
		return nil, fmt.Errorf("prekey: bundle: current signed prekey %d: %w", spk.pub.ID, ErrExpired)
	}
	var kem *kemSecret
	for _, k := range s.oneTime {
		if !k.issued && !expiredAt(k.pub.Expires, now) {
			kem = k
			break
		}
	}
	if kem == nil {
		kem = s.lastResort[len(s.lastResort)-1]
		if expiredAt(kem.pub.Expires, now) {
			return nil, fmt.Errorf("prekey: bundle: current last-resort prekey %d: %w", kem.pub.ID, ErrExpired)
		}
	} else {
		kem.issued = true
	}
	return &Bundle{Identity: s.owner, SignedPrekey: spk.pub, KEMPrekey: kem.pub}, nil
}

// SignedPrekey returns the private key and public record of the signed
// prekey id, for the handshake responder (PQXDH §3.4). It fails with
// ErrUnknownPrekey, or ErrExpired if the prekey has expired at now. The
// private key is shared with s and must not be modified.
func (s *Secrets) SignedPrekey(id uint32, now time.Time) (*suite.DHPrivateKey, *SignedPrekey, error) {
	if err := checkClock(now); err != nil {
		return nil, nil, err
	}
	for _, k := range s.signed {
		if k.pub.ID != id {
			continue
		}
		if expiredAt(k.pub.Expires, now) {
			return nil, nil, fmt.Errorf("prekey: own signed prekey %d: %w", id, ErrExpired)
		}
		p := k.pub
		return k.priv, &p, nil
	}
	return nil, nil, fmt.Errorf("prekey: signed prekey %d: %w", id, ErrUnknownPrekey)
}

// KEMPrekey returns the private key and public record of the X-Wing prekey
// id, one-time or last resort (the record's LastResort says which), for the
// handshake responder. It fails with ErrUnknownPrekey — also for a consumed
// one-time prekey — or ErrExpired. It consumes nothing: the responder calls
// ConsumeOneTime once the handshake succeeds.
func (s *Secrets) KEMPrekey(id uint32, now time.Time) (*suite.KEMPrivateKey, *KEMPrekey, error) {
	if err := checkClock(now); err != nil {
		return nil, nil, err
	}
	k := s.findKEM(id)
	if k == nil {
		return nil, nil, fmt.Errorf("prekey: KEM prekey %d: %w", id, ErrUnknownPrekey)
	}
	if expiredAt(k.pub.Expires, now) {
		return nil, nil, fmt.Errorf("prekey: own KEM prekey %d: %w", id, ErrExpired)
	}
	p := k.pub
	return k.priv, &p, nil
}

func (s *Secrets) findKEM(id uint32) *kemSecret {
	for _, k := range s.oneTime {
		if k.pub.ID == id {
			return k
		}
	}
	for _, k := range s.lastResort {
		if k.pub.ID == id {
			return k
		}
	}
	return nil
}

// ConsumeOneTime deletes the one-time prekey id and wipes its seed (PQXDH
// §3.4: "Bob deletes any one-time prekey private key that was used"). It
// fails with ErrUnknownPrekey if id is not a one-time prekey held now
// (last-resort prekeys are never consumed).
func (s *Secrets) ConsumeOneTime(id uint32) error {
	for i, k := range s.oneTime {
		if k.pub.ID == id {
			k.priv.Clear()
			s.oneTime = slices.Delete(s.oneTime, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("prekey: one-time prekey %d: %w", id, ErrUnknownPrekey)
}

// Clear wipes every private seed held. s must not be used afterwards.
func (s *Secrets) Clear() {
	for _, list := range [][]*kemSecret{s.lastResort, s.oneTime} {
		for _, k := range list {
			k.priv.Clear()
		}
	}
	s.signed, s.lastResort, s.oneTime = nil, nil, nil
}

// Marshal returns the storage encoding (tag wire.TagPrekeySecrets), at most
// MaxSecretsSize bytes. It holds private keys and must only ever be written
// encrypted. Public keys are not stored; ParseSecrets derives them.
func (s *Secrets) Marshal() []byte {
	var b cryptobyte.Builder
	wire.AddHeader(&b, wire.TagPrekeySecrets)
	s.owner.AddTo(&b)
	b.AddUint32(s.nextID)
	b.AddUint8(uint8(len(s.signed)))
	for _, k := range s.signed {
		scalar := k.priv.Bytes()
		b.AddUint32(k.pub.ID)
		b.AddUint64(expiryField(k.pub.Expires))
		b.AddBytes(scalar[:])
		b.AddBytes(k.pub.Sig[:])
		clear(scalar[:])
	}
	b.AddUint8(uint8(len(s.lastResort)))
	for _, k := range s.lastResort {
		addKEMSecret(&b, k)
	}
	b.AddUint16(uint16(len(s.oneTime)))
	for _, k := range s.oneTime {
		addKEMSecret(&b, k)
		b.AddUint8(flag(k.issued))
	}
	return b.BytesOrPanic()
}

func addKEMSecret(b *cryptobyte.Builder, k *kemSecret) {
	seed := k.priv.Seed()
	b.AddUint32(k.pub.ID)
	b.AddUint64(expiryField(k.pub.Expires))
	b.AddBytes(seed[:])
	b.AddBytes(k.pub.Sig[:])
	clear(seed[:])
}

// ParseSecrets parses the encoding made by Marshal. It checks the size
// against MaxSecretsSize first, every count against its limit, that ids
// are non-zero, below the stored next id and unique (among signed prekeys,
// and among all X-Wing prekeys), and it verifies the owner's identity
// binding. Prekey signatures are not re-verified: the encrypted store
// authenticates what it returns.
func ParseSecrets(b []byte) (*Secrets, error) {
	s, err := parseSecrets(b)
	if err != nil {
		return nil, fmt.Errorf("prekey: parse secrets: %w", err)
	}
	return s, nil
}

func parseSecrets(b []byte) (*Secrets, error) {
	if err := wire.Check(b, MaxSecretsSize); err != nil {
		return nil, err
	}
	in := cryptobyte.String(b)
	if err := wire.ReadHeader(&in, wire.TagPrekeySecrets); err != nil {
		return nil, err
	}
	owner, err := identity.ReadPublic(&in)
	if err != nil {
		return nil, err
	}
	s := &Secrets{owner: *owner}
	var nSigned, nLast uint8
	var nOne uint16
	if !in.ReadUint32(&s.nextID) || s.nextID == 0 || !in.ReadUint8(&nSigned) ||
		nSigned == 0 || nSigned > MaxSignedPrekeys {
		return nil, wire.ErrMalformed
	}
	dhIDs := make(map[uint32]bool, nSigned)
	kemIDs := make(map[uint32]bool)
	fresh := func(seen map[uint32]bool, id uint32) bool {
		if id == 0 || id >= s.nextID || seen[id] {
			return false
		}
		seen[id] = true
		return true
	}
	for range nSigned {
		var scalar [suite.DHPrivateKeySize]byte
		k := &signedSecret{}
		ok := in.ReadUint32(&k.pub.ID) && readExpiry(&in, &k.pub.Expires) && in.CopyBytes(scalar[:]) &&
			in.CopyBytes(k.pub.Sig[:]) && fresh(dhIDs, k.pub.ID)
		if ok {
			k.priv, err = suite.NewDHPrivateKey(scalar[:])
		}
		clear(scalar[:])
		if !ok || err != nil {
			return nil, wire.ErrMalformed
		}
		k.pub.Key = k.priv.Public()
		s.signed = append(s.signed, k)
	}
	if !in.ReadUint8(&nLast) || nLast == 0 || nLast > MaxLastResortPrekeys {
		return nil, wire.ErrMalformed
	}
	for range nLast {
		k, ok := readKEMSecret(&in, true)
		if !ok || !fresh(kemIDs, k.pub.ID) {
			return nil, wire.ErrMalformed
		}
		s.lastResort = append(s.lastResort, k)
	}
	if !in.ReadUint16(&nOne) || nOne > MaxOneTimePrekeys {
		return nil, wire.ErrMalformed
	}
	for range nOne {
		var issued uint8
		k, ok := readKEMSecret(&in, false)
		if !ok || !in.ReadUint8(&issued) || issued > 1 || !fresh(kemIDs, k.pub.ID) {
			return nil, wire.ErrMalformed
		}
		k.issued = issued == 1
		s.oneTime = append(s.oneTime, k)
	}
	if !in.Empty() {
		return nil, wire.ErrMalformed
	}
	return s, nil
}

func readKEMSecret(in *cryptobyte.String, lastResort bool) (*kemSecret, bool) {
	var seed [suite.KEMSeedSize]byte
	defer clear(seed[:])
	k := &kemSecret{pub: KEMPrekey{LastResort: lastResort}}
	if !in.ReadUint32(&k.pub.ID) || !readExpiry(in, &k.pub.Expires) || !in.CopyBytes(seed[:]) ||
		!in.CopyBytes(k.pub.Sig[:]) {
		return nil, false
	}
	priv, err := suite.NewKEMPrivateKey(seed[:])
	if err != nil {
		return nil, false
	}
	k.priv, k.pub.Key = priv, priv.Public()
	return k, true
}
