package suite_test

import (
	"testing"

	"github.com/parley-im/parley/core/internal/leaktest"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

// TestPrivateKeysDoNotPrint checks that no fmt verb prints a private key's
// seed or scalar, for the key and for a pointer to it.
func TestPrivateKeysDoNotPrint(t *testing.T) {
	t.Parallel()
	r := testrand.New("print")
	sk, err := suite.GenerateSign(r)
	if err != nil {
		t.Fatal(err)
	}
	dh, err := suite.GenerateDH(r)
	if err != nil {
		t.Fatal(err)
	}
	kem, err := suite.GenerateKEM(r)
	if err != nil {
		t.Fatal(err)
	}
	seed, scalar, kseed := sk.Seed(), dh.Bytes(), kem.Seed()
	leaktest.Check(t, sk, seed[:])
	leaktest.Check(t, *sk, seed[:])
	leaktest.Check(t, dh, scalar[:])
	leaktest.Check(t, *dh, scalar[:])
	leaktest.Check(t, kem, kseed[:])
	leaktest.Check(t, *kem, kseed[:])
}
