package qr

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"rsc.io/qr/coding"
)

var (
	update = flag.Bool("update", false, "rewrite testdata/kat.json")
	dump   = flag.String("dump", "", "write full matrices for testdata/crosscheck.mjs to this file")
)

const katPath = "testdata/kat.json"

// katCase is one known answer: a symbol fixed by text, level and (for
// forced cases) version and mask, identified by the SHA-256 of its rows.
type katCase struct {
	Name    string `json:"name"`
	Text    string `json:"text"`
	Level   string `json:"level"`
	Auto    bool   `json:"auto"` // version and mask chosen by Encode
	Version int    `json:"version"`
	Mask    int    `json:"mask"`
	Mode    string `json:"mode"`
	Size    int    `json:"size"`
	SHA256  string `json:"rows_sha256"` // SHA-256 of Rows() joined by "\n"
}

type katFile struct {
	Comment string    `json:"comment"`
	Cases   []katCase `json:"cases"`
}

func levelByName(t testing.TB, s string) Level {
	t.Helper()
	for _, l := range []Level{LevelL, LevelM, LevelQ, LevelH} {
		if l.String() == s {
			return l
		}
	}
	t.Fatalf("unknown level %q", s)
	return 0
}

// filler returns n bytes of deterministic base64url text, so symbols carry
// varied data rather than one repeated byte.
func filler(label string, n int) string {
	var b strings.Builder
	h := sha256.Sum256([]byte(label))
	for b.Len() < n {
		b.WriteString(base64.RawURLEncoding.EncodeToString(h[:]))
		h = sha256.Sum256(h[:])
	}
	return b.String()[:n]
}

// katInputs are the known-answer inputs: every mode, every level, function
// patterns from version 1 to 40 (version information from 7), and every
// mask forced on a version 1 and a version 7 symbol.
func katInputs() []katCase {
	var cs []katCase
	auto := func(name, text, level string) {
		cs = append(cs, katCase{Name: name, Text: text, Level: level, Auto: true})
	}
	forced := func(name, text, level string, version, mask int) {
		cs = append(cs, katCase{Name: name, Text: text, Level: level, Version: version, Mask: mask})
	}
	auto("iso annex numeric", "01234567", "M")
	auto("alphanumeric", "HELLO WORLD", "Q")
	auto("byte utf-8", "parley ✓ 😀", "H")
	auto("empty", "", "L")
	for _, l := range []string{"L", "M", "Q", "H"} {
		auto("invite-sized "+l, "parley:"+filler("invite "+l, 1200), l)
	}
	auto("largest byte M", filler("largest", 2331), "M")
	auto("largest alphanumeric M", strings.Repeat("PARLEY0123", 339)+"A", "M")
	for m := range MaskCount {
		forced(fmt.Sprintf("v1-M mask %d", m), "parley qr", "M", 1, m)
		forced(fmt.Sprintf("v7-L mask %d", m), filler("v7", 100), "L", 7, m)
	}
	for v := 2; v <= MaxVersion; v += 3 {
		forced(fmt.Sprintf("v%d-M", v), "parley", "M", v, v%MaskCount)
	}
	return cs
}

func encodeCase(t testing.TB, c katCase) *Matrix {
	t.Helper()
	l := levelByName(t, c.Level)
	var m *Matrix
	var err error
	if c.Auto {
		m, err = Encode(c.Text, l)
	} else {
		m, err = EncodeWith(c.Text, l, c.Version, c.Mask)
	}
	if err != nil {
		t.Fatalf("%s: %v", c.Name, err)
	}
	return m
}

func rowsHash(m *Matrix) string {
	h := sha256.Sum256([]byte(strings.Join(m.Rows(), "\n")))
	return hex.EncodeToString(h[:])
}

