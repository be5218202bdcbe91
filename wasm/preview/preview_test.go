package preview

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/parley-im/parley/core/envelope"
	"github.com/parley-im/parley/core/invite"
	"github.com/parley-im/parley/core/session"
	"github.com/parley-im/parley/core/suite"
	"github.com/parley-im/parley/wasm/qr"
)

// codes are every documented error code.
var codes = []Code{CodeBadArgument, CodeTooLarge, CodeBadIdentity, CodeBadInvite, CodeInviteChecksum,
	CodeInviteExpired, CodeUnsupportedVersion, CodeInternal}

// call runs the named function and checks the reply's shape: ok is a
// bool; a failure has a message and a documented code; every value is of a
// type package main converts.
func call(t testing.TB, name string, args ...Value) Reply {
	t.Helper()
	for _, f := range Functions() {
		if f.Name == name {
			r := f.Call(args)
			checkReply(t, name, r)
			return r
		}
	}
	t.Fatalf("no function %q", name)
	return nil
}

func checkReply(t testing.TB, name string, r Reply) {
	t.Helper()
	okv, isBool := r["ok"].(bool)
	if !isBool {
		t.Fatalf("%s: reply without boolean ok: %v", name, r)
	}
	for k, v := range r {
		switch v.(type) {
		case bool, int, string, []int, []string, []byte:
		default:
			t.Fatalf("%s: field %s has type %T", name, k, v)
		}
	}
	msg, _ := r["error"].(string)
	code, _ := r["code"].(string)
	if okv && (msg != "" || code != "") {
		t.Fatalf("%s: success with error fields: %v", name, r)
	}
	if !okv && (msg == "" || !slices.Contains(codes, Code(code))) {
		t.Fatalf("%s: failure without message or with unknown code: %v", name, r)
	}
}

// wantOK fails unless r succeeded.
func wantOK(t testing.TB, r Reply) {
	t.Helper()
	if r["ok"] != true {
		t.Fatalf("want ok, got %v", r)
	}
}

// wantCode fails unless r failed with code.
func wantCode(t testing.TB, r Reply, code Code) {
	t.Helper()
	if r["ok"] != false || r["code"] != string(code) {
		t.Fatalf("want %s, got %v", code, r)
	}
}

// TestFunctions: the exported names, and the argument count check.
func TestFunctions(t *testing.T) {
	t.Parallel()
	var names []string
	for _, f := range Functions() {
		names = append(names, f.Name)
		if f.Name != "version" {
			wantCode(t, f.Call(nil), CodeBadArgument)
		}
		extra := make([]Value, len(f.Params)+1)
		for i := range extra {
			extra[i] = undefined()
		}
		r := f.Call(extra)
		wantCode(t, r, CodeBadArgument)
		if !strings.Contains(r["error"].(string), f.Signature()) {
			t.Errorf("%s: message %q does not name the function", f.Name, r["error"])
		}
	}
	want := []string{"version", "previewSize", "previewText", "previewSizes", "safetyNumber", "parseInvite", "inviteQR"}
	if !slices.Equal(names, want) {
		t.Fatalf("functions %v, want %v", names, want)
	}
}

// TestVersion: the API and protocol versions and the limits.
func TestVersion(t *testing.T) {
	t.Parallel()
	r := call(t, "version")
	wantOK(t, r)
	if r["api"] != APIVersion || r["protocol"] != 1 || r["maxText"] != session.MaxTextSize ||
		r["maxInviteText"] != invite.MaxTextSize || r["identitySize"] != 130 || r["qrLevel"] != "M" ||
		!slices.Equal(r["buckets"].([]int), envelope.Buckets()) || r["maxBatch"] != MaxBatch || r["qrQuietZone"] != 4 {
		t.Fatalf("version: %v", r)
	}
}

