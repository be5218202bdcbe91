package proto

import (
	"testing"

	"github.com/parley-im/parley/core/pow"
	"github.com/parley-im/parley/core/wire"
)

func BenchmarkParseDeposit(b *testing.B) {
	for _, size := range []int{1024, wire.MaxBlobSize} {
		msg := (&Deposit{Token: tok(1), Stamp: pow.Stamp{Time: 1, Bits: 1}, Blob: make([]byte, size)}).Marshal()
		b.Run(itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				if _, err := ParseRequest(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkMarshalItems(b *testing.B) {
	items := &Items{Items: make([]Item, 64)}
	for i := range items.Items {
		items.Items[i] = Item{Token: tok(byte(i)), ID: uint64(i), Blob: make([]byte, 1024)}
	}
	b.ReportAllocs()
	b.SetBytes(int64(items.Size()))
	for b.Loop() {
		_ = items.Marshal()
	}
}

func BenchmarkParseItems(b *testing.B) {
	items := &Items{Items: make([]Item, 64)}
	for i := range items.Items {
		items.Items[i] = Item{Token: tok(byte(i)), ID: uint64(i), Blob: make([]byte, 1024)}
	}
	msg := items.Marshal()
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := ParseResponse(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(n int) string {
	if n == wire.MaxBlobSize {
		return "max"
	}
	return "1KiB"
}
