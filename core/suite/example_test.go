package suite_test

import (
	"fmt"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

// Two parties agree on a key with X25519, derive an AEAD key with a labelled
// KDF, and exchange one sealed message. testrand stands in for crypto/rand so
// the output is fixed; real callers pass nil.
func Example() {
	alice, _ := suite.GenerateDH(testrand.New("example/alice"))
	bob, _ := suite.GenerateDH(testrand.New("example/bob"))

	s1, _ := alice.DH(bob.Public())
	s2, _ := bob.DH(alice.Public())
	fmt.Println("same secret:", s1 == s2)

	var key [suite.KeySize]byte
	suite.KDF(key[:], s1[:], nil, suite.LabelMessageKeys)
	var nonce [suite.NonceSize]byte
	ct := suite.Seal(nil, &key, &nonce, []byte("hello, Bob"), []byte("header"))

	pt, err := suite.Open(nil, &key, &nonce, ct, []byte("header"))
	fmt.Printf("%s %v\n", pt, err)
	_, err = suite.Open(nil, &key, &nonce, ct, []byte("forged header"))
	fmt.Println(err)
	// Output:
	// same secret: true
	// hello, Bob <nil>
	// suite: message authentication failed
}

// An X-Wing encapsulation to a peer's key; the peer decapsulates the same
// secret.
func ExampleEncapsulate() {
	bob, _ := suite.GenerateKEM(testrand.New("example/bob-kem"))
	pk, err := suite.ParseKEMPublicKey(bob.Public().Bytes()[:])
	if err != nil {
		panic(err)
	}
	ct, ss, _ := suite.Encapsulate(testrand.New("example/encaps"), pk)
	got, _ := bob.Decapsulate(ct[:])
	fmt.Println(len(ct), got == ss)
	// Output: 1120 true
}

// A transcript frames each field with its length, so ("ab", "c") and
// ("a", "bc") hash differently.
func ExampleTranscript() {
	t1 := suite.NewTranscript(suite.LabelHandshakeTranscript)
	t1.Add([]byte("ab"))
	t1.Add([]byte("c"))
	t2 := suite.NewTranscript(suite.LabelHandshakeTranscript)
	t2.Add([]byte("a"))
	t2.Add([]byte("bc"))
	fmt.Println(t1.Sum() == t2.Sum())
	// Output: false
}