// TestKnownAnswers replays testdata/kat.json. The forced-mask symbols there
// are identical, module for module, to those of an independent encoder
// (node-qrcode), and every symbol decodes with jsQR and zbar; see
// testdata/README.md for how that was checked.
func TestKnownAnswers(t *testing.T) {
	t.Parallel()
	if *update {
		f := katFile{Comment: "QR known answers for wasm/qr; regenerate with go test ./wasm/qr -update; see testdata/README.md"}
		for _, c := range katInputs() {
			m := encodeCase(t, c)
			c.Version, c.Mask, c.Mode, c.Size, c.SHA256 = m.Version(), m.Mask(), m.Mode().String(), m.Size(), rowsHash(m)
			f.Cases = append(f.Cases, c)
		}
		b, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(katPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(katPath)
	if err != nil {
		t.Fatal(err)
	}
	var f katFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) != len(katInputs()) {
		t.Fatalf("%s has %d cases, want %d: run with -update", katPath, len(f.Cases), len(katInputs()))
	}
	for _, c := range f.Cases {
		m := encodeCase(t, c)
		got := katCase{c.Name, c.Text, c.Level, c.Auto, m.Version(), m.Mask(), m.Mode().String(), m.Size(), rowsHash(m)}
		if got != c {
			t.Errorf("%s:\n got %+v\nwant %+v", c.Name, got, c)
		}
	}
}

// TestISOAnnexExample: "01234567" at level M is the worked example of
// ISO/IEC 18004 (Annex I): numeric mode, version 1-M, data codewords
// 10 20 0C 56 61 80 EC 11 EC 11 EC 11 EC 11 EC 11 and error correction
// codewords A5 24 D4 C1 ED 36 C7 87 2C 55.
func TestISOAnnexExample(t *testing.T) {
	t.Parallel()
	m, err := Encode("01234567", LevelM)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 1 || m.Size() != 21 || m.Mode() != ModeNumeric || m.Level() != LevelM {
		t.Fatalf("got version %d size %d mode %s level %s", m.Version(), m.Size(), m.Mode(), m.Level())
	}
	var b coding.Bits
	coding.Num("01234567").Encode(&b, 1)
	b.AddCheckBytes(1, coding.M)
	want := "10200c566180 ec11ec11ec11ec11ec11 a524d4c1ed36c7872c55"
	if got := hex.EncodeToString(b.Bytes()); got != strings.ReplaceAll(want, " ", "") {
		t.Fatalf("codewords %s\n     want %s", got, want)
	}
}

// TestCapacity: the smallest version is chosen, against ISO/IEC 18004:2015
// Table 7: a text of exactly a version's capacity takes that version, one
// more character takes the next (or fails at version 40).
func TestCapacity(t *testing.T) {
	t.Parallel()
	type capCase struct {
		mode    Mode
		version int
		level   Level
		chars   int
	}
	cases := []capCase{
		// Byte mode, L M Q H.
		{ModeByte, 1, LevelL, 17}, {ModeByte, 1, LevelM, 14}, {ModeByte, 1, LevelQ, 11}, {ModeByte, 1, LevelH, 7},
		{ModeByte, 2, LevelL, 32}, {ModeByte, 2, LevelM, 26}, {ModeByte, 2, LevelQ, 20}, {ModeByte, 2, LevelH, 14},
		{ModeByte, 5, LevelL, 106}, {ModeByte, 5, LevelM, 84}, {ModeByte, 5, LevelQ, 60}, {ModeByte, 5, LevelH, 44},
		{ModeByte, 7, LevelM, 122}, {ModeByte, 10, LevelM, 213},
		{ModeByte, 40, LevelL, 2953}, {ModeByte, 40, LevelM, 2331}, {ModeByte, 40, LevelQ, 1663}, {ModeByte, 40, LevelH, 1273},
		// Alphanumeric and numeric.
		{ModeAlphanumeric, 1, LevelL, 25}, {ModeAlphanumeric, 1, LevelM, 20},
		{ModeAlphanumeric, 40, LevelL, 4296}, {ModeAlphanumeric, 40, LevelM, 3391},
		{ModeNumeric, 1, LevelL, 41}, {ModeNumeric, 1, LevelM, 34},
		{ModeNumeric, 40, LevelL, 7089}, {ModeNumeric, 40, LevelM, 5596},
	}
	text := func(mode Mode, n int) string {
		switch mode {
		case ModeNumeric:
			return strings.Repeat("7", n)
		case ModeAlphanumeric:
			return strings.Repeat("Z", n)
		}
		return strings.Repeat("z", n)
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d-%s", c.mode, c.version, c.level), func(t *testing.T) {
			t.Parallel()
			m, err := Encode(text(c.mode, c.chars), c.level)
			if err != nil {
				t.Fatal(err)
			}
			if m.Version() != c.version || m.Mode() != c.mode || m.Size() != 4*c.version+17 {
				t.Fatalf("%d chars: version %d mode %s size %d", c.chars, m.Version(), m.Mode(), m.Size())
			}
			m, err = Encode(text(c.mode, c.chars+1), c.level)
			switch {
			case c.version == MaxVersion:
				if !errors.Is(err, ErrTooLong) || m != nil {
					t.Fatalf("%d chars: %v, want ErrTooLong", c.chars+1, err)
				}
			case err != nil:
				t.Fatal(err)
			case m.Version() != c.version+1:
				t.Fatalf("%d chars: version %d, want %d", c.chars+1, m.Version(), c.version+1)
			}
		})
	}
}

