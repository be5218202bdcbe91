// Package qr draws QR codes (ISO/IEC 18004:2015, Model 2, versions 1–40)
// for Parley invites shown in the extension (docs/WASM.md, inviteQR).
//
// The codewords, the Reed–Solomon error correction, the placement of modules
// and the format and version information come from rsc.io/qr/coding
// (BSD-3-Clause), which always uses data mask 0. This package adds what that
// one leaves to its caller:
//
//   - the mode: numeric, alphanumeric or byte, the most compact single mode
//     that holds the whole text (ISO/IEC 18004:2015 §7.3, §7.4);
//   - the version: the smallest that holds the text at the chosen error
//     correction level (§7.4.10, Table 7);
//   - the data mask: each of the eight masks is applied and scored by the
//     penalty rules of §7.8.3.1 (Table 11), and the lowest score wins, ties
//     to the lower mask number.
//
// The result is the module matrix only. A renderer must draw a light quiet
// zone of QuietZone modules on every side (§6.3.8) and keep dark modules
// darker than light ones (no inverted rendering).
package qr

import (
	"errors"
	"fmt"
	"strings"

	"rsc.io/qr/coding"
)

// Level is an error correction level (§7.5.1): the share of codewords that
// may be lost or misread while the symbol still decodes.
type Level int

// Error correction levels.
const (
	// LevelL recovers about 7 % of the codewords.
	LevelL = Level(coding.L)
	// LevelM recovers about 15 %. Parley invites use it: a phone camera
	// reading a screen meets glare and moiré, and M still fits a full invite.
	LevelM = Level(coding.M)
	// LevelQ recovers about 25 %.
	LevelQ = Level(coding.Q)
	// LevelH recovers about 30 %.
	LevelH = Level(coding.H)
)

// String returns "L", "M", "Q" or "H".
func (l Level) String() string {
	if l < LevelL || l > LevelH {
		return fmt.Sprintf("Level(%d)", int(l))
	}
	return coding.Level(l).String()
}

// Sizes and limits.
const (
	// MinVersion and MaxVersion bound the symbol version; a version v
	// symbol is 4v+17 modules on a side.
	MinVersion = coding.MinVersion
	MaxVersion = coding.MaxVersion
	// MaxSize is the side of the largest symbol, in modules.
	MaxSize = 4*MaxVersion + 17
	// MaxInputSize is the most bytes any QR code holds: 7089 digits in a
	// version 40-L symbol (Table 7). Encode rejects longer input before any
	// other work.
	MaxInputSize = 7089
	// QuietZone is the width, in modules, of the light margin a renderer
	// must leave around the matrix (§6.3.8).
	QuietZone = 4
	// MaskCount is the number of data mask patterns (§7.8.2, Table 10).
	MaskCount = 8
)

// Penalty weights N1–N4 (§7.8.3.1, Table 11).
const (
	penaltyN1 = 3
	penaltyN2 = 3
	penaltyN3 = 40
	penaltyN4 = 10
)

// ErrTooLong is returned (wrapped) for text that no symbol of the asked
// level can hold.
var ErrTooLong = errors.New("qr: text too long for a QR code")

// Mode is the data encoding mode of a symbol's single segment (§7.3).
type Mode int

// Modes, with the mode indicator value of §7.4.2, Table 2.
const (
	ModeNumeric      Mode = 1
	ModeAlphanumeric Mode = 2
	ModeByte         Mode = 4
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case ModeNumeric:
		return "numeric"
	case ModeAlphanumeric:
		return "alphanumeric"
	case ModeByte:
		return "byte"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Matrix is a QR code symbol: Size×Size modules, each dark or light,
// without the quiet zone.
type Matrix struct {
	version int
	level   Level
	mode    Mode
	mask    int
	size    int
	dark    []byte // row-major, 1 = dark, 0 = light
}

// Version returns the symbol version, 1 to 40.
func (m *Matrix) Version() int { return m.version }

// Level returns the error correction level.
func (m *Matrix) Level() Level { return m.level }

// Mode returns the data encoding mode.
func (m *Matrix) Mode() Mode { return m.mode }

// Mask returns the data mask pattern reference, 0 to 7.
func (m *Matrix) Mask() int { return m.mask }

// Size returns the number of modules on a side: 4·Version()+17.
func (m *Matrix) Size() int { return m.size }

// Dark reports whether the module in column x, row y is dark. (0, 0) is
// the top left; coordinates outside the matrix are light, as the quiet zone
// is.
func (m *Matrix) Dark(x, y int) bool {
	return x >= 0 && y >= 0 && x < m.size && y < m.size && m.dark[y*m.size+x] == 1
}

// Modules returns a copy of the matrix, row by row from the top, one byte
// per module: 1 for dark, 0 for light.
func (m *Matrix) Modules() []byte {
	return append([]byte(nil), m.dark...)
}

// Rows returns the matrix as Size strings of Size characters, '1' for a dark
// module and '0' for a light one, from the top row down.
func (m *Matrix) Rows() []string {
	rows := make([]string, m.size)
	var b strings.Builder
	for y := range m.size {
		b.Reset()
		for _, d := range m.dark[y*m.size : (y+1)*m.size] {
			b.WriteByte('0' + d)
		}
		rows[y] = b.String()
	}
	return rows
}

// Encode returns the QR code of text at the given level: one segment in the
// most compact mode that holds all of text, the smallest version that fits,
// and the data mask with the lowest penalty (see the package doc). Text in
// byte mode is written as its bytes, without an ECI header (§7.4.5), which
// is how readers expect UTF-8 and ASCII. It returns ErrTooLong (wrapped) for
// text that no version 40 symbol of that level holds.
func Encode(text string, level Level) (*Matrix, error) {
	if len(text) > MaxInputSize {
		return nil, fmt.Errorf("qr: %d bytes, limit %d: %w", len(text), MaxInputSize, ErrTooLong)
	}
	seg, mode := segment(text)
	return encode(seg, mode, len(text), level, 0, -1)
}

// EncodeBytes is Encode for binary data: always byte mode, whatever the
// bytes are.
func EncodeBytes(data []byte, level Level) (*Matrix, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("qr: %d bytes, limit %d: %w", len(data), MaxInputSize, ErrTooLong)
	}
	return encode(coding.String(data), ModeByte, len(data), level, 0, -1)
}

