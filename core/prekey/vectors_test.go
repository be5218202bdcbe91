package prekey_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

const vectorDir = "../../testdata/vectors"

// testNow is the fixed clock of every prekey test and vector.
var testNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

const testLifetime = 30 * 24 * time.Hour

// checkVector writes got to testdata/vectors/<file> with -update, and
// otherwise compares it byte for byte with the stored file.
func checkVector(t *testing.T, file string, got any) {
	t.Helper()
	enc, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	enc = append(enc, '\n')
	path := filepath.Join(vectorDir, file)
	if *update {
		if err := os.WriteFile(path, enc, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vector (run with -update to create it): %v", err)
	}
	if !bytes.Equal(enc, want) {
		t.Errorf("%s: regenerated vector differs from the stored one", file)
	}
}

func readVector(t testing.TB, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorDir, file))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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
	checkVector(t, "prekey.json", v)

	// Replay from the file alone.
	var s prekeyVector
	readVector(t, "prekey.json", &s)
	now := time.Unix(s.Now, 0)
	for i, enc := range []string{s.Bundle1, s.Bundle2, s.Bundle3} {
		b, err := prekey.ParseBundle(unhex(t, enc))
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
	b1, _ := prekey.ParseBundle(unhex(t, s.Bundle1))
	if err := b1.Identity.VerifySignature(b1.SignedPrekey.Sig, "", unhex(t, s.SPKSigned)); err != nil {
		t.Errorf("signed prekey signature does not cover the recorded message: %v", err)
	}
	if err := b1.Identity.VerifySignature(b1.KEMPrekey.Sig, "", unhex(t, s.KEMSigned)); err != nil {
		t.Errorf("KEM prekey signature does not cover the recorded message: %v", err)
	}
	sec, err := prekey.ParseSecrets(unhex(t, s.SecretsBefore))
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
