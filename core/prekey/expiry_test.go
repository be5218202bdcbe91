package prekey_test

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/core/wire"
)

// TestExpiryRange checks that every expiry a parser accepts is a time.Time
// that compares as its Unix value does. time.Unix overflows for seconds
// above about 2^63 - 2^35.9: such a value round-trips through Unix() (what
// Verify compares) but is Before every real time (what a caller compares),
// so a prekey would be valid to one check and expired to the other. Expiries
// above prekey.MaxExpiry (the end of year 9999) are malformed, and a clock
// so late that a new prekey could expire beyond it fails closed.
func TestExpiryRange(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "expiry range", 1)
	good := mustBundle(t, f.secrets)
	// resign gives the bundle's KEM prekey expiry exp (Unix seconds),
	// signed by the owner, and returns the encoding.
	resign := func(exp int64) []byte {
		b := *good
		b.KEMPrekey.Expires = time.Unix(exp, 0).UTC()
		owner := b.Identity.SigningKey
		var id [4]byte
		var e [8]byte
		binary.BigEndian.PutUint32(id[:], b.KEMPrekey.ID)
		binary.BigEndian.PutUint64(e[:], uint64(exp))
		b.KEMPrekey.Sig = f.id.Sign(suite.LabelKEMPrekey, owner[:], id[:], b.KEMPrekey.Key.Bytes()[:], []byte{0}, e[:])
		return b.Marshal()
	}
	tests := []struct {
		name string
		exp  int64
		want error
	}{
		{"end of year 9999", prekey.MaxExpiry, nil},
		{"one second later", prekey.MaxExpiry + 1, wire.ErrMalformed},
		{"where time.Unix overflows", math.MaxInt64 - 62135596800 + 1, wire.ErrMalformed},
		{"largest int64", math.MaxInt64, wire.ErrMalformed},
	}
	for _, tc := range tests {
		b, err := prekey.ParseBundle(resign(tc.exp))
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: ParseBundle: %v, want %v", tc.name, err, tc.want)
			continue
		}
		if err != nil {
			continue
		}
		if err := b.Verify(testNow); err != nil {
			t.Errorf("%s: Verify: %v", tc.name, err)
		}
		if !b.KEMPrekey.Expires.After(testNow) || b.KEMPrekey.Expires.Unix() != tc.exp {
			t.Errorf("%s: parsed expiry %v does not compare as Unix %d", tc.name, b.KEMPrekey.Expires, tc.exp)
		}
	}

	// A clock so late that a prekey made now could expire after MaxExpiry
	// is broken: fail closed.
	late := time.Unix(prekey.MaxExpiry-int64(prekey.MaxPrekeyLifetime/time.Second)+1, 0)
	if _, err := prekey.Generate(nil, f.id, late, prekey.MinPrekeyLifetime, 0); !errors.Is(err, prekey.ErrClock) {
		t.Errorf("Generate at %v: %v, want ErrClock", late, err)
	}
	if err := good.Verify(time.Unix(math.MaxInt64, 0)); !errors.Is(err, prekey.ErrClock) {
		t.Errorf("Verify at the largest time: %v, want ErrClock", err)
	}
}
