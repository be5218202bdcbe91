package keystore

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/argon2"
)

const (
	// ConfigFile is the public key configuration inside a profile
	// directory. It holds the mode and, in OS mode, the keystore account; in
	// passphrase mode, the Argon2id parameters, salt and a key check. It
	// holds no secret. It is created once, O_EXCL with mode 0600.
	ConfigFile = "keystore.json"

	// MaxConfigSize bounds ConfigFile when reading it.
	MaxConfigSize = 4096

	// configVersion is the only ConfigFile version this package reads.
	configVersion = 1

	// SaltSize is the Argon2id salt size.
	SaltSize = 16
	// checkSize is the size of the key check.
	checkSize = 32
	// accountSize is the number of random bytes in an OS keystore account
	// name (hex-encoded, after "profile-").
	accountSize = 16

	// Argon2id parameters: defaults (RFC 9106 §4, second recommended
	// option) and the bounds accepted from a ConfigFile (a floor against a
	// downgraded file, a ceiling against one that would exhaust memory).
	DefaultTime      = 3
	DefaultMemoryKiB = 64 * 1024
	DefaultThreads   = 4
	MinTime          = 2
	MaxTime          = 32
	MinMemoryKiB     = 19 * 1024
	MaxMemoryKiB     = 1024 * 1024
	MinThreads       = 1
	MaxThreads       = 16

	// MinPassphraseLen is the shortest passphrase accepted, in bytes.
	MinPassphraseLen = 8
	// MaxPassphraseLen is the longest passphrase accepted, in bytes.
	MaxPassphraseLen = 1024

	// Labels of the two keys derived from the Argon2id output with
	// HKDF-SHA256 (the Argon2id output is the HKDF secret, the salt is empty).
	labelDBKey = "parley/bridge/keystore/v1/db-key"
	labelCheck = "parley/bridge/keystore/v1/check"
)

// Params are Argon2id parameters.
type Params struct {
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memory_kib"`
	Threads   uint8  `json:"threads"`
}

// DefaultParams returns the default Argon2id parameters.
func DefaultParams() Params {
	return Params{Time: DefaultTime, MemoryKiB: DefaultMemoryKiB, Threads: DefaultThreads}
}

// check reports whether p is within the accepted bounds.
func (p Params) check() error {
	if p.Time < MinTime || p.Time > MaxTime ||
		p.MemoryKiB < MinMemoryKiB || p.MemoryKiB > MaxMemoryKiB ||
		p.Threads < MinThreads || p.Threads > MaxThreads {
		return fmt.Errorf("%w: argon2id parameters outside t=%d..%d, m=%d..%d KiB, p=%d..%d",
			ErrCorrupt, MinTime, MaxTime, MinMemoryKiB, MaxMemoryKiB, MinThreads, MaxThreads)
	}
	return nil
}

// config is ConfigFile's JSON form.
type config struct {
	Version int     `json:"version"`
	Mode    Mode    `json:"mode"`
	Service string  `json:"service,omitempty"` // os
	Account string  `json:"account,omitempty"` // os
	KDF     string  `json:"kdf,omitempty"`     // passphrase: "argon2id"
	Params  *Params `json:"params,omitempty"`  // passphrase
	Salt    string  `json:"salt,omitempty"`    // passphrase, base64
	Check   string  `json:"check,omitempty"`   // passphrase, base64
}

// parsed passphrase configuration.
type kdfConfig struct {
	params Params
	salt   []byte
	check  []byte
}