// TestModes: the most compact single mode holding the whole text is used.
func TestModes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want Mode
	}{
		{"0123456789", ModeNumeric},
		{"HELLO WORLD $%*+-./:", ModeAlphanumeric},
		{"PARLEY:ABC", ModeAlphanumeric},
		{"parley:abc", ModeByte},
		{"0123 4567", ModeAlphanumeric},
		{"héllo", ModeByte},
		{"\x00\xff", ModeByte},
	} {
		m, err := Encode(tc.text, LevelM)
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if m.Mode() != tc.want {
			t.Errorf("%q: mode %s, want %s", tc.text, m.Mode(), tc.want)
		}
	}
}

// TestMaskChoice: Encode picks the lowest-penalty mask, ties to the lower
// number, over the eight masks of the same version.
func TestMaskChoice(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"parley", filler("mask", 300), "0", strings.Repeat("A", 100)} {
		m, err := Encode(text, LevelM)
		if err != nil {
			t.Fatal(err)
		}
		best, bestMask := -1, -1
		for k := range MaskCount {
			f, err := EncodeWith(text, LevelM, m.Version(), k)
			if err != nil {
				t.Fatal(err)
			}
			if f.Mask() != k {
				t.Fatalf("forced mask %d, got %d", k, f.Mask())
			}
			if p := f.penalty(); best < 0 || p < best {
				best, bestMask = p, k
			}
		}
		if m.Mask() != bestMask || m.penalty() != best {
			t.Errorf("%.10q…: mask %d (penalty %d), want %d (penalty %d)", text, m.Mask(), m.penalty(), bestMask, best)
		}
	}
}

// TestFunctionPatterns: finder patterns, timing patterns and the dark
// module sit where ISO/IEC 18004 §6.3 puts them, independently of the data.
func TestFunctionPatterns(t *testing.T) {
	t.Parallel()
	finder := []string{"1111111", "1000001", "1011101", "1011101", "1011101", "1000001", "1111111"}
	for _, v := range []int{1, 2, 7, 21, 40} {
		m, err := EncodeWith("parley", LevelM, v, v%MaskCount)
		if err != nil {
			t.Fatal(err)
		}
		n := m.Size()
		for _, corner := range [][2]int{{0, 0}, {n - 7, 0}, {0, n - 7}} {
			for dy := range 7 {
				for dx := range 7 {
					if m.Dark(corner[0]+dx, corner[1]+dy) != (finder[dy][dx] == '1') {
						t.Fatalf("v%d: finder at %v wrong at (%d,%d)", v, corner, dx, dy)
					}
				}
			}
			// Separator: the light ring around the finder, inside the symbol.
			for i := -1; i <= 7; i++ {
				for _, p := range [][2]int{{corner[0] + i, corner[1] - 1}, {corner[0] + i, corner[1] + 7}, {corner[0] - 1, corner[1] + i}, {corner[0] + 7, corner[1] + i}} {
					if m.Dark(p[0], p[1]) {
						t.Fatalf("v%d: separator of finder %v dark at %v", v, corner, p)
					}
				}
			}
		}
		for i := 8; i < n-8; i++ {
			if m.Dark(i, 6) != (i%2 == 0) || m.Dark(6, i) != (i%2 == 0) {
				t.Fatalf("v%d: timing pattern wrong at %d", v, i)
			}
		}
		if !m.Dark(8, 4*v+9) {
			t.Fatalf("v%d: dark module missing", v)
		}
	}
}

