package prekey_test

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/internal/vectortest"
)

// vectorDir holds the published vectors (testdata/vectors/README.md).
const vectorDir = "../../testdata/vectors/"

// testNow is the fixed clock of every prekey test and vector.
var testNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const testLifetime = 30 * 24 * time.Hour

// fixture is one owner with generated prekeys.
type fixture struct {
	id      *identity.PrivateIdentity
	secrets *prekey.Secrets
}

func newFixture(t testing.TB, name string, oneTime int) fixture {
	t.Helper()
	r := testrand.New(name)
	id, err := identity.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	s, err := prekey.Generate(r, id, testNow, testLifetime, oneTime)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{id, s}
}

type prekeyVector struct {
	Comment         string `json:"comment"`
	Rand            string `json:"rand"`
	Now             int64  `json:"now_unix"`
	LifetimeSeconds int64  `json:"lifetime_seconds"`
	OneTimeCount    int    `json:"one_time_count"`
	IdentityPrivate string `json:"identity_private"`
	SecretsBefore   string `json:"secrets_before"`
	Bundle1         string `json:"bundle_1"`
	Bundle2         string `json:"bundle_2"`
	Bundle3         string `json:"bundle_3_last_resort"`
	SecretsAfter    string `json:"secrets_after"`
	SPKSigned       string `json:"signed_prekey_signed_message"`
	KEMSigned       string `json:"kem_prekey_signed_message"`
}

// TestVectorsPrekey: identity then Secrets from one testrand stream; three
// bundles (two one-time, then last resort); the storage encoding before and
// after; the exact messages the signatures of bundle_1 cover.
func TestVectorsPrekey(t *testing.T) {
	const name = "prekey"
	f := newFixture(t, name, 2)
	v := prekeyVector{
		Comment:         "id = identity.Generate(r), s = prekey.Generate(r, id, now, lifetime, 2) with r = testrand.New(rand); bundles from s.Bundle(now) three times",
		Rand:            name,
		Now:             testNow.Unix(),
		LifetimeSeconds: int64(testLifetime / time.Second),
		OneTimeCount:    2,
		IdentityPrivate: hex.EncodeToString(f.id.MarshalPrivate()),
		SecretsBefore:   hex.EncodeToString(f.secrets.Marshal()),
	}
	var bundles [3]*prekey.Bundle
	for i := range bundles {
		b, err := f.secrets.Bundle(testNow)
		if err != nil {
			t.Fatal(err)
		}
		bundles[i] = b
	}
	v.Bundle1 = hex.EncodeToString(bundles[0].Marshal())
	v.Bundle2 = hex.EncodeToString(bundles[1].Marshal())
	v.Bundle3 = hex.EncodeToString(bundles[2].Marshal())
	v.SecretsAfter = hex.EncodeToString(f.secrets.Marshal())
	v.SPKSigned = hex.EncodeToString(spkSigned(bundles[0]))
	v.KEMSigned = hex.EncodeToString(kemSigned(bundles[0]))
	vectortest.Check(t, vectorDir+"prekey.json", "  ", v)

	// Replay from the file alone.
	var s prekeyVector
	vectortest.Read(t, vectorDir+"prekey.json", &s)
	now := time.Unix(s.Now, 0)
	for i, enc := range []string{s.Bundle1, s.Bundle2, s.Bundle3} {
		b, err := prekey.ParseBundle(vectortest.Unhex(t, enc))
		if err != nil {
			t.Fatalf("bundle %d: %v", i+1, err)
		}
		if err := b.Verify(now); err != nil {
			t.Fatalf("bundle %d: %v", i+1, err)
		}
		if b.KEMPrekey.LastResort != (i == 2) {
			t.Errorf("bundle %d: LastResort = %v", i+1, b.KEMPrekey.LastResort)
		}
	}
	b1, _ := prekey.ParseBundle(vectortest.Unhex(t, s.Bundle1))
	if err := b1.Identity.VerifySignature(b1.SignedPrekey.Sig, "", vectortest.Unhex(t, s.SPKSigned)); err != nil {
		t.Errorf("signed prekey signature does not cover the recorded message: %v", err)
	}
	if err := b1.Identity.VerifySignature(b1.KEMPrekey.Sig, "", vectortest.Unhex(t, s.KEMSigned)); err != nil {
		t.Errorf("KEM prekey signature does not cover the recorded message: %v", err)
	}
	sec, err := prekey.ParseSecrets(vectortest.Unhex(t, s.SecretsBefore))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{s.Bundle1, s.Bundle2, s.Bundle3} {
		b, err := sec.Bundle(now)
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(b.Marshal()); got != want {
			t.Errorf("parsed secrets: bundle %d differs", i+1)
		}
	}
	if got := hex.EncodeToString(sec.Marshal()); got != s.SecretsAfter {
		t.Error("parsed secrets: storage encoding after bundles differs")
	}
}

// spkSigned and kemSigned rebuild the signed messages from the text of
// docs/PROTOCOL.md §Prekeys.
func spkSigned(b *prekey.Bundle) []byte {
	m := []byte("parley/v1/prekey/x25519")
	m = append(m, b.Identity.SigningKey[:]...)
	m = be32(m, b.SignedPrekey.ID)
	m = append(m, b.SignedPrekey.Key[:]...)
	return be64(m, uint64(b.SignedPrekey.Expires.Unix()))
}

func kemSigned(b *prekey.Bundle) []byte {
	m := []byte("parley/v1/prekey/xwing")
	m = append(m, b.Identity.SigningKey[:]...)
	m = be32(m, b.KEMPrekey.ID)
	m = append(m, b.KEMPrekey.Key.Bytes()[:]...)
	if b.KEMPrekey.LastResort {
		m = append(m, 1)
	} else {
		m = append(m, 0)
	}
	return be64(m, uint64(b.KEMPrekey.Expires.Unix()))
}

func be32(m []byte, v uint32) []byte {
	return append(m, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

func be64(m []byte, v uint64) []byte {
	return be32(be32(m, uint32(v>>32)), uint32(v))
}
