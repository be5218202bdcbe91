package suite_test

import (
	"fmt"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

// Benchmarks of every primitive as the core calls it; protocol packages pair
// their operations with these costs (BenchmarkX/primitives). Key generation
// and encapsulation read crypto/rand (a nil reader), as in production.

// sealSizes are realistic payloads: a tiny control message, a short chat
// message, a network packet, a large message and the largest bucket.
var sealSizes = []int{64, 200, 1350, 8192, 65536}

func BenchmarkX25519Keygen(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := suite.GenerateDH(nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkX25519DH(b *testing.B) {
	a, peer := mustDH(b, "bench/a"), mustDH(b, "bench/b").Public()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.DH(peer); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Sign(b *testing.B) {
	k, msg := mustSign(b, "bench/sign"), make([]byte, 128)
	b.ReportAllocs()
	for b.Loop() {
		k.Sign(msg)
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	k, msg := mustSign(b, "bench/sign"), make([]byte, 128)
	pub, sig := k.Public(), k.Sign(msg)
	b.ReportAllocs()
	for b.Loop() {
		if !suite.Verify(pub, msg, sig) {
			b.Fatal("verify failed")
		}
	}
}

func BenchmarkKEMKeygen(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := suite.GenerateKEM(nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKEMParsePublicKey(b *testing.B) {
	enc := mustKEM(b, "bench/kem").Public().Bytes()[:]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := suite.ParseKEMPublicKey(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKEMEncaps(b *testing.B) {
	pk := mustKEM(b, "bench/kem").Public()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := suite.Encapsulate(nil, pk); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKEMDecaps(b *testing.B) {
	k := mustKEM(b, "bench/kem")
	ct, _, err := suite.Encapsulate(nil, k.Public())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Decapsulate(ct[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKDF derives 64 bytes from a 32-byte secret and salt, as a ratchet
// root step does.
func BenchmarkKDF(b *testing.B) {
	secret, salt, out := make([]byte, 32), make([]byte, 32), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		suite.KDF(out, secret, salt, suite.LabelRatchetRoot)
	}
}

// BenchmarkMAC is one chain-key step: HMAC over a label and no data.
func BenchmarkMAC(b *testing.B) {
	key := make([]byte, suite.KeySize)
	b.ReportAllocs()
	for b.Loop() {
		suite.MAC(key, suite.LabelChainNext)
	}
}

func BenchmarkHash(b *testing.B) {
	data := make([]byte, 256)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		suite.Hash(data)
	}
}

// BenchmarkTranscript hashes a first-contact-sized transcript: the label,
// four identity-sized fields, an X-Wing key and a ciphertext.
func BenchmarkTranscript(b *testing.B) {
	small, key, ct := make([]byte, 32), make([]byte, suite.KEMPublicKeySize), make([]byte, suite.KEMCiphertextSize)
	b.ReportAllocs()
	for b.Loop() {
		tr := suite.NewTranscript(suite.LabelHandshakeTranscript)
		for range 4 {
			tr.Add(small)
		}
		tr.Add(key)
		tr.Add(ct)
		tr.Sum()
	}
}

func BenchmarkSeal(b *testing.B) {
	var key [suite.KeySize]byte
	var nonce [suite.NonceSize]byte
	testrand.New("bench/seal").Read(key[:])
	ad := make([]byte, 32)
	for _, n := range sealSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			pt := make([]byte, n)
			dst := make([]byte, 0, n+suite.TagSize)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				suite.Seal(dst[:0], &key, &nonce, pt, ad)
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	var key [suite.KeySize]byte
	var nonce [suite.NonceSize]byte
	testrand.New("bench/open").Read(key[:])
	ad := make([]byte, 32)
	for _, n := range sealSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ct := suite.Seal(nil, &key, &nonce, make([]byte, n), ad)
			dst := make([]byte, 0, n)
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := suite.Open(dst[:0], &key, &nonce, ct, ad); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
