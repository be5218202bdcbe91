package nmhost

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Browser names the browser family that started the host.
type Browser string

const (
	// Chrome is Chromium and the browsers built on it (Chrome, Edge, Brave):
	// argv[1] is the caller's origin "chrome-extension://<id>/" and, on
	// Windows, argv[2] is "--parent-window=<handle>".
	Chrome Browser = "chrome"
	// Firefox: argv[1] is the path of the host manifest and argv[2] the
	// add-on id.
	Firefox Browser = "firefox"
)

const (
	chromeOriginPrefix = "chrome-extension://"
	chromeIDLen        = 32
	// maxFirefoxIDLen bounds an add-on id ("name@domain" or "{uuid}").
	maxFirefoxIDLen = 255
)

// ErrCallerRejected is returned by CheckCaller when the process was not
// started by an allowed extension. The host then answers nothing, prints the
// error on stderr and exits non-zero.
var ErrCallerRejected = errors.New("nmhost: caller rejected")

// Allowlist holds the extension ids the host serves.
type Allowlist struct {
	// Chrome ids: 32 letters a–p (see ChromeExtensionID).
	Chrome []string
	// Firefox add-on ids, as in the manifest's browser_specific_settings.
	Firefox []string
}

// Caller identifies the extension that started the host.
type Caller struct {
	Browser     Browser
	ExtensionID string
}

// CheckCaller decides from the process arguments (os.Args) whether an
// allowed extension started the host, and which. Anything else — no
// arguments, an unknown id, a malformed origin, extra arguments — is
// rejected with an error wrapping ErrCallerRejected whose text says what was
// seen (quoted and shortened, since it came from outside) and what was
// expected.
func CheckCaller(args []string, allow Allowlist) (Caller, error) {
	if len(args) < 2 {
		return Caller{}, fmt.Errorf("%w: no caller origin in the arguments; parley-bridge is started by the browser for the Parley extension", ErrCallerRejected)
	}
	if strings.HasPrefix(args[1], chromeOriginPrefix) {
		id, ok := strings.CutPrefix(args[1], chromeOriginPrefix)
		if ok {
			id, ok = strings.CutSuffix(id, "/")
		}
		if !ok || !validChromeID(id) {
			return Caller{}, fmt.Errorf("%w: malformed origin %s, want chrome-extension://<32 letters a-p>/", ErrCallerRejected, quote(args[1]))
		}
		switch {
		case len(args) == 2:
		case len(args) == 3 && validParentWindow(args[2]):
		default:
			return Caller{}, fmt.Errorf("%w: unexpected arguments after the origin", ErrCallerRejected)
		}
		if !slices.Contains(allow.Chrome, id) {
			return Caller{}, fmt.Errorf("%w: extension %s is not allowed to use this host", ErrCallerRejected, quote(id))
		}
		return Caller{Browser: Chrome, ExtensionID: id}, nil
	}
	if len(args) != 3 {
		return Caller{}, fmt.Errorf("%w: unrecognised arguments %s; want chrome-extension://<id>/ (Chrome) or <manifest path> <add-on id> (Firefox)", ErrCallerRejected, quote(strings.Join(args[1:], " ")))
	}
	manifest, id := args[1], args[2]
	if !filepath.IsAbs(manifest) || !strings.HasSuffix(manifest, ".json") {
		return Caller{}, fmt.Errorf("%w: first argument %s is neither a chrome-extension:// origin nor a host manifest path", ErrCallerRejected, quote(manifest))
	}
	if id == "" || len(id) > maxFirefoxIDLen || !slices.Contains(allow.Firefox, id) {
		return Caller{}, fmt.Errorf("%w: add-on %s is not allowed to use this host", ErrCallerRejected, quote(id))
	}
	return Caller{Browser: Firefox, ExtensionID: id}, nil
}

func validChromeID(id string) bool {
	if len(id) != chromeIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 'a' || id[i] > 'p' {
			return false
		}
	}
	return true
}

// validParentWindow accepts Chrome's Windows-only "--parent-window=<decimal>".
func validParentWindow(arg string) bool {
	v, ok := strings.CutPrefix(arg, "--parent-window=")
	if !ok || v == "" || len(v) > 20 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// quote renders an untrusted argument for an error message: Go-quoted (no
// control characters reach the terminal) and cut to 80 bytes.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return fmt.Sprintf("%q…", s[:max])
	}
	return fmt.Sprintf("%q", s)
}

// ChromeExtensionID returns the id Chromium gives an extension whose
// manifest "key" is the given DER-encoded SubjectPublicKeyInfo: the first 16
// bytes of its SHA-256, in hex, with the digits 0–f written as the letters
// a–p.
func ChromeExtensionID(publicKeyDER []byte) string {
	sum := sha256.Sum256(publicKeyDER)
	var id [chromeIDLen]byte
	for i, b := range sum[:chromeIDLen/2] {
		id[2*i] = 'a' + b>>4
		id[2*i+1] = 'a' + b&0x0f
	}
	return string(id[:])
}
