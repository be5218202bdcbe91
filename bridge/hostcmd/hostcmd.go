// Package hostcmd is `parley-bridge` in native-messaging host mode
// (DESIGN.md §Bridge; docs/NATIVE_MESSAGING.md): it checks which extension
// started it, opens the profile (lock, key source, SQLCipher store), runs
// the engine (bridge/engine) and serves its methods over native-messaging
// frames on stdin/stdout (bridge/nmhost). ping and status answer in every
// state: fresh profile, profile locked by another bridge, no OS keystore,
// passphrase needed.
package hostcmd

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/parley-im/parley/bridge/engine"
	"github.com/parley-im/parley/bridge/keystore"
	"github.com/parley-im/parley/bridge/nmhost"
	"github.com/parley-im/parley/bridge/profile"
	"github.com/parley-im/parley/bridge/store"
)

// ExtensionKey is the public `key` of the extension's manifest.json (base64
// of a DER SubjectPublicKeyInfo); it fixes the Chrome extension id the host
// serves. A test checks that it equals the key in the repository's
// manifest.json.
const ExtensionKey = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAs7oChefAfLC/WDl6em8Wg/6htw3uiLUpyrVN0Suco+j/166opr0dLEKpU99sPPAdtgSH1pUNY5hkyF43I3MNvP9WmbqyBOkbZbVG+tMBHM8FcXaq+We8szzMgo7p793vhHGzhwaJWFhRt6Gl3Cq8PM+BIMjQTZBh+rDWwk7AyQNh9WFvCvt/HUd+DZxPiFD3j0Vsjeem3CUrEXmEzGpkIo48L1fIotRTif/ugYpAZBL5pUYGr7mJLYzNq4biHHR0DsOpGfbkvqWaBF/DlcYv40nuR8kO2pz/YzfeeTSqA7RLun7OBLH/Px9zb+hYPo4ZSMQZT+yDxWIQ4HPcBXLrhQIDAQAB"

// FirefoxID is the Firefox add-on id the host serves.
const FirefoxID = "parley@parley.im"

// ExtensionID returns the Chrome extension id derived from ExtensionKey.
func ExtensionID() string {
	der, err := base64.StdEncoding.DecodeString(ExtensionKey)
	if err != nil {
		panic("hostcmd: ExtensionKey is not base64") // a constant: a programming error
	}
	return nmhost.ChromeExtensionID(der)
}

// Origin returns the origin Chrome passes when the extension starts the
// host: chrome-extension://<ExtensionID>/.
func Origin() string { return "chrome-extension://" + ExtensionID() + "/" }

// AllowedFile is the file in the data directory where the install step
// records further extension ids to serve (for example a development build
// loaded unpacked without the manifest key):
//
//	{"chrome": ["<32 letters a-p>", …], "firefox": ["addon@id", …]}
const AllowedFile = "allowed-extensions.json"

// maxAllowedFileSize bounds AllowedFile.
const maxAllowedFileSize = 64 << 10

