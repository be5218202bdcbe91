package keystore

import "testing"

// BenchmarkDerive is the start-up cost of a passphrase profile: one
// Argon2id derivation plus two HKDF expansions.
func BenchmarkDerive(b *testing.B) {
	salt := make([]byte, SaltSize)
	for _, tc := range []struct {
		name string
		p    Params
	}{{"default", DefaultParams()}, {"minimum", testParams}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k, _ := derive(testPass, salt, tc.p)
				k.Wipe()
			}
		})
	}
}