func readConfig(dir string) (*config, error) {
	f, err := os.Open(filepath.Join(dir, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotConfigured
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: read config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("keystore: read config: %w", err)
	}
	if len(b) > MaxConfigSize {
		return nil, fmt.Errorf("%w: %s is over %d bytes", ErrCorrupt, ConfigFile, MaxConfigSize)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, ConfigFile, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s: trailing data", ErrCorrupt, ConfigFile)
	}
	if c.Version != configVersion {
		return nil, fmt.Errorf("%w: %s version %d, want %d", ErrCorrupt, ConfigFile, c.Version, configVersion)
	}
	switch c.Mode {
	case ModeOS:
		if c.Service != Service || c.Account == "" || len(c.Account) > MaxAccountLen ||
			c.KDF != "" || c.Params != nil || c.Salt != "" || c.Check != "" {
			return nil, fmt.Errorf("%w: %s: bad os entry", ErrCorrupt, ConfigFile)
		}
	case ModePassphrase:
		if c.Service != "" || c.Account != "" || c.KDF != "argon2id" || c.Params == nil {
			return nil, fmt.Errorf("%w: %s: bad passphrase entry", ErrCorrupt, ConfigFile)
		}
	default:
		return nil, fmt.Errorf("%w: %s: unknown mode %q", ErrCorrupt, ConfigFile, c.Mode)
	}
	return &c, nil
}

func (c *config) kdf() (*kdfConfig, error) {
	if err := c.Params.check(); err != nil {
		return nil, err
	}
	salt, err := base64.StdEncoding.Strict().DecodeString(c.Salt)
	if err != nil || len(salt) != SaltSize {
		return nil, fmt.Errorf("%w: %s: bad salt", ErrCorrupt, ConfigFile)
	}
	check, err := base64.StdEncoding.Strict().DecodeString(c.Check)
	if err != nil || len(check) != checkSize {
		return nil, fmt.Errorf("%w: %s: bad check", ErrCorrupt, ConfigFile)
	}
	return &kdfConfig{params: *c.Params, salt: salt, check: check}, nil
}

// writeConfig creates ConfigFile with O_EXCL and mode 0600, syncs it and its
// directory. ErrExists if it is already there.
func writeConfig(dir string, c *config) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("keystore: encode config: %w", err)
	}
	b = append(b, '\n')
	path := filepath.Join(dir, ConfigFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return ErrExists
	}
	if err != nil {
		return fmt.Errorf("keystore: create config: %w", err)
	}
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(path)
		return fmt.Errorf("keystore: write config: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort; not supported on every system
		d.Close()
	}
	return nil
}

// ConfiguredMode reports the mode recorded in dir's ConfigFile: ModeNone
// (with a nil error) for a new profile, or ErrCorrupt.
func ConfiguredMode(dir string) (Mode, error) {
	c, err := readConfig(dir)
	if errors.Is(err, ErrNotConfigured) {
		return ModeNone, nil
	}
	if err != nil {
		return ModeNone, err
	}
	return c.Mode, nil
}

// CreateOS sets up a new profile in OS mode: it generates a key and a random
// account name, stores the key in the OS keystore, then records the mode in
// ConfigFile. If the keystore fails (ErrNoKeystore) nothing is written and
// the caller offers a passphrase instead. ErrExists if the profile already
// has a key. rand nil means crypto/rand.
func CreateOS(dir string, rand io.Reader) (*OSKeystore, error) {
	if _, err := readConfig(dir); !errors.Is(err, ErrNotConfigured) {
		if err == nil {
			return nil, ErrExists
		}
		return nil, err
	}
	var acct [accountSize]byte
	if err := readRand(rand, acct[:]); err != nil {
		return nil, err
	}
	s, err := NewOSKeystore("profile-" + hex.EncodeToString(acct[:]))
	if err != nil {
		return nil, err
	}
	k, err := NewKey(rand)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	if err := s.Set(k); err != nil {
		return nil, err
	}
	if err := writeConfig(dir, &config{Version: configVersion, Mode: ModeOS, Service: Service, Account: s.account}); err != nil {
		_ = s.Delete()
		return nil, err
	}
	return s, nil
}

