//go:build cgo

package store

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The same package built with CGO_ENABLED=0 must fail its start-up self-test
// loudly (TestSelfTestWithoutCgo, nocgo_test.go).
func TestNoCgoBuildFailsLoudly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the package without cgo")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	t.Parallel()
	cmd := exec.Command(goBin, "test", "-count=1", "-v", "-run", "^TestSelfTestWithoutCgo$", ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestSelfTestWithoutCgo") {
		t.Fatalf("CGO_ENABLED=0 self-test: %v\n%s", err, out)
	}
}
