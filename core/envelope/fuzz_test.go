package envelope

import (
	"bytes"
	"testing"

	"github.com/parley-im/parley/core/wire"
	"github.com/parley-im/parley/internal/vectortest"
)

// FuzzOpen opens arbitrary blobs under one fixed key and token. It checks
// that Open never panics, returns kind 0 and a nil body on error, and that
// anything it accepts seals back, with the same nonce, to the same bytes.
func FuzzOpen(f *testing.F) {
	key, tok := fixture("envelope/fuzz")
	// The vectors are sealed under other keys: they reach the AEAD and fail.
	for _, v := range readVectors(f) {
		f.Add(vectortest.Unhex(f, v.Blob))
	}
	// Valid blobs under the fuzz key, one per bucket and kind, so mutations
	// start from something that opens.
	for _, b := range Buckets() {
		f.Add(seal(f, key, tok, KindMessage, body(b-InnerOverhead)))
		f.Add(seal(f, key, tok, KindFirstContact, body(b/2)))
	}
	// Hand-written seeds.
	f.Add([]byte{})                                                               // empty
	f.Add(make([]byte, MinBlobSize))                                              // right size, all zero: fails the AEAD
	f.Add(make([]byte, MinBlobSize-1))                                            // one short of the smallest blob
	f.Add(make([]byte, MaxBlobSize+1))                                            // one over the limit
	f.Add(sealInner(key, tok, inner(256, wire.TagEnvelopeInner, 1, 2, 300, nil))) // authenticated, length past the bucket
	f.Add(sealInner(key, tok, inner(1024, wire.TagEnvelopeInner, 1, 2, 3, nil)))  // authenticated, not the smallest bucket
	f.Fuzz(func(t *testing.T, blob []byte) {
		kind, b, err := Open(key, tok, blob)
		if err != nil {
			if kind != 0 || b != nil {
				t.Fatal("kind or body returned with an error")
			}
			return
		}
		if len(blob) < MinBlobSize {
			t.Fatalf("accepted a %d-byte blob", len(blob))
		}
		again, err := Seal(bytes.NewReader(blob[:12]), key, tok, kind, b)
		if err != nil || !bytes.Equal(again, blob) {
			t.Fatalf("re-seal differs: %v", err)
		}
	})
}
