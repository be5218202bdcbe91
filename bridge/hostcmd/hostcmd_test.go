package hostcmd_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-im/parley/bridge/demo"
	"github.com/parley-im/parley/bridge/engine"
	"github.com/parley-im/parley/bridge/hostcmd"
	"github.com/parley-im/parley/bridge/nmhost"
	"github.com/parley-im/parley/relay/addr"
	"github.com/parley-im/parley/relay/link"
	"github.com/parley-im/parley/relay/policy"
	"github.com/parley-im/parley/relay/server"
	relaystore "github.com/parley-im/parley/relay/store"
)

// TestManifestKey checks that the root manifest.json is the minimal MV3
// stub with the public key the host derives its allowed id from.
func TestManifestKey(t *testing.T) {
	b, err := os.ReadFile("../../manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		ManifestVersion int    `json:"manifest_version"`
		Name            string `json:"name"`
		Key             string `json:"key"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.ManifestVersion != 3 || m.Name != "Parley" || m.Key != hostcmd.ExtensionKey {
		t.Fatalf("manifest.json: version %d, name %q, key matches: %v", m.ManifestVersion, m.Name, m.Key == hostcmd.ExtensionKey)
	}
	der, _ := base64.StdEncoding.DecodeString(m.Key)
	if id := nmhost.ChromeExtensionID(der); id != hostcmd.ExtensionID() || len(id) != 32 {
		t.Fatalf("id %q vs %q", id, hostcmd.ExtensionID())
	}
	if strings.Contains(string(b), "PRIVATE") {
		t.Fatal("manifest.json holds a private key")
	}
}

// hostProc is one in-process host over pipes.
type hostProc struct {
	c      *demo.Client
	stdin  *io.PipeWriter
	stderr *syncBuffer
	exit   chan int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startHost(t *testing.T, args ...string) *hostProc {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h := &hostProc{stdin: inW, stderr: &syncBuffer{}, exit: make(chan int, 1)}
	go func() {
		code := hostcmd.Run(context.Background(), append(args, hostcmd.Origin()), inR, outW, h.stderr)
		outW.Close()
		inR.CloseWithError(errors.New("host exited"))
		h.exit <- code
	}()
	h.c = demo.NewClient(inW, outR)
	t.Cleanup(func() { h.stop(t) })
	return h
}

// stop closes stdin and waits for a clean exit.
func (h *hostProc) stop(t *testing.T) {
	t.Helper()
	if h.stdin == nil {
		return
	}
	h.stdin.Close()
	h.stdin = nil
	select {
	case code := <-h.exit:
		if code != 0 {
			t.Errorf("host exit %d: %s", code, h.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Error("host did not exit after stdin closed")
	}
}

func call[R any](t *testing.T, h *hostProc, method string, params any) R {
	t.Helper()
	var r R
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.c.Call(ctx, method, params, &r); err != nil {
		t.Fatalf("%s: %v (host log: %s)", method, err, h.stderr.String())
	}
	return r
}

func callErr(t *testing.T, h *hostProc, method string, params any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := h.c.Call(ctx, method, params, nil)
	var re *demo.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("%s: %v, want an error reply", method, err)
	}
	return re.Code
}

func writePass(t *testing.T, pass string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(f, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestCallerRejected(t *testing.T) {
	for _, args := range [][]string{
		{"chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"},
		{"--profile", "x", "chrome-extension://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/"},
		{hostcmd.Origin(), "extra"},
		{"/tmp/x.json", "other@example.org"},
	} {
		var out, errb bytes.Buffer
		code := hostcmd.Run(context.Background(), args, strings.NewReader(""), &out, &errb)
		if code == 0 || out.Len() != 0 || !strings.Contains(errb.String(), "caller rejected") {
			t.Errorf("%q: exit %d, stdout %d bytes, stderr %q", args, code, out.Len(), errb.String())
		}
	}
}

func TestStates(t *testing.T) {
	t.Setenv("PARLEY_HOME", t.TempDir())
	pass := writePass(t, "a long enough passphrase")

	// A fresh headless profile in passphrase mode.
	a := startHost(t, "--profile", "p", "--passphrase-file", pass)
	if p := call[hostcmd.PingResult](t, a, "ping", nil); !p.Pong {
		t.Fatal("ping")
	}
	st := call[hostcmd.StatusResult](t, a, "status", nil)
	if st.State != hostcmd.StateReady || st.Keystore != "passphrase" || st.Engine == nil || st.Engine.Identity {
		t.Fatalf("status: %+v", st)
	}
	call[engine.IdentityInfo](t, a, "identity.create", nil)

	// A second bridge on the same profile: ping and status answer, the rest
	// says profile_locked.
	b := startHost(t, "--profile", "p", "--passphrase-file", pass)
	call[hostcmd.PingResult](t, b, "ping", nil)
	if st := call[hostcmd.StatusResult](t, b, "status", nil); st.State != hostcmd.StateProfileLocked {
		t.Fatalf("second bridge: %+v", st)
	}
	if code := callErr(t, b, "identity.get", nil); code != hostcmd.StateProfileLocked {
		t.Fatalf("second bridge identity.get: %s", code)
	}
	b.stop(t)
	a.stop(t)

	// Without the passphrase the profile is locked until profile.unlock.
	c := startHost(t, "--profile", "p")
	if st := call[hostcmd.StatusResult](t, c, "status", nil); st.State != hostcmd.StateLocked || st.Engine != nil {
		t.Fatalf("locked: %+v", st)
	}
	if code := callErr(t, c, "identity.get", nil); code != hostcmd.StateLocked {
		t.Fatalf("identity.get while locked: %s", code)
	}
	if code := callErr(t, c, "profile.unlock", map[string]string{"passphrase": "the wrong passphrase"}); code != "wrong_passphrase" {
		t.Fatalf("wrong passphrase: %s", code)
	}
	if code := callErr(t, c, "profile.unlock", map[string]string{"passphrase": "short"}); code != nmhost.CodeInvalidParams {
		t.Fatalf("short passphrase: %s", code)
	}
	if st := call[hostcmd.StatusResult](t, c, "profile.unlock", map[string]string{"passphrase": "a long enough passphrase"}); st.State != hostcmd.StateReady || !st.Engine.Identity {
		t.Fatalf("unlocked: %+v", st)
	}
	call[engine.IdentityInfo](t, c, "identity.get", nil)
	if code := callErr(t, c, "profile.unlock", map[string]string{"passphrase": "a long enough passphrase"}); code != "already_unlocked" {
		t.Fatalf("second unlock: %s", code)
	}
	// Bad params and unknown methods change nothing.
	for _, tc := range []struct {
		method string
		params any
		code   string
	}{
		{"messages.send", map[string]any{"contact": 1}, nmhost.CodeInvalidParams},
		{"messages.send", map[string]any{"contact": 0, "text": "x"}, nmhost.CodeInvalidParams},
		{"messages.send", map[string]any{"contact": 7, "text": "x"}, engine.CodeNotFound},
		{"messages.list", map[string]any{"contact": 1, "limit": 100000}, nmhost.CodeInvalidParams},
		{"settings.set", map[string]any{"relay": "nonsense"}, nmhost.CodeInvalidParams},
		{"invite.create", nil, engine.CodeNoRelay},
		{"invite.create", map[string]any{"lifetimeSeconds": 1}, nmhost.CodeInvalidParams},
		{"invite.accept", map[string]any{"text": "parley:xyz"}, engine.CodeInvalidInvite},
		{"identity.create", nil, engine.CodeExists},
		{"contact.safety", map[string]any{"contact": 3}, engine.CodeNotFound},
		{"no.such.method", nil, nmhost.CodeUnknownMethod},
	} {
		if code := callErr(t, c, tc.method, tc.params); code != tc.code {
			t.Errorf("%s %v: %s, want %s", tc.method, tc.params, code, tc.code)
		}
	}
	c.stop(t)

	// A fresh profile without a passphrase: the OS keystore if one works,
	// else need_passphrase until profile.unlock chooses one.
	d := startHost(t, "--profile", "fresh")
	st = call[hostcmd.StatusResult](t, d, "status", nil)
	switch st.State {
	case hostcmd.StateNeedPassphrase:
		if code := callErr(t, d, "identity.create", nil); code != hostcmd.StateNeedPassphrase {
			t.Fatalf("identity.create without key: %s", code)
		}
		if st := call[hostcmd.StatusResult](t, d, "profile.unlock", map[string]string{"passphrase": "another passphrase"}); st.State != hostcmd.StateReady || st.Keystore != "passphrase" {
			t.Fatalf("after choosing a passphrase: %+v", st)
		}
	case hostcmd.StateReady:
		if st.Keystore != "os" {
			t.Fatalf("ready without passphrase: %+v", st)
		}
	default:
		t.Fatalf("fresh profile: %+v", st)
	}
}

// startRelay runs a relay in-process on loopback and returns its address.
func startRelay(t *testing.T) string {
	t.Helper()
	cfg := policy.Default()
	cfg.PowBits = 4
	p, err := policy.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st, err := relaystore.OpenBolt(filepath.Join(t.TempDir(), "relay.db"), p.StoreLimits())
	if err != nil {
		t.Fatal(err)
	}
	key, _ := link.GenerateKey(nil)
	srv, err := server.New(server.Config{Key: key, Store: st, Policy: p})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		st.Close()
	})
	a, _ := addr.New(key.Public(), "127.0.0.1", uint16(ln.Addr().(*net.TCPAddr).Port))
	return a.String()
}

// TestConversationOverFrames drives two hosts through the methods and
// events as the extension does.
func TestConversationOverFrames(t *testing.T) {
	t.Setenv("PARLEY_HOME", t.TempDir())
	relay := startRelay(t)
	pass := writePass(t, "a long enough passphrase")
	flags := []string{"--passphrase-file", pass, "--poll-interval", "50ms"}
	alice := startHost(t, append([]string{"--profile", "alice"}, flags...)...)
	bob := startHost(t, append([]string{"--profile", "bob"}, flags...)...)
	call[engine.IdentityInfo](t, alice, "identity.create", nil)
	call[engine.IdentityInfo](t, bob, "identity.create", nil)
	call[engine.Settings](t, alice, "settings.set", map[string]string{"relay": relay})
	inv := call[engine.CreatedInvite](t, alice, "invite.create", nil)
	c := call[engine.Contact](t, bob, "invite.accept", map[string]string{"text": inv.Text, "name": "alice", "message": "hi alice"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := alice.c.WaitEvents(ctx, func(evs []demo.Event) bool { return len(demo.Received(evs)) == 1 }); err != nil {
		t.Fatal(err)
	}
	cs := call[hostcmd.ContactsResult](t, alice, "contacts.list", nil)
	if len(cs.Contacts) != 1 {
		t.Fatalf("contacts: %+v", cs)
	}
	ab := cs.Contacts[0].ID
	for i := range 3 {
		call[engine.Message](t, alice, "messages.send", map[string]any{"contact": ab, "text": "from alice " + string(rune('0'+i))})
		call[engine.Message](t, bob, "messages.send", map[string]any{"contact": c.ID, "text": "from bob " + string(rune('0'+i))})
	}
	if err := bob.c.WaitEvents(ctx, func(evs []demo.Event) bool { return len(demo.Received(evs)) == 3 }); err != nil {
		t.Fatal(err)
	}
	if err := alice.c.WaitEvents(ctx, func(evs []demo.Event) bool { return len(demo.Received(evs)) == 4 }); err != nil {
		t.Fatal(err)
	}
	sa := call[engine.SafetyNumber](t, alice, "contact.safety", map[string]any{"contact": ab})
	sb := call[engine.SafetyNumber](t, bob, "contact.safety", map[string]any{"contact": c.ID})
	if sa.Digits != sb.Digits || sa.Digits == "" {
		t.Fatalf("safety numbers %q vs %q", sa.Digits, sb.Digits)
	}
	pg := call[engine.Page](t, bob, "messages.list", map[string]any{"contact": c.ID, "limit": 2})
	if len(pg.Messages) != 2 || pg.Older == 0 {
		t.Fatalf("page: %+v", pg)
	}
	// Statuses reach "sent" and events of every kind were pushed.
	if err := alice.c.WaitEvents(ctx, func(evs []demo.Event) bool {
		kinds := map[string]int{}
		for _, e := range evs {
			kinds[e.Name]++
		}
		return kinds["message.status"] >= 3 && kinds["contact.changed"] >= 1 && kinds["status.changed"] >= 1
	}); err != nil {
		t.Fatalf("events: %v", alice.c.Events())
	}
	// Logs carry no message text.
	alice.stop(t)
	bob.stop(t)
	for _, h := range []*hostProc{alice, bob} {
		if s := h.stderr.String(); strings.Contains(s, "from alice") || strings.Contains(s, "from bob") || strings.Contains(s, "hi alice") {
			t.Fatalf("message text in the log: %q", s)
		}
	}
}

// TestMidFrameEOF: stdin ending inside a frame ends the host cleanly after
// the replies already due are written.
func TestMidFrameEOF(t *testing.T) {
	t.Setenv("PARLEY_HOME", t.TempDir())
	pass := writePass(t, "a long enough passphrase")
	req := []byte(`{"id":1,"method":"ping"}`)
	var in bytes.Buffer
	in.Write([]byte{byte(len(req)), 0, 0, 0})
	in.Write(req)
	in.Write([]byte{200, 0, 0, 0, '{', '"'}) // a frame cut short
	var out, errb bytes.Buffer
	code := hostcmd.Run(context.Background(), []string{"--profile", "m", "--passphrase-file", pass, hostcmd.Origin()}, &in, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	fr := nmhost.NewFrameReader(&out)
	f, err := fr.ReadFrame()
	if err != nil || !bytes.Contains(f, []byte(`"pong":true`)) {
		t.Fatalf("reply %q, %v", f, err)
	}
	if f, err := fr.ReadFrame(); err != io.EOF {
		t.Fatalf("extra frame %q, %v", f, err)
	}
}

// TestAllowedFile: ids recorded in the data directory are served too; a
// malformed file rejects every caller.
func TestAllowedFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv("PARLEY_HOME", home)
	pass := writePass(t, "a long enough passphrase")
	dev := strings.Repeat("b", 32)
	run := func(origin string) (int, string) {
		var out, errb bytes.Buffer
		code := hostcmd.Run(context.Background(), []string{"--profile", "x", "--passphrase-file", pass, origin}, strings.NewReader(""), &out, &errb)
		return code, errb.String()
	}
	if code, _ := run("chrome-extension://" + dev + "/"); code != 1 {
		t.Fatalf("unknown id served: exit %d", code)
	}
	write := func(s string) {
		if err := os.WriteFile(filepath.Join(home, hostcmd.AllowedFile), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"chrome": ["` + dev + `"], "firefox": ["dev@parley.im"]}`)
	if code, errs := run("chrome-extension://" + dev + "/"); code != 0 {
		t.Fatalf("recorded id refused: exit %d: %s", code, errs)
	}
	if code, _ := run(hostcmd.Origin()); code != 0 {
		t.Fatalf("built-in id refused: exit %d", code)
	}
	for _, bad := range []string{`{"chrome": ["XYZ"]}`, `{"other": 1}`, `nonsense`} {
		write(bad)
		if code, errs := run(hostcmd.Origin()); code != 1 || !strings.Contains(errs, hostcmd.AllowedFile) {
			t.Errorf("%s: exit %d, %q", bad, code, errs)
		}
	}
}

