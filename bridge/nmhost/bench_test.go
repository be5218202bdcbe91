package nmhost

import (
	"bufio"
	"context"
	"io"
	"testing"
)

// BenchmarkPingRoundTrip measures one request/reply over in-process pipes,
// as the extension sees it minus the browser: frame, decode, dispatch,
// encode, frame.
func BenchmarkPingRoundTrip(b *testing.B) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := NewHost(inR, outW, testRouter(), Options{})
	done := make(chan error, 1)
	go func() { done <- h.Serve(context.Background()) }()
	req := frame(`{"id":1,"method":"ping"}`)
	fr := NewFrameReader(bufio.NewReader(outR))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := inW.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := fr.ReadFrame(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	inW.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func BenchmarkDecodeRequest(b *testing.B) {
	req := []byte(`{"id":12345,"method":"messages.send","params":{"contact":7,"text":"hello there, how are you?"}}`)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, e := DecodeRequest(req); e != nil {
			b.Fatal(e)
		}
	}
}
