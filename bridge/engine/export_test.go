package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestExportImport: bob exports, loses his profile, imports into a new one
// and the conversation goes on both ways; wrong passphrases, damaged files
// and a non-empty target are refused and change nothing.
func TestExportImport(t *testing.T) {
	alice, bob, ab, ba := pair(t, nil)
	for i := range 3 {
		must[*Message](t, nil)(alice.e.Send(ctx, ab, fmt.Sprintf("before %d", i)))
		must[*Message](t, nil)(bob.e.Send(ctx, ba, fmt.Sprintf("reply %d", i)))
	}
	bob.waitMessages(3)
	alice.waitMessages(3)
	must[*Contact](t, nil)(bob.e.Verify(ctx, ba, true))
	path := filepath.Join(t.TempDir(), "bob.parley-export")
	pass := []byte("export passphrase")
	res := must[*ExportResult](t, nil)(bob.e.Export(ctx, path, pass, testParams))
	if res.Contacts != 1 || res.Messages != 7 {
		t.Fatalf("export: %+v", res)
	}
	code := func(err error) string {
		var ee *Error
		if errors.As(err, &ee) {
			return ee.Code
		}
		return fmt.Sprint(err)
	}
	if _, err := bob.e.Export(ctx, path, pass, testParams); code(err) != CodeExists {
		t.Fatalf("export over a file: %v", err)
	}
	if _, err := bob.e.Export(ctx, "relative", pass, testParams); code(err) != CodeInvalidParams {
		t.Fatalf("relative path: %v", err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"before 0", "reply 0"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Fatalf("export holds %q in the clear", s)
		}
	}
	// Into a profile with an identity: refused.
	if _, err := alice.e.Import(ctx, path, pass); code(err) != CodeExists {
		t.Fatalf("import over an identity: %v", err)
	}
	bob.close() // the original must not be used beside the copy

	bob2 := newPeer(t, "bob2")
	if _, err := bob2.e.Import(ctx, path, []byte("wrong passphrase")); code(err) != CodeBadExport {
		t.Fatalf("wrong passphrase: %v", err)
	}
	for _, off := range []int{0, 20, len(exportMagic) + 9, len(raw) / 2, len(raw) - 1} {
		bad := append([]byte(nil), raw...)
		bad[off] ^= 1
		bp := filepath.Join(t.TempDir(), "bad")
		os.WriteFile(bp, bad, 0o600)
		if _, err := bob2.e.Import(ctx, bp, pass); code(err) != CodeBadExport {
			t.Fatalf("flipped byte %d: %v", off, err)
		}
	}
	if st := must[*Status](t, nil)(bob2.e.Status(ctx)); st.Identity || st.Contacts != 0 {
		t.Fatalf("failed imports changed the profile: %+v", st)
	}
	res2 := must[*ExportResult](t, nil)(bob2.e.Import(ctx, path, pass))
	if res2.Messages != 7 || res2.Contacts != 1 {
		t.Fatalf("import: %+v", res2)
	}
	cs := must[[]Contact](t, nil)(bob2.e.Contacts(ctx))
	if len(cs) != 1 || cs[0].Pin != "verified" || !cs[0].CanSend {
		t.Fatalf("imported contact: %+v", cs)
	}
	if n := len(bob2.allMessages(cs[0].ID)); n != 7 {
		t.Fatalf("imported %d messages", n)
	}
	// The conversation goes on.
	must[*Message](t, nil)(alice.e.Send(ctx, ab, "after import"))
	if got := bob2.waitMessages(1); got[0] != "after import" {
		t.Fatal(got)
	}
	must[*Message](t, nil)(bob2.e.Send(ctx, cs[0].ID, "restored"))
	if got := alice.waitMessages(1); got[0] != "restored" {
		t.Fatal(got)
	}
}