// TestMatrixAccessors: Rows, Modules and Dark agree; Modules is a copy;
// everything outside the matrix is light.
func TestMatrixAccessors(t *testing.T) {
	t.Parallel()
	m, err := Encode("parley", LevelM)
	if err != nil {
		t.Fatal(err)
	}
	rows, mods := m.Rows(), m.Modules()
	if len(rows) != m.Size() || len(mods) != m.Size()*m.Size() {
		t.Fatalf("rows %d, modules %d, size %d", len(rows), len(mods), m.Size())
	}
	for y, r := range rows {
		if len(r) != m.Size() {
			t.Fatalf("row %d has %d modules", y, len(r))
		}
		for x := range r {
			d := m.Dark(x, y)
			if d != (r[x] == '1') || d != (mods[y*m.Size()+x] == 1) || (r[x] != '0' && r[x] != '1') {
				t.Fatalf("(%d,%d): Dark %v, row %q, module %d", x, y, d, r[x], mods[y*m.Size()+x])
			}
		}
	}
	mods[0] ^= 1
	if m.Modules()[0] == mods[0] {
		t.Fatal("Modules returned the matrix's own slice")
	}
	for _, p := range [][2]int{{-1, 0}, {0, -1}, {m.Size(), 0}, {0, m.Size()}, {-5, -5}} {
		if m.Dark(p[0], p[1]) {
			t.Fatalf("outside %v is dark", p)
		}
	}
}

// TestErrors: bad arguments and oversized text are refused without a
// symbol, before any encoding work for input over MaxInputSize.
func TestErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		f       func() (*Matrix, error)
		tooLong bool
	}{
		{"level -1", func() (*Matrix, error) { return Encode("x", -1) }, false},
		{"level 4", func() (*Matrix, error) { return Encode("x", 4) }, false},
		{"over MaxInputSize", func() (*Matrix, error) { return Encode(strings.Repeat("1", MaxInputSize+1), LevelL) }, true},
		{"byte over 40-H", func() (*Matrix, error) { return Encode(strings.Repeat("z", 1274), LevelH) }, true},
		{"with: version 0", func() (*Matrix, error) { return EncodeWith("x", LevelM, 0, 0) }, false},
		{"with: version 41", func() (*Matrix, error) { return EncodeWith("x", LevelM, 41, 0) }, false},
		{"with: mask 8", func() (*Matrix, error) { return EncodeWith("x", LevelM, 1, 8) }, false},
		{"with: mask -2", func() (*Matrix, error) { return EncodeWith("x", LevelM, 1, -2) }, false},
		{"with: level 9", func() (*Matrix, error) { return EncodeWith("x", 9, 1, 0) }, false},
		{"with: does not fit", func() (*Matrix, error) { return EncodeWith(strings.Repeat("z", 15), LevelM, 1, 0) }, true},
		{"with: over MaxInputSize", func() (*Matrix, error) { return EncodeWith(strings.Repeat("1", MaxInputSize+1), LevelL, 40, 0) }, true},
	} {
		m, err := tc.f()
		if err == nil || m != nil {
			t.Errorf("%s: got %v, %v", tc.name, m, err)
			continue
		}
		if errors.Is(err, ErrTooLong) != tc.tooLong {
			t.Errorf("%s: %v, ErrTooLong = %v", tc.name, err, !tc.tooLong)
		}
		if !strings.HasPrefix(err.Error(), "qr: ") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
}

