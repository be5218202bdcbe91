// Package docscheck keeps the documents honest: every test that
// docs/SECURITY_CLAIMS.md names must exist, and docs/PROTOCOL.md must list
// every label and every structure tag the code uses.
package docscheck

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

const root = "../.."

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// claimRun matches `go test ./pkg -run 'A|B'` (quotes optional).
var claimRun = regexp.MustCompile(`go test (\./[A-Za-z0-9_/.-]+)(?:/\.\.\.)? -run '?\^?([A-Za-z0-9_|/^$()-]+)'?`)

// testFuncs returns the names of Test, Fuzz, Benchmark and Example functions
// declared in the _test.go files of dir.
func testFuncs(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	decl := regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark|Example)[A-Za-z0-9_]*)\(`)
	names := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decl.FindAllStringSubmatch(string(b), -1) {
			names[m[1]] = true
		}
	}
	return names
}

// checkClaims returns a description of every test a claims text names that
// does not exist.
func checkClaims(t *testing.T, text string) (missing []string, count int) {
	for _, m := range claimRun.FindAllStringSubmatch(text, -1) {
		pkg, pattern := m[1], m[2]
		names := testFuncs(t, pkg)
		top, _, _ := strings.Cut(pattern, "/") // drop a subtest selector
		for _, alt := range strings.Split(strings.Trim(top, "()"), "|") {
			if alt == "" {
				continue
			}
			count++
			// go test -run matches anywhere in the name, as this does.
			re, err := regexp.Compile(alt)
			if err != nil {
				missing = append(missing, fmt.Sprintf("%s: bad pattern %q", pkg, alt))
				continue
			}
			found := false
			for n := range names {
				found = found || re.MatchString(n)
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%s: %s", pkg, alt))
			}
		}
	}
	return missing, count
}

func TestClaimsNameRealTests(t *testing.T) {
	text := read(t, "docs/SECURITY_CLAIMS.md")
	missing, count := checkClaims(t, text)
	if count < 40 {
		t.Errorf("SECURITY_CLAIMS.md names only %d tests; the pattern may have stopped matching", count)
	}
	for _, m := range missing {
		t.Errorf("SECURITY_CLAIMS.md names a test that does not exist: %s", m)
	}
}

func TestClaimsCheckerFindsMissing(t *testing.T) {
	missing, count := checkClaims(t, "`go test ./core/suite -run 'TestLabelsUnique|TestNoSuchThing'`")
	if count != 2 || len(missing) != 1 || !strings.Contains(missing[0], "TestNoSuchThing") {
		t.Errorf("checker: count %d, missing %v", count, missing)
	}
}

func TestProtocolListsLabels(t *testing.T) {
	text := read(t, "docs/PROTOCOL.md")
	for _, l := range suite.Labels() {
		if !strings.Contains(text, "`"+l+"`") {
			t.Errorf("docs/PROTOCOL.md does not list label %q", l)
		}
	}
}

func TestProtocolListsTags(t *testing.T) {
	text := read(t, "docs/PROTOCOL.md")
	tags := map[string]wire.Tag{
		"PublicIdentity": wire.TagPublicIdentity, "PrivateIdentity": wire.TagPrivateIdentity,
		"Rotation": wire.TagRotation, "SignedPrekey": wire.TagSignedPrekey, "KEMPrekey": wire.TagKEMPrekey,
		"Bundle": wire.TagBundle, "PrekeySecrets": wire.TagPrekeySecrets, "InitMessage": wire.TagInitMessage,
		"RatchetHeader": wire.TagRatchetHeader, "RatchetMessage": wire.TagRatchetMessage,
		"RatchetState": wire.TagRatchetState, "EnvelopeInner": wire.TagEnvelopeInner, "Stamp": wire.TagStamp,
		"Invite": wire.TagInvite, "Payload": wire.TagPayload, "FirstContact": wire.TagFirstContact,
		"Conversation": wire.TagConversation,
	}
	for name, tag := range tags {
		want := fmt.Sprintf("0x%02x", uint8(tag))
		if !strings.Contains(text, want) {
			t.Errorf("docs/PROTOCOL.md does not mention tag %s (%s)", name, want)
		}
	}
}
