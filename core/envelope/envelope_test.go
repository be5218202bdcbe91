package envelope

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/parley-im/parley/core/address"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/internal/vectortest"
)

const vectorFile = "../../testdata/vectors/envelope.json"

// fixture returns a deterministic key and token.
func fixture(name string) (*[32]byte, address.Token) {
	r := testrand.New(name)
	var key [32]byte
	var tok address.Token
	r.Read(key[:])
	r.Read(tok[:])
	return &key, tok
}

func body(n int) []byte {
	b := make([]byte, n)
	testrand.New(fmt.Sprint("envelope/test/body/", n)).Read(b)
	return b
}

func seal(t testing.TB, key *[32]byte, tok address.Token, kind Kind, b []byte) []byte {
	t.Helper()
	blob, err := Seal(nil, key, tok, kind, b)
	if err != nil {
		t.Fatal(err)
	}
	return blob
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	bs := Buckets()
	if !slices.Equal(bs, []int{256, 1024, 4096, 16384, 65536}) {
		t.Fatalf("Buckets() = %v", bs)
	}
	bs[0] = 1
	if Buckets()[0] != 256 {
		t.Fatal("Buckets() returns shared storage")
	}
	if MaxBodySize != 65529 || MaxBlobSize != 65564 || MinBlobSize != 284 || MaxBody() != MaxBodySize {
		t.Fatalf("sizes: body %d blob %d..%d", MaxBodySize, MinBlobSize, MaxBlobSize)
	}
	if MaxBlobSize > wire.MaxBlobSize {
		t.Fatal("MaxBlobSize over wire.MaxBlobSize")
	}
}

// TestBucketBoundaries seals, at every bucket, a body that exactly fills it
// and one a byte longer, which must land in the next bucket.
func TestBucketBoundaries(t *testing.T) {
	t.Parallel()
	key, tok := fixture("envelope/test/boundaries")
	bs := Buckets()
	for i, b := range bs {
		t.Run(fmt.Sprint(b), func(t *testing.T) {
			t.Parallel()
			lens := []int{b - InnerOverhead}
			if i > 0 {
				lens = append(lens, bs[i-1]-InnerOverhead+1)
			}
			for _, n := range lens {
				if got, err := BucketFor(n); err != nil || got != b {
					t.Fatalf("BucketFor(%d) = %d, %v; want %d", n, got, err, b)
				}
				want := b + SealOverhead
				if got, err := BlobSize(n); err != nil || got != want {
					t.Fatalf("BlobSize(%d) = %d, %v; want %d", n, got, err, want)
				}
				msg := body(n)
				blob := seal(t, key, tok, KindMessage, msg)
				if len(blob) != want || !IsBlobSize(len(blob)) {
					t.Fatalf("body %d: blob %d bytes, want %d", n, len(blob), want)
				}
				kind, got, err := Open(key, tok, blob)
				if err != nil || kind != KindMessage || !bytes.Equal(got, msg) {
					t.Fatalf("body %d: Open = %v, %d bytes, %v", n, kind, len(got), err)
				}
			}
			if i+1 < len(bs) {
				if got, _ := BucketFor(b - InnerOverhead + 1); got != bs[i+1] {
					t.Fatalf("one byte over bucket %d: bucket %d", b, got)
				}
			}
		})
	}
	if got, err := BucketFor(0); err != nil || got != MinBucket {
		t.Fatalf("empty body: %d, %v", got, err)
	}
}

