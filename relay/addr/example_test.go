package addr_test

import (
	"fmt"

	"github.com/parley-im/parley/relay/addr"
)

func ExampleParse() {
	a, err := addr.Parse("parley-relay://aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq@relay.example.org:7777")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(a.HostPort())
	fmt.Println(a.Key)
	_, err = addr.Parse("parley-relay://aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq@Relay.Example.org:7777")
	fmt.Println(err)
	// Output:
	// relay.example.org:7777
	// aaaqeayeaudaocajbifqydiob4ibceqtcqkrmfyydenbwha5dypq
	// addr: invalid relay address: host name: wire: malformed encoding
}
