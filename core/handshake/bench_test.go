package handshake_test

import (
	"testing"

	"github.com/parley-im/parley/core/handshake"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/suite"
)

// BenchmarkFirstContact measures each side of first contact, both together
// ("protocol"), and "primitives": exactly the suite calls the two sides
// make, with the same counts and sizes — three Ed25519 verifications (the
// identity binding and both prekey signatures), X25519 key generation for
// EK, 3 + 3 X25519 exchanges, X-Wing key generation for the ratchet key,
// one encapsulation, one decapsulation, and per side one transcript of the
// same fields and one HKDF. (core/suite clears the AVX upper state after
// every X-Wing call, so neither side pays the SSE transition penalty; see
// core/suite/vector.go.) The responder uses its last-resort prekey so
// the loop does not exhaust a pool; decapsulation costs the same either way.
func BenchmarkFirstContact(b *testing.B) {
	bob := newParty(b, "bench bob", 0)
	alice := newParty(b, "bench alice", 0)
	bundle := bundleOf(b, bob)

	b.Run("initiate", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := handshake.Initiate(nil, alice.id, bundle, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("respond", func(b *testing.B) {
		msg, _, err := handshake.Initiate(nil, alice.id, bundle, testNow)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := handshake.Respond(bob.id, bob.secrets, msg, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("protocol", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			msg, _, err := handshake.Initiate(nil, alice.id, bundle, testNow)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := handshake.Respond(bob.id, bob.secrets, msg, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("primitives", func(b *testing.B) {
		p := newPrimitives(b, alice, bob)
		b.ReportAllocs()
		for b.Loop() {
			p.run(b)
		}
	})
}

// primitives holds the bare keys and precomputed signed messages.
type primitives struct {
	bobSign                    suite.SignPublicKey
	msgs                       [3][]byte
	sigs                       [3]suite.Signature
	aliceIK, bobIK, bobSPK     *suite.DHPrivateKey
	bobKEM                     *suite.KEMPrivateKey
	aliceEnc, bobEnc           []byte
	spkPub, bobIKPub, alicePub suite.DHPublicKey
}

func newPrimitives(b *testing.B, alice, bob party) *primitives {
	aliceRaw, bobRaw := alice.id.MarshalPrivate(), bob.id.MarshalPrivate()
	aliceIK, err := suite.NewDHPrivateKey(aliceRaw[2+32:])
	if err != nil {
		b.Fatal(err)
	}
	bobIK, err := suite.NewDHPrivateKey(bobRaw[2+32:])
	if err != nil {
		b.Fatal(err)
	}
	bundle := bundleOf(b, bob)
	spk, _, err := bob.secrets.SignedPrekey(bundle.SignedPrekey.ID, testNow)
	if err != nil {
		b.Fatal(err)
	}
	kem, _, err := bob.secrets.KEMPrekey(bundle.KEMPrekey.ID, testNow)
	if err != nil {
		b.Fatal(err)
	}
	id := bob.id.Public()
	p := &primitives{
		bobSign: id.SigningKey, aliceIK: aliceIK, bobIK: bobIK, bobSPK: spk, bobKEM: kem,
		aliceEnc: alice.id.Public().Marshal(), bobEnc: id.Marshal(),
		spkPub: spk.Public(), bobIKPub: id.DHKey, alicePub: aliceIK.Public(),
	}
	// The three signed messages, byte-exact (docs/PROTOCOL.md §Prekeys).
	p.msgs[0] = identity.Message(suite.LabelIdentityBinding, id.SigningKey[:], id.DHKey[:])
	p.sigs[0] = id.Binding
	p.msgs[1] = identity.Message(suite.LabelSignedPrekey, id.SigningKey[:], be32(bundle.SignedPrekey.ID),
		bundle.SignedPrekey.Key[:], be64(uint64(bundle.SignedPrekey.Expires.Unix())))
	p.sigs[1] = bundle.SignedPrekey.Sig
	p.msgs[2] = identity.Message(suite.LabelKEMPrekey, id.SigningKey[:], be32(bundle.KEMPrekey.ID),
		bundle.KEMPrekey.Key.Bytes()[:], []byte{1}, be64(uint64(bundle.KEMPrekey.Expires.Unix())))
	p.sigs[2] = bundle.KEMPrekey.Sig
	for i := range p.msgs {
		if !suite.Verify(p.bobSign, p.msgs[i], p.sigs[i]) {
			b.Fatalf("signed message %d does not match the protocol", i)
		}
	}
	return p
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

func be64(v uint64) []byte { return append(be32(uint32(v>>32)), be32(uint32(v))...) }

func (p *primitives) transcript(ek suite.DHPublicKey, ct *[suite.KEMCiphertextSize]byte, rk *suite.KEMPublicKey) [32]byte {
	t := suite.NewTranscript(suite.LabelHandshakeTranscript)
	t.Add(p.aliceEnc)
	t.Add(p.bobEnc)
	t.Add(be32(1))
	t.Add(p.spkPub[:])
	t.Add(be32(2))
	t.Add(p.bobKEM.Public().Bytes()[:])
	t.Add([]byte{1})
	t.Add(ek[:])
	t.Add(ct[:])
	t.Add(rk.Bytes()[:])
	return t.Sum()
}

func (p *primitives) run(b *testing.B) {
	// Initiator.
	for i := range p.msgs {
		if !suite.Verify(p.bobSign, p.msgs[i], p.sigs[i]) {
			b.Fatal("verify")
		}
	}
	ek, err := suite.GenerateDH(nil)
	if err != nil {
		b.Fatal(err)
	}
	rk, err := suite.GenerateKEM(nil)
	if err != nil {
		b.Fatal(err)
	}
	ct, ss, err := suite.Encapsulate(nil, p.bobKEM.Public())
	if err != nil {
		b.Fatal(err)
	}
	var ikm [128]byte
	d1, _ := p.aliceIK.DH(p.spkPub)
	d2, _ := ek.DH(p.bobIKPub)
	d3, _ := ek.DH(p.spkPub)
	copy(ikm[:], d1[:])
	copy(ikm[32:], d2[:])
	copy(ikm[64:], d3[:])
	copy(ikm[96:], ss[:])
	th := p.transcript(ek.Public(), &ct, rk.Public())
	var sk [32]byte
	suite.KDF(sk[:], ikm[:], th[:], suite.LabelHandshakeKDF)

	// Responder.
	e1, _ := p.bobSPK.DH(p.alicePub)
	e2, _ := p.bobIK.DH(ek.Public())
	e3, _ := p.bobSPK.DH(ek.Public())
	ss2, _ := p.bobKEM.Decapsulate(ct[:])
	copy(ikm[:], e1[:])
	copy(ikm[32:], e2[:])
	copy(ikm[64:], e3[:])
	copy(ikm[96:], ss2[:])
	th2 := p.transcript(ek.Public(), &ct, rk.Public())
	var sk2 [32]byte
	suite.KDF(sk2[:], ikm[:], th2[:], suite.LabelHandshakeKDF)
	if sk != sk2 {
		b.Fatal("primitives disagree")
	}
}

func BenchmarkParseInitMessage(b *testing.B) {
	msg, _ := contact(b, newParty(b, "bench alice", 0).id, newParty(b, "bench bob", 0), "initiate")
	enc := msg.Marshal()
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := handshake.ParseInitMessage(enc); err != nil {
			b.Fatal(err)
		}
	}
}