func TestTooLarge(t *testing.T) {
	t.Parallel()
	key, tok := fixture("envelope/test/large")
	blob, err := Seal(nil, key, tok, KindMessage, make([]byte, MaxBodySize+1))
	if blob != nil || !errors.Is(err, ErrTooLarge) || !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("Seal(MaxBodySize+1) = %d bytes, %v", len(blob), err)
	}
	if want := "envelope: message too large: 65530 bytes, limit 65529"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
	var se *SizeError
	if !errors.As(err, &se) || se.Size != MaxBodySize+1 || se.Limit != MaxBodySize {
		t.Fatalf("SizeError %+v", se)
	}
	if _, err := BlobSize(MaxBodySize + 1); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("BlobSize: %v", err)
	}
	if _, err := BlobSize(-1); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("BlobSize(-1): %v", err)
	}
	for _, tc := range []struct {
		text, overhead int
		want           int
		limit          int
		err            error
	}{
		{0, 0, 284, 0, nil},
		{100, 149, 284, 0, nil},
		{100, 150, 1052, 0, nil},
		{MaxBodySize - 300, 300, MaxBlobSize, 0, nil},
		{MaxBodySize - 299, 300, 0, MaxBodySize - 300, ErrTooLarge},
		{0, MaxBodySize + 1, 0, 0, ErrTooLarge},
		{1 << 62, 1 << 62, 0, 0, ErrTooLarge},
		{-1, 10, 0, 0, wire.ErrMalformed},
		{10, -1, 0, 0, wire.ErrMalformed},
	} {
		got, err := BlobSizeFor(tc.text, tc.overhead)
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("BlobSizeFor(%d, %d) = %d, %v; want %d, %v", tc.text, tc.overhead, got, err, tc.want, tc.err)
		}
		if errors.As(err, &se) && se.Limit != tc.limit {
			t.Errorf("BlobSizeFor(%d, %d): limit %d, want %d", tc.text, tc.overhead, se.Limit, tc.limit)
		}
	}
}

func TestSealErrors(t *testing.T) {
	t.Parallel()
	key, tok := fixture("envelope/test/seal-errors")
	for _, k := range []Kind{0, 3, 255} {
		if blob, err := Seal(nil, key, tok, k, nil); blob != nil || !errors.Is(err, ErrKind) {
			t.Errorf("kind %d: %v", k, err)
		}
	}
	if blob, err := Seal(bytes.NewReader(make([]byte, 11)), key, tok, KindMessage, nil); blob != nil || !errors.Is(err, suite.ErrRandom) {
		t.Errorf("short random source: %v", err)
	}
	nonce := []byte("nonce-twelve")
	blob, err := Seal(bytes.NewReader(nonce), key, tok, KindFirstContact, []byte("hi"))
	if err != nil || !bytes.Equal(blob[:12], nonce) {
		t.Fatalf("nonce not read from rand: %x, %v", blob[:12], err)
	}
}

// TestWrongKeyOrToken checks that a blob opens only under its key and the
// token it was sealed for; every other token and key fails with ErrOpen.
func TestWrongKeyOrToken(t *testing.T) {
	t.Parallel()
	key, tok := fixture("envelope/test/ad")
	blob := seal(t, key, tok, KindMessage, []byte("hello"))
	for i := range address.TokenSize * 8 {
		tok2 := tok
		tok2[i/8] ^= 1 << (i % 8)
		if k, b, err := Open(key, tok2, blob); err != ErrOpen || k != 0 || b != nil {
			t.Fatalf("token bit %d: %v, %v, %v", i, k, b, err)
		}
	}
	for i := range 32 * 8 {
		key2 := *key
		key2[i/8] ^= 1 << (i % 8)
		if _, _, err := Open(&key2, tok, blob); err != ErrOpen {
			t.Fatalf("key bit %d: %v", i, err)
		}
	}
	if _, _, err := Open(key, tok, blob); err != nil {
		t.Fatal(err)
	}
}

