package suite

import (
	"errors"
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem/xwing"
)

// X-Wing sizes (draft-connolly-cfrg-xwing-kem-05).
const (
	// KEMPublicKeySize is the size of an X-Wing encapsulation key.
	KEMPublicKeySize = xwing.PublicKeySize
	// KEMSeedSize is the size of an X-Wing decapsulation key (its seed).
	KEMSeedSize = xwing.SeedSize
	// KEMCiphertextSize is the size of an X-Wing ciphertext.
	KEMCiphertextSize = xwing.CiphertextSize
	// KEMSharedSize is the size of an X-Wing shared secret.
	KEMSharedSize = xwing.SharedKeySize
	// KEMEncapsSeedSize is the randomness one encapsulation consumes.
	KEMEncapsSeedSize = xwing.EncapsulationSeedSize
)

// ErrKEMKey is returned for a malformed X-Wing key (wrong size, or an ML-KEM
// encapsulation key that fails the FIPS 203 modulus check).
var ErrKEMKey = errors.New("suite: invalid X-Wing key")

// ErrKEMCiphertext is returned for an X-Wing ciphertext of the wrong size.
var ErrKEMCiphertext = errors.New("suite: invalid X-Wing ciphertext")

// KEMPublicKey is a parsed X-Wing encapsulation key together with its
// encoding.
type KEMPublicKey struct {
	pk  *xwing.PublicKey
	enc [KEMPublicKeySize]byte
}

// ParseKEMPublicKey checks the size of b, then parses it (FIPS 203 §7.2
// input check on the ML-KEM part).
func ParseKEMPublicKey(b []byte) (*KEMPublicKey, error) {
	if len(b) != KEMPublicKeySize {
		return nil, ErrKEMKey
	}
	k := &KEMPublicKey{pk: new(xwing.PublicKey)}
	err := k.pk.Unpack(b)
	resetVectorState()
	if err != nil {
		return nil, ErrKEMKey
	}
	copy(k.enc[:], b)
	return k, nil
}

// Bytes returns the 1216-byte encoding.
func (k *KEMPublicKey) Bytes() *[KEMPublicKeySize]byte { return &k.enc }

// Equal reports whether two public keys have the same encoding.
func (k *KEMPublicKey) Equal(o *KEMPublicKey) bool { return k.enc == o.enc }

// KEMPrivateKey is an X-Wing decapsulation key, kept expanded in memory.
type KEMPrivateKey struct {
	_    incomparable
	sk   *xwing.PrivateKey
	seed [KEMSeedSize]byte
	pub  *KEMPublicKey
}

// GenerateKEM reads a 32-byte seed from rand (crypto/rand if nil) and derives
// the X-Wing key pair from it (X-Wing GenerateKeyPairDerand).
func GenerateKEM(rand io.Reader) (*KEMPrivateKey, error) {
	var seed [KEMSeedSize]byte
	defer clear(seed[:])
	if err := ReadRandom(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("suite: generate X-Wing key: %w", err)
	}
	return NewKEMPrivateKey(seed[:])
}

// NewKEMPrivateKey derives an X-Wing key pair from its 32-byte seed.
func NewKEMPrivateKey(seed []byte) (*KEMPrivateKey, error) {
	if len(seed) != KEMSeedSize {
		return nil, ErrKEMKey
	}
	sk, pk := xwing.DeriveKeyPair(seed)
	resetVectorState()
	k := &KEMPrivateKey{sk: sk, pub: &KEMPublicKey{pk: pk}}
	copy(k.seed[:], seed)
	pk.Pack(k.pub.enc[:])
	return k, nil
}

// Public returns the encapsulation key.
func (k *KEMPrivateKey) Public() *KEMPublicKey { return k.pub }

// Seed returns the 32-byte seed, for encrypted persistence only.
func (k *KEMPrivateKey) Seed() [KEMSeedSize]byte { return k.seed }

// Clear wipes the seed. The expanded key inside circl cannot be reached.
func (k *KEMPrivateKey) Clear() { clear(k.seed[:]) }

// Encapsulate draws 64 bytes from rand (crypto/rand if nil) and runs X-Wing
// EncapsulateDerand to pk, returning the ciphertext and the shared secret.
func Encapsulate(rand io.Reader, pk *KEMPublicKey) (ct [KEMCiphertextSize]byte, ss [KEMSharedSize]byte, err error) {
	var eseed [KEMEncapsSeedSize]byte
	defer clear(eseed[:])
	if err := ReadRandom(rand, eseed[:]); err != nil {
		return ct, ss, fmt.Errorf("suite: X-Wing encapsulate: %w", err)
	}
	pk.pk.EncapsulateTo(ct[:], ss[:], eseed[:])
	resetVectorState()
	return ct, ss, nil
}

// Decapsulate recovers the shared secret from ct. X-Wing decapsulation never
// fails on a well-sized ciphertext (ML-KEM rejects implicitly), so a wrong
// ciphertext yields an unrelated secret and the AEAD that follows fails.
func (k *KEMPrivateKey) Decapsulate(ct []byte) ([KEMSharedSize]byte, error) {
	var ss [KEMSharedSize]byte
	if len(ct) != KEMCiphertextSize {
		return ss, ErrKEMCiphertext
	}
	k.sk.DecapsulateTo(ss[:], ct)
	resetVectorState()
	return ss, nil
}