// EncodeWith is Encode with the version fixed and, when mask is 0 to 7, the
// data mask fixed too; mask -1 chooses it by penalty. It exists for tests
// that compare symbols with other encoders mask by mask.
func EncodeWith(text string, level Level, version, mask int) (*Matrix, error) {
	if version < MinVersion || version > MaxVersion {
		return nil, fmt.Errorf("qr: version %d out of range %d–%d", version, MinVersion, MaxVersion)
	}
	if len(text) > MaxInputSize {
		return nil, fmt.Errorf("qr: %d bytes, limit %d: %w", len(text), MaxInputSize, ErrTooLong)
	}
	seg, mode := segment(text)
	return encode(seg, mode, len(text), level, version, mask)
}

// encode draws seg (n bytes of input, in mode) at level. Version 0 means
// the smallest that fits; mask -1 means the one of lowest penalty.
func encode(seg coding.Encoding, mode Mode, n int, level Level, version, mask int) (*Matrix, error) {
	if level < LevelL || level > LevelH {
		return nil, fmt.Errorf("qr: unknown error correction level %d", int(level))
	}
	if mask < -1 || mask >= MaskCount {
		return nil, fmt.Errorf("qr: mask %d out of range 0–%d", mask, MaskCount-1)
	}
	l := coding.Level(level)
	v := coding.Version(version)
	if version == 0 {
		v = MinVersion
		for seg.Bits(v) > v.DataBytes(l)*8 && v < MaxVersion {
			v++
		}
	}
	if seg.Bits(v) > v.DataBytes(l)*8 {
		return nil, fmt.Errorf("qr: %d bytes in %s mode do not fit version %d-%s: %w", n, mode, int(v), level, ErrTooLong)
	}
	masks := []int{mask}
	if mask < 0 {
		masks = []int{0, 1, 2, 3, 4, 5, 6, 7}
	}
	var best *Matrix
	bestScore := 0
	for _, k := range masks {
		plan, err := coding.NewPlan(v, l, coding.Mask(k))
		if err != nil {
			return nil, fmt.Errorf("qr: %w", err)
		}
		code, err := plan.Encode(seg)
		if err != nil {
			return nil, fmt.Errorf("qr: %w", err)
		}
		m := fromCode(code, int(v), level, mode, k)
		// Strictly lower only: ties keep the lower mask number.
		if s := m.penalty(); best == nil || s < bestScore {
			best, bestScore = m, s
		}
	}
	return best, nil
}

// segment picks the most compact single mode that holds all of text.
func segment(text string) (coding.Encoding, Mode) {
	if coding.Num(text).Check() == nil {
		return coding.Num(text), ModeNumeric
	}
	if coding.Alpha(text).Check() == nil {
		return coding.Alpha(text), ModeAlphanumeric
	}
	return coding.String(text), ModeByte
}

// fromCode copies a coding.Code's bitmap into a Matrix.
func fromCode(c *coding.Code, version int, level Level, mode Mode, mask int) *Matrix {
	m := &Matrix{version: version, level: level, mode: mode, mask: mask, size: c.Size, dark: make([]byte, c.Size*c.Size)}
	for y := range c.Size {
		for x := range c.Size {
			if c.Black(x, y) {
				m.dark[y*c.Size+x] = 1
			}
		}
	}
	return m
}