// TestSizeOf: every text length from 0 to MaxText, with and without a PQ
// step, agrees with session.BlobSize, lands in a bucket, and never shrinks
// as the text grows; MaxText+1 is too large.
func TestSizeOf(t *testing.T) {
	t.Parallel()
	for _, pq := range []bool{false, true} {
		prev := 0
		for n := 0; n <= MaxText; n++ {
			s, err := SizeOf(n, pq)
			if err != nil {
				t.Fatalf("%d, pq %v: %v", n, pq, err)
			}
			want, err := session.BlobSize(n, pq)
			if err != nil || s.BlobSize != want || s.Bucket+envelope.SealOverhead != want ||
				!slices.Contains(envelope.Buckets(), s.Bucket) || want < prev {
				t.Fatalf("%d, pq %v: %+v, session.BlobSize %d, %v", n, pq, s, want, err)
			}
			prev = want
		}
		if _, err := SizeOf(MaxText+1, pq); err == nil {
			t.Fatalf("MaxText+1, pq %v: accepted", pq)
		}
	}
}

// TestPreviewSize: good lengths, the limit, and every bad argument.
func TestPreviewSize(t *testing.T) {
	t.Parallel()
	for _, pq := range []bool{false, true} {
		for _, n := range []int{0, 1, 200, 1000, 60000, MaxText} {
			r := call(t, "previewSize", num(float64(n)), boolean(pq))
			wantOK(t, r)
			s, _ := SizeOf(n, pq)
			if r["blobSize"] != s.BlobSize || r["bucket"] != s.Bucket || r["maxText"] != MaxText {
				t.Fatalf("%d: %v", n, r)
			}
		}
	}
	wantOK(t, call(t, "previewSize", num(math.Copysign(0, -1)), boolean(false))) // −0 is 0
	for _, f := range []float64{MaxText + 1, 1e300, math.MaxInt64, 1 << 53} {
		r := call(t, "previewSize", num(f), boolean(false))
		wantCode(t, r, CodeTooLarge)
		if r["maxText"] != MaxText {
			t.Fatalf("%v: too_large without maxText: %v", f, r)
		}
	}
	for _, tc := range []struct {
		name string
		args []Value
	}{
		{"negative", []Value{num(-1), boolean(false)}},
		{"fraction", []Value{num(1.5), boolean(false)}},
		{"NaN", []Value{num(math.NaN()), boolean(false)}},
		{"+Inf", []Value{num(math.Inf(1)), boolean(false)}},
		{"-Inf", []Value{num(math.Inf(-1)), boolean(false)}},
		{"string length", []Value{str("5"), boolean(false)}},
		{"null length", []Value{null(), boolean(false)}},
		{"other length", []Value{other(), boolean(false)}},
		{"unreadable length", []Value{&fake{kind: KindNumber, fail: true}, boolean(false)}},
		{"string pq", []Value{num(5), str("true")}},
		{"number pq", []Value{num(5), num(1)}},
		{"undefined pq", []Value{num(5), undefined()}},
		{"unreadable pq", []Value{num(5), &fake{kind: KindBoolean, fail: true}}},
	} {
		wantCode(t, call(t, "previewSize", tc.args...), CodeBadArgument)
	}
}

// TestPreviewText: the length is UTF-8 bytes, not UTF-16 code units; a
// string over the limit in code units is refused without being converted.
func TestPreviewText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text  string
		bytes int
	}{
		{"", 0},
		{"hello", 5},
		{"é", 2}, // 1 code unit
		{"€", 3}, // 1 code unit
		{"😀", 4}, // 2 code units
		{strings.Repeat("a", MaxText), MaxText},
	} {
		r := call(t, "previewText", str(tc.text), boolean(true))
		wantOK(t, r)
		s, _ := SizeOf(tc.bytes, true)
		if r["textBytes"] != tc.bytes || r["blobSize"] != s.BlobSize || r["bucket"] != s.Bucket {
			t.Fatalf("%.10q: %v", tc.text, r)
		}
	}
	// Fits in code units, not in bytes: converted, then too large.
	r := call(t, "previewText", str(strings.Repeat("é", MaxText/2+1)), boolean(false))
	wantCode(t, r, CodeTooLarge)
	if r["textBytes"] != 2*(MaxText/2+1) || r["maxText"] != MaxText {
		t.Fatalf("é×(MaxText/2+1): %v", r)
	}
	// Over the limit in code units: never converted.
	reads := 0
	huge := &fake{kind: KindString, n: 1 << 30, reads: &reads}
	wantCode(t, call(t, "previewText", huge, boolean(false)), CodeTooLarge)
	over := &fake{kind: KindString, s: strings.Repeat("a", MaxText+1), reads: &reads}
	wantCode(t, call(t, "previewText", over, boolean(false)), CodeTooLarge)
	if reads != 0 {
		t.Fatalf("oversized strings converted %d times", reads)
	}
	wantCode(t, call(t, "previewText", num(5), boolean(false)), CodeBadArgument)
	wantCode(t, call(t, "previewText", u8([]byte("hi")), boolean(false)), CodeBadArgument)
	wantCode(t, call(t, "previewText", &fake{kind: KindString, fail: true}, boolean(false)), CodeBadArgument)
	wantCode(t, call(t, "previewText", str("hi"), null()), CodeBadArgument)
}