// Allowed returns the extension ids the host serves: ExtensionID and
// FirefoxID, plus those recorded in AllowedFile if it exists.
func Allowed() (nmhost.Allowlist, error) {
	allow := nmhost.Allowlist{Chrome: []string{ExtensionID()}, Firefox: []string{FirefoxID}}
	dir, err := profile.DataDir()
	if err != nil {
		return allow, nil // no data dir: only the built-in ids
	}
	f, err := os.Open(filepath.Join(dir, AllowedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return allow, nil
	} else if err != nil {
		return allow, fmt.Errorf("read %s: %w", AllowedFile, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAllowedFileSize+1))
	if err != nil {
		return allow, fmt.Errorf("read %s: %w", AllowedFile, err)
	}
	if len(b) > maxAllowedFileSize {
		return allow, fmt.Errorf("%s is larger than %d bytes", AllowedFile, maxAllowedFileSize)
	}
	var extra struct {
		Chrome  []string `json:"chrome"`
		Firefox []string `json:"firefox"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&extra); err != nil {
		return allow, fmt.Errorf("%s is not valid: %w", AllowedFile, err)
	}
	for _, id := range extra.Chrome {
		if len(id) != 32 || strings.Trim(id, "abcdefghijklmnop") != "" {
			return allow, fmt.Errorf("%s: %q is not a Chrome extension id", AllowedFile, id)
		}
	}
	for _, id := range extra.Firefox {
		if id == "" || len(id) > 255 {
			return allow, fmt.Errorf("%s: a Firefox add-on id must be 1 to 255 bytes", AllowedFile)
		}
	}
	allow.Chrome = append(allow.Chrome, extra.Chrome...)
	allow.Firefox = append(allow.Firefox, extra.Firefox...)
	return allow, nil
}

// States of the host (status.state).
const (
	StateReady          = "ready"
	StateLocked         = "locked"          // passphrase profile: profile.unlock needed
	StateNeedPassphrase = "need_passphrase" // new profile, no OS keystore: profile.unlock sets one
	StateNoKeystore     = "no_keystore"     // OS-keystore profile whose keystore is unreachable
	StateProfileLocked  = "profile_locked"  // another bridge owns the profile
	StateError          = "error"
)

// Usage is the host mode's help text.
const Usage = `usage: parley-bridge [--profile NAME] [--passphrase-file FILE] ORIGIN
       parley-bridge [flags] MANIFEST-PATH ADDON-ID

Native-messaging host mode: the browser starts parley-bridge with the
caller's origin (Chrome) or the host manifest path and add-on id (Firefox)
and speaks length-prefixed JSON frames on stdin/stdout
(docs/NATIVE_MESSAGING.md). Only the Parley extension is served.

Flags:
`

type options struct {
	profile, passphraseFile string
	pollInterval            time.Duration
}

// Run runs the host until stdin ends or ctx is cancelled and returns the
// exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("parley-bridge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o options
	fs.StringVar(&o.profile, "profile", profile.DefaultName, "profile `name`")
	fs.StringVar(&o.passphraseFile, "passphrase-file", "", "read the profile passphrase from `file` (headless use; creates a passphrase profile if new)")
	fs.DurationVar(&o.pollInterval, "poll-interval", engine.DefaultPollInterval, "mean time between relay polls")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, Usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintf(stderr, "parley-bridge: error: %v\n", err)
		return 2
	}
	if o.pollInterval < 10*time.Millisecond {
		fmt.Fprintln(stderr, "parley-bridge: error: --poll-interval must be at least 10ms")
		return 2
	}
	if err := profile.CheckName(o.profile); err != nil {
		fmt.Fprintf(stderr, "parley-bridge: error: %v\n", err)
		return 2
	}
	allow, err := Allowed()
	if err != nil {
		fmt.Fprintf(stderr, "parley-bridge: error: %v\n", err)
		return 1
	}
	if _, err := nmhost.CheckCaller(append([]string{"parley-bridge"}, fs.Args()...), allow); err != nil {
		fmt.Fprintf(stderr, "parley-bridge: error: %v\n", err)
		return 1
	}
	var pass []byte
	if o.passphraseFile != "" {
		b, err := os.ReadFile(o.passphraseFile)
		if err != nil {
			fmt.Fprintf(stderr, "parley-bridge: error: read passphrase file: %v\n", err)
			return 2
		}
		pass = bytes.TrimRight(b, "\r\n")
	}
	defer clear(pass)

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := &host{opts: o, log: log}
	router := nmhost.NewRouter()
	h.register(router)
	nh := nmhost.NewHost(stdin, stdout, router, nmhost.Options{Logger: log})
	h.nh = nh
	h.open(ctx, pass)
	defer h.close()
	if err := nh.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "parley-bridge: error: %v\n", err)
		return 1
	}
	return 0
}

// host is the host's state: which profile state it is in and, when
// ready, the open store and engine.
type host struct {
	opts options
	log  *slog.Logger
	nh   *nmhost.Host

	mu     sync.Mutex
	state  string
	detail string
	dir    string
	mode   keystore.Mode
	prof   *profile.Profile
	db     *store.DB
	eng    *engine.Engine
	ctx    context.Context
	cancel context.CancelFunc
}

// open locks the profile and, if the key is at hand, opens the store and
// starts the engine.
func (h *host) open(ctx context.Context, pass []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ctx, h.cancel = context.WithCancel(ctx)
	dir, err := profile.Dir(h.opts.profile)
	if err != nil {
		h.fail(StateError, "no data directory", err)
		return
	}
	h.dir = dir
	p, err := profile.Open(dir)
	if errors.Is(err, profile.ErrProfileLocked) {
		h.state, h.detail = StateProfileLocked, "the profile is in use by another parley-bridge"
		return
	}
	if err != nil {
		h.fail(StateError, "cannot open the profile directory", err)
		return
	}
	h.prof = p
	mode, err := keystore.ConfiguredMode(dir)
	if err != nil {
		h.fail(StateError, "corrupt key configuration", err)
		return
	}
	h.mode = mode
	var src keystore.Source
	switch {
	case mode == keystore.ModeNone && pass != nil:
		src, err = keystore.CreatePassphrase(dir, pass, keystore.DefaultParams(), nil)
		h.mode = keystore.ModePassphrase
	case mode == keystore.ModeNone:
		src, err = keystore.CreateOS(dir, nil)
		if errors.Is(err, keystore.ErrNoKeystore) {
			h.state, h.detail = StateNeedPassphrase, "no OS keystore: choose a passphrase (profile.unlock)"
			return
		}
		h.mode = keystore.ModeOS
	case mode == keystore.ModePassphrase && pass == nil:
		h.state, h.detail = StateLocked, "the profile needs its passphrase (profile.unlock)"
		return
	default:
		src, err = keystore.Open(dir, pass)
	}
	if err != nil {
		h.keyFailed(err)
		return
	}
	h.start(src)
}

// keyFailed maps a key-source failure to a state.
func (h *host) keyFailed(err error) {
	switch {
	case errors.Is(err, keystore.ErrNoKeystore):
		h.state, h.detail = StateNoKeystore, "the OS keystore is not reachable"
	case errors.Is(err, keystore.ErrWrongPassphrase), errors.Is(err, keystore.ErrPassphraseRequired):
		h.state, h.detail = StateLocked, "wrong or missing passphrase (profile.unlock)"
	default:
		h.fail(StateError, "cannot get the profile key", err)
	}
}

// start opens the store with src and runs the engine. h.mu is held.
func (h *host) start(src keystore.Source) {
	db, err := store.Open(h.ctx, filepath.Join(h.dir, store.FileName), src)
	if err != nil {
		if errors.Is(err, keystore.ErrNoKeystore) || errors.Is(err, store.ErrWrongKey) && h.mode == keystore.ModePassphrase {
			h.keyFailed(err)
			return
		}
		h.fail(StateError, "cannot open the profile database", err)
		return
	}
	eng, err := engine.New(engine.Config{DB: db, Emit: h.emit, Logger: h.log, PollInterval: h.opts.pollInterval})
	if err != nil {
		db.Close()
		h.fail(StateError, "cannot start the engine", err)
		return
	}
	h.db, h.eng = db, eng
	h.state, h.detail = StateReady, ""
	eng.Start(h.ctx)
}

func (h *host) fail(state, detail string, err error) {
	h.state, h.detail = state, detail
	h.log.Error("parley-bridge: "+detail, "err", err)
}

func (h *host) emit(name string, data any) {
	if err := h.nh.Emit(name, data); err != nil {
		h.log.Warn("parley-bridge: event not sent", "event", name, "err", err)
	}
}

// close stops the engine and releases the store and the lock.
func (h *host) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.eng != nil {
		h.eng.Close()
	}
	if h.db != nil {
		h.db.Close()
	}
	if h.prof != nil {
		h.prof.Close()
	}
	if h.cancel != nil {
		h.cancel()
	}
	h.eng, h.db, h.prof = nil, nil, nil
}

// engine returns the running engine or the error that says why there is
// none.
func (h *host) engine() (*engine.Engine, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.eng != nil {
		return h.eng, nil
	}
	return nil, nmhost.NewError(h.state, h.detail)
}

// unlock handles profile.unlock: in StateLocked it opens the profile with
// the passphrase; in StateNeedPassphrase it creates a passphrase profile.
func (h *host) unlock(pass []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch h.state {
	case StateReady:
		return nmhost.NewError("already_unlocked", "the profile is already open")
	case StateLocked, StateNeedPassphrase:
	default:
		return nmhost.NewError(h.state, h.detail)
	}
	var (
		src keystore.Source
		err error
	)
	if h.state == StateNeedPassphrase {
		src, err = keystore.CreatePassphrase(h.dir, pass, keystore.DefaultParams(), nil)
		if err == nil {
			h.mode = keystore.ModePassphrase
		}
	} else {
		src, err = keystore.Open(h.dir, pass)
	}
	switch {
	case errors.Is(err, keystore.ErrWrongPassphrase):
		return nmhost.NewError("wrong_passphrase", "wrong passphrase")
	case err != nil && h.state == StateNeedPassphrase:
		return nmhost.NewError(nmhost.CodeInvalidParams, fmt.Sprintf("passphrase: must be %d to %d bytes", keystore.MinPassphraseLen, keystore.MaxPassphraseLen))
	case err != nil:
		return err
	}
	h.start(src)
	if h.state != StateReady {
		return nmhost.NewError(h.state, h.detail)
	}
	return nil
}
