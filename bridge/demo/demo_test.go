package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// buildBridge builds parley-bridge into a temp dir once per test.
func buildBridge(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "parley-bridge")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/parley-im/parley/bridge")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// TestDemo runs the `make demo` scenario against real processes and checks
// what it reports: equal safety numbers, every message once on both sides,
// the relay holding only padded blobs under tokens, and no message text in
// any log.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processes")
	}
	bin := buildBridge(t)
	dir := t.TempDir()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Options{Bridge: bin, Out: &out, Dir: dir})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if rep.SafetyAlice == "" || rep.SafetyAlice != rep.SafetyBob {
		t.Fatalf("safety numbers %q / %q", rep.SafetyAlice, rep.SafetyBob)
	}
	if len(rep.Conversation) != 8 || strings.Join(rep.Conversation, "|") == "" {
		t.Fatalf("conversation: %q", rep.Conversation)
	}
	for i := range rep.Conversation {
		a, b := rep.Conversation[i], rep.BobConversation[i]
		if a[strings.Index(a, ":")+1:] != b[strings.Index(b, ":")+1:] {
			t.Fatalf("line %d differs: %q vs %q", i, a, b)
		}
	}
	if len(rep.Relay) != 2 {
		t.Fatalf("relay held %d items, want 2", len(rep.Relay))
	}
	for _, it := range rep.Relay {
		// Both offline texts are short: same bucket, same size.
		if it.Size != rep.Relay[0].Size || len(it.Token) != 64 {
			t.Fatalf("relay items: %+v", rep.Relay)
		}
	}
	for _, want := range []string{"safety     alice sees", "relay      holds 2 item(s)", "ok: both safety numbers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Output hygiene: no message text in any log.
	for _, l := range rep.Logs {
		b, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range rep.Texts {
			if bytes.Contains(b, []byte(text)) {
				t.Errorf("%s contains message text %q", filepath.Base(l), text)
			}
		}
	}
}