// TestPreviewSizes: one entry per length, 0 for lengths over the limit; a
// bad entry fails the call and is named; an oversized array is not read.
func TestPreviewSizes(t *testing.T) {
	t.Parallel()
	lengths := []float64{0, 300, MaxText + 1, 5000, MaxText, 1e300}
	var vals []Value
	for _, f := range lengths {
		vals = append(vals, num(f))
	}
	for _, pq := range []bool{false, true} {
		r := call(t, "previewSizes", array(vals...), boolean(pq))
		wantOK(t, r)
		blobs, buckets := r["blobSizes"].([]int), r["buckets"].([]int)
		if len(blobs) != len(lengths) || len(buckets) != len(lengths) || r["maxText"] != MaxText {
			t.Fatalf("%v", r)
		}
		for i, f := range lengths {
			want := Size{}
			if f <= MaxText {
				want, _ = SizeOf(int(f), pq)
			}
			if blobs[i] != want.BlobSize || buckets[i] != want.Bucket {
				t.Fatalf("entry %d (%v): %d/%d, want %+v", i, f, blobs[i], buckets[i], want)
			}
		}
	}
	r := call(t, "previewSizes", array(), boolean(false))
	wantOK(t, r)
	if len(r["blobSizes"].([]int)) != 0 {
		t.Fatalf("empty: %v", r)
	}
	r = call(t, "previewSizes", array(num(1), num(-2), num(3)), boolean(false))
	wantCode(t, r, CodeBadArgument)
	if !strings.Contains(r["error"].(string), "lengths[1]") {
		t.Fatalf("bad entry not named: %v", r)
	}
	for _, bad := range []Value{str("2"), null(), num(math.NaN()), num(math.Inf(1)), num(1.5), array()} {
		r := call(t, "previewSizes", array(num(1), bad), boolean(false))
		wantCode(t, r, CodeBadArgument)
		if !strings.Contains(r["error"].(string), "lengths[1]") {
			t.Fatalf("bad entry not named: %v", r)
		}
	}
	wantCode(t, call(t, "previewSizes", &fake{kind: KindArray, fail: true}, boolean(false)), CodeBadArgument)
	wantCode(t, call(t, "previewSizes", &fake{kind: KindArray, n: 3}, boolean(false)), CodeBadArgument) // unreadable entries
	// An array that grew between Len and Floats.
	grown := &fake{kind: KindArray, elems: make([]Value, MaxBatch+1)}
	for i := range grown.elems {
		grown.elems[i] = num(1)
	}
	wantCode(t, call(t, "previewSizes", &lenLies{grown, 1}, boolean(false)), CodeTooLarge)
	reads := 0
	wantCode(t, call(t, "previewSizes", &fake{kind: KindArray, n: MaxBatch + 1, reads: &reads}, boolean(false)), CodeTooLarge)
	if reads != 0 {
		t.Fatalf("oversized array read %d times", reads)
	}
	wantCode(t, call(t, "previewSizes", num(3), boolean(false)), CodeBadArgument)
	wantCode(t, call(t, "previewSizes", u8([]byte{1, 2}), boolean(false)), CodeBadArgument)
	wantCode(t, call(t, "previewSizes", array(), str("no")), CodeBadArgument)
}