// TestDump writes, with -dump, the known-answer symbols and a sweep of every
// version and level (all eight masks of each) in full, for
// testdata/crosscheck.mjs to compare with independent encoders and decoders.
func TestDump(t *testing.T) {
	if *dump == "" {
		t.Skip("no -dump file")
	}
	type entry struct {
		katCase
		Rows []string `json:"rows"`
	}
	var out []entry
	add := func(c katCase, m *Matrix) {
		c.Version, c.Mask, c.Mode, c.Size, c.SHA256 = m.Version(), m.Mask(), m.Mode().String(), m.Size(), rowsHash(m)
		out = append(out, entry{c, m.Rows()})
	}
	for _, c := range katInputs() {
		add(c, encodeCase(t, c))
	}
	for v := MinVersion; v <= MaxVersion; v++ {
		for _, l := range []Level{LevelL, LevelM, LevelQ, LevelH} {
			// The text fills version v at level l in byte mode.
			c := katCase{Name: fmt.Sprintf("sweep v%d-%s", v, l), Level: l.String(), Auto: true}
			cv := coding.Version(v)
			c.Text = filler(c.Name, (cv.DataBytes(coding.Level(l))*8-coding.String("").Bits(cv))/8)
			m := encodeCase(t, c)
			add(c, m)
			for k := range MaskCount {
				f := katCase{Name: fmt.Sprintf("%s mask %d", c.Name, k), Text: c.Text, Level: c.Level, Version: m.Version(), Mask: k}
				add(f, encodeCase(t, f))
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*dump, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d symbols to %s", len(out), *dump)
}

// TestEncodeBytes: binary data is always byte mode, even when it would fit
// a denser mode, and draws the same symbol as Encode of byte-mode text.
func TestEncodeBytes(t *testing.T) {
	t.Parallel()
	m, err := EncodeBytes([]byte("0123456789"), LevelM)
	if err != nil {
		t.Fatal(err)
	}
	if m.Mode() != ModeByte {
		t.Fatalf("mode %s, want byte", m.Mode())
	}
	text := "parley:" + filler("bytes", 500)
	a, err := Encode(text, LevelM)
	if err != nil {
		t.Fatal(err)
	}
	b, err := EncodeBytes([]byte(text), LevelM)
	if err != nil {
		t.Fatal(err)
	}
	if rowsHash(a) != rowsHash(b) || a.Mode() != ModeByte {
		t.Fatal("EncodeBytes and Encode differ on byte-mode text")
	}
	if m, err := EncodeBytes(make([]byte, 2332), LevelM); !errors.Is(err, ErrTooLong) || m != nil {
		t.Fatalf("2332 bytes at M: %v", err)
	}
	if m, err := EncodeBytes(make([]byte, MaxInputSize+1), LevelL); !errors.Is(err, ErrTooLong) || m != nil {
		t.Fatalf("over MaxInputSize: %v", err)
	}
}

// FuzzEncode: Encode never panics; it fails only with ErrTooLong for long
// text, and otherwise returns the smallest version that holds the text,
// with a well-formed matrix.
func FuzzEncode(f *testing.F) {
	f.Add("", uint8(0))                        // empty: numeric mode, version 1
	f.Add("01234567", uint8(1))                // ISO/IEC 18004 Annex I example
	f.Add("HELLO WORLD", uint8(2))             // alphanumeric
	f.Add("parley:abcdef", uint8(1))           // byte mode, an invite's shape
	f.Add("\x00\xff\xfe", uint8(3))            // bytes that are not UTF-8
	f.Add(strings.Repeat("z", 2332), uint8(1)) // one byte over 40-M
	f.Fuzz(func(t *testing.T, text string, lv uint8) {
		level := Level(lv % 4)
		m, err := Encode(text, level)
		if err != nil {
			if m != nil || !errors.Is(err, ErrTooLong) {
				t.Fatalf("%v, %v", m, err)
			}
			return
		}
		if m.Size() != 4*m.Version()+17 || len(m.Modules()) != m.Size()*m.Size() || m.Mask() < 0 || m.Mask() >= MaskCount || m.Level() != level {
			t.Fatalf("malformed matrix: version %d size %d mask %d", m.Version(), m.Size(), m.Mask())
		}
		if m.Version() > MinVersion {
			if s, err := EncodeWith(text, level, m.Version()-1, 0); !errors.Is(err, ErrTooLong) || s != nil {
				t.Fatalf("version %d chosen but %d fits", m.Version(), m.Version()-1)
			}
		}
	})
}

// BenchmarkEncode measures a full invite (1800 bytes: version 35-M, eight
// masks scored) and a short text.
func BenchmarkEncode(b *testing.B) {
	for _, n := range []int{20, 1800} {
		data := []byte(filler("bench", n))
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(n))
			for b.Loop() {
				if _, err := EncodeBytes(data, LevelM); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
