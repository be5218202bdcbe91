package ratchet

import (
	"testing"

	"github.com/parley-im/parley/core/suite"
)

const benchSize = 200

// benchPair is an established session: both sides have sent and received,
// and alice's current sending chain is open.
func benchPair(b *testing.B, cfg Config) (alice, bob *State) {
	b.Helper()
	alice, bob = newPair(b, "bench", cfg)
	pt := make([]byte, benchSize)
	for range 3 {
		m, err := alice.Encrypt(nil, pt)
		must(b, err)
		_, err = bob.Decrypt(m)
		must(b, err)
		m, err = bob.Encrypt(nil, pt)
		must(b, err)
		_, err = alice.Decrypt(m)
		must(b, err)
	}
	m, err := alice.Encrypt(nil, pt)
	must(b, err)
	_, err = bob.Decrypt(m)
	must(b, err)
	return alice, bob
}

// BenchmarkRatchet200B measures 200-byte messages. Each protocol
// sub-benchmark has a primitives twin that makes exactly the suite calls
// the protocol makes, with the same sizes.
func BenchmarkRatchet200B(b *testing.B) {
	cfg := DefaultConfig()
	pt := make([]byte, benchSize)

	b.Run("same-direction/protocol", func(b *testing.B) {
		alice, bob := benchPair(b, cfg)
		b.ReportAllocs()
		b.SetBytes(benchSize)
		for b.Loop() {
			m, err := alice.Encrypt(nil, pt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bob.Decrypt(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("same-direction/primitives", func(b *testing.B) {
		var cks, ckr [suite.KeySize]byte // the two ends of one chain
		ad := make([]byte, 2+testADSize+HeaderSize)
		b.ReportAllocs()
		b.SetBytes(benchSize)
		for b.Loop() {
			key, nonce := primChainStep(&cks) // sender
			ct := suite.Seal(nil, &key, &nonce, pt, ad)
			key, nonce = primChainStep(&ckr) // receiver
			if _, err := suite.Open(nil, &key, &nonce, ct, ad); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("alternating/protocol", func(b *testing.B) {
		alice, bob := benchPair(b, cfg)
		b.ReportAllocs()
		b.SetBytes(benchSize)
		from, to := bob, alice // alice just sent: every message starts a chain
		for b.Loop() {
			m, err := from.Encrypt(nil, pt)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := to.Decrypt(m); err != nil {
				b.Fatal(err)
			}
			from, to = to, from
		}
	})
	b.Run("alternating/primitives", func(b *testing.B) {
		peer, err := suite.GenerateDH(nil)
		must(b, err)
		peerKEM, err := suite.GenerateKEM(nil)
		must(b, err)
		var rkS, rkR [suite.KeySize]byte // the sender's and receiver's root keys
		adPQ := make([]byte, 2+testADSize+HeaderSizePQ)
		ad := adPQ[:2+testADSize+HeaderSize]
		b.ReportAllocs()
		b.SetBytes(benchSize)
		i := 0
		for b.Loop() {
			pq := i%cfg.PQInterval == 0
			i++
			// Sender: the sending half of the step, then one message.
			dh, err := suite.GenerateDH(nil)
			if err != nil {
				b.Fatal(err)
			}
			msgAD := ad
			var ct [suite.KEMCiphertextSize]byte
			if pq {
				var ss [suite.KEMSharedSize]byte
				ct, ss, err = suite.Encapsulate(nil, peerKEM.Public())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := suite.GenerateKEM(nil); err != nil {
					b.Fatal(err)
				}
				suite.KDF(rkS[:], ss[:], rkS[:], suite.LabelRatchetPQ)
				msgAD = adPQ
			}
			ck := primRootStep(&rkS, dh, peer.Public())
			key, nonce := primChainStep(&ck)
			sealed := suite.Seal(nil, &key, &nonce, pt, msgAD)
			// Receiver: the receiving half, then open.
			if pq {
				ss, err := peerKEM.Decapsulate(ct[:])
				if err != nil {
					b.Fatal(err)
				}
				suite.KDF(rkR[:], ss[:], rkR[:], suite.LabelRatchetPQ)
				if _, err := suite.ParseKEMPublicKey(peerKEM.Public().Bytes()[:]); err != nil {
					b.Fatal(err)
				}
			}
			ck = primRootStep(&rkR, peer, dh.Public())
			key, nonce = primChainStep(&ck)
			if _, err := suite.Open(nil, &key, &nonce, sealed, msgAD); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("encrypt", func(b *testing.B) {
		alice, _ := benchPair(b, cfg)
		b.ReportAllocs()
		b.SetBytes(benchSize)
		for b.Loop() {
			if _, err := alice.Encrypt(nil, pt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decrypt", func(b *testing.B) {
		alice, bob := benchPair(b, cfg)
		msgs := make([][]byte, b.N)
		for i := range msgs {
			var err error
			if msgs[i], err = alice.Encrypt(nil, pt); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.SetBytes(benchSize)
		b.ResetTimer()
		for i := range b.N {
			if _, err := bob.Decrypt(msgs[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// primChainStep is one KDF_CK step and the message-key expansion, as bare
// suite calls: two HMACs and one HKDF.
func primChainStep(ck *[suite.KeySize]byte) (key [suite.KeySize]byte, nonce [suite.NonceSize]byte) {
	mk := suite.MAC(ck[:], suite.LabelChainMessageKey)
	*ck = suite.MAC(ck[:], suite.LabelChainNext)
	var okm [suite.KeySize + suite.NonceSize]byte
	suite.KDF(okm[:], mk[:], nil, suite.LabelMessageKeys)
	copy(key[:], okm[:])
	copy(nonce[:], okm[suite.KeySize:])
	return key, nonce
}

// primRootStep is one X25519 and KDF_RK, as bare suite calls.
func primRootStep(rk *[suite.KeySize]byte, priv *suite.DHPrivateKey, pub suite.DHPublicKey) (ck [suite.KeySize]byte) {
	dh, err := priv.DH(pub)
	if err != nil {
		panic(err)
	}
	var out [2 * suite.KeySize]byte
	suite.KDF(out[:], dh[:], rk[:], suite.LabelRatchetRoot)
	copy(rk[:], out[:])
	copy(ck[:], out[suite.KeySize:])
	return ck
}

// BenchmarkState measures what the bridge does around every message:
// Marshal the state (to store it encrypted) and ParseState it back.
func BenchmarkState(b *testing.B) {
	alice, _ := benchPair(b, DefaultConfig())
	enc := alice.Marshal()
	b.Run("marshal", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			alice.Marshal()
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := ParseState(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
