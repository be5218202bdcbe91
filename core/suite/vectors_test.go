package suite_test

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/internal/vectortest"
)

const vectorsFile = "../../testdata/vectors/suite.json"

// The known-answer vectors of testdata/vectors/suite.json. Each one's inputs
// are read, in field order, from testrand.New(Name); README-suite.md
// describes them. Byte fields are hex.
type suiteVectors struct {
	X25519     x25519Vector     `json:"x25519"`
	Ed25519    ed25519Vector    `json:"ed25519"`
	XWing      xwingVector      `json:"xwing"`
	KDF        kdfVector        `json:"kdf"`
	MAC        macVector        `json:"mac"`
	Hash       hashVector       `json:"hash"`
	Transcript transcriptVector `json:"transcript"`
	AEAD       aeadVector       `json:"aead"`
}

type x25519Vector struct {
	Name     string `json:"name"`
	PrivateA string `json:"private_a"` // 32 bytes from the stream
	PrivateB string `json:"private_b"` // the next 32 bytes
	PublicA  string `json:"public_a"`
	PublicB  string `json:"public_b"`
	Shared   string `json:"shared"` // X25519(private_a, public_b)
}

type ed25519Vector struct {
	Name      string `json:"name"`
	Seed      string `json:"seed"`    // 32 bytes
	Message   string `json:"message"` // 100 bytes
	Public    string `json:"public"`
	Signature string `json:"signature"`
}

type xwingVector struct {
	Name        string `json:"name"`
	Seed        string `json:"seed"`        // 32 bytes: the decapsulation key
	EncapsSeed  string `json:"encaps_seed"` // 64 bytes: ML-KEM m || X25519 ephemeral
	Public      string `json:"public"`      // 1216 bytes
	Ciphertext  string `json:"ciphertext"`  // 1120 bytes
	SharedKey   string `json:"shared"`      // 32 bytes
	Description string `json:"description"` // what the vector pins
}

type kdfVector struct {
	Name   string `json:"name"`
	Secret string `json:"secret"` // 32 bytes
	Salt   string `json:"salt"`   // 32 bytes
	Label  string `json:"label"`  // text, the HKDF info
	Output string `json:"output"` // 64 bytes
}

type macVector struct {
	Name  string   `json:"name"`
	Key   string   `json:"key"` // 32 bytes
	Label string   `json:"label"`
	Data  []string `json:"data"` // 16 then 40 bytes
	MAC   string   `json:"mac"`
}

type hashVector struct {
	Name string   `json:"name"`
	Data []string `json:"data"` // 0, 5 then 70 bytes
	Hash string   `json:"hash"`
}

type transcriptVector struct {
	Name   string   `json:"name"`
	Label  string   `json:"label"`
	Fields []string `json:"fields"` // 0, 32 then 1216 bytes
	Sum    string   `json:"sum"`
}

type aeadVector struct {
	Name       string `json:"name"`
	Key        string `json:"key"`       // 32 bytes
	Nonce      string `json:"nonce"`     // 12 bytes
	AD         string `json:"ad"`        // 24 bytes
	Plaintext  string `json:"plaintext"` // 100 bytes
	Ciphertext string `json:"ciphertext"`
}

