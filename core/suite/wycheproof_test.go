package suite_test

// Wycheproof (github.com/C2SP/wycheproof, pinned below) run against the exact
// functions the core calls. Each test counts what it ran, asserts a minimum so
// a format change cannot make it run nothing, and fails when the vectors are
// missing: they are never skipped.
//
// The vectors come from the Go module proxy, as the standard library's
// crypto/internal/cryptotest.FetchModule does it: PARLEY_WYCHEPROOF_DIR names
// the module directory if set, otherwise `go mod download -json` prints it.
// js/wasm cannot run the go command, so there the directory comes from
// PARLEY_WYCHEPROOF_DIR (`make wasm-test` sets it) or, failing that, from the
// module cache (a native `go test` or `make` has filled it); Node's fs reads
// absolute paths, and wasm_exec_node.js passes the environment through.

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/cloudflare/circl/kem/mlkem/mlkem768"

	"github.com/parley-im/parley/core/internal/testrand"
	"github.com/parley-im/parley/core/suite"
)

const (
	wycheproofModule  = "github.com/C2SP/wycheproof"
	wycheproofVersion = "v0.0.0-20250901140545-b51abcfb8daf"
	wycheproofEnv     = "PARLEY_WYCHEPROOF_DIR"
)

// wycheproofDir locates the pinned module once per test binary.
var wycheproofDir = sync.OnceValues(func() (string, error) {
	if d := os.Getenv(wycheproofEnv); d != "" {
		return d, nil
	}
	if runtime.GOOS == "js" || runtime.GOOS == "wasip1" {
		return moduleCacheDir()
	}
	cmd := exec.Command("go", "mod", "download", "-json", wycheproofModule+"@"+wycheproofVersion)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var m struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &m); jerr == nil && m.Error != "" {
		return "", errors.New("go mod download: " + m.Error)
	}
	if err != nil {
		return "", errors.New("go mod download: " + err.Error() + ": " + stderr.String())
	}
	if m.Dir == "" {
		return "", errors.New("go mod download printed no Dir")
	}
	return m.Dir, nil
})

// moduleCacheDir returns where the go command keeps the pinned module:
// $GOMODCACHE, else $GOPATH/pkg/mod, else $HOME/go/pkg/mod, with the module
// path escaped as the module cache does (an upper-case letter becomes '!'
// and its lower-case form).
func moduleCacheDir() (string, error) {
	cache := os.Getenv("GOMODCACHE")
	if cache == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			gopath = filepath.Join(os.Getenv("HOME"), "go")
		}
		cache = filepath.Join(filepath.SplitList(gopath)[0], "pkg", "mod")
	}
	var esc strings.Builder
	for _, r := range wycheproofModule {
		if 'A' <= r && r <= 'Z' {
			esc.WriteByte('!')
			r += 'a' - 'A'
		}
		esc.WriteRune(r)
	}
	d := filepath.Join(cache, esc.String()+"@"+wycheproofVersion)
	if _, err := os.Stat(d); err != nil {
		return "", errors.New("no go command under " + runtime.GOOS + " and the module cache lacks the vectors (" +
			err.Error() + "): set " + wycheproofEnv + " as `make wasm-test` does")
	}
	return d, nil
}

// readWycheproof decodes testvectors_v1/name into v, failing the test if the
// file cannot be found or parsed.
func readWycheproof(t *testing.T, name string, v any) {
	t.Helper()
	dir, err := wycheproofDir()
	if err != nil {
		t.Fatalf("locating Wycheproof %s@%s: %v", wycheproofModule, wycheproofVersion, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "testvectors_v1", name))
	if err != nil {
		t.Fatalf("reading Wycheproof vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
}

// hexBytes is a JSON string of hex digits.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = d
	return nil
}

// wycheproofTest holds the fields every Wycheproof test case has.
type wycheproofTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Result  string   `json:"result"` // "valid", "acceptable" or "invalid"
}

