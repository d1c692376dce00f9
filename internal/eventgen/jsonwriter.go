package eventgen

import (
	"strconv"
	"unicode/utf8"
)

// jsonWriter appends JSON to a byte slice as it is told, without reflection
// or maps, so that a whole message costs no allocation once b is large
// enough. It tracks only what it needs to place commas and indentation; the
// caller is trusted to open and close containers in a valid order.
type jsonWriter struct {
	b []byte

	// pretty indents with two spaces and puts every element on its own
	// line, as JSON.stringify(v, null, 2) does.
	pretty bool
	// ascii escapes every non-ASCII character as \uXXXX, as Python's
	// json.dumps does by default, so analytics-python messages look real.
	ascii bool

	depth int
	// empty is true while the innermost open container has no element.
	empty bool
	// afterKey is true between a key and its value.
	afterKey bool
}

// sep writes what must come before the next element: nothing after a key,
// else a comma unless the container is still empty, and in pretty mode a
// line break and indentation.
func (w *jsonWriter) sep() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	if w.depth == 0 {
		return
	}
	if !w.empty {
		w.b = append(w.b, ',')
	}
	w.empty = false
	if w.pretty {
		w.newline()
	}
}

func (w *jsonWriter) newline() {
	w.b = append(w.b, '\n')
	for range w.depth {
		w.b = append(w.b, ' ', ' ')
	}
}

func (w *jsonWriter) open(c byte) {
	w.sep()
	w.b = append(w.b, c)
	w.depth++
	w.empty = true
}

func (w *jsonWriter) close(c byte) {
	w.depth--
	if w.pretty && !w.empty {
		w.newline()
	}
	w.b = append(w.b, c)
	// The parent holds at least the container just closed.
	w.empty = false
}

func (w *jsonWriter) beginObject() { w.open('{') }
func (w *jsonWriter) endObject()   { w.close('}') }
func (w *jsonWriter) beginArray()  { w.open('[') }
func (w *jsonWriter) endArray()    { w.close(']') }

// key writes an object key. Keys are constants of this package and plain
// ASCII, so they are not escaped.
func (w *jsonWriter) key(k string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
	if w.pretty {
		w.b = append(w.b, ' ')
	}
	w.afterKey = true
}

func (w *jsonWriter) str(s string) {
	w.sep()
	w.b = appendJSONString(w.b, s, w.ascii)
}

// beginStr, strPart and endStr write one string from several pieces, to
// compose values such as URLs and emails without a temporary buffer.
func (w *jsonWriter) beginStr() {
	w.sep()
	w.b = append(w.b, '"')
}

func (w *jsonWriter) strPart(s string) {
	w.b = appendJSONStringBody(w.b, s, w.ascii)
}

func (w *jsonWriter) strInt(i int64) {
	w.b = strconv.AppendInt(w.b, i, 10)
}

func (w *jsonWriter) endStr() {
	w.b = append(w.b, '"')
}

func (w *jsonWriter) int(i int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, i, 10)
}

// float writes the shortest text that reads back as f, like JavaScript.
func (w *jsonWriter) float(f float64) {
	w.sep()
	w.b = strconv.AppendFloat(w.b, f, 'f', -1, 64)
}

// cents writes an amount of money given in cents as JavaScript would print
// the float: 19.99, 20, 0.5.
func (w *jsonWriter) cents(c int64) {
	w.float(float64(c) / 100)
}

// raw writes a number literal exactly as given, so texts that a float64
// cannot hold (12345678901234567890, -0.0) reach the wire unchanged.
func (w *jsonWriter) raw(lit string) {
	w.sep()
	w.b = append(w.b, lit...)
}

func (w *jsonWriter) bool(v bool) {
	w.sep()
	if v {
		w.b = append(w.b, "true"...)
	} else {
		w.b = append(w.b, "false"...)
	}
}

func (w *jsonWriter) null() {
	w.sep()
	w.b = append(w.b, "null"...)
}

func (w *jsonWriter) kstr(k, v string) { w.key(k); w.str(v) }
func (w *jsonWriter) kint(k string, v int64) {
	w.key(k)
	w.int(v)
}
func (w *jsonWriter) kbool(k string, v bool)     { w.key(k); w.bool(v) }
func (w *jsonWriter) kcents(k string, c int64)   { w.key(k); w.cents(c) }
func (w *jsonWriter) kfloat(k string, f float64) { w.key(k); w.float(f) }

// appendJSONString appends s as a quoted JSON string.
func appendJSONString(b []byte, s string, ascii bool) []byte {
	b = append(b, '"')
	b = appendJSONStringBody(b, s, ascii)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// plainASCII marks the bytes that go into a JSON string as they are. A
// table lookup keeps the common case, long runs of plain text, at about a
// cycle per byte.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONStringBody appends s escaped for the inside of a JSON string.
// It escapes what JSON requires (quote, backslash, control characters), and
// with ascii also every non-ASCII character, using a surrogate pair above
// U+FFFF. Runs that need nothing are copied whole.
func appendJSONStringBody(b []byte, s string, ascii bool) []byte {
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plain8(s[i:i+8]) {
			i += 8
			continue
		}
		c := s[i]
		if plainASCII[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if !ascii && r != utf8.RuneError {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			if r >= 0x10000 {
				r1, r2 := surrogates(r)
				b = appendU(b, r1)
				b = appendU(b, r2)
			} else {
				// An invalid byte becomes U+FFFD, as encoding/json does.
				b = appendU(b, r)
			}
			i += size
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = appendU(b, rune(c))
		}
		i++
		start = i
	}
	return append(b, s[start:]...)
}

// plain8 reports whether all 8 bytes of s are plain ASCII, testing them at
// once with the usual has-zero-byte trick. A false negative only sends the
// caller to the byte loop; there are no false positives.
func plain8(s string) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	x := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	less := (x - 0x20*ones) &^ x // a byte below 0x20
	quote := hasZeroByte(x ^ '"'*ones)
	backslash := hasZeroByte(x ^ '\\'*ones)
	return (x|less|quote|backslash)&high == 0
}

// hasZeroByte sets the high bit of some byte iff v has a zero byte.
func hasZeroByte(v uint64) uint64 {
	return (v - 0x0101010101010101) &^ v
}

func appendU(b []byte, r rune) []byte {
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func surrogates(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}