// TestBitFlips flips bits of sealed blobs: nonce, ciphertext and tag. Every
// flip fails with ErrOpen. The two smallest buckets flip every bit; the
// larger ones every bit of the nonce, the first and last 64 bytes and one
// byte in 61 elsewhere (one AEAD open of 64 KiB per flip is too slow for
// every bit under js/wasm).
func TestBitFlips(t *testing.T) {
	t.Parallel()
	key, tok := fixture("envelope/test/flips")
	for _, b := range Buckets() {
		t.Run(fmt.Sprint(b), func(t *testing.T) {
			t.Parallel()
			blob := seal(t, key, tok, KindMessage, body(b-InnerOverhead-10))
			for i := range len(blob) * 8 {
				byteAt := i / 8
				if b > Bucket1K && byteAt >= 64 && byteAt < len(blob)-64 && (byteAt%61 != 0 || i%8 != byteAt%8) {
					continue
				}
				blob[byteAt] ^= 1 << (i % 8)
				k, got, err := Open(key, tok, blob)
				blob[byteAt] ^= 1 << (i % 8)
				if err != ErrOpen || k != 0 || got != nil {
					t.Fatalf("flip of bit %d: %v, %d bytes, %v", i, k, len(got), err)
				}
			}
		})
	}
}

// TestTruncationsExtensions checks every truncation and a one-byte extension
// of a blob in every bucket, and extensions to the next bucket's size.
func TestTruncationsExtensions(t *testing.T) {
	t.Parallel()
	key, tok := fixture("envelope/test/lengths")
	bs := Buckets()
	for i, b := range bs {
		t.Run(fmt.Sprint(b), func(t *testing.T) {
			t.Parallel()
			blob := seal(t, key, tok, KindMessage, body(b/2))
			for n := range len(blob) {
				k, got, err := Open(key, tok, blob[:n])
				if err == nil || k != 0 || got != nil {
					t.Fatalf("truncation to %d accepted", n)
				}
				if IsBlobSize(n) {
					if err != ErrOpen {
						t.Fatalf("truncation to bucket size %d: %v", n, err)
					}
				} else if !errors.Is(err, wire.ErrMalformed) {
					t.Fatalf("truncation to %d: %v", n, err)
				}
			}
			for _, x := range []byte{0, 1, 0xff} {
				_, got, err := Open(key, tok, append(slices.Clone(blob), x))
				want := wire.ErrMalformed
				if b == MaxBucket {
					want = ErrTooLarge
				}
				if got != nil || !errors.Is(err, want) {
					t.Fatalf("extension by %#x: %v, want %v", x, err, want)
				}
			}
			if i+1 < len(bs) {
				ext := append(slices.Clone(blob), make([]byte, bs[i+1]-b)...)
				if _, _, err := Open(key, tok, ext); err != ErrOpen {
					t.Fatalf("zero-extended to the next bucket: %v", err)
				}
			}
		})
	}
	if _, _, err := Open(key, tok, make([]byte, 1<<20)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("1 MiB blob: %v", err)
	}
	if _, _, err := Open(key, tok, nil); !errors.Is(err, wire.ErrMalformed) {
		t.Fatalf("nil blob: %v", err)
	}
}

// sealInner seals an arbitrary padded plaintext with a valid AEAD, to reach
// the checks Open makes after authentication.
func sealInner(key *[32]byte, tok address.Token, padded []byte) []byte {
	var nonce [suite.NonceSize]byte
	return suite.Seal(nonce[:], key, &nonce, padded, additionalData(&tok))
}

func inner(bucket int, tag wire.Tag, version, kind uint8, n uint32, b []byte) []byte {
	p := make([]byte, bucket)
	p[0], p[1], p[2] = byte(tag), version, kind
	binary.BigEndian.PutUint32(p[3:], n)
	copy(p[InnerOverhead:], b)
	return p
}

