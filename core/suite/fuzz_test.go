package suite_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/internal/vectortest"
)

// Fuzz targets for the suite functions that take bytes from the network:
// the X-Wing key parser, X25519 with any peer key, X-Wing decapsulation and
// AEAD opening. Each asserts no panic, nil/zero results on error, and an
// exact round trip of what it accepts.

func FuzzParseKEMPublicKey(f *testing.F) {
	valid := *mustKEM(f, "fuzz/kem").Public().Bytes()
	f.Add(valid[:])
	// The known-answer vector's key.
	f.Add(vectortest.Unhex(f, loadVectors(f).XWing.Public))
	// One byte short and one byte long.
	f.Add(valid[:len(valid)-1])
	f.Add(append(valid[:], 0))
	// First ML-KEM coefficient 0xfff >= q: fails the modulus check.
	bad := valid
	bad[0], bad[1] = 0xff, bad[1]|0x0f
	f.Add(bad[:])
	// All ones: every coefficient overflows.
	f.Add(bytes.Repeat([]byte{0xff}, suite.KEMPublicKeySize))
	// Empty input.
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pk, err := suite.ParseKEMPublicKey(b)
		if err != nil {
			if pk != nil || !errors.Is(err, suite.ErrKEMKey) {
				t.Fatalf("ParseKEMPublicKey = %v, %v", pk, err)
			}
			return
		}
		if !bytes.Equal(pk.Bytes()[:], b) {
			t.Fatal("accepted key does not re-encode to its input")
		}
		if _, _, err := suite.Encapsulate(testrand.New("fuzz"), pk); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzDH(f *testing.F) {
	// The known-answer vector's peer key.
	f.Add(vectortest.Unhex(f, loadVectors(f).X25519.PublicB))
	// Every small-order point.
	for _, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		f.Add(b)
	}
	// Too short.
	f.Add([]byte{9})
	priv := mustDH(f, "fuzz/dh")
	f.Fuzz(func(t *testing.T, b []byte) {
		pub, err := suite.DHPublicKeyFromBytes(b)
		if err != nil {
			if !errors.Is(err, suite.ErrDHKey) || pub != (suite.DHPublicKey{}) {
				t.Fatalf("DHPublicKeyFromBytes = %x, %v", pub, err)
			}
			return
		}
		if !bytes.Equal(pub[:], b) {
			t.Fatal("public key does not round-trip")
		}
		out, err := priv.DH(pub)
		if err != nil {
			if !errors.Is(err, suite.ErrZeroDH) || out != [suite.DHSharedSize]byte{} {
				t.Fatalf("DH = %x, %v", out, err)
			}
			return
		}
		if out == [suite.DHSharedSize]byte{} {
			t.Fatal("DH returned all zeros without an error")
		}
	})
}

func FuzzDecapsulate(f *testing.F) {
	k := mustKEM(f, "fuzz/decaps")
	ct, _, err := suite.Encapsulate(testrand.New("fuzz/decaps/encaps"), k.Public())
	if err != nil {
		f.Fatal(err)
	}
	// A real ciphertext, one byte short, one byte long, and all zeros.
	f.Add(ct[:])
	f.Add(ct[:len(ct)-1])
	f.Add(append(ct[:], 0))
	f.Add(make([]byte, suite.KEMCiphertextSize))
	f.Fuzz(func(t *testing.T, c []byte) {
		ss, err := k.Decapsulate(c)
		if (err != nil) != (len(c) != suite.KEMCiphertextSize) {
			t.Fatalf("Decapsulate(%d bytes) = %v", len(c), err)
		}
		if err != nil && (!errors.Is(err, suite.ErrKEMCiphertext) || ss != [suite.KEMSharedSize]byte{}) {
			t.Fatalf("Decapsulate = %x, %v", ss, err)
		}
	})
}

func FuzzOpen(f *testing.F) {
	var key [suite.KeySize]byte
	var nonce [suite.NonceSize]byte
	testrand.New("fuzz/open").Read(key[:])
	ct := suite.Seal(nil, &key, &nonce, []byte("hello"), []byte("ad"))
	// The real ciphertext and its associated data.
	f.Add(ct, []byte("ad"))
	// The known-answer vector's ciphertext (under another key: rejected).
	v := loadVectors(f)
	f.Add(vectortest.Unhex(f, v.AEAD.Ciphertext), vectortest.Unhex(f, v.AEAD.AD))
	// The same with the wrong associated data.
	f.Add(ct, []byte("ae"))
	// A bare tag (empty plaintext) and something shorter than a tag.
	f.Add(suite.Seal(nil, &key, &nonce, nil, nil), []byte{})
	f.Add(ct[:suite.TagSize-1], []byte("ad"))
	f.Fuzz(func(t *testing.T, c, ad []byte) {
		pt, err := suite.Open(nil, &key, &nonce, c, ad)
		if err != nil {
			if err != suite.ErrOpen || pt != nil {
				t.Fatalf("Open = %x, %v", pt, err)
			}
			return
		}
		if !bytes.Equal(suite.Seal(nil, &key, &nonce, pt, ad), c) {
			t.Fatal("accepted ciphertext does not re-seal to itself")
		}
	})
}