// draw reads n bytes from r.
func draw(r *testrand.Reader, n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

func h(b []byte) string { return hex.EncodeToString(b) }

// generateVectors computes every vector from its named stream.
func generateVectors(t *testing.T) suiteVectors {
	t.Helper()
	var v suiteVectors
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	v.X25519.Name = "suite/x25519"
	r := testrand.New(v.X25519.Name)
	a, err := suite.GenerateDH(r)
	must(err)
	b, err := suite.GenerateDH(r)
	must(err)
	ab, err := a.DH(b.Public())
	must(err)
	pa, pb, sa, sb := a.Public(), b.Public(), a.Bytes(), b.Bytes()
	v.X25519.PrivateA, v.X25519.PrivateB = h(sa[:]), h(sb[:])
	v.X25519.PublicA, v.X25519.PublicB, v.X25519.Shared = h(pa[:]), h(pb[:]), h(ab[:])

	v.Ed25519.Name = "suite/ed25519"
	r = testrand.New(v.Ed25519.Name)
	sk, err := suite.GenerateSign(r)
	must(err)
	msg := draw(r, 100)
	seed, pub, sig := sk.Seed(), sk.Public(), sk.Sign(msg)
	v.Ed25519.Seed, v.Ed25519.Message, v.Ed25519.Public, v.Ed25519.Signature = h(seed[:]), h(msg), h(pub[:]), h(sig[:])

	v.XWing.Name = "suite/xwing"
	v.XWing.Description = "X-Wing (draft-connolly-cfrg-xwing-kem-05) GenerateKeyPairDerand(seed), EncapsulateDerand(public, encaps_seed)"
	r = testrand.New(v.XWing.Name)
	kem, err := suite.GenerateKEM(r)
	must(err)
	eseed := draw(r, suite.KEMEncapsSeedSize)
	ct, ss, err := suite.Encapsulate(bytes.NewReader(eseed), kem.Public())
	must(err)
	kseed := kem.Seed()
	v.XWing.Seed, v.XWing.EncapsSeed = h(kseed[:]), h(eseed)
	v.XWing.Public, v.XWing.Ciphertext, v.XWing.SharedKey = h(kem.Public().Bytes()[:]), h(ct[:]), h(ss[:])

	v.KDF.Name = "suite/kdf"
	r = testrand.New(v.KDF.Name)
	secret, salt := draw(r, 32), draw(r, 32)
	out := make([]byte, 64)
	suite.KDF(out, secret, salt, suite.LabelHandshakeKDF)
	v.KDF.Secret, v.KDF.Salt, v.KDF.Label, v.KDF.Output = h(secret), h(salt), suite.LabelHandshakeKDF, h(out)

	v.MAC.Name = "suite/mac"
	r = testrand.New(v.MAC.Name)
	key, d1, d2 := draw(r, 32), draw(r, 16), draw(r, 40)
	mac := suite.MAC(key, suite.LabelChainNext, d1, d2)
	v.MAC.Key, v.MAC.Label, v.MAC.Data, v.MAC.MAC = h(key), suite.LabelChainNext, []string{h(d1), h(d2)}, h(mac[:])

	v.Hash.Name = "suite/hash"
	r = testrand.New(v.Hash.Name)
	f0, f1, f2 := draw(r, 0), draw(r, 5), draw(r, 70)
	hs := suite.Hash(f0, f1, f2)
	v.Hash.Data, v.Hash.Hash = []string{h(f0), h(f1), h(f2)}, h(hs[:])

	v.Transcript.Name = "suite/transcript"
	r = testrand.New(v.Transcript.Name)
	t0, t1, t2 := draw(r, 0), draw(r, 32), draw(r, 1216)
	tr := suite.NewTranscript(suite.LabelHandshakeTranscript)
	tr.Add(t0)
	tr.Add(t1)
	tr.Add(t2)
	tsum := tr.Sum()
	v.Transcript.Label, v.Transcript.Fields, v.Transcript.Sum = suite.LabelHandshakeTranscript, []string{h(t0), h(t1), h(t2)}, h(tsum[:])

	v.AEAD.Name = "suite/aead"
	r = testrand.New(v.AEAD.Name)
	k, n, ad, pt := draw(r, 32), draw(r, 12), draw(r, 24), draw(r, 100)
	c := suite.Seal(nil, (*[suite.KeySize]byte)(k), (*[suite.NonceSize]byte)(n), pt, ad)
	v.AEAD.Key, v.AEAD.Nonce, v.AEAD.AD, v.AEAD.Plaintext, v.AEAD.Ciphertext = h(k), h(n), h(ad), h(pt), h(c)
	return v
}

// TestVectors regenerates every vector and compares it byte for byte with
// testdata/vectors/suite.json (rewritten with -update), then replays the
// file's inputs through the suite without testrand, so an implementation
// that only reads the file checks the same outputs.
func TestVectors(t *testing.T) {
	vectortest.Check(t, vectorsFile, "\t", generateVectors(t))
	v := loadVectors(t)
	replayVectors(t, &v)
}

// loadVectors reads testdata/vectors/suite.json.
func loadVectors(t testing.TB) suiteVectors {
	t.Helper()
	var v suiteVectors
	vectortest.Read(t, vectorsFile, &v)
	return v
}

// replayVectors recomputes each output from the file's inputs alone.
func replayVectors(t *testing.T, v *suiteVectors) {
	check := func(what string, got []byte, want string) {
		t.Helper()
		if h(got) != want {
			t.Errorf("%s: got %x, want %s", what, got, want)
		}
	}

	a, err := suite.NewDHPrivateKey(vectortest.Unhex(t, v.X25519.PrivateA))
	if err != nil {
		t.Fatal(err)
	}
	pb, err := suite.DHPublicKeyFromBytes(vectortest.Unhex(t, v.X25519.PublicB))
	if err != nil {
		t.Fatal(err)
	}
	ab, err := a.DH(pb)
	if err != nil {
		t.Fatal(err)
	}
	pa := a.Public()
	check("x25519 public_a", pa[:], v.X25519.PublicA)
	check("x25519 shared", ab[:], v.X25519.Shared)

	sk, err := suite.NewSignPrivateKey(vectortest.Unhex(t, v.Ed25519.Seed))
	if err != nil {
		t.Fatal(err)
	}
	pub, sig := sk.Public(), sk.Sign(vectortest.Unhex(t, v.Ed25519.Message))
	check("ed25519 public", pub[:], v.Ed25519.Public)
	check("ed25519 signature", sig[:], v.Ed25519.Signature)
	if !suite.Verify(pub, vectortest.Unhex(t, v.Ed25519.Message), sig) {
		t.Error("ed25519 vector does not verify")
	}

	kem, err := suite.NewKEMPrivateKey(vectortest.Unhex(t, v.XWing.Seed))
	if err != nil {
		t.Fatal(err)
	}
	check("xwing public", kem.Public().Bytes()[:], v.XWing.Public)
	pk, err := suite.ParseKEMPublicKey(vectortest.Unhex(t, v.XWing.Public))
	if err != nil {
		t.Fatal(err)
	}
	ct, ss, err := suite.Encapsulate(bytes.NewReader(vectortest.Unhex(t, v.XWing.EncapsSeed)), pk)
	if err != nil {
		t.Fatal(err)
	}
	check("xwing ciphertext", ct[:], v.XWing.Ciphertext)
	check("xwing shared (encapsulate)", ss[:], v.XWing.SharedKey)
	ss2, err := kem.Decapsulate(vectortest.Unhex(t, v.XWing.Ciphertext))
	if err != nil {
		t.Fatal(err)
	}
	check("xwing shared (decapsulate)", ss2[:], v.XWing.SharedKey)

	out := make([]byte, len(v.KDF.Output)/2)
	suite.KDF(out, vectortest.Unhex(t, v.KDF.Secret), vectortest.Unhex(t, v.KDF.Salt), v.KDF.Label)
	check("kdf", out, v.KDF.Output)

	var data [][]byte
	for _, d := range v.MAC.Data {
		data = append(data, vectortest.Unhex(t, d))
	}
	mac := suite.MAC(vectortest.Unhex(t, v.MAC.Key), v.MAC.Label, data...)
	check("mac", mac[:], v.MAC.MAC)

	data = nil
	for _, d := range v.Hash.Data {
		data = append(data, vectortest.Unhex(t, d))
	}
	hs := suite.Hash(data...)
	check("hash", hs[:], v.Hash.Hash)

	tr := suite.NewTranscript(v.Transcript.Label)
	for _, f := range v.Transcript.Fields {
		tr.Add(vectortest.Unhex(t, f))
	}
	tsum := tr.Sum()
	check("transcript", tsum[:], v.Transcript.Sum)

	key := (*[suite.KeySize]byte)(vectortest.Unhex(t, v.AEAD.Key))
	nonce := (*[suite.NonceSize]byte)(vectortest.Unhex(t, v.AEAD.Nonce))
	c := suite.Seal(nil, key, nonce, vectortest.Unhex(t, v.AEAD.Plaintext), vectortest.Unhex(t, v.AEAD.AD))
	check("aead ciphertext", c, v.AEAD.Ciphertext)
	p, err := suite.Open(nil, key, nonce, c, vectortest.Unhex(t, v.AEAD.AD))
	if err != nil {
		t.Fatal(err)
	}
	check("aead plaintext", p, v.AEAD.Plaintext)
}
