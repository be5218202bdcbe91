package handshake

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/core/suite"
)

// TestTranscriptElements: changing any single transcript element — either
// identity, either prekey id, either prekey, the last-resort flag, the
// ephemeral key, the ciphertext or the ratchet KEM key — changes the
// transcript hash and so the shared secret; so does changing any DH output
// or the KEM shared secret.
func TestTranscriptElements(t *testing.T) {
	t.Parallel()
	fill := func(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }
	var kem, ratchet [suite.KEMPublicKeySize]byte
	var ct [suite.KEMCiphertextSize]byte
	copy(kem[:], fill(len(kem), 0x11))
	copy(ratchet[:], fill(len(ratchet), 0x22))
	copy(ct[:], fill(len(ct), 0x33))
	base := func() *transcriptInputs {
		k, r, c := kem, ratchet, ct
		return &transcriptInputs{
			initiator:  fill(130, 0xa1),
			responder:  fill(130, 0xb2),
			spkID:      7,
			spk:        suite.DHPublicKey(fill(32, 0xc3)),
			kemID:      8,
			kem:        &k,
			lastResort: false,
			ephemeral:  suite.DHPublicKey(fill(32, 0xd4)),
			ciphertext: &c,
			ratchetKEM: &r,
		}
	}
	dh := func(v byte) [suite.DHSharedSize]byte { return [suite.DHSharedSize]byte(fill(32, v)) }
	dh1, dh2, dh3, ss := dh(1), dh(2), dh(3), [suite.KEMSharedSize]byte(fill(32, 4))
	b := base()
	th := transcriptHash(b)
	sk := deriveSecret(&dh1, &dh2, &dh3, &ss, &th)
	if th2 := transcriptHash(base()); th2 != th {
		t.Fatal("transcript hash is not deterministic")
	}

	mutations := []struct {
		name string
		fn   func(in *transcriptInputs)
	}{
		{"initiator identity", func(in *transcriptInputs) { in.initiator[70] ^= 1 }},
		{"responder identity", func(in *transcriptInputs) { in.responder[0] ^= 1 }},
		{"identities swapped", func(in *transcriptInputs) { in.initiator, in.responder = in.responder, in.initiator }},
		{"signed prekey id", func(in *transcriptInputs) { in.spkID++ }},
		{"signed prekey", func(in *transcriptInputs) { in.spk[31] ^= 0x80 }},
		{"KEM prekey id", func(in *transcriptInputs) { in.kemID ^= 1 << 31 }},
		{"KEM prekey", func(in *transcriptInputs) { in.kem[1215] ^= 1 }},
		{"last-resort flag", func(in *transcriptInputs) { in.lastResort = true }},
		{"ephemeral key", func(in *transcriptInputs) { in.ephemeral[0] ^= 1 }},
		{"ciphertext", func(in *transcriptInputs) { in.ciphertext[600] ^= 1 }},
		{"ratchet KEM key", func(in *transcriptInputs) { in.ratchetKEM[0] ^= 1 }},
		{"ids swapped", func(in *transcriptInputs) { in.spkID, in.kemID = in.kemID, in.spkID }},
	}
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			in := base()
			m.fn(in)
			th2 := transcriptHash(in)
			if th2 == th {
				t.Fatal("transcript hash unchanged")
			}
			if deriveSecret(&dh1, &dh2, &dh3, &ss, &th2) == sk {
				t.Fatal("shared secret unchanged")
			}
		})
	}
	for i, in := range []*[32]byte{&dh1, &dh2, &dh3, &ss} {
		in[i] ^= 1
		if deriveSecret(&dh1, &dh2, &dh3, &ss, &th) == sk {
			t.Errorf("secret input %d: shared secret unchanged", i)
		}
		in[i] ^= 1
	}
	if deriveSecret(&dh1, &dh2, &dh3, &ss, &th) != sk {
		t.Fatal("derivation is not deterministic")
	}
}