// checkCount fails unless at least min vectors of a kind ran, and logs the
// exact count.
func checkCount(t *testing.T, what string, got, min int) {
	t.Helper()
	t.Logf("%-46s %d", what, got)
	if got < min {
		t.Errorf("%s: %d vectors, want at least %d (has the vector format changed?)", what, got, min)
	}
}

// TestWycheproofX25519 runs x25519_test.json through NewDHPrivateKey and DH.
// Every vector whose shared secret is all zeros (flag ZeroSharedSecret,
// result "acceptable") must be rejected with ErrZeroDH; every other vector,
// including non-canonical public keys (RFC 7748 §5), must agree exactly.
func TestWycheproofX25519(t *testing.T) {
	t.Parallel()
	var file struct {
		TestGroups []struct {
			Curve string `json:"curve"`
			Tests []struct {
				wycheproofTest
				Public  hexBytes `json:"public"`
				Private hexBytes `json:"private"`
				Shared  hexBytes `json:"shared"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readWycheproof(t, "x25519_test.json", &file)

	var agreed, zeroRejected, invalidRejected int
	for _, g := range file.TestGroups {
		if g.Curve != "curve25519" {
			t.Fatalf("unexpected curve %q", g.Curve)
		}
		for _, tc := range g.Tests {
			priv, err := suite.NewDHPrivateKey(tc.Private)
			if err != nil {
				t.Errorf("tcId %d: NewDHPrivateKey: %v", tc.TcID, err)
				continue
			}
			pub, perr := suite.DHPublicKeyFromBytes(tc.Public)
			var shared [suite.DHSharedSize]byte
			if perr == nil {
				shared, err = priv.DH(pub)
			} else {
				err = perr
			}
			zero := bytes.Equal(tc.Shared, make([]byte, suite.DHSharedSize))
			switch {
			case tc.Result == "invalid":
				if err == nil {
					t.Errorf("tcId %d (%s): invalid vector accepted", tc.TcID, tc.Comment)
				}
				invalidRejected++
			case zero:
				if !errors.Is(err, suite.ErrZeroDH) {
					t.Errorf("tcId %d (%s): all-zero shared secret: got err %v, want ErrZeroDH", tc.TcID, tc.Comment, err)
				}
				if shared != [suite.DHSharedSize]byte{} {
					t.Errorf("tcId %d: rejected exchange returned a non-zero value", tc.TcID)
				}
				zeroRejected++
			default:
				if err != nil {
					t.Errorf("tcId %d (%s, %s): %v", tc.TcID, tc.Result, tc.Comment, err)
				} else if !bytes.Equal(shared[:], tc.Shared) {
					t.Errorf("tcId %d (%s): shared secret %x, want %x", tc.TcID, tc.Comment, shared, tc.Shared)
				}
				agreed++
			}
		}
	}
	checkCount(t, "x25519: agreed (valid + acceptable)", agreed, 480)
	checkCount(t, "x25519: all-zero output rejected (ErrZeroDH)", zeroRejected, 30)
	checkCount(t, "x25519: invalid rejected", invalidRejected, 0)
}

// TestWycheproofChaCha20Poly1305 runs chacha20_poly1305_test.json through
// Seal and Open. Vectors with a nonce other than 96 bits cannot be expressed
// (Seal and Open take *[NonceSize]byte); they must all be "invalid" and are
// counted as rejected by the type.
func TestWycheproofChaCha20Poly1305(t *testing.T) {
	t.Parallel()
	var file struct {
		TestGroups []struct {
			IvSize  int `json:"ivSize"`
			KeySize int `json:"keySize"`
			TagSize int `json:"tagSize"`
			Tests   []struct {
				wycheproofTest
				Key hexBytes `json:"key"`
				IV  hexBytes `json:"iv"`
				AAD hexBytes `json:"aad"`
				Msg hexBytes `json:"msg"`
				CT  hexBytes `json:"ct"`
				Tag hexBytes `json:"tag"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readWycheproof(t, "chacha20_poly1305_test.json", &file)

	var sealed, rejected, byType int
	for _, g := range file.TestGroups {
		for _, tc := range g.Tests {
			if len(tc.IV) != suite.NonceSize || len(tc.Key) != suite.KeySize || g.TagSize != 8*suite.TagSize {
				if tc.Result != "invalid" {
					t.Errorf("tcId %d: a %s vector with iv %d bytes cannot be expressed", tc.TcID, tc.Result, len(tc.IV))
				}
				byType++
				continue
			}
			key := (*[suite.KeySize]byte)(tc.Key)
			nonce := (*[suite.NonceSize]byte)(tc.IV)
			ct := append(append([]byte{}, tc.CT...), tc.Tag...)
			pt, err := suite.Open(nil, key, nonce, ct, tc.AAD)
			switch tc.Result {
			case "valid":
				if err != nil || !bytes.Equal(pt, tc.Msg) {
					t.Errorf("tcId %d (%s): Open = %x, %v; want %x", tc.TcID, tc.Comment, pt, err, tc.Msg)
				}
				if got := suite.Seal(nil, key, nonce, tc.Msg, tc.AAD); !bytes.Equal(got, ct) {
					t.Errorf("tcId %d (%s): Seal = %x, want %x", tc.TcID, tc.Comment, got, ct)
				}
				sealed++
			default:
				if err != suite.ErrOpen || pt != nil {
					t.Errorf("tcId %d (%s, %s): Open = %x, %v; want nil, ErrOpen", tc.TcID, tc.Result, tc.Comment, pt, err)
				}
				rejected++
			}
		}
	}
	checkCount(t, "chacha20-poly1305: valid sealed and opened", sealed, 250)
	checkCount(t, "chacha20-poly1305: invalid rejected by Open", rejected, 55)
	checkCount(t, "chacha20-poly1305: invalid nonce size (type)", byType, 8)
}

// TestWycheproofHKDFSHA256 runs hkdf_sha256_test.json through suite.KDF
// (info is the label argument) and crypto/hkdf.Key, which must agree. The
// "SizeTooLarge" vectors make hkdf.Key fail and suite.KDF panic (a
// programmer error: the core only asks for fixed sizes).
func TestWycheproofHKDFSHA256(t *testing.T) {
	t.Parallel()
	var file struct {
		TestGroups []struct {
			Tests []struct {
				wycheproofTest
				IKM  hexBytes `json:"ikm"`
				Salt hexBytes `json:"salt"`
				Info hexBytes `json:"info"`
				Size int      `json:"size"`
				OKM  hexBytes `json:"okm"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readWycheproof(t, "hkdf_sha256_test.json", &file)

	var agreed, rejected int
	for _, g := range file.TestGroups {
		for _, tc := range g.Tests {
			std, stdErr := hkdf.Key(sha256.New, tc.IKM, tc.Salt, string(tc.Info), tc.Size)
			if tc.Result == "invalid" {
				if stdErr == nil {
					t.Errorf("tcId %d (%s): hkdf.Key accepted size %d", tc.TcID, tc.Comment, tc.Size)
				}
				if !kdfPanics(tc.Size, tc.IKM, tc.Salt, string(tc.Info)) {
					t.Errorf("tcId %d (%s): suite.KDF accepted size %d", tc.TcID, tc.Comment, tc.Size)
				}
				rejected++
				continue
			}
			if stdErr != nil || !bytes.Equal(std, tc.OKM) {
				t.Errorf("tcId %d (%s): hkdf.Key = %x, %v; want %x", tc.TcID, tc.Comment, std, stdErr, tc.OKM)
			}
			out := make([]byte, tc.Size)
			suite.KDF(out, tc.IKM, tc.Salt, string(tc.Info))
			if !bytes.Equal(out, tc.OKM) {
				t.Errorf("tcId %d (%s): suite.KDF = %x, want %x", tc.TcID, tc.Comment, out, tc.OKM)
			}
			agreed++
		}
	}
	checkCount(t, "hkdf-sha256: suite.KDF == hkdf.Key == okm", agreed, 80)
	checkCount(t, "hkdf-sha256: size too large rejected", rejected, 3)
}

// kdfPanics reports whether suite.KDF panics for an output of size bytes.
func kdfPanics(size int, secret, salt []byte, label string) (panicked bool) {
	defer func() { panicked = recover() != nil }()
	suite.KDF(make([]byte, size), secret, salt, label)
	return false
}

// TestWycheproofEd25519 runs ed25519_test.json through suite.Verify.
// Signatures that are not 64 bytes cannot become a suite.Signature (the
// parsers read exactly SignatureSize bytes); they must all be "invalid" and
// are counted as rejected by size.
func TestWycheproofEd25519(t *testing.T) {
	t.Parallel()
	var file struct {
		TestGroups []struct {
			PublicKey struct {
				Curve string   `json:"curve"`
				PK    hexBytes `json:"pk"`
			} `json:"publicKey"`
			Tests []struct {
				wycheproofTest
				Msg hexBytes `json:"msg"`
				Sig hexBytes `json:"sig"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readWycheproof(t, "ed25519_test.json", &file)

	var accepted, rejected, bySize int
	for _, g := range file.TestGroups {
		if g.PublicKey.Curve != "edwards25519" || len(g.PublicKey.PK) != suite.SignPublicKeySize {
			t.Fatalf("unexpected key %q of %d bytes", g.PublicKey.Curve, len(g.PublicKey.PK))
		}
		pub := suite.SignPublicKey(g.PublicKey.PK)
		for _, tc := range g.Tests {
			if len(tc.Sig) != suite.SignatureSize {
				if tc.Result != "invalid" {
					t.Errorf("tcId %d: %s signature of %d bytes", tc.TcID, tc.Result, len(tc.Sig))
				}
				bySize++
				continue
			}
			ok := suite.Verify(pub, tc.Msg, suite.Signature(tc.Sig))
			switch tc.Result {
			case "valid":
				if !ok {
					t.Errorf("tcId %d (%s): valid signature rejected", tc.TcID, tc.Comment)
				}
				accepted++
			default:
				if ok {
					t.Errorf("tcId %d (%s, %s): signature accepted", tc.TcID, tc.Result, tc.Comment)
				}
				rejected++
			}
		}
	}
	checkCount(t, "ed25519: valid accepted", accepted, 85)
	checkCount(t, "ed25519: invalid rejected by Verify", rejected, 45)
	checkCount(t, "ed25519: invalid signature size (type)", bySize, 10)
}

// TestWycheproofMLKEM768 runs the ML-KEM-768 groups of mlkem_test.json
// against circl's mlkem768, the ML-KEM inside X-Wing: key generation from the
// 64-byte seed d || z, decapsulation (including the implicit-rejection
// "Strcmp" case), and the FIPS 203 §7.2 modulus check. Each encapsulation key
// that fails the check is also placed inside an X-Wing key, which
// suite.ParseKEMPublicKey must reject; the same X-Wing key built from the
// valid encapsulation key must be accepted, so the rejection is the check's.
// Other parameter sets are counted and skipped: Parley uses only ML-KEM-768.
func TestWycheproofMLKEM768(t *testing.T) {
	t.Parallel()
	var file struct {
		TestGroups []struct {
			Type         string `json:"type"`
			ParameterSet string `json:"parameterSet"`
			Tests        []struct {
				wycheproofTest
				Seed hexBytes `json:"seed"`
				M    hexBytes `json:"m"`
				EK   hexBytes `json:"ek"`
				C    hexBytes `json:"c"`
				K    hexBytes `json:"K"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readWycheproof(t, "mlkem_test.json", &file)

	// The X25519 half of the X-Wing keys built below: any valid point.
	x, err := suite.GenerateDH(testrand.New("wycheproof/mlkem/x25519"))
	if err != nil {
		t.Fatal(err)
	}
	xpub := x.Public()
	xwingKey := func(ek []byte) []byte { return append(append([]byte{}, ek...), xpub[:]...) }

	var keygen, decaps, encaps, modulusRejected, otherSets int
	for _, g := range file.TestGroups {
		if g.ParameterSet != "ML-KEM-768" {
			otherSets += len(g.Tests)
			continue
		}
		for _, tc := range g.Tests {
			switch g.Type {
			case "MLKEMTest":
				if len(tc.Seed) != mlkem768.KeySeedSize {
					t.Errorf("tcId %d: seed of %d bytes", tc.TcID, len(tc.Seed))
					continue
				}
				pk, sk := mlkem768.NewKeyFromSeed(tc.Seed)
				ek := make([]byte, mlkem768.PublicKeySize)
				pk.Pack(ek)
				if !bytes.Equal(ek, tc.EK) {
					t.Errorf("tcId %d: encapsulation key from seed differs", tc.TcID)
				}
				keygen++
				if _, err := suite.ParseKEMPublicKey(xwingKey(tc.EK)); err != nil {
					t.Errorf("tcId %d: X-Wing key with a valid ML-KEM key rejected: %v", tc.TcID, err)
				}
				if len(tc.C) != mlkem768.CiphertextSize {
					if tc.Result != "invalid" {
						t.Errorf("tcId %d: %s ciphertext of %d bytes", tc.TcID, tc.Result, len(tc.C))
					}
					continue
				}
				ss := make([]byte, mlkem768.SharedKeySize)
				sk.DecapsulateTo(ss, tc.C)
				if tc.Result != "invalid" && !bytes.Equal(ss, tc.K) {
					t.Errorf("tcId %d (%v): decapsulated %x, want %x", tc.TcID, tc.Flags, ss, tc.K)
				}
				decaps++
			case "MLKEMEncapsTest":
				var pk mlkem768.PublicKey
				err := pk.Unpack(tc.EK)
				_, xerr := suite.ParseKEMPublicKey(xwingKey(tc.EK))
				if tc.Result == "invalid" {
					if err == nil {
						t.Errorf("tcId %d (%v): mlkem768 accepted an invalid encapsulation key", tc.TcID, tc.Flags)
					}
					if !errors.Is(xerr, suite.ErrKEMKey) {
						t.Errorf("tcId %d (%v): ParseKEMPublicKey = %v, want ErrKEMKey", tc.TcID, tc.Flags, xerr)
					}
					modulusRejected++
					continue
				}
				if err != nil || xerr != nil {
					t.Errorf("tcId %d: valid encapsulation key rejected: %v, %v", tc.TcID, err, xerr)
					continue
				}
				ct := make([]byte, mlkem768.CiphertextSize)
				ss := make([]byte, mlkem768.SharedKeySize)
				pk.EncapsulateTo(ct, ss, tc.M)
				if !bytes.Equal(ct, tc.C) || !bytes.Equal(ss, tc.K) {
					t.Errorf("tcId %d: encapsulation differs", tc.TcID)
				}
				encaps++
			default:
				t.Errorf("unknown group type %q", g.Type)
			}
		}
	}
	checkCount(t, "ml-kem-768: keygen from seed", keygen, 1)
	checkCount(t, "ml-kem-768: decapsulation", decaps, 1)
	checkCount(t, "ml-kem-768: valid encapsulation", encaps, 0)
	checkCount(t, "ml-kem-768: modulus check rejected (+X-Wing)", modulusRejected, 12)
	checkCount(t, "ml-kem-512/1024: skipped (not used)", otherSets, 0)
}
