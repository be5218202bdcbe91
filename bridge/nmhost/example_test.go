package nmhost_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/parley-im/parley/bridge/nmhost"
)

type greetParams struct {
	Name string `json:"name"`
}

// A host with one typed method, fed two requests: one naming an unknown
// method, one good. (Replies are matched to requests by id; their order is
// not promised in general.)
func ExampleHost() {
	r := nmhost.NewRouter()
	nmhost.Handle(r, "greet", func(_ context.Context, p greetParams) (string, error) {
		return "hello " + p.Name, nil
	})

	var in bytes.Buffer
	for _, req := range []string{
		`{"id":1,"method":"shout"}`,
		`{"id":2,"method":"greet","params":{"name":"alice"}}`,
	} {
		binary.Write(&in, binary.NativeEndian, uint32(len(req)))
		in.WriteString(req)
	}

	var out bytes.Buffer
	h := nmhost.NewHost(&in, &out, r, nmhost.Options{MaxConcurrent: 1})
	if err := h.Serve(context.Background()); err != nil {
		fmt.Println(err)
	}
	fr := nmhost.NewFrameReader(&out)
	for {
		reply, err := fr.ReadFrame()
		if err == io.EOF {
			break
		}
		fmt.Println(string(reply))
	}
	// Output:
	// {"id":1,"error":{"code":"unknown_method","message":"unknown method \"shout\""}}
	// {"id":2,"result":"hello alice"}
}

// CheckCaller accepts only the extensions on the allowlist.
func ExampleCheckCaller() {
	allow := nmhost.Allowlist{Chrome: []string{"abcdefghijklmnopabcdefghijklmnop"}}
	c, err := nmhost.CheckCaller([]string{"parley-bridge", "chrome-extension://abcdefghijklmnopabcdefghijklmnop/"}, allow)
	fmt.Println(c.Browser, c.ExtensionID, err)
	_, err = nmhost.CheckCaller([]string{"parley-bridge"}, allow)
	fmt.Println(err)
	// Output:
	// chrome abcdefghijklmnopabcdefghijklmnop <nil>
	// nmhost: caller rejected: no caller origin in the arguments; parley-bridge is started by the browser for the Parley extension
}
