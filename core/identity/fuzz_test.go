package identity_test

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/internal/vectortest"
)

// vectorSeeds returns every hex string stored under key in the named
// vector file, so the fuzzers start from real encodings.
func vectorSeeds(f *testing.F, file string, pick func(v any) []string, v any) [][]byte {
	f.Helper()
	vectortest.Read(f, vectorDir+file, v)
	var out [][]byte
	for _, s := range pick(v) {
		out = append(out, vectortest.Unhex(f, s))
	}
	return out
}

func identitySeeds(f *testing.F, private bool) [][]byte {
	return vectorSeeds(f, "identity.json", func(v any) []string {
		var out []string
		for _, c := range v.(*identityVectors).Cases {
			if private {
				out = append(out, c.Private)
			} else {
				out = append(out, c.Public)
			}
		}
		return out
	}, &identityVectors{})
}

func FuzzParsePublic(f *testing.F) {
	for _, s := range identitySeeds(f, false) {
		f.Add(s)
	}
	f.Add([]byte{})                          // empty
	f.Add([]byte{0x01, 0x01})                // header only
	f.Add(make([]byte, identity.PublicSize)) // right size, zero tag
	f.Add(bytes.Repeat([]byte{0xff}, 200))   // too long
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := identity.ParsePublic(b)
		if err != nil {
			if p != nil {
				t.Fatal("non-nil result with error")
			}
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("accepted encoding does not round-trip")
		}
	})
}

func FuzzParsePrivate(f *testing.F) {
	for _, s := range identitySeeds(f, true) {
		f.Add(s)
	}
	f.Add([]byte{})                                        // empty
	f.Add([]byte{0x02, 0x01})                              // header only
	f.Add(append([]byte{0x02, 0x01}, make([]byte, 64)...)) // all-zero keys
	f.Add(append([]byte{0x01, 0x01}, make([]byte, 64)...)) // public tag
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := identity.ParsePrivate(b)
		if err != nil {
			if p != nil {
				t.Fatal("non-nil result with error")
			}
			return
		}
		if !bytes.Equal(p.MarshalPrivate(), b) {
			t.Fatal("accepted encoding does not round-trip")
		}
		if err := p.Public().Verify(); err != nil {
			t.Fatal("derived public identity does not verify")
		}
	})
}

func FuzzParseRotation(f *testing.F) {
	for _, s := range vectorSeeds(f, "rotation.json", func(v any) []string {
		return []string{v.(*rotationVector).Rotation}
	}, &rotationVector{}) {
		f.Add(s)
	}
	f.Add([]byte{})                                            // empty
	f.Add([]byte{0x03, 0x01})                                  // header only
	f.Add(make([]byte, identity.RotationSize))                 // right size, zero tag
	f.Add(bytes.Repeat([]byte{0x03}, identity.RotationSize+1)) // one byte too long
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := identity.ParseRotation(b)
		if err != nil {
			if r != nil {
				t.Fatal("non-nil result with error")
			}
			return
		}
		if !bytes.Equal(r.Marshal(), b) {
			t.Fatal("accepted encoding does not round-trip")
		}
		_ = r.Verify(&r.Old, 0, func(*identity.PublicIdentity) bool { return false })
	})
}
