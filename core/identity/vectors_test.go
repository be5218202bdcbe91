package identity_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/internal/vectortest"
)

// vectorDir holds the published vectors (testdata/vectors/README.md).
const vectorDir = "../../testdata/vectors/"

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
	vectortest.Check(t, vectorDir+"identity.json", "  ", makeIdentityVectors(t))

	// Replay from the file alone: parse both encodings and re-encode.
	var v identityVectors
	vectortest.Read(t, vectorDir+"identity.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no cases")
	}
	for _, c := range v.Cases {
		p, err := identity.ParsePublic(vectortest.Unhex(t, c.Public))
		if err != nil {
			t.Fatalf("%s: ParsePublic: %v", c.Rand, err)
		}
		if hex.EncodeToString(p.SigningKey[:]) != c.SigningKey || hex.EncodeToString(p.DHKey[:]) != c.DHKey ||
			hex.EncodeToString(p.Binding[:]) != c.Binding {
			t.Errorf("%s: public fields differ", c.Rand)
		}
		priv, err := identity.ParsePrivate(vectortest.Unhex(t, c.Private))
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
	vectortest.Check(t, vectorDir+"safety.json", "  ", v)

	var stored safetyVectors
	vectortest.Read(t, vectorDir+"safety.json", &stored)
	for i, c := range stored.Cases {
		a, err := identity.ParsePublic(vectortest.Unhex(t, c.A))
		if err != nil {
			t.Fatal(err)
		}
		b, err := identity.ParsePublic(vectortest.Unhex(t, c.B))
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
	vectortest.Check(t, vectorDir+"rotation.json", "  ", rotationVector{
		Comment:    "old, new = two identity.Generate(testrand.New(\"rotation\")); NewRotation(old, new, 7); signed_message is what both signatures cover",
		OldPrivate: hex.EncodeToString(oldID.MarshalPrivate()),
		NewPrivate: hex.EncodeToString(newID.MarshalPrivate()),
		Seq:        7,
		Signed:     hex.EncodeToString(signed),
		Rotation:   hex.EncodeToString(rot.Marshal()),
	})

	var v rotationVector
	vectortest.Read(t, vectorDir+"rotation.json", &v)
	parsed, err := identity.ParseRotation(vectortest.Unhex(t, v.Rotation))
	if err != nil {
		t.Fatal(err)
	}
	oldP, err := identity.ParsePrivate(vectortest.Unhex(t, v.OldPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.Verify(oldP.Public(), v.Seq-1, func(*identity.PublicIdentity) bool { return false }); err != nil {
		t.Fatalf("stored rotation does not verify: %v", err)
	}
	msg := vectortest.Unhex(t, v.Signed)
	if err := parsed.Old.VerifySignature(parsed.SigOld, "", msg); err != nil {
		t.Errorf("SigOld does not cover signed_message: %v", err)
	}
	if err := parsed.New.VerifySignature(parsed.SigNew, "", msg); err != nil {
		t.Errorf("SigNew does not cover signed_message: %v", err)
	}
}
