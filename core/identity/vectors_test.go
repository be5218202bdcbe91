package identity_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
)

var update = flag.Bool("update", false, "rewrite testdata vectors")

const vectorDir = "../../testdata/vectors"

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

// readVector decodes a stored vector file into v.
func readVector(t *testing.T, file string, v any) {
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

func mustGenerate(t testing.TB, name string) *identity.PrivateIdentity {
	t.Helper()
	id, err := identity.Generate(testrand.New(name))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

type identityVector struct {
	Rand       string `json:"rand"`
	SigningKey string `json:"signing_key"`
	DHKey      string `json:"dh_key"`
	Binding    string `json:"binding"`
	Public     string `json:"public"`
	Private    string `json:"private"`
}

type identityVectors struct {
	Comment string           `json:"comment"`
	Cases   []identityVector `json:"cases"`
}

func makeIdentityVectors(t *testing.T) identityVectors {
	v := identityVectors{Comment: "identity.Generate(testrand.New(rand)); public = PublicIdentity.Marshal, private = MarshalPrivate"}
	for _, name := range []string{"identity 1", "identity 2"} {
		id := mustGenerate(t, name)
		p := id.Public()
		v.Cases = append(v.Cases, identityVector{
			Rand:       name,
			SigningKey: hex.EncodeToString(p.SigningKey[:]),
			DHKey:      hex.EncodeToString(p.DHKey[:]),
			Binding:    hex.EncodeToString(p.Binding[:]),
			Public:     hex.EncodeToString(p.Marshal()),
			Private:    hex.EncodeToString(id.MarshalPrivate()),
		})
	}
	return v
}

func TestVectorsIdentity(t *testing.T) {
	checkVector(t, "identity.json", makeIdentityVectors(t))

	// Replay from the file alone: parse both encodings and re-encode.
	var v identityVectors
	readVector(t, "identity.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range v.Cases {
		p, err := identity.ParsePublic(unhex(t, c.Public))
		if err != nil {
			t.Fatalf("%s: ParsePublic: %v", c.Rand, err)
		}
		if hex.EncodeToString(p.SigningKey[:]) != c.SigningKey || hex.EncodeToString(p.DHKey[:]) != c.DHKey ||
			hex.EncodeToString(p.Binding[:]) != c.Binding {
			t.Errorf("%s: public fields differ", c.Rand)
		}
		priv, err := identity.ParsePrivate(unhex(t, c.Private))
		if err != nil {
			t.Fatalf("%s: ParsePrivate: %v", c.Rand, err)
		}
		if got := hex.EncodeToString(priv.Public().Marshal()); got != c.Public {
			t.Errorf("%s: private key derives public %s, want %s", c.Rand, got, c.Public)
		}
	}
}

type safetyVector struct {
	A      string   `json:"a_public"`
	B      string   `json:"b_public"`
	Digits string   `json:"digits"`
	Emoji  []string `json:"emoji"`
}

type safetyVectors struct {
	Comment string         `json:"comment"`
	Cases   []safetyVector `json:"cases"`
}

func TestVectorsSafety(t *testing.T) {
	r := testrand.New("safety number")
	v := safetyVectors{Comment: "identities a, b drawn in turn from identity.Generate(testrand.New(\"safety number\")); digits and emoji of NewSafetyNumber(a, b)"}
	for range 3 {
		a, err := identity.Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		b, err := identity.Generate(r)
		if err != nil {
			t.Fatal(err)
		}
		sn := identity.NewSafetyNumber(a.Public(), b.Public())
		v.Cases = append(v.Cases, safetyVector{
			A:      hex.EncodeToString(a.Public().Marshal()),
			B:      hex.EncodeToString(b.Public().Marshal()),
			Digits: sn.Digits(),
			Emoji:  sn.Emoji(),
		})
	}
	checkVector(t, "safety.json", v)

	var stored safetyVectors
	readVector(t, "safety.json", &stored)
	for i, c := range stored.Cases {
		a, err := identity.ParsePublic(unhex(t, c.A))
		if err != nil {
			t.Fatal(err)
		}
		b, err := identity.ParsePublic(unhex(t, c.B))
		if err != nil {
			t.Fatal(err)
		}
		for _, sn := range []identity.SafetyNumber{identity.NewSafetyNumber(a, b), identity.NewSafetyNumber(b, a)} {
			if sn.Digits() != c.Digits {
				t.Errorf("case %d: digits %q, want %q", i, sn.Digits(), c.Digits)
			}
			if got, _ := json.Marshal(sn.Emoji()); !bytes.Equal(got, mustJSON(t, c.Emoji)) {
				t.Errorf("case %d: emoji %s differ", i, got)
			}
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type rotationVector struct {
	Comment    string `json:"comment"`
	OldPrivate string `json:"old_private"`
	NewPrivate string `json:"new_private"`
	Seq        uint64 `json:"seq"`
	Signed     string `json:"signed_message"`
	Rotation   string `json:"rotation"`
}

func TestVectorsRotation(t *testing.T) {
	r := testrand.New("rotation")
	oldID, err := identity.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	newID, err := identity.Generate(r)
	if err != nil {
		t.Fatal(err)
	}
	rot := identity.NewRotation(oldID, newID, 7)
	signed := append([]byte(nil), "parley/v1/identity/rotation"...)
	signed = append(signed, oldID.Public().Marshal()...)
	signed = append(signed, newID.Public().Marshal()...)
	signed = append(signed, 0, 0, 0, 0, 0, 0, 0, 7)
	checkVector(t, "rotation.json", rotationVector{
		Comment:    "old, new = two identity.Generate(testrand.New(\"rotation\")); NewRotation(old, new, 7); signed_message is what both signatures cover",
		OldPrivate: hex.EncodeToString(oldID.MarshalPrivate()),
		NewPrivate: hex.EncodeToString(newID.MarshalPrivate()),
		Seq:        7,
		Signed:     hex.EncodeToString(signed),
		Rotation:   hex.EncodeToString(rot.Marshal()),
	})

	var v rotationVector
	readVector(t, "rotation.json", &v)
	parsed, err := identity.ParseRotation(unhex(t, v.Rotation))
	if err != nil {
		t.Fatal(err)
	}
	oldP, err := identity.ParsePrivate(unhex(t, v.OldPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(oldP.Public(), v.Seq-1, func(*identity.PublicIdentity) bool { return false }); err != nil {
		t.Fatalf("stored rotation does not verify: %v", err)
	}
	msg := unhex(t, v.Signed)
	if err := parsed.Old.VerifySignature(parsed.SigOld, "", msg); err != nil {
		t.Errorf("SigOld does not cover signed_message: %v", err)
	}
	if err := parsed.New.VerifySignature(parsed.SigNew, "", msg); err != nil {
		t.Errorf("SigNew does not cover signed_message: %v", err)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
