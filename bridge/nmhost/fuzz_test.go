package nmhost

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// FuzzFrameReader feeds arbitrary byte streams to the frame reader: it must
// never panic, never return a frame over MaxFrameSize or a frame with an
// error, and end with io.EOF, io.ErrUnexpectedEOF or nothing else.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{})                                                    // empty stream
	f.Add(frame(`{"id":1,"method":"ping"}`))                           // one good frame
	f.Add(frames(`{}`, ``, `x`))                                       // several small frames
	f.Add([]byte{1, 0})                                                // header cut short
	f.Add([]byte{10, 0, 0, 0, 'a'})                                    // payload cut short
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})                              // 4 GiB announced, nothing follows
	f.Add(append([]byte{0x00, 0x00, 0x10, 0x00}, make([]byte, 64)...)) // exactly 1 MiB announced
	f.Fuzz(func(t *testing.T, data []byte) {
		fr := NewFrameReader(bytes.NewReader(data))
		for {
			p, err := fr.ReadFrame()
			if errors.Is(err, ErrFrameTooLarge) {
				if p != nil {
					t.Fatal("frame returned with ErrFrameTooLarge")
				}
				continue
			}
			if err != nil {
				if p != nil {
					t.Fatal("frame returned with an error")
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(p) > MaxFrameSize {
				t.Fatalf("frame of %d bytes", len(p))
			}
		}
	})
}

// FuzzDecodeRequest: no panic; on success the id is a valid id, the method
// is non-empty and bounded and re-encoding gives an equivalent request; on
// failure the code is bad_request and the answer id is null or a valid id.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"id":1,"method":"ping"}`))                          // minimal request
	f.Add([]byte(`{"id":"x","method":"echo","params":{"text":"hi"}}`)) // string id with params
	f.Add([]byte(`{"id":1,"method":"ping","extra":true}`))             // unknown member
	f.Add([]byte(`{"id":{},"method":"ping"}`))                         // bad id
	f.Add([]byte(`{"id":1,"id":2,"method":"ping"}`))                   // duplicate member (last wins)
	f.Add([]byte("{\"id\":1,\"method\":\"\xff\"}"))                    // invalid UTF-8
	f.Add([]byte(`null`))                                              // JSON but not an object
	f.Add([]byte(`{"id":1,"method":"ping"} trailing`))                 // trailing bytes
	f.Fuzz(func(t *testing.T, data []byte) {
		req, id, e := DecodeRequest(data)
		if e != nil {
			if req != nil || e.Code != CodeBadRequest {
				t.Fatalf("failure returned (%v, %v)", req, e)
			}
			if string(id) != "null" && !validID(id) {
				t.Fatalf("answer id %q", id)
			}
			return
		}
		if !validID(req.ID) || !bytes.Equal(id, req.ID) || req.Method == "" || len(req.Method) > MaxMethodSize {
			t.Fatalf("accepted a bad request %+v", req)
		}
		re, err := json.Marshal(map[string]json.RawMessage{"id": req.ID, "method": mustJSON(t, req.Method), "params": orNull(req.Params)})
		if err != nil {
			t.Fatal(err)
		}
		req2, _, e2 := DecodeRequest(re)
		if e2 != nil || !bytes.Equal(req2.ID, req.ID) || req2.Method != req.Method {
			t.Fatalf("re-encoded request %s decodes differently: %+v, %v", re, req2, e2)
		}
	})
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func orNull(r json.RawMessage) json.RawMessage {
	if r == nil {
		return json.RawMessage("null")
	}
	return r
}

// FuzzServe runs the whole host over an arbitrary input stream: no panic,
// every output frame is a well-formed reply under the size limit, and the
// host ends cleanly at EOF.
func FuzzServe(f *testing.F) {
	f.Add(frames(`{"id":1,"method":"ping"}`, `{"id":2,"method":"echo","params":{"text":"a"}}`)) // good requests
	f.Add(frames(`{"id":1,"method":"panic"}`, `{"id":2,"method":"big"}`))                       // failing methods
	f.Add(frames(`garbage`, `{"id":1,"method":"nope"}`))                                        // bad frames
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})                                              // oversized, truncated
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		h := NewHost(bytes.NewReader(data), &out, testRouter(), Options{})
		if err := h.Serve(context.Background()); err != nil {
			t.Fatalf("Serve: %v", err)
		}
		readOutput(t, out.Bytes())
	})
}
