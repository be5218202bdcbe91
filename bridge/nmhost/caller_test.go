package nmhost

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

const (
	chromeID  = "abcdefghijklmnopabcdefghijklmnop"
	otherID   = "ponmlkjihgfedcbaponmlkjihgfedcba"
	firefoxID = "parley@parley.im"
)

func TestCheckCaller(t *testing.T) {
	t.Parallel()
	allow := Allowlist{Chrome: []string{chromeID}, Firefox: []string{firefoxID}}
	ok := []struct {
		name string
		args []string
		want Caller
	}{
		{"chrome", []string{"parley-bridge", "chrome-extension://" + chromeID + "/"}, Caller{Chrome, chromeID}},
		{"chrome on windows", []string{"parley-bridge", "chrome-extension://" + chromeID + "/", "--parent-window=6620"}, Caller{Chrome, chromeID}},
		{"firefox", []string{"parley-bridge", "/home/u/.mozilla/native-messaging-hosts/im.parley.bridge.json", firefoxID}, Caller{Firefox, firefoxID}},
	}
	for _, tt := range ok {
		got, err := CheckCaller(tt.args, allow)
		if err != nil || got != tt.want {
			t.Errorf("%s: (%v, %v), want %v", tt.name, got, err, tt.want)
		}
	}
	bad := []struct {
		name string
		args []string
		says string // part of the message
	}{
		{"no args", []string{"parley-bridge"}, "no caller origin"},
		{"nil args", nil, "no caller origin"},
		{"unknown chrome id", []string{"b", "chrome-extension://" + otherID + "/"}, otherID},
		{"no trailing slash", []string{"b", "chrome-extension://" + chromeID}, "malformed origin"},
		{"path after id", []string{"b", "chrome-extension://" + chromeID + "/x"}, "malformed origin"},
		{"short id", []string{"b", "chrome-extension://abc/"}, "malformed origin"},
		{"id with letters past p", []string{"b", "chrome-extension://" + strings.Repeat("z", 32) + "/"}, "malformed origin"},
		{"upper-case id", []string{"b", "chrome-extension://" + strings.ToUpper(chromeID) + "/"}, "malformed origin"},
		{"extra chrome arg", []string{"b", "chrome-extension://" + chromeID + "/", "--evil"}, "unexpected arguments"},
		{"bad parent window", []string{"b", "chrome-extension://" + chromeID + "/", "--parent-window=1x"}, "unexpected arguments"},
		{"chrome id as firefox id", []string{"b", "/m.json", chromeID}, "not allowed"},
		{"unknown add-on", []string{"b", "/m.json", "evil@example.com"}, "evil@example.com"},
		{"relative manifest", []string{"b", "m.json", firefoxID}, "neither"},
		{"manifest not json", []string{"b", "/m.txt", firefoxID}, "neither"},
		{"moz-extension origin", []string{"b", "moz-extension://" + firefoxID + "/"}, "unrecognised"},
		{"too many firefox args", []string{"b", "/m.json", firefoxID, "x"}, "unrecognised"},
		{"empty add-on id", []string{"b", "/m.json", ""}, "not allowed"},
		{"control characters quoted", []string{"b", "\x1b[31m"}, `\x1b[31m`},
	}
	for _, tt := range bad {
		got, err := CheckCaller(tt.args, allow)
		if !errors.Is(err, ErrCallerRejected) {
			t.Errorf("%s: (%v, %v), want ErrCallerRejected", tt.name, got, err)
			continue
		}
		if got != (Caller{}) {
			t.Errorf("%s: rejected but returned %v", tt.name, got)
		}
		if !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%s: message %q does not say %q", tt.name, err, tt.says)
		}
		if strings.ContainsRune(err.Error(), '\x1b') {
			t.Errorf("%s: raw control character in message", tt.name)
		}
	}
	// An empty allowlist serves nobody.
	if _, err := CheckCaller(ok[0].args, Allowlist{}); !errors.Is(err, ErrCallerRejected) {
		t.Errorf("empty allowlist accepted %v", ok[0].args)
	}
}

// ChromeExtensionID agrees with the shell recipe in TESTING.md:
// sha256sum | head -c32 | tr 0-9a-f a-p.
func TestChromeExtensionID(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{nil, []byte("k"), []byte(strings.Repeat("\x30\x82", 150))} {
		sum := sha256.Sum256(key)
		want := strings.Map(func(r rune) rune {
			if r <= '9' {
				return 'a' + r - '0'
			}
			return 'k' + r - 'a'
		}, hex.EncodeToString(sum[:])[:32])
		got := ChromeExtensionID(key)
		if got != want || !validChromeID(got) {
			t.Errorf("ChromeExtensionID = %s, want %s", got, want)
		}
	}
}
