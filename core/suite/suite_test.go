package suite_test

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

// smallOrderPoints are the X25519 public keys of small order (libsodium's
// blocklist): 0, 1, the two points of order 8, p-1, p and p+1, each also with
// bit 255 set (X25519 ignores it, RFC 7748 §5). An exchange with any of them
// yields all zeros, so TestDHSmallOrder also proves each entry is one.
var smallOrderPoints = func() []string {
	base := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	var all []string
	for _, h := range base {
		b, _ := hex.DecodeString(h)
		all = append(all, h)
		b[31] |= 0x80
		all = append(all, hex.EncodeToString(b))
	}
	return all
}()

func mustDH(t testing.TB, name string) *suite.DHPrivateKey {
	t.Helper()
	k, err := suite.GenerateDH(testrand.New(name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKEM(t testing.TB, name string) *suite.KEMPrivateKey {
	t.Helper()
	k, err := suite.GenerateKEM(testrand.New(name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSign(t testing.TB, name string) *suite.SignPrivateKey {
	t.Helper()
	k, err := suite.GenerateSign(testrand.New(name))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDHAgreement(t *testing.T) {
	t.Parallel()
	a, b := mustDH(t, "dh/a"), mustDH(t, "dh/b")
	ab, err := a.DH(b.Public())
	if err != nil {
		t.Fatal(err)
	}
	ba, err := b.DH(a.Public())
	if err != nil {
		t.Fatal(err)
	}
	if ab != ba || ab == [suite.DHSharedSize]byte{} {
		t.Fatalf("DH disagrees or is zero: %x vs %x", ab, ba)
	}
	// The private encoding round-trips to the same key.
	enc := a.Bytes()
	a2, err := suite.NewDHPrivateKey(enc[:])
	if err != nil {
		t.Fatal(err)
	}
	if a2.Public() != a.Public() {
		t.Fatal("NewDHPrivateKey(Bytes()) has another public key")
	}
}

func TestDHSmallOrder(t *testing.T) {
	t.Parallel()
	privs := []*suite.DHPrivateKey{mustDH(t, "dh/small-order/1"), mustDH(t, "dh/small-order/2")}
	for _, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		pub, err := suite.DHPublicKeyFromBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range privs {
			out, err := p.DH(pub)
			if !errors.Is(err, suite.ErrZeroDH) {
				t.Errorf("DH(%s) = %v, want ErrZeroDH", h, err)
			}
			if out != [suite.DHSharedSize]byte{} {
				t.Errorf("DH(%s) returned %x alongside its error", h, out)
			}
		}
	}
}

func TestDHBadSizes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, suite.DHPrivateKeySize - 1, suite.DHPrivateKeySize + 1, 64} {
		if k, err := suite.NewDHPrivateKey(make([]byte, n)); !errors.Is(err, suite.ErrDHKey) || k != nil {
			t.Errorf("NewDHPrivateKey(%d bytes) = %v, %v; want nil, ErrDHKey", n, k, err)
		}
		if k, err := suite.DHPublicKeyFromBytes(make([]byte, n)); !errors.Is(err, suite.ErrDHKey) || k != (suite.DHPublicKey{}) {
			t.Errorf("DHPublicKeyFromBytes(%d bytes) = %x, %v; want zero, ErrDHKey", n, k, err)
		}
	}
}

// failingReader fails after n bytes.
type failingReader struct{ n int }

var errReader = errors.New("test reader failed")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errReader
	}
	k := min(r.n, len(p))
	r.n -= k
	clear(p[:k])
	return k, nil
}

func TestRandomFailure(t *testing.T) {
	t.Parallel()
	pk := mustKEM(t, "random-failure").Public()
	for _, n := range []int{0, 1, 31} {
		if k, err := suite.GenerateDH(&failingReader{n}); !errors.Is(err, suite.ErrRandom) || k != nil {
			t.Errorf("GenerateDH after %d bytes: %v, %v", n, k, err)
		}
		if k, err := suite.GenerateSign(&failingReader{n}); !errors.Is(err, suite.ErrRandom) || k != nil {
			t.Errorf("GenerateSign after %d bytes: %v, %v", n, k, err)
		}
		if k, err := suite.GenerateKEM(&failingReader{n}); !errors.Is(err, suite.ErrRandom) || k != nil {
			t.Errorf("GenerateKEM after %d bytes: %v, %v", n, k, err)
		}
	}
	for _, n := range []int{0, 32, suite.KEMEncapsSeedSize - 1} {
		ct, ss, err := suite.Encapsulate(&failingReader{n}, pk)
		if !errors.Is(err, suite.ErrRandom) || !errors.Is(err, errReader) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("Encapsulate after %d bytes: %v", n, err)
		}
		if ct != [suite.KEMCiphertextSize]byte{} || ss != [suite.KEMSharedSize]byte{} {
			t.Errorf("Encapsulate after %d bytes returned output alongside its error", n)
		}
	}
	if err := suite.ReadRandom(nil, make([]byte, 8)); err != nil {
		t.Errorf("ReadRandom(nil) = %v", err)
	}
}

// TestDeterministicKeygen checks that keys depend only on the reader's bytes:
// the same testrand stream gives the same keys, another stream other keys.
func TestDeterministicKeygen(t *testing.T) {
	t.Parallel()
	dh1, dh2, dh3 := mustDH(t, "k"), mustDH(t, "k"), mustDH(t, "j")
	if dh1.Public() != dh2.Public() || dh1.Public() == dh3.Public() {
		t.Error("X25519 keygen is not a function of the reader")
	}
	s1, s2, s3 := mustSign(t, "k"), mustSign(t, "k"), mustSign(t, "j")
	if s1.Public() != s2.Public() || s1.Public() == s3.Public() {
		t.Error("Ed25519 keygen is not a function of the reader")
	}
	k1, k2, k3 := mustKEM(t, "k"), mustKEM(t, "k"), mustKEM(t, "j")
	if !k1.Public().Equal(k2.Public()) || k1.Public().Equal(k3.Public()) {
		t.Error("X-Wing keygen is not a function of the reader")
	}
	pk := k1.Public()
	ct1, ss1, _ := suite.Encapsulate(testrand.New("e"), pk)
	ct2, ss2, _ := suite.Encapsulate(testrand.New("e"), pk)
	if ct1 != ct2 || ss1 != ss2 {
		t.Error("Encapsulate is not a function of the reader")
	}
	// A nil reader is crypto/rand.
	a, _ := suite.GenerateDH(nil)
	b, _ := suite.GenerateDH(nil)
	if a.Public() == b.Public() {
		t.Error("GenerateDH(nil) repeated a key")
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	r := testrand.New("aead/round-trip")
	var key [suite.KeySize]byte
	var nonce [suite.NonceSize]byte
	r.Read(key[:])
	r.Read(nonce[:])
	for _, n := range []int{0, 1, 15, 16, 17, 64, 1350, 8192} {
		pt := make([]byte, n)
		ad := make([]byte, n%7)
		r.Read(pt)
		r.Read(ad)
		prefix := []byte("prefix")
		ct := suite.Seal(append([]byte{}, prefix...), &key, &nonce, pt, ad)
		if !bytes.HasPrefix(ct, prefix) || len(ct) != len(prefix)+n+suite.TagSize {
			t.Fatalf("Seal(%d bytes) did not append a %d-byte result", n, n+suite.TagSize)
		}
		got, err := suite.Open(append([]byte{}, prefix...), &key, &nonce, ct[len(prefix):], ad)
		if err != nil || !bytes.Equal(got, append(prefix, pt...)) {
			t.Fatalf("Open(Seal(%d bytes)) = %v", n, err)
		}
	}
}

// TestOpenRejects flips every bit of the key, the nonce, the associated data
// and the ciphertext (tag included), truncates the ciphertext to every
// shorter length and extends it by a byte. Each must fail with exactly
// ErrOpen (one opaque error), return nil, and leave no plaintext in dst's
// spare capacity.
func TestOpenRejects(t *testing.T) {
	t.Parallel()
	r := testrand.New("aead/reject")
	var key [suite.KeySize]byte
	var nonce [suite.NonceSize]byte
	pt, ad := make([]byte, 40), make([]byte, 13)
	for _, b := range [][]byte{key[:], nonce[:], pt, ad} {
		r.Read(b)
	}
	ct := suite.Seal(nil, &key, &nonce, pt, ad)

	mustFail := func(what string, k *[suite.KeySize]byte, n *[suite.NonceSize]byte, c, a []byte) {
		t.Helper()
		dst := bytes.Repeat([]byte{0xAA}, 3+len(c))[:3]
		out, err := suite.Open(dst, k, n, c, a)
		if err != suite.ErrOpen || out != nil {
			t.Fatalf("%s: Open = %x, %v; want nil, ErrOpen", what, out, err)
		}
		spare := dst[3:cap(dst)]
		if len(c) >= suite.TagSize && !bytes.Equal(spare[:len(c)-suite.TagSize], make([]byte, len(c)-suite.TagSize)) {
			t.Fatalf("%s: dst not zeroed after a failed Open: %x", what, spare)
		}
		if bytes.Contains(spare, pt[:8]) {
			t.Fatalf("%s: plaintext left in dst", what)
		}
	}
	flip := func(b []byte, i int) []byte {
		c := append([]byte{}, b...)
		c[i/8] ^= 1 << (i % 8)
		return c
	}
	for i := range 8 * len(key) {
		k := [suite.KeySize]byte(flip(key[:], i))
		mustFail("key bit flip", &k, &nonce, ct, ad)
	}
	for i := range 8 * len(nonce) {
		n := [suite.NonceSize]byte(flip(nonce[:], i))
		mustFail("nonce bit flip", &key, &n, ct, ad)
	}
	for i := range 8 * len(ad) {
		mustFail("ad bit flip", &key, &nonce, ct, flip(ad, i))
	}
	for i := range 8 * len(ct) {
		mustFail("ciphertext/tag bit flip", &key, &nonce, flip(ct, i), ad)
	}
	for n := range len(ct) {
		mustFail("truncation", &key, &nonce, ct[:n], ad)
	}
	for _, b := range []byte{0, 1, 0xff} {
		mustFail("extension", &key, &nonce, append(append([]byte{}, ct...), b), ad)
		mustFail("ad extension", &key, &nonce, ct, append(append([]byte{}, ad...), b))
	}
	mustFail("nil ad", &key, &nonce, ct, nil)
	if !strings.HasPrefix(suite.ErrOpen.Error(), "suite: ") {
		t.Errorf("ErrOpen = %q", suite.ErrOpen)
	}
}

func TestKEMRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustKEM(t, "kem/round-trip")
	pk, err := suite.ParseKEMPublicKey(k.Public().Bytes()[:])
	if err != nil {
		t.Fatal(err)
	}
	if !pk.Equal(k.Public()) || *pk.Bytes() != *k.Public().Bytes() {
		t.Fatal("parsed key differs")
	}
	ct, ss, err := suite.Encapsulate(testrand.New("kem/round-trip/encaps"), pk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k.Decapsulate(ct[:])
	if err != nil || got != ss {
		t.Fatalf("Decapsulate = %x, %v; want %x", got, err, ss)
	}
	// X-Wing rejects implicitly: a changed ciphertext yields another secret.
	for _, i := range []int{0, suite.KEMCiphertextSize / 2, suite.KEMCiphertextSize - 1} {
		bad := ct
		bad[i] ^= 1
		if got, err := k.Decapsulate(bad[:]); err != nil || got == ss {
			t.Errorf("Decapsulate(ct with byte %d flipped) = %v, same secret %v", i, err, got == ss)
		}
	}
	// The seed round-trips; Clear wipes it.
	seed := k.Seed()
	k2, err := suite.NewKEMPrivateKey(seed[:])
	if err != nil || !k2.Public().Equal(k.Public()) {
		t.Fatalf("NewKEMPrivateKey(Seed()) = %v", err)
	}
	k2.Clear()
	if k2.Seed() != [suite.KEMSeedSize]byte{} {
		t.Error("Clear left the seed")
	}
}

func TestKEMBadSizes(t *testing.T) {
	t.Parallel()
	k := mustKEM(t, "kem/bad-sizes")
	enc := k.Public().Bytes()[:]
	for _, n := range []int{0, 1, suite.KEMPublicKeySize - 1, suite.KEMPublicKeySize + 1} {
		b := make([]byte, n)
		copy(b, enc)
		if pk, err := suite.ParseKEMPublicKey(b); !errors.Is(err, suite.ErrKEMKey) || pk != nil {
			t.Errorf("ParseKEMPublicKey(%d bytes) = %v, %v", n, pk, err)
		}
	}
	for _, n := range []int{0, suite.KEMSeedSize - 1, suite.KEMSeedSize + 1, 64} {
		if sk, err := suite.NewKEMPrivateKey(make([]byte, n)); !errors.Is(err, suite.ErrKEMKey) || sk != nil {
			t.Errorf("NewKEMPrivateKey(%d bytes) = %v, %v", n, sk, err)
		}
	}
	for _, n := range []int{0, 1, suite.KEMCiphertextSize - 1, suite.KEMCiphertextSize + 1} {
		if ss, err := k.Decapsulate(make([]byte, n)); !errors.Is(err, suite.ErrKEMCiphertext) || ss != [suite.KEMSharedSize]byte{} {
			t.Errorf("Decapsulate(%d bytes) = %x, %v", n, ss, err)
		}
	}
}

// TestKEMModulusCheck puts a coefficient >= q = 3329 into the ML-KEM part of
// a valid X-Wing key (FIPS 203 §7.2); ParseKEMPublicKey must reject it.
// The Wycheproof "ModulusOverflow" vectors cover more positions.
func TestKEMModulusCheck(t *testing.T) {
	t.Parallel()
	enc := *mustKEM(t, "kem/modulus").Public().Bytes()
	// ByteEncode_12 packs two coefficients into three bytes: set the first
	// coefficient of the first polynomial to 0xfff.
	for _, pos := range []int{0, 3 * 255} {
		bad := enc
		bad[pos] = 0xff
		bad[pos+1] |= 0x0f
		if pk, err := suite.ParseKEMPublicKey(bad[:]); !errors.Is(err, suite.ErrKEMKey) || pk != nil {
			t.Errorf("coefficient 0xfff at byte %d: ParseKEMPublicKey = %v", pos, err)
		}
	}
	// The X25519 part is not checked (X-Wing -05 has no check there).
	bad := enc
	bad[suite.KEMPublicKeySize-1] ^= 0x80
	if _, err := suite.ParseKEMPublicKey(bad[:]); err != nil {
		t.Errorf("X25519 part changed: %v", err)
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	k := mustSign(t, "sign")
	msg := []byte("parley/v1/test message")
	sig := k.Sign(msg)
	pub := k.Public()
	if !suite.Verify(pub, msg, sig) {
		t.Fatal("signature does not verify")
	}
	for i := range 8 * len(msg) {
		m := append([]byte{}, msg...)
		m[i/8] ^= 1 << (i % 8)
		if suite.Verify(pub, m, sig) {
			t.Fatalf("message bit %d flipped: still verifies", i)
		}
	}
	for i := range 8 * suite.SignatureSize {
		s := sig
		s[i/8] ^= 1 << (i % 8)
		if suite.Verify(pub, msg, s) {
			t.Fatalf("signature bit %d flipped: still verifies", i)
		}
	}
	for i := range 8 * suite.SignPublicKeySize {
		p := pub
		p[i/8] ^= 1 << (i % 8)
		if suite.Verify(p, msg, sig) {
			t.Fatalf("public key bit %d flipped: still verifies", i)
		}
	}
	seed := k.Seed()
	k2, err := suite.NewSignPrivateKey(seed[:])
	if err != nil || k2.Public() != pub || k2.Sign(msg) != sig {
		t.Fatalf("NewSignPrivateKey(Seed()) = %v", err)
	}
	k2.Clear()
	if k2.Seed() != [suite.SignSeedSize]byte{} {
		t.Error("Clear left the key")
	}
	for _, n := range []int{0, suite.SignSeedSize - 1, suite.SignSeedSize + 1, 64} {
		if sk, err := suite.NewSignPrivateKey(make([]byte, n)); !errors.Is(err, suite.ErrSignKey) || sk != nil {
			t.Errorf("NewSignPrivateKey(%d bytes) = %v, %v", n, sk, err)
		}
	}
}

// TestKDF checks KDF against crypto/hkdf and that the label separates
// outputs. Wycheproof covers the HKDF arithmetic itself.
func TestKDF(t *testing.T) {
	t.Parallel()
	secret, salt := []byte("secret"), []byte("salt")
	seen := map[[64]byte]string{}
	for _, l := range suite.Labels() {
		var out [64]byte
		suite.KDF(out[:], secret, salt, l)
		want, err := hkdf.Key(sha256.New, secret, salt, l, len(out))
		if err != nil || !bytes.Equal(out[:], want) {
			t.Fatalf("KDF(%q) != hkdf.Key", l)
		}
		if other, ok := seen[out]; ok {
			t.Fatalf("labels %q and %q derive the same key", l, other)
		}
		seen[out] = l
	}
	// A prefix of a longer output is the shorter output (HKDF-Expand).
	var a [32]byte
	var b [96]byte
	suite.KDF(a[:], secret, salt, suite.LabelRatchetRoot)
	suite.KDF(b[:], secret, salt, suite.LabelRatchetRoot)
	if !bytes.Equal(a[:], b[:32]) {
		t.Error("KDF output lengths are not prefix-consistent")
	}
	if !kdfPanics(255*sha256.Size+1, secret, salt, suite.LabelRatchetRoot) {
		t.Error("KDF accepted an output longer than 255*32 bytes")
	}
}

func TestMACAndHash(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	m := hmac.New(sha256.New, key)
	m.Write([]byte(suite.LabelChainNext + "ab" + "cd"))
	if got := suite.MAC(key, suite.LabelChainNext, []byte("ab"), []byte("cd")); !bytes.Equal(got[:], m.Sum(nil)) {
		t.Error("MAC != HMAC-SHA256(key, label || data...)")
	}
	// MAC and Hash concatenate: callers frame variable-length data.
	if suite.MAC(key, "l", []byte("ab"), []byte("c")) != suite.MAC(key, "l", []byte("a"), []byte("bc")) {
		t.Error("MAC is documented as plain concatenation")
	}
	if suite.MAC(key, suite.LabelChainNext) == suite.MAC(key, suite.LabelChainMessageKey) {
		t.Error("labels do not separate MACs")
	}
	want := sha256.Sum256([]byte("abcd"))
	if suite.Hash([]byte("ab"), nil, []byte("cd")) != want {
		t.Error("Hash != SHA-256 of the concatenation")
	}
}

// TestTranscriptFraming checks the byte-exact definition (4-byte big-endian
// length, then the field, label first) and that different splits of the same
// bytes hash differently.
func TestTranscriptFraming(t *testing.T) {
	t.Parallel()
	sum := func(label string, fields ...string) [suite.HashSize]byte {
		tr := suite.NewTranscript(label)
		for _, f := range fields {
			tr.Add([]byte(f))
		}
		return tr.Sum()
	}
	var raw []byte
	for _, f := range []string{suite.LabelHandshakeTranscript, "ab", "", "c"} {
		raw = binary.BigEndian.AppendUint32(raw, uint32(len(f)))
		raw = append(raw, f...)
	}
	if sum(suite.LabelHandshakeTranscript, "ab", "", "c") != sha256.Sum256(raw) {
		t.Fatal("Transcript differs from SHA-256(len32 || label || len32 || field ...)")
	}
	splits := [][]string{
		{"abc"}, {"ab", "c"}, {"a", "bc"}, {"a", "b", "c"}, {"abc", ""}, {"", "abc"},
		{}, {""}, {"", ""}, {"\x00\x00\x00\x01a"},
	}
	seen := map[[suite.HashSize]byte]int{}
	for i, s := range splits {
		h := sum("parley/v1/x", s...)
		if j, ok := seen[h]; ok {
			t.Errorf("splits %q and %q hash alike", splits[j], s)
		}
		seen[h] = i
	}
	if sum("parley/v1/x", "y") == sum("parley/v1/xy") {
		t.Error("the label is not framed")
	}
	// Sum does not end the transcript.
	tr := suite.NewTranscript("l")
	tr.Add([]byte("a"))
	first, again := tr.Sum(), tr.Sum()
	tr.Add([]byte("b"))
	if first != again || tr.Sum() != sum("l", "a", "b") {
		t.Error("Sum changed the transcript")
	}
}

// TestLabelsUnique checks that every label is distinct, versioned, made of
// lower-case ASCII, digits, '/' and '-', and that no label is a prefix of
// another: MAC, Hash and signed messages write
// label || data with no separator, so a prefix could let one purpose's input
// collide with another's.
func TestLabelsUnique(t *testing.T) {
	t.Parallel()
	labels := suite.Labels()
	if len(labels) < 20 {
		t.Fatalf("Labels() lists %d labels", len(labels))
	}
	for i, a := range labels {
		if !strings.HasPrefix(a, "parley/v1/") {
			t.Errorf("label %q does not start with parley/v1/", a)
		}
		for _, c := range a {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '/' || c == '-') {
				t.Errorf("label %q has character %q", a, c)
			}
		}
		for j, b := range labels {
			if a == b && i != j {
				t.Errorf("label %q is listed twice", a)
			}
			if a != b && strings.HasPrefix(b, a) {
				t.Errorf("label %q is a prefix of %q", a, b)
			}
		}
	}
}

func TestWipe(t *testing.T) {
	t.Parallel()
	b := []byte{1, 2, 3}
	suite.Wipe(b)
	if !bytes.Equal(b, []byte{0, 0, 0}) {
		t.Error("Wipe left bytes")
	}
}