// TestInnerRejections checks the checks Open makes on an authenticated
// plaintext: header, kind, body length, padding, smallest bucket.
func TestInnerRejections(t *testing.T) {
	t.Parallel()
	key, tok := fixture("envelope/test/inner")
	msg := []byte("hello")
	good := inner(256, wire.TagEnvelopeInner, wire.Version, 2, 5, msg)
	if k, got, err := Open(key, tok, sealInner(key, tok, good)); err != nil || k != KindMessage || !bytes.Equal(got, msg) {
		t.Fatalf("hand-built envelope: %v, %q, %v", k, got, err)
	}
	type tc struct {
		name   string
		padded []byte
		err    error
	}
	cases := []tc{
		{"wrong tag", inner(256, wire.TagStamp, wire.Version, 2, 5, msg), wire.ErrWrongType},
		{"wrong version", inner(256, wire.TagEnvelopeInner, 2, 2, 5, msg), wire.ErrVersion},
		{"kind 0", inner(256, wire.TagEnvelopeInner, wire.Version, 0, 5, msg), wire.ErrMalformed},
		{"kind 3", inner(256, wire.TagEnvelopeInner, wire.Version, 3, 5, msg), wire.ErrMalformed},
		{"kind 255", inner(256, wire.TagEnvelopeInner, wire.Version, 255, 5, msg), wire.ErrMalformed},
		{"length one past the bucket", inner(256, wire.TagEnvelopeInner, wire.Version, 2, 256-InnerOverhead+1, msg), wire.ErrMalformed},
		{"length 2^32-1", inner(256, wire.TagEnvelopeInner, wire.Version, 2, ^uint32(0), msg), wire.ErrMalformed},
		{"body fits a smaller bucket", inner(1024, wire.TagEnvelopeInner, wire.Version, 2, 5, msg), wire.ErrMalformed},
		{"largest bucket, small body", inner(MaxBucket, wire.TagEnvelopeInner, wire.Version, 1, 5, msg), wire.ErrMalformed},
	}
	for i := InnerOverhead + len(msg); i < 256; i++ {
		p := slices.Clone(good)
		p[i] = byte(i%255 + 1)
		cases = append(cases, tc{fmt.Sprintf("padding byte %d", i), p, wire.ErrMalformed})
	}
	// A length one short leaves a nonzero body byte in the padding.
	cases = append(cases, tc{"length one short", inner(256, wire.TagEnvelopeInner, wire.Version, 2, 4, msg), wire.ErrMalformed})
	for _, c := range cases {
		k, got, err := Open(key, tok, sealInner(key, tok, c.padded))
		if k != 0 || got != nil || !errors.Is(err, c.err) {
			t.Errorf("%s: %v, %q, %v; want %v", c.name, k, got, err, c.err)
		}
	}
}

// Vectors.

type vector struct {
	Name  string `json:"name"`
	Key   string `json:"key"`
	Token string `json:"token"`
	Kind  uint8  `json:"kind"`
	Body  string `json:"body"`
	Blob  string `json:"blob"`
}

func generateVectors(t testing.TB) []vector {
	// Body lengths: empty, the largest in 256, the smallest in 1K, the
	// largest in 4K, a middle one in 16K, the smallest in 64K.
	bodies := []int{0, 249, 250, 4089, 9000, 16378}
	var out []vector
	for i, n := range bodies {
		bucket, err := BucketFor(n)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("envelope/bucket-%d/body-%d", bucket, n)
		r := testrand.New(name)
		var key [32]byte
		var tok address.Token
		r.Read(key[:])
		r.Read(tok[:])
		b := make([]byte, n)
		r.Read(b)
		kind := KindMessage
		if i%2 == 1 {
			kind = KindFirstContact
		}
		blob, err := Seal(r, &key, tok, kind, b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, vector{Name: name, Key: hex.EncodeToString(key[:]), Token: hex.EncodeToString(tok[:]),
			Kind: uint8(kind), Body: hex.EncodeToString(b), Blob: hex.EncodeToString(blob)})
	}
	return out
}

func readVectors(t testing.TB) []vector {
	t.Helper()
	var vs []vector
	vectortest.Read(t, vectorFile, &vs)
	return vs
}