// TestExportImportOverFrames: profile.export from one profile,
// profile.import into a fresh one, over frames.
func TestExportImportOverFrames(t *testing.T) {
	t.Setenv("PARLEY_HOME", t.TempDir())
	pass := writePass(t, "a long enough passphrase")
	a := startHost(t, "--profile", "a", "--passphrase-file", pass)
	id := call[engine.IdentityInfo](t, a, "identity.create", nil)
	path := filepath.Join(t.TempDir(), "a.export")
	p := map[string]string{"path": path, "passphrase": "export passphrase"}
	if r := call[engine.ExportResult](t, a, "profile.export", p); r.Bytes == 0 {
		t.Fatalf("export: %+v", r)
	}
	if code := callErr(t, a, "profile.export", map[string]string{"path": "x", "passphrase": "short"}); code != nmhost.CodeInvalidParams {
		t.Fatalf("short passphrase: %s", code)
	}
	a.stop(t)
	b := startHost(t, "--profile", "b", "--passphrase-file", pass)
	if code := callErr(t, b, "profile.import", map[string]string{"path": path, "passphrase": "not the passphrase"}); code != engine.CodeBadExport {
		t.Fatalf("wrong passphrase: %s", code)
	}
	call[engine.ExportResult](t, b, "profile.import", p)
	if got := call[engine.IdentityInfo](t, b, "identity.get", nil); got.Fingerprint != id.Fingerprint {
		t.Fatalf("imported identity %s, want %s", got.Fingerprint, id.Fingerprint)
	}
}