// lenLies reports a fixed Len, as a JavaScript object may.
type lenLies struct {
	*fake
	n int
}

func (l *lenLies) Len() (int, error) { return l.n, nil }

// Vectors of core/identity and core/invite, replayed through the API.

type safetyVectors struct {
	Cases []struct {
		A      string   `json:"a_public"`
		B      string   `json:"b_public"`
		Digits string   `json:"digits"`
		Emoji  []string `json:"emoji"`
	} `json:"cases"`
}

type inviteVector struct {
	Name         string `json:"name"`
	Now          int64  `json:"now,string"`
	Text         string `json:"text"`
	Bytes        string `json:"bytes"`
	Relay        string `json:"relay_address"`
	Secret       string `json:"invite_secret"`
	Expires      int64  `json:"expires,string"`
	Inviter      string `json:"inviter_identity"`
	Fingerprint  string `json:"fingerprint"`
	FirstContact string `json:"first_contact_token"`
	SealKey      string `json:"first_contact_seal_key"`
}

func readJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("../../testdata/vectors/" + name)
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

// TestSafetyNumber replays core/identity's safety number vectors in both
// argument orders.
func TestSafetyNumber(t *testing.T) {
	t.Parallel()
	var v safetyVectors
	readJSON(t, "safety.json", &v)
	if len(v.Cases) == 0 {
		t.Fatal("no vectors")
	}
	for _, c := range v.Cases {
		a, b := unhex(t, c.A), unhex(t, c.B)
		for _, args := range [][]Value{{u8(a), u8(b)}, {u8(b), u8(a)}} {
			r := call(t, "safetyNumber", args...)
			wantOK(t, r)
			if r["digits"] != c.Digits || !slices.Equal(r["emoji"].([]string), c.Emoji) {
				t.Fatalf("got %v, want %s %v", r, c.Digits, c.Emoji)
			}
		}
	}
}

// TestSafetyNumberRejects: wrong sizes are refused before any copy; a
// flipped bit anywhere, a wrong tag or a newer version is refused.
func TestSafetyNumberRejects(t *testing.T) {
	t.Parallel()
	var v safetyVectors
	readJSON(t, "safety.json", &v)
	good := unhex(t, v.Cases[0].A)
	peer := unhex(t, v.Cases[0].B)
	reads := 0
	for _, n := range []int{0, 1, IdentitySize - 1, IdentitySize + 1, 1 << 30} {
		r := call(t, "safetyNumber", &fake{kind: KindUint8Array, n: n, reads: &reads}, u8(peer))
		wantCode(t, r, CodeBadIdentity)
		if !strings.Contains(r["error"].(string), "a: want 130 bytes, got "+strconv.Itoa(n)) {
			t.Fatalf("%d bytes: %v", n, r)
		}
		wantCode(t, call(t, "safetyNumber", u8(peer), &fake{kind: KindUint8Array, n: n, reads: &reads}), CodeBadIdentity)
	}
	if reads != 0 {
		t.Fatalf("wrong-size arrays copied %d times", reads)
	}
	for i := range len(good) * 8 {
		b := bytes.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		r := call(t, "safetyNumber", u8(b), u8(peer))
		if i/8 == 1 && r["code"] == string(CodeUnsupportedVersion) {
			continue // the version byte
		}
		wantCode(t, r, CodeBadIdentity)
	}
	b := bytes.Clone(good)
	b[1] = 2
	wantCode(t, call(t, "safetyNumber", u8(b), u8(peer)), CodeUnsupportedVersion)
	// An array that changed length between Len and the copy.
	wantCode(t, call(t, "safetyNumber", &fake{kind: KindUint8Array, bytes: good, copyN: IdentitySize + 5}, u8(peer)), CodeBadIdentity)
	for _, bad := range []Value{str(hex.EncodeToString(good)), array(), null(), undefined(), num(1), other(),
		&fake{kind: KindUint8Array, fail: true}} {
		wantCode(t, call(t, "safetyNumber", bad, u8(peer)), CodeBadArgument)
		wantCode(t, call(t, "safetyNumber", u8(peer), bad), CodeBadArgument)
	}
}