// CreatePassphrase sets up a new profile in passphrase mode: a random salt,
// the Argon2id parameters p and a key check go into ConfigFile, and the
// returned Source holds the derived key. The passphrase must be
// MinPassphraseLen to MaxPassphraseLen bytes; it is used exactly as given.
// ErrExists if the profile already has a key. rand nil means crypto/rand.
func CreatePassphrase(dir string, passphrase []byte, p Params, rand io.Reader) (*Static, error) {
	if err := checkPassphrase(passphrase); err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("keystore: create: %w", err)
	}
	if _, err := readConfig(dir); !errors.Is(err, ErrNotConfigured) {
		if err == nil {
			return nil, ErrExists
		}
		return nil, err
	}
	salt := make([]byte, SaltSize)
	if err := readRand(rand, salt); err != nil {
		return nil, err
	}
	key, check := derive(passphrase, salt, p)
	defer key.Wipe()
	err := writeConfig(dir, &config{
		Version: configVersion,
		Mode:    ModePassphrase,
		KDF:     "argon2id",
		Params:  &p,
		Salt:    base64.StdEncoding.EncodeToString(salt),
		Check:   base64.StdEncoding.EncodeToString(check),
	})
	if err != nil {
		return nil, err
	}
	return NewStatic(key, ModePassphrase), nil
}

// Open returns the key Source of an existing profile, as its ConfigFile
// says: the OS keystore entry (the key is read when asked for, so
// ErrNoKeystore shows up at Source.Key), or, in passphrase mode, the key
// derived from passphrase after checking it (ErrPassphraseRequired if
// passphrase is nil, ErrWrongPassphrase if it does not match).
// ErrNotConfigured for a new profile. An OS profile ignores passphrase: the
// modes never substitute for each other.
func Open(dir string, passphrase []byte) (Source, error) {
	c, err := readConfig(dir)
	if err != nil {
		return nil, err
	}
	if c.Mode == ModeOS {
		return NewOSKeystore(c.Account)
	}
	kc, err := c.kdf()
	if err != nil {
		return nil, err
	}
	if passphrase == nil {
		return nil, ErrPassphraseRequired
	}
	if len(passphrase) > MaxPassphraseLen {
		return nil, ErrWrongPassphrase
	}
	key, check := derive(passphrase, kc.salt, kc.params)
	defer key.Wipe()
	if !hmac.Equal(check, kc.check) {
		return nil, ErrWrongPassphrase
	}
	return NewStatic(key, ModePassphrase), nil
}

func checkPassphrase(p []byte) error {
	if len(p) < MinPassphraseLen || len(p) > MaxPassphraseLen {
		return fmt.Errorf("keystore: passphrase must be %d to %d bytes", MinPassphraseLen, MaxPassphraseLen)
	}
	return nil
}

// derive computes the database key and the key check from a passphrase:
//
//	m     = Argon2id(passphrase, salt, t, m, p, 32)
//	key   = HKDF-SHA256(secret=m, salt="", info=labelDBKey, 32)
//	check = HKDF-SHA256(secret=m, salt="", info=labelCheck, 32)
//
// The check is public; it costs an attacker the same Argon2id call per
// guess as trying the database itself.
func derive(passphrase, salt []byte, p Params) (*Key, []byte) {
	m := argon2.IDKey(passphrase, salt, p.Time, p.MemoryKiB, p.Threads, 32)
	defer clear(m)
	kb, err := hkdf.Key(sha256.New, m, nil, labelDBKey, KeySize)
	if err != nil {
		panic("keystore: hkdf: " + err.Error()) // only for lengths over 255*32
	}
	defer clear(kb)
	check, err := hkdf.Key(sha256.New, m, nil, labelCheck, checkSize)
	if err != nil {
		panic("keystore: hkdf: " + err.Error())
	}
	k, _ := KeyFromBytes(kb)
	return k, check
}

func readRand(r io.Reader, b []byte) error {
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("keystore: random: %w", err)
	}
	return nil
}
