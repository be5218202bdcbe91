package session_test

import (
	"fmt"

	"github.com/parley-im/parley/core/session"
)

// The size a message will have at the relay depends only on its length and
// on whether it carries a post-quantum ratchet step.
func ExampleBlobSize() {
	for _, n := range []int{5, 200, 3000} {
		plain, _ := session.BlobSize(n, false)
		pq, _ := session.BlobSize(n, true)
		fmt.Println(n, plain, pq)
	}
	// Output:
	// 5 284 4124
	// 200 1052 4124
	// 3000 4124 16412
}
