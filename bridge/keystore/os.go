package keystore

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/zalando/go-keyring"
)

const (
	// OpTimeout bounds one OS keystore call. A Secret Service whose
	// collection is locked may wait forever for a prompt nobody answers;
	// after OpTimeout the call reports ErrNoKeystore (the abandoned call's
	// goroutine ends when D-Bus answers or the process exits).
	OpTimeout = 10 * time.Second

	// MaxAccountLen bounds an OS keystore account name.
	MaxAccountLen = 128

	// probeAccount is looked up by Probe; it is never written.
	probeAccount = "probe"
)

// noKeystoreSignatures are the texts of the errors that mean "there is no
// usable OS keystore here". The first four are the ones TESTING.md lists for
// go-keyring on headless Linux; the others are godbus's and D-Bus's words for
// the same situations.
var noKeystoreSignatures = []string{
	`exec: "dbus-launch": executable file not found`,
	"was not provided by any .service files",
	"failed to unlock correct collection",
	"no such file or directory", // dial unix <bus socket>
	"connection refused",        // a stale bus socket
	"couldn't determine address of session bus",
	"org.freedesktop.DBus.Error.ServiceUnknown",
	"org.freedesktop.DBus.Error.NoReply",
	// godbus, for an address it cannot use: headless Chromium starts the
	// native host with DBUS_SESSION_BUS_ADDRESS=disabled:.
	"dbus: invalid bus address",
}

// classify maps a go-keyring error to this package's errors.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, keyring.ErrNotFound) {
		return ErrNotFound
	}
	if errors.Is(err, keyring.ErrUnsupportedPlatform) {
		return fmt.Errorf("%w (%s: %v); choose a passphrase instead", ErrNoKeystore, op, err)
	}
	msg := err.Error()
	for _, sig := range noKeystoreSignatures {
		if strings.Contains(msg, sig) {
			return fmt.Errorf("%w (%s: %s); choose a passphrase instead", ErrNoKeystore, op, msg)
		}
	}
	return fmt.Errorf("keystore: OS keystore %s: %w", op, err)
}

// call runs f with the OpTimeout bound and classifies its error.
func call(op string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	t := time.NewTimer(OpTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		return classify(op, err)
	case <-t.C:
		return fmt.Errorf("%w (%s: no answer within %v, is the keyring locked?); choose a passphrase instead", ErrNoKeystore, op, OpTimeout)
	}
}

// Probe reports whether an OS keystore answers: nil if it does, an error
// wrapping ErrNoKeystore if none is usable, another error if it answered
// with a failure. It only reads (a lookup that is expected to find nothing).
func Probe() error {
	err := call("probe", func() error {
		_, err := keyring.Get(Service, probeAccount)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// OSKeystore is the key of one profile in the OS keystore: the entry with
// service Service and the given account, holding the key in standard
// base64.
type OSKeystore struct {
	account string
}

// NewOSKeystore returns the OS keystore entry for account (1 to
// MaxAccountLen bytes). CreateOS chooses a random account per profile.
func NewOSKeystore(account string) (*OSKeystore, error) {
	if account == "" || len(account) > MaxAccountLen || account == probeAccount {
		return nil, fmt.Errorf("%w: bad account name", ErrCorrupt)
	}
	return &OSKeystore{account: account}, nil
}

// Account returns the entry's account name.
func (s *OSKeystore) Account() string { return s.account }

// Mode returns ModeOS.
func (s *OSKeystore) Mode() Mode { return ModeOS }

// Key reads the key: ErrNotFound if the entry is missing, an error wrapping
// ErrNoKeystore if no keystore answers, ErrCorrupt if the entry is not a
// base64 key of KeySize bytes.
func (s *OSKeystore) Key() (*Key, error) {
	var v string
	err := call("get", func() error {
		var err error
		v, err = keyring.Get(Service, s.account)
		return err
	})
	if err != nil {
		return nil, err
	}
	var b [KeySize + 3]byte // room to notice an overlong value
	if base64.StdEncoding.DecodedLen(len(v)) > len(b) {
		return nil, fmt.Errorf("%w: stored key has the wrong length", ErrCorrupt)
	}
	n, err := base64.StdEncoding.Strict().Decode(b[:], []byte(v))
	defer clear(b[:])
	if err != nil {
		return nil, fmt.Errorf("%w: stored key is not base64", ErrCorrupt)
	}
	if n != KeySize {
		return nil, fmt.Errorf("%w: stored key has the wrong length", ErrCorrupt)
	}
	return KeyFromBytes(b[:n])
}

// Set stores k, replacing any key stored for the account.
func (s *OSKeystore) Set(k *Key) error {
	enc := make([]byte, base64.StdEncoding.EncodedLen(KeySize))
	base64.StdEncoding.Encode(enc, k.b[:])
	defer clear(enc)
	return call("set", func() error { return keyring.Set(Service, s.account, string(enc)) })
}

// Delete removes the entry; ErrNotFound if there was none.
func (s *OSKeystore) Delete() error {
	return call("delete", func() error { return keyring.Delete(Service, s.account) })
}