// TestVectors regenerates the vectors and compares them byte for byte with
// the file, then replays the file: every blob opens to its kind and body,
// and sealing the body again with the blob's nonce gives the same blob.
func TestVectors(t *testing.T) {
	vectortest.Check(t, vectorFile, "\t", generateVectors(t))
	vs := readVectors(t)
	seen := make(map[int]bool)
	for _, v := range vs {
		key := (*[32]byte)(vectortest.Unhex(t, v.Key))
		tok, err := address.ParseToken(vectortest.Unhex(t, v.Token))
		if err != nil {
			t.Fatal(err)
		}
		blob, b := vectortest.Unhex(t, v.Blob), vectortest.Unhex(t, v.Body)
		kind, got, err := Open(key, tok, blob)
		if err != nil || uint8(kind) != v.Kind || !bytes.Equal(got, b) {
			t.Errorf("%s: Open = %v, %v", v.Name, kind, err)
		}
		again, err := Seal(bytes.NewReader(blob[:suite.NonceSize]), key, tok, Kind(v.Kind), b)
		if err != nil || !bytes.Equal(again, blob) {
			t.Errorf("%s: re-seal differs", v.Name)
		}
		seen[len(blob)-SealOverhead] = true
	}
	for _, b := range Buckets() {
		if !seen[b] {
			t.Errorf("no vector for bucket %d", b)
		}
	}
}

func ExampleSeal() {
	// The sender seals under the mailbox's key and token (package address);
	// a deterministic source stands in for crypto/rand.
	var secret [32]byte
	conv := address.NewConversationSecret(secret, secret)
	key := conv.SealKey(20089, address.InitiatorToResponder)
	token := conv.Token(20089, address.InitiatorToResponder)
	blob, err := Seal(testrand.New("example"), &key, token, KindMessage, []byte("hello"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(blob), "bytes")

	// The recipient opens it with the same key and token.
	kind, body, err := Open(&key, token, blob)
	fmt.Println(kind == KindMessage, string(body), err)

	// Under another token it does not open.
	other := conv.Token(20090, address.InitiatorToResponder)
	_, _, err = Open(&key, other, blob)
	fmt.Println(err)
	// Output:
	// 284 bytes
	// true hello <nil>
	// suite: message authentication failed
}

func ExampleBlobSizeFor() {
	// A UI previews the size a text will have on the wire, given the inner
	// layers' overhead, and the limit when it is too long.
	const overhead = 100
	n, err := BlobSizeFor(1000, overhead)
	fmt.Println(n, err)
	_, err = BlobSizeFor(70000, overhead)
	fmt.Println(err)
	// Output:
	// 4124 <nil>
	// envelope: message too large: 70000 bytes, limit 65429
}

// Benchmarks: for each bucket, protocol is Seal / Open of a body that fills
// it; primitives is the bare calls they make: a 12-byte random read and one
// suite.Seal, or one suite.Open, of the bucket size.

func BenchmarkSeal(b *testing.B) {
	key, tok := fixture("envelope/bench")
	for _, bucket := range Buckets() {
		msg := body(bucket - InnerOverhead)
		b.Run(fmt.Sprint(bucket), func(b *testing.B) {
			b.Run("protocol", func(b *testing.B) {
				b.SetBytes(int64(bucket))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Seal(nil, key, tok, KindMessage, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("primitives", func(b *testing.B) {
				padded := make([]byte, bucket)
				dst := make([]byte, 0, bucket+SealOverhead)
				ad := additionalData(&tok)
				var nonce [suite.NonceSize]byte
				b.SetBytes(int64(bucket))
				b.ReportAllocs()
				for b.Loop() {
					if err := suite.ReadRandom(nil, nonce[:]); err != nil {
						b.Fatal(err)
					}
					suite.Seal(dst[:0], key, &nonce, padded, ad)
				}
			})
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	key, tok := fixture("envelope/bench")
	for _, bucket := range Buckets() {
		blob := seal(b, key, tok, KindMessage, body(bucket-InnerOverhead))
		b.Run(fmt.Sprint(bucket), func(b *testing.B) {
			b.Run("protocol", func(b *testing.B) {
				b.SetBytes(int64(bucket))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := Open(key, tok, blob); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("primitives", func(b *testing.B) {
				dst := make([]byte, 0, bucket)
				ad := additionalData(&tok)
				nonce := (*[suite.NonceSize]byte)(blob)
				b.SetBytes(int64(bucket))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := suite.Open(dst[:0], key, nonce, blob[suite.NonceSize:], ad); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
