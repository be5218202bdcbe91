package identity

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"

	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// RotationSize is the size of an encoded Rotation: header, old identity,
// new identity, sequence number, two signatures.
const RotationSize = wire.HeaderSize + 2*PublicSize + 8 + 2*suite.SignatureSize

// Rotation errors, for callers that branch on why a rotation was refused.
var (
	// ErrRotationReplay: the rotation's sequence number is not above the
	// last accepted one, or it moves to an identity the caller has
	// retired (a reversal).
	ErrRotationReplay = errors.New("identity: rotation replayed")
	// ErrRotationMismatch: the rotation does not start from the pinned
	// identity, or does not change it.
	ErrRotationMismatch = errors.New("identity: rotation does not match pinned identity")
)

// Rotation is a statement that identity Old is replaced by identity New,
// signed by both (docs/PROTOCOL.md §Identity §Rotation). SigOld proves the
// holder of Old consents; SigNew proves possession of New. Seq orders the
// rotations of one contact.
type Rotation struct {
	Old, New       PublicIdentity
	Seq            uint64
	SigOld, SigNew suite.Signature
}

// rotationBody is what both signatures cover after LabelRotation:
// old identity encoding || new identity encoding || seq (8 bytes BE).
func rotationBody(oldID, newID *PublicIdentity, seq uint64) []byte {
	var b cryptobyte.Builder
	oldID.AddTo(&b)
	newID.AddTo(&b)
	return binary.BigEndian.AppendUint64(b.BytesOrPanic(), seq)
}

// NewRotation signs a rotation from oldID to newID with sequence number
// seq, which must exceed every sequence number the peer has accepted for
// this contact (start at 1).
func NewRotation(oldID, newID *PrivateIdentity, seq uint64) *Rotation {
	r := &Rotation{Old: *oldID.Public(), New: *newID.Public(), Seq: seq}
	body := rotationBody(&r.Old, &r.New, seq)
	r.SigOld = oldID.Sign(suite.LabelRotation, body)
	r.SigNew = newID.Sign(suite.LabelRotation, body)
	return r
}

// Marshal returns the RotationSize-byte encoding.
func (r *Rotation) Marshal() []byte {
	var b cryptobyte.Builder
	wire.AddHeader(&b, wire.TagRotation)
	r.Old.AddTo(&b)
	r.New.AddTo(&b)
	b.AddUint64(r.Seq)
	b.AddBytes(r.SigOld[:])
	b.AddBytes(r.SigNew[:])
	return b.BytesOrPanic()
}

// ParseRotation parses an encoded Rotation: size, header, both identities
// (whose bindings it verifies), no trailing bytes. The rotation signatures
// are checked by Verify, which also needs the caller's pinned state.
func ParseRotation(b []byte) (*Rotation, error) {
	if err := wire.Check(b, RotationSize); err != nil {
		return nil, fmt.Errorf("identity: parse rotation: %w", err)
	}
	s := cryptobyte.String(b)
	if err := wire.ReadHeader(&s, wire.TagRotation); err != nil {
		return nil, fmt.Errorf("identity: parse rotation: %w", err)
	}
	oldID, err := ReadPublic(&s)
	if err != nil {
		return nil, fmt.Errorf("identity: parse rotation: %w", err)
	}
	newID, err := ReadPublic(&s)
	if err != nil {
		return nil, fmt.Errorf("identity: parse rotation: %w", err)
	}
	r := &Rotation{Old: *oldID, New: *newID}
	if !s.ReadUint64(&r.Seq) || !s.CopyBytes(r.SigOld[:]) || !s.CopyBytes(r.SigNew[:]) || !s.Empty() {
		return nil, fmt.Errorf("identity: parse rotation: %w", wire.ErrMalformed)
	}
	return r, nil
}

// Verify decides whether the caller, who has pinned identity pinned and
// last accepted rotation sequence number lastSeq (0 if none) for this
// contact, may accept r. In order:
//
//  1. r.Old must equal pinned and r.New must differ from r.Old, else
//     ErrRotationMismatch;
//  2. r.Seq must exceed lastSeq, else ErrRotationReplay;
//  3. retired(&r.New) must be false, else ErrRotationReplay. The caller
//     keeps every identity it has ever rotated away from (for this
//     contact) and answers from that set, so a rotation can never move a
//     contact back to an identity it left, even one signed by both keys
//     with a higher sequence number. retired must not be nil;
//  4. both identity bindings and both signatures (SigOld by r.Old, SigNew
//     by r.New, each over LabelRotation || r.Old || r.New || r.Seq) must
//     verify, else ErrBadSignature.
//
// On success the caller pins r.New, records r.Seq as lastSeq and adds
// r.Old to its retired set, atomically.
func (r *Rotation) Verify(pinned *PublicIdentity, lastSeq uint64, retired func(*PublicIdentity) bool) error {
	if retired == nil {
		return errors.New("identity: verify rotation: nil retired set")
	}
	if !r.Old.Equal(pinned) {
		return fmt.Errorf("identity: verify rotation: old identity is not the pinned one: %w", ErrRotationMismatch)
	}
	if r.New.Equal(&r.Old) {
		return fmt.Errorf("identity: verify rotation: new identity equals old: %w", ErrRotationMismatch)
	}
	if r.Seq <= lastSeq {
		return fmt.Errorf("identity: verify rotation: sequence %d not above %d: %w", r.Seq, lastSeq, ErrRotationReplay)
	}
	newID := r.New
	if retired(&newID) {
		return fmt.Errorf("identity: verify rotation: new identity was retired: %w", ErrRotationReplay)
	}
	if err := r.Old.Verify(); err != nil {
		return fmt.Errorf("identity: verify rotation: old identity: %w", err)
	}
	if err := r.New.Verify(); err != nil {
		return fmt.Errorf("identity: verify rotation: new identity: %w", err)
	}
	body := rotationBody(&r.Old, &r.New, r.Seq)
	if err := r.Old.VerifySignature(r.SigOld, suite.LabelRotation, body); err != nil {
		return fmt.Errorf("identity: verify rotation: old signature: %w", err)
	}
	if err := r.New.VerifySignature(r.SigNew, suite.LabelRotation, body); err != nil {
		return fmt.Errorf("identity: verify rotation: new signature: %w", err)
	}
	return nil
}
