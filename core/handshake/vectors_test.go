package handshake_test

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
	"time"

	"github.com/parley-im/parley/core/handshake"
	"github.com/parley-im/parley/core/identity"
	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/prekey"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/internal/vectortest"

	"golang.org/x/crypto/curve25519"
)

// vectorDir holds the published vectors (testdata/vectors/README.md).
const vectorDir = "../../testdata/vectors/"

func hexs(b []byte) string { return hex.EncodeToString(b) }

// handshakeCase is one complete deterministic first contact.
type handshakeCase struct {
	Name              string `json:"name"`
	ResponderRand     string `json:"responder_rand"`
	OneTimeCount      int    `json:"one_time_count"`
	InitiatorRand     string `json:"initiator_rand"`
	InitiateRand      string `json:"initiate_rand"`
	ResponderPrivate  string `json:"responder_identity_private"`
	ResponderSecrets  string `json:"responder_secrets_before"`
	Bundle            string `json:"bundle"`
	InitiatorPrivate  string `json:"initiator_identity_private"`
	InitMessage       string `json:"init_message"`
	RatchetKEMSeed    string `json:"initiator_ratchet_kem_seed"`
	DH1               string `json:"dh1"`
	DH2               string `json:"dh2"`
	DH3               string `json:"dh3"`
	KEMShared         string `json:"kem_shared_secret"`
	Transcript        string `json:"transcript"`
	SharedSecret      string `json:"shared_secret"`
	AD                string `json:"ad"`
	LastResort        bool   `json:"last_resort"`
	ResponderSecAfter string `json:"responder_secrets_after"`
}

type handshakeVectors struct {
	Comment string          `json:"comment"`
	Now     int64           `json:"now_unix"`
	Life    int64           `json:"lifetime_seconds"`
	Cases   []handshakeCase `json:"cases"`
}