// secretForms are the ways a secret could leak into a reply: raw bytes,
// hex, base32 as in an invite's text, each whole.
func secretForms(t testing.TB, hexes ...string) [][]byte {
	var out [][]byte
	for _, h := range hexes {
		b := unhex(t, h)
		out = append(out, b, []byte(h), []byte(strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))))
	}
	return out
}

// noSecret fails if any reply field holds any of the secret forms.
func noSecret(t testing.TB, r Reply, forms [][]byte) {
	t.Helper()
	for k, v := range r {
		var fields [][]byte
		switch v := v.(type) {
		case string:
			fields = [][]byte{[]byte(v)}
		case []string:
			for _, s := range v {
				fields = append(fields, []byte(s))
			}
		case []byte:
			fields = [][]byte{v}
		}
		for _, f := range fields {
			for _, s := range forms {
				if bytes.Contains(f, s) {
					t.Fatalf("reply field %s holds a secret", k)
				}
			}
		}
	}
}

func inviteVectors(t testing.TB) []inviteVector {
	var vs []inviteVector
	readJSON(t, "invite.json", &vs)
	if len(vs) == 0 {
		t.Fatal("no invite vectors")
	}
	return vs
}

// TestParseInvite replays core/invite's vectors: the public fields come
// back, and no form of the invite secret, the first-contact token or the
// seal key does — not in success replies, not in error messages.
func TestParseInvite(t *testing.T) {
	t.Parallel()
	for _, v := range inviteVectors(t) {
		forms := secretForms(t, v.Secret, v.FirstContact, v.SealKey)
		r := call(t, "parseInvite", str(v.Text), num(float64(v.Now)))
		wantOK(t, r)
		noSecret(t, r, forms)
		if r["fingerprint"] != v.Fingerprint || r["relay"] != v.Relay || r["expires"] != int(v.Expires) ||
			r["expiresIn"] != int(v.Expires-v.Now) || !bytes.Equal(r["inviter"].([]byte), unhex(t, v.Inviter)) {
			t.Fatalf("%s: %v", v.Name, r)
		}
		if len(r) != 6 {
			t.Fatalf("%s: fields beyond the documented ones: %v", v.Name, r)
		}
		// Expired at and after expiry; fine one second before.
		wantOK(t, call(t, "parseInvite", str(v.Text), num(float64(v.Expires-1))))
		r = call(t, "parseInvite", str(v.Text), num(float64(v.Expires)))
		wantCode(t, r, CodeInviteExpired)
		noSecret(t, r, forms)
		// A typo: one base32 character changed in the middle.
		typo := []byte(v.Text)
		i := len(typo) / 2
		typo[i] = map[bool]byte{true: 'b', false: 'a'}[typo[i] == 'a']
		r = call(t, "parseInvite", str(string(typo)), num(float64(v.Now)))
		wantCode(t, r, CodeInviteChecksum)
		noSecret(t, r, forms)
		for _, bad := range []string{"", "parley:", strings.ToUpper(v.Text), v.Text[len(invite.Prefix):],
			v.Text + "a", v.Text[:len(v.Text)-1], " " + v.Text, "parley:!!!!", "https://example.com/"} {
			r := call(t, "parseInvite", str(bad), num(float64(v.Now)))
			if r["code"] != string(CodeBadInvite) && r["code"] != string(CodeInviteChecksum) {
				t.Fatalf("%.20q…: %v", bad, r)
			}
			noSecret(t, r, forms)
		}
	}
}

// TestParseInviteVersion: a well-formed invite of another protocol version
// (checksum recomputed) is unsupported_version, not bad_invite.
func TestParseInviteVersion(t *testing.T) {
	t.Parallel()
	v := inviteVectors(t)[0]
	b := unhex(t, v.Bytes)
	m := b[:len(b)-invite.ChecksumSize]
	m[1] = 2
	sum := sha256.Sum256(append([]byte(suite.LabelInviteChecksum), m...))
	text := invite.Prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(append(m, sum[:invite.ChecksumSize]...)))
	wantCode(t, call(t, "parseInvite", str(text), num(float64(v.Now))), CodeUnsupportedVersion)
}

