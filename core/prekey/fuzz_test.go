package prekey_test

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/internal/vectortest"
)

func prekeyVectorSeeds(f *testing.F) prekeyVector {
	var v prekeyVector
	vectortest.Read(f, vectorDir+"prekey.json", &v)
	return v
}

func FuzzParseBundle(f *testing.F) {
	v := prekeyVectorSeeds(f)
	for _, s := range []string{v.Bundle1, v.Bundle2, v.Bundle3} {
		f.Add(vectortest.Unhex(f, s))
	}
	f.Add([]byte{})                                           // empty
	f.Add([]byte{0x12, 0x01})                                 // header only
	f.Add(make([]byte, prekey.BundleSize))                    // right size, zero tag
	f.Add(bytes.Repeat([]byte{0xff}, prekey.MaxBundleSize+1)) // over the limit
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := prekey.ParseBundle(b)
		if err != nil {
			if p != nil {
				t.Fatal("non-nil result with error")
			}
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("accepted encoding does not round-trip")
		}
		_ = p.Verify(testNow)
	})
}

func FuzzParseSecrets(f *testing.F) {
	v := prekeyVectorSeeds(f)
	f.Add(vectortest.Unhex(f, v.SecretsBefore))
	f.Add(vectortest.Unhex(f, v.SecretsAfter))
	f.Add([]byte{})                              // empty
	f.Add([]byte{0x13, 0x01})                    // header only
	f.Add(make([]byte, prekey.MaxSecretsSize+1)) // over the limit
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := prekey.ParseSecrets(b)
		if err != nil {
			if s != nil {
				t.Fatal("non-nil result with error")
			}
			return
		}
		if !bytes.Equal(s.Marshal(), b) {
			t.Fatal("accepted encoding does not round-trip")
		}
		// Lookups and bundles on parsed state never panic.
		_, _ = s.Bundle(testNow)
		_, _, _ = s.KEMPrekey(1, testNow)
		_, _, _ = s.SignedPrekey(1, testNow)
	})
}
