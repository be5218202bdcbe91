//go:build !cgo

package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/parley-im/parley/bridge/keystore"
)

// In a CGO_ENABLED=0 build go-sqlcipher is a stub: the start-up self-test
// and Open must both fail with ErrNoSQLCipher, and create nothing.
// TestNoCgoBuildFailsLoudly (cgo builds) runs this in a CGO_ENABLED=0 build.
func TestSelfTestWithoutCgo(t *testing.T) {
	if err := SelfTest(); !errors.Is(err, ErrNoSQLCipher) {
		t.Fatalf("SelfTest = %v, want ErrNoSQLCipher", err)
	}
	k, _ := keystore.NewKey(nil)
	dir := t.TempDir()
	db, err := Open(context.Background(), filepath.Join(dir, FileName), keystore.NewStatic(k, keystore.ModePassphrase))
	if !errors.Is(err, ErrNoSQLCipher) || db != nil {
		t.Fatalf("Open = %v, want ErrNoSQLCipher", err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) != 0 {
		t.Fatalf("files created: %v", matches)
	}
}