// TestInviteArgs: bad times and oversized or wrongly typed text, for both
// invite functions; oversized text is never converted.
func TestInviteArgs(t *testing.T) {
	t.Parallel()
	v := inviteVectors(t)[0]
	for _, fn := range []string{"parseInvite", "inviteQR"} {
		for _, now := range []Value{num(0), num(-1), num(1.5), num(math.NaN()), num(math.Inf(1)), num(MaxUnixSeconds + 1),
			str("1735689600"), null(), undefined(), other(), &fake{kind: KindNumber, fail: true}} {
			wantCode(t, call(t, fn, str(v.Text), now), CodeBadArgument)
		}
		reads := 0
		wantCode(t, call(t, fn, &fake{kind: KindString, n: MaxInviteText + 1, reads: &reads}, num(float64(v.Now))), CodeTooLarge)
		wantCode(t, call(t, fn, &fake{kind: KindString, n: 1 << 40, reads: &reads}, num(float64(v.Now))), CodeTooLarge)
		if reads != 0 {
			t.Fatalf("%s: oversized text converted", fn)
		}
		for _, bad := range []Value{num(5), u8([]byte(v.Text)), array(str(v.Text)), null(), &fake{kind: KindString, fail: true}} {
			wantCode(t, call(t, fn, bad, num(float64(v.Now))), CodeBadArgument)
		}
		// A time far in the past is before the prekeys' validity: the
		// bundle check refuses it, whatever the code.
		r := call(t, fn, str(v.Text), num(1))
		if r["ok"] != false {
			t.Fatalf("%s at 1970: %v", fn, r)
		}
	}
}

// TestInviteQR: the QR code carries the invite's binary form, byte mode,
// level M, and the reply holds nothing but the symbol.
func TestInviteQR(t *testing.T) {
	t.Parallel()
	for _, v := range inviteVectors(t) {
		r := call(t, "inviteQR", str(v.Text), num(float64(v.Now)))
		wantOK(t, r)
		want, err := qr.EncodeBytes(unhex(t, v.Bytes), qr.LevelM)
		if err != nil {
			t.Fatal(err)
		}
		mods := r["modules"].([]byte)
		if r["size"] != want.Size() || r["version"] != want.Version() || r["level"] != "M" || r["quietZone"] != 4 ||
			!bytes.Equal(mods, want.Modules()) || len(mods) != want.Size()*want.Size() || len(r) != 6 {
			t.Fatalf("%s: size %v version %v level %v, %d modules", v.Name, r["size"], r["version"], r["level"], len(mods))
		}
		wantCode(t, call(t, "inviteQR", str(v.Text), num(float64(v.Expires))), CodeInviteExpired)
		wantCode(t, call(t, "inviteQR", str(v.Text[:len(v.Text)-2]+"aa"), num(float64(v.Now))), CodeInviteChecksum)
	}
}

// TestInviteFitsQR: the largest possible invite fits an invite QR code.
func TestInviteFitsQR(t *testing.T) {
	t.Parallel()
	m, err := qr.EncodeBytes(make([]byte, invite.MaxBytesSize), QRLevel)
	if err != nil {
		t.Fatalf("%d bytes at level %s: %v", invite.MaxBytesSize, QRLevel, err)
	}
	t.Logf("largest invite: %d bytes, version %d (%d modules)", invite.MaxBytesSize, m.Version(), m.Size())
}

// TestPanicRecovered: a panic while reading arguments becomes an internal
// error reply.
func TestPanicRecovered(t *testing.T) {
	t.Parallel()
	for _, f := range Functions() {
		if len(f.Params) == 0 {
			continue
		}
		args := make([]Value, len(f.Params))
		for i := range args {
			args[i] = panicky{kind: KindNumber}
		}
		r := f.Call(args)
		checkReply(t, f.Name, r)
		// The first argument read may be of another kind (bad_argument);
		// give every parameter the kind it wants so a read happens.
		kinds := map[string]Kind{"textLength": KindNumber, "pq": KindBoolean, "text": KindString, "lengths": KindArray,
			"a": KindUint8Array, "b": KindUint8Array, "nowUnixSeconds": KindNumber}
		for i, p := range f.Params {
			args[i] = panicky{kind: kinds[p]}
		}
		wantCode(t, f.Call(args), CodeInternal)
	}
}