func makeCase(t *testing.T, name string, oneTime int) handshakeCase {
	c := handshakeCase{
		Name:          name,
		ResponderRand: "handshake responder " + name,
		OneTimeCount:  oneTime,
		InitiatorRand: "handshake initiator " + name,
		InitiateRand:  "handshake initiate " + name,
	}
	bob := newParty(t, c.ResponderRand, oneTime)
	alice, err := identity.Generate(testrand.New(c.InitiatorRand))
	if err != nil {
		t.Fatal(err)
	}
	c.ResponderPrivate = hexs(bob.id.MarshalPrivate())
	c.InitiatorPrivate = hexs(alice.MarshalPrivate())
	bundle := bundleOf(t, bob)
	c.ResponderSecrets = hexs(bob.secrets.Marshal()) // after Bundle marked the one-time prekey issued
	c.Bundle = hexs(bundle.Marshal())
	msg, ra, err := handshake.Initiate(testrand.New(c.InitiateRand), alice, bundle, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c.InitMessage = hexs(msg.Marshal())
	seed := ra.RatchetKEM.Seed()
	c.RatchetKEMSeed = hexs(seed[:])

	// The four secret inputs, recomputed on the responder's side through
	// public APIs.
	spk, _, err := bob.secrets.SignedPrekey(msg.SignedPrekeyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	kem, _, err := bob.secrets.KEMPrekey(msg.KEMPrekeyID, testNow)
	if err != nil {
		t.Fatal(err)
	}
	dh1, _ := spk.DH(alice.Public().DHKey)
	dh2, _ := bob.id.DH(msg.Ephemeral)
	dh3, _ := spk.DH(msg.Ephemeral)
	ss, _ := kem.Decapsulate(msg.KEMCiphertext[:])
	c.DH1, c.DH2, c.DH3, c.KEMShared = hexs(dh1[:]), hexs(dh2[:]), hexs(dh3[:]), hexs(ss[:])

	rb, err := handshake.Respond(bob.id, bob.secrets, msg, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if rb.SharedSecret != ra.SharedSecret {
		t.Fatal("vector parties disagree")
	}
	c.Transcript = hexs(ra.Transcript[:])
	c.SharedSecret = hexs(ra.SharedSecret[:])
	c.AD = hexs(ra.AD)
	c.LastResort = ra.LastResort
	c.ResponderSecAfter = hexs(bob.secrets.Marshal())
	return c
}

// TestVectorsHandshake regenerates the first-contact vectors, then replays
// the stored file: the responder side from the stored encodings alone, and
// the transcript and key schedule with independent code written from
// docs/PROTOCOL.md §First contact.
func TestVectorsHandshake(t *testing.T) {
	v := handshakeVectors{
		Comment: "responder: identity.Generate then prekey.Generate(now, lifetime, one_time_count) from testrand.New(responder_rand), bundle = Secrets.Bundle(now); " +
			"initiator identity from testrand.New(initiator_rand); Initiate(testrand.New(initiate_rand), initiator, bundle, now)",
		Now:   testNow.Unix(),
		Life:  int64(testLifetime / time.Second),
		Cases: []handshakeCase{makeCase(t, "one-time", 2), makeCase(t, "last-resort", 0)},
	}
	vectortest.Check(t, vectorDir+"handshake.json", "  ", v)

	var s handshakeVectors
	vectortest.Read(t, vectorDir+"handshake.json", &s)
	now := time.Unix(s.Now, 0)
	for _, c := range s.Cases {
		t.Run(c.Name, func(t *testing.T) {
			replayCase(t, c, now)
		})
	}
}

func replayCase(t *testing.T, c handshakeCase, now time.Time) {
	bob, err := identity.ParsePrivate(vectortest.Unhex(t, c.ResponderPrivate))
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := prekey.ParseSecrets(vectortest.Unhex(t, c.ResponderSecrets))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := prekey.ParseBundle(vectortest.Unhex(t, c.Bundle))
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Verify(now); err != nil {
		t.Fatal(err)
	}
	msg, err := handshake.ParseInitMessage(vectortest.Unhex(t, c.InitMessage))
	if err != nil {
		t.Fatal(err)
	}
	rb, err := handshake.Respond(bob, secrets, msg, now)
	if err != nil {
		t.Fatal(err)
	}
	if hexs(rb.SharedSecret[:]) != c.SharedSecret || hexs(rb.Transcript[:]) != c.Transcript || hexs(rb.AD) != c.AD ||
		rb.LastResort != c.LastResort {
		t.Fatal("replayed responder output differs")
	}
	if hexs(secrets.Marshal()) != c.ResponderSecAfter {
		t.Fatal("responder prekeys after the handshake differ")
	}
	alice, err := identity.ParsePrivate(vectortest.Unhex(t, c.InitiatorPrivate))
	if err != nil {
		t.Fatal(err)
	}
	if !msg.Initiator.Equal(alice.Public()) {
		t.Fatal("init message names another initiator")
	}

	// Independent DH values, with x/crypto's X25519 on the raw scalars:
	// the initiator's identity scalar follows its Ed25519 seed, the
	// responder's first signed prekey scalar follows header, owner, next
	// id, count, id and expiry in the secrets encoding.
	aliceScalar := vectortest.Unhex(t, c.InitiatorPrivate)[2+32:]
	bobScalar := vectortest.Unhex(t, c.ResponderPrivate)[2+32:]
	spkScalar := vectortest.Unhex(t, c.ResponderSecrets)[2+130+4+1+4+8:][:32]
	for i, d := range []struct {
		scalar, point []byte
		want          string
	}{
		{aliceScalar, bundle.SignedPrekey.Key[:], c.DH1},
		{bobScalar, msg.Ephemeral[:], c.DH2},
		{spkScalar, msg.Ephemeral[:], c.DH3},
	} {
		got, err := curve25519.X25519(d.scalar, d.point)
		if err != nil || hexs(got) != d.want {
			t.Fatalf("DH%d does not follow the specification", i+1)
		}
	}

	// Independent transcript: SHA-256 over length-prefixed fields.
	field := func(h []byte, f []byte) []byte {
		return append(binary.BigEndian.AppendUint32(h, uint32(len(f))), f...)
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	flag := []byte{0}
	if bundle.KEMPrekey.LastResort {
		flag[0] = 1
	}
	raw := vectortest.Unhex(t, c.InitMessage)
	var in []byte
	for _, f := range [][]byte{
		[]byte("parley/v1/handshake/transcript"),
		raw[2 : 2+130],                           // initiator identity, as sent
		vectortest.Unhex(t, c.Bundle)[2 : 2+130], // responder identity, as in the bundle
		u32(bundle.SignedPrekey.ID), bundle.SignedPrekey.Key[:],
		u32(bundle.KEMPrekey.ID), bundle.KEMPrekey.Key.Bytes()[:], flag,
		msg.Ephemeral[:], msg.KEMCiphertext[:], msg.RatchetKEM.Bytes()[:],
	} {
		in = field(in, f)
	}
	th := sha256.Sum256(in)
	if hexs(th[:]) != c.Transcript {
		t.Fatal("transcript does not follow the specification")
	}
	ikm := append(append(append(vectortest.Unhex(t, c.DH1), vectortest.Unhex(t, c.DH2)...), vectortest.Unhex(t, c.DH3)...), vectortest.Unhex(t, c.KEMShared)...)
	sk, err := hkdf.Key(sha256.New, ikm, th[:], "parley/v1/handshake/kdf", 32)
	if err != nil {
		t.Fatal(err)
	}
	if hexs(sk) != c.SharedSecret {
		t.Fatal("shared secret does not follow the specification")
	}
	// The recorded ratchet seed is the private half of the sent ratchet key.
	ratchet, err := suite.NewKEMPrivateKey(vectortest.Unhex(t, c.RatchetKEMSeed))
	if err != nil {
		t.Fatal(err)
	}
	if !ratchet.Public().Equal(msg.RatchetKEM) {
		t.Fatal("ratchet KEM seed does not match the init message")
	}
}
