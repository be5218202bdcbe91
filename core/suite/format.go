package suite

import (
	"fmt"
	"io"
)

// Private keys print as their type name only, whatever the fmt verb: a
// String method alone would not do, since fmt calls it for neither %d nor
// fields printed inside another value.

// Format prints "suite.DHPrivateKey{redacted}" for every verb.
func (DHPrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, "suite.DHPrivateKey{redacted}") }

// Format prints "suite.SignPrivateKey{redacted}" for every verb.
func (SignPrivateKey) Format(f fmt.State, _ rune) {
	io.WriteString(f, "suite.SignPrivateKey{redacted}")
}

// Format prints "suite.KEMPrivateKey{redacted}" for every verb.
func (KEMPrivateKey) Format(f fmt.State, _ rune) { io.WriteString(f, "suite.KEMPrivateKey{redacted}") }