// FuzzCall feeds every function arguments of every kind: no call panics
// (which would show as an internal error) and every reply is well formed.
func FuzzCall(f *testing.F) {
	f.Add(uint8(1), []byte{3, 0, 1, 2, 1}, "", 12.0)      // previewSize(12, true)
	f.Add(uint8(2), []byte{4, 0, 2, 1}, "héllo 😀", 0.0)   // previewText("héllo 😀", false)
	f.Add(uint8(3), []byte{5, 3, 3, 2}, "", 300.0)        // previewSizes([300, 300, 300], bool)
	f.Add(uint8(4), []byte{6, 6}, "\x01\x01garbage", 0.0) // safetyNumber(non-identities)
	f.Add(uint8(5), []byte{4, 3}, "parley:aaaa", 1.7e9)   // parseInvite(garbage, now)
	f.Add(uint8(6), []byte{4, 3}, "parley:", -1.0)        // inviteQR with a bad time
	f.Add(uint8(0), []byte{7, 7, 7}, "", math.NaN())      // version with stray arguments
	f.Fuzz(func(t *testing.T, fn uint8, kinds []byte, s string, x float64) {
		fns := Functions()
		fun := fns[int(fn)%len(fns)]
		if len(kinds) > 4 {
			kinds = kinds[:4]
		}
		var args []Value
		for _, k := range kinds {
			switch Kind(k % 8) {
			case KindUndefined:
				args = append(args, undefined())
			case KindNull:
				args = append(args, null())
			case KindBoolean:
				args = append(args, boolean(x > 0))
			case KindNumber:
				args = append(args, num(x))
			case KindString:
				args = append(args, str(s))
			case KindArray:
				args = append(args, array(num(x), num(float64(len(s)))))
			case KindUint8Array:
				args = append(args, u8([]byte(s)))
			default:
				args = append(args, other())
			}
		}
		r := fun.Call(args)
		checkReply(t, fun.Name, r)
		if r["code"] == string(CodeInternal) {
			t.Fatalf("%s: %v", fun.Name, r)
		}
	})
}

func ExampleSizeOf() {
	for _, n := range []int{0, 1000, MaxText} {
		s, _ := SizeOf(n, false)
		fmt.Printf("%d bytes of text: bucket %d, blob %d\n", n, s.Bucket, s.BlobSize)
	}
	_, err := SizeOf(MaxText+1, false)
	fmt.Println(err != nil)
	// Output:
	// 0 bytes of text: bucket 256, blob 284
	// 1000 bytes of text: bucket 4096, blob 4124
	// 60573 bytes of text: bucket 65536, blob 65564
	// true
}

func benchCall(b *testing.B, name string, args ...Value) {
	b.ReportAllocs()
	var fn *Function
	for _, f := range Functions() {
		if f.Name == name {
			fn = f
		}
	}
	for b.Loop() {
		if r := fn.Call(args); r["ok"] != true {
			b.Fatal(r)
		}
	}
}

func BenchmarkPreviewSize(b *testing.B) { benchCall(b, "previewSize", num(1000), boolean(false)) }

func BenchmarkPreviewSizes(b *testing.B) {
	vals := make([]Value, 1000)
	for i := range vals {
		vals[i] = num(float64(i * 60))
	}
	benchCall(b, "previewSizes", array(vals...), boolean(true))
}

func BenchmarkSafetyNumber(b *testing.B) {
	var v safetyVectors
	readJSON(b, "safety.json", &v)
	benchCall(b, "safetyNumber", u8(unhex(b, v.Cases[0].A)), u8(unhex(b, v.Cases[0].B)))
}

func BenchmarkParseInvite(b *testing.B) {
	v := inviteVectors(b)[0]
	benchCall(b, "parseInvite", str(v.Text), num(float64(v.Now)))
}

func BenchmarkInviteQR(b *testing.B) {
	v := inviteVectors(b)[0]
	benchCall(b, "inviteQR", str(v.Text), num(float64(v.Now)))
}
