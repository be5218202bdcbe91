package identity

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"strings"

	"github.com/parley-im/parley/core/suite"
)

// Safety number parameters (docs/PROTOCOL.md §Identity §Safety number). The
// construction is Signal's numeric fingerprint (libsignal
// NumericFingerprintGenerator, version 2) with SHA-256 and Parley's labels.
const (
	// SafetyNumberVersion is written, as 2 big-endian bytes, into the first
	// fingerprint hash.
	SafetyNumberVersion uint16 = 1
	// SafetyNumberIterations is how many times each fingerprint is hashed.
	SafetyNumberIterations = 5200
	// SafetyNumberDigits is the number of decimal digits: 30 per party.
	SafetyNumberDigits = 60
	// SafetyNumberGroups is the number of 5-digit groups Digits prints.
	SafetyNumberGroups = SafetyNumberDigits / 5
	// SafetyNumberEmojiCount is the number of emoji Emoji returns, each
	// chosen by one byte (256-entry table), so 128 bits in all.
	SafetyNumberEmojiCount = 16

	fingerprintKeySize = suite.SignPublicKeySize + suite.DHPublicKeySize
	fingerprintBytes   = 30 // 6 chunks of 5 bytes
)

// SafetyNumber is what two parties compare out of band to check that each
// holds the other's identity: the same 60 digits (and the same 16 emoji)
// appear on both sides. It is public and comparable.
type SafetyNumber struct {
	digits [SafetyNumberDigits]byte // ASCII '0'..'9'
	emoji  [SafetyNumberEmojiCount]byte
}

// fingerprint is one party's iterated hash (Signal's getFingerprint):
//
//	h = LabelSafetyNumber || version (2 bytes, big-endian) || key
//	repeat SafetyNumberIterations times: h = SHA-256(h || key)
//
// where key = SigningKey || DHKey (64 bytes).
func fingerprint(p *PublicIdentity) [sha256.Size]byte {
	var key [fingerprintKeySize]byte
	copy(key[:], p.SigningKey[:])
	copy(key[suite.SignPublicKeySize:], p.DHKey[:])

	first := make([]byte, 0, len(suite.LabelSafetyNumber)+2+2*fingerprintKeySize)
	first = append(first, suite.LabelSafetyNumber...)
	first = binary.BigEndian.AppendUint16(first, SafetyNumberVersion)
	first = append(first, key[:]...)
	first = append(first, key[:]...)
	h := sha256.Sum256(first)

	// Later rounds hash a fixed 96-byte buffer: h || key.
	var buf [sha256.Size + fingerprintKeySize]byte
	copy(buf[sha256.Size:], key[:])
	for range SafetyNumberIterations - 1 {
		copy(buf[:], h[:])
		h = sha256.Sum256(buf[:])
	}
	return h
}

// digitsOf writes 30 digits: the first 30 bytes of fp as six 5-byte
// big-endian integers, each reduced mod 100000 and printed as 5 digits.
func digitsOf(out []byte, fp *[sha256.Size]byte) {
	for i := range fingerprintBytes / 5 {
		c := fp[5*i : 5*i+5]
		v := uint64(c[0])<<32 | uint64(c[1])<<24 | uint64(c[2])<<16 | uint64(c[3])<<8 | uint64(c[4])
		v %= 100000
		for j := 4; j >= 0; j-- {
			out[5*i+j] = '0' + byte(v%10)
			v /= 10
		}
	}
}

// canonicalFirst reports whether a sorts before b: by SigningKey bytes,
// then by DHKey bytes.
func canonicalFirst(a, b *PublicIdentity) bool {
	if c := bytes.Compare(a.SigningKey[:], b.SigningKey[:]); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.DHKey[:], b.DHKey[:]) <= 0
}

// NewSafetyNumber computes the safety number of identities a and b. The
// two identities are put in canonical order (lexicographic order of their
// Ed25519 keys, then of their X25519 keys), so NewSafetyNumber(a, b) ==
// NewSafetyNumber(b, a). The digits are 30 from the first identity's
// fingerprint followed by 30 from the second's; the emoji are the first 16
// bytes of SHA-256(LabelSafetyNumberEmoji || fp1 || fp2), each an index into
// EmojiTable. Bindings are not checked here: pass identities that came from
// ParsePublic or PrivateIdentity.Public.
func NewSafetyNumber(a, b *PublicIdentity) SafetyNumber {
	if !canonicalFirst(a, b) {
		a, b = b, a
	}
	fa, fb := fingerprint(a), fingerprint(b)
	var sn SafetyNumber
	digitsOf(sn.digits[:SafetyNumberDigits/2], &fa)
	digitsOf(sn.digits[SafetyNumberDigits/2:], &fb)
	e := suite.Hash([]byte(suite.LabelSafetyNumberEmoji), fa[:], fb[:])
	copy(sn.emoji[:], e[:SafetyNumberEmojiCount])
	return sn
}

