package suite

import "testing"

// BenchmarkHashAfterDecaps shows the AVX2 upper-state trap that
// resetVectorState works around: "dirty" hashes right after circl's ML-KEM
// assembly, "reset" clears the state first. On an affected CPU dirty is
// several times slower; the pair must stay close once circl is fixed.
func BenchmarkHashAfterDecaps(b *testing.B) {
	k, err := GenerateKEM(nil)
	if err != nil {
		b.Fatal(err)
	}
	ct, _, err := Encapsulate(nil, k.Public())
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 4096)
	for _, reset := range []bool{false, true} {
		name := "dirty"
		if reset {
			name = "reset"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var ss [KEMSharedSize]byte
				k.sk.DecapsulateTo(ss[:], ct[:])
				if reset {
					resetVectorState()
				}
				Hash(data)
			}
		})
	}
}