// Digits returns the 60 digits as 12 groups of 5 separated by single
// spaces, e.g. "01234 56789 …".
func (sn SafetyNumber) Digits() string {
	var b strings.Builder
	b.Grow(SafetyNumberDigits + SafetyNumberGroups - 1)
	for i := range SafetyNumberGroups {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.Write(sn.digits[5*i : 5*i+5])
	}
	return b.String()
}

// Emoji returns the 16 emoji rendering, each an entry of EmojiTable.
func (sn SafetyNumber) Emoji() []string {
	out := make([]string, SafetyNumberEmojiCount)
	for i, e := range sn.emoji {
		out[i] = emojiTable[e]
	}
	return out
}

// String returns Digits.
func (sn SafetyNumber) String() string { return sn.Digits() }

// EmojiTable returns a copy of the 256 emoji the safety number draws from,
// indexed by byte value.
func EmojiTable() [256]string { return emojiTable }

// emojiTable is a fixed table of 256 distinct emoji, each a single code
// point with default emoji presentation (Unicode Emoji_Presentation=Yes,
// no variation selector, no ZWJ sequence, no skin-tone modifier, no
// person), chosen to be visually distinct, in code-point order. Changing it
// changes every safety number: TestEmojiTable pins its hash.
var emojiTable = [256]string{
	"🌀", "🌂", "🌄", "🌈", "🌉", "🌊", "🌋", "🌌", "🌍", "🌙", "🌞", "🌟", "🌰", "🌱", "🌲", "🌳", //   0- 15
	"🌴", "🌵", "🌷", "🌸", "🌹", "🌺", "🌻", "🌽", "🌾", "🌿", "🍀", "🍁", "🍄", "🍅", "🍆", "🍇", //  16- 31
	"🍈", "🍉", "🍊", "🍋", "🍌", "🍍", "🍎", "🍐", "🍑", "🍒", "🍓", "🍔", "🍕", "🍖", "🍗", "🍙", //  32- 47
	"🍜", "🍝", "🍞", "🍟", "🍡", "🍣", "🍤", "🍦", "🍩", "🍪", "🍫", "🍬", "🍭", "🍮", "🍯", "🍰", //  48- 63
	"🍱", "🍳", "🍴", "🍵", "🍷", "🍸", "🍹", "🍺", "🍼", "🎀", "🎁", "🎂", "🎃", "🎄", "🎆", "🎈", //  64- 79
	"🎉", "🎊", "🎌", "🎎", "🎏", "🎐", "🎒", "🎓", "🎠", "🎡", "🎢", "🎣", "🎤", "🎥", "🎧", "🎨", //  80- 95
	"🎩", "🎪", "🎫", "🎬", "🎭", "🎮", "🎯", "🎰", "🎱", "🎲", "🎳", "🎵", "🎷", "🎸", "🎹", "🎺", //  96-111
	"🎻", "🎽", "🎾", "🎿", "🏀", "🏁", "🏠", "🏢", "🏥", "🏦", "🏫", "🏭", "🏮", "🏯", "🏰", "🐊", // 112-127
	"🐋", "🐌", "🐍", "🐑", "🐓", "🐘", "🐙", "🐚", "🐛", "🐜", "🐝", "🐞", "🐠", "🐡", "🐢", "🐤", // 128-143
	"🐦", "🐧", "🐨", "🐪", "🐬", "🐭", "🐮", "🐯", "🐰", "🐱", "🐲", "🐴", "🐵", "🐶", "🐷", "🐸", // 144-159
	"🐹", "🐺", "🐻", "🐼", "🐾", "💡", "💣", "💥", "💧", "💬", "💯", "💰", "💳", "💵", "💸", "💺", // 160-175
	"💻", "💼", "💾", "💿", "📁", "📅", "📈", "📊", "📋", "📌", "📎", "📏", "📐", "📖", "📚", "📛", // 176-191
	"📜", "📝", "📞", "📟", "📠", "📡", "📢", "📦", "📨", "📫", "📮", "📯", "📰", "📱", "📷", "📹", // 192-207
	"📺", "📻", "📼", "🔋", "🔌", "🔍", "🔑", "🔒", "🔔", "🔗", "🔥", "🔦", "🔧", "🔨", "🔩", "🔬", // 208-223
	"🔭", "🔮", "🚀", "🚁", "🚂", "🚄", "🚇", "🚋", "🚌", "🚏", "🚑", "🚒", "🚓", "🚕", "🚗", "🚙", // 224-239
	"🚚", "🚜", "🚝", "🚠", "🚢", "🚤", "🚥", "🚧", "🚨", "🚩", "🚪", "🚫", "🚲", "🚽", "🚿", "🛁", // 240-255
}
