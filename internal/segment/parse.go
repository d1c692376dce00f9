package segment

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// parser checks a JSON object in one pass over its bytes: syntax as RFC 8259
// and encoding/json have it, UTF-8 inside strings, nesting depth, and
// whether the text is already compact, while it picks out the raw values of
// a few top-level members. Decoding used to take three passes (utf8.Valid, a
// shape scan, then a full parse into a struct); a Segment message is mostly
// string content, which this parser skips eight bytes at a time.
//
// It keeps no state between calls other than scratch space.
type parser struct {
	v       []byte
	i       int
	depth   int
	compact bool
	keys    []string // top-level members to capture
	vals    [][]byte // their raw values, indexed like keys; the last duplicate wins
	key     []byte   // scratch for keys written with escapes
}

// errSyntax is returned for every syntax error; the position is in
// parser.i. Errors never carry message content.
var errSyntax = errors.New("syntax error")

var errTooDeep = errors.New("too deep")

// object parses v, which must start with '{' after optional whitespace, to
// its end.
func (p *parser) object(v []byte) error {
	p.v, p.i, p.depth, p.compact = v, 0, 0, true
	for j := range p.vals {
		p.vals[j] = nil
	}
	p.space()
	if err := p.value(); err != nil {
		return err
	}
	p.space()
	if p.i != len(p.v) {
		return errSyntax
	}
	return nil
}

// space skips whitespace. Most values are compact, so the common case, a
// token right here, returns before the loop.
func (p *parser) space() {
	if p.i < len(p.v) && p.v[p.i] > ' ' {
		return
	}
	p.spaceSlow()
}

// spaceSlow keeps space within the inlining budget.
//
//go:noinline
func (p *parser) spaceSlow() { p.i = p.skipSpace(p.v, p.i) }

// value parses the value at p.i, whatever its nesting, in one loop over
// local copies of the text and the position: the recursive parser this
// replaces spent about a third of its time calling itself and storing p.i
// between calls. Containers are tracked in a bit stack (1: object), top-level
// members captured as before, and errors leave p.i where the old parser
// did.
func (p *parser) value() error {
	v, i := p.v, p.i
	base := p.depth
	depth := 0 // containers open since this call, above base
	var objs [MaxDepth/64 + 1]uint64
	capture := len(p.keys) > 0
	var keyLit []byte
	keyEsc := false
	vStart := 0
	needKey := false
	for {
		if needKey {
			// A member of the object on top: "key" ws ':' ws.
			needKey = false
			if i >= len(v) || v[i] != '"' {
				p.i = i
				return errSyntax
			}
			kStart := i
			end, esc, ok := scanString(v, i)
			if !ok {
				p.i = end
				return errSyntax
			}
			i = end
			i = p.ws(v, i)
			if i >= len(v) || v[i] != ':' {
				p.i = i
				return errSyntax
			}
			i++
			i = p.ws(v, i)
			if base+depth == 1 {
				keyLit, keyEsc, vStart = v[kStart:end], esc, i
			}
		}

		// A value at i.
		if i >= len(v) {
			p.i = i
			return errSyntax
		}
		switch c := v[i]; {
		case c == '"':
			end, _, ok := scanString(v, i)
			if !ok {
				p.i = end
				return errSyntax
			}
			i = end
		case c == '{' || c == '[':
			if base+depth+1 > MaxDepth {
				p.i = i
				return errTooDeep
			}
			depth++
			obj := c == '{'
			if obj {
				objs[depth>>6] |= 1 << (depth & 63)
			} else {
				objs[depth>>6] &^= 1 << (depth & 63)
			}
			i++
			i = p.ws(v, i)
			if i < len(v) && (v[i] == '}' && obj || v[i] == ']' && !obj) {
				i++
				depth--
				break // an empty container: a value that just ended
			}
			needKey = obj
			continue
		case c == 't':
			if !hasWord(v, i, "true") {
				p.i = i
				return errSyntax
			}
			i += 4
		case c == 'f':
			if !hasWord(v, i, "false") {
				p.i = i
				return errSyntax
			}
			i += 5
		case c == 'n':
			if !hasWord(v, i, "null") {
				p.i = i
				return errSyntax
			}
			i += 4
		case c == '-' || (c >= '0' && c <= '9'):
			end, ok := scanNumber(v, i)
			if !ok {
				p.i = end
				return errSyntax
			}
			i = end
		default:
			p.i = i
			return errSyntax
		}

		// A value ended at i: what follows it in its container.
		for {
			if depth == 0 {
				p.i = i
				return nil
			}
			obj := objs[depth>>6]&(1<<(depth&63)) != 0
			if obj && capture && base+depth == 1 {
				p.capture(keyLit, keyEsc, v[vStart:i])
			}
			i = p.ws(v, i)
			if i >= len(v) {
				p.i = i
				return errSyntax
			}
			if c := v[i]; c == ',' {
				i++
				i = p.ws(v, i)
				needKey = obj
				break
			} else if c == '}' && obj || c == ']' && !obj {
				i++
				depth--
				continue
			}
			p.i = i
			return errSyntax
		}
	}
}

// ws returns the position of the first non-whitespace byte at or after i,
// and notes whitespace outside strings. Most values are compact, so the
// common case, a token right at i, is inlined and returns at once.
func (p *parser) ws(v []byte, i int) int {
	if i < len(v) && v[i] > ' ' {
		return i
	}
	return p.skipSpace(v, i)
}

//go:noinline
func (p *parser) skipSpace(v []byte, i int) int {
	start := i
	for i < len(v) && isSpace(v[i]) {
		i++
	}
	if i != start {
		p.compact = false
	}
	return i
}

func hasWord(v []byte, i int, word string) bool {
	return len(v)-i >= len(word) && string(v[i:i+len(word)]) == word
}

// open enters the container whose opening bracket is at p.i and reports
// whether it is empty (and so already closed).
func (p *parser) open(closer byte) (empty bool, err error) {
	p.depth++
	if p.depth > MaxDepth {
		return false, errTooDeep
	}
	p.i++
	p.space()
	if p.i < len(p.v) && p.v[p.i] == closer {
		p.i++
		p.depth--
		return true, nil
	}
	return false, nil
}

// next reads what follows a container's element: a comma (more to come) or
// its closing bracket (done).
func (p *parser) next(closer byte) (done bool, err error) {
	p.space()
	if p.i >= len(p.v) {
		return false, errSyntax
	}
	switch p.v[p.i] {
	case ',':
		p.i++
		p.space()
		return false, nil
	case closer:
		p.i++
		p.depth--
		return true, nil
	}
	return false, errSyntax
}

// capture keeps val when the key literal (quotes included) names one of the
// wanted members. Keys compare exactly, after unescaping: Segment's field
// names are case-sensitive.
func (p *parser) capture(keyLit []byte, escaped bool, val []byte) {
	key := keyLit[1 : len(keyLit)-1]
	if escaped {
		p.key = json.AppendUnescape(p.key[:0], keyLit, 0)
		key = p.key
	}
	for j, k := range p.keys {
		if string(key) == k {
			p.vals[j] = val
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special marks, in the high bit of each byte, the bytes of x that end the
// fast path through a string: '"', '\\', control characters and non-ASCII.
// Only the lowest mark is exact (a borrow can mark bytes above it), which is
// the only one used.
//
// A byte is 0 after the XOR with '"' or '\\' exactly when it is that
// character, and below 0x20 exactly when subtracting 0x20 borrows; for an
// ASCII byte the subtraction sets its high bit only then, and a non-ASCII
// byte is marked anyway. The XORs keep the high bit of x, so no "&^ x" per
// term is needed: one OR of x marks the non-ASCII bytes for all three.
func special(x uint64) uint64 {
	q := x ^ ('"' * ones)
	b := x ^ ('\\' * ones)
	return ((q - ones) | (b - ones) | (x - 0x20*ones) | x) & highs
}

// str parses a string starting at its opening quote and reports whether it
// holds escapes.
func (p *parser) str() (escaped bool, err error) {
	end, escaped, ok := scanString(p.v, p.i)
	p.i = end
	if !ok {
		return escaped, errSyntax
	}
	return escaped, nil
}

// scanString checks the string whose opening quote is at i. It returns the
// position after its closing quote, or, when ok is false, where it breaks
// RFC 8259 (bad escape, control character, bad UTF-8, no end).
func scanString(v []byte, i int) (end int, escaped, ok bool) {
	i++
	for {
		for i+8 <= len(v) {
			m := special(binary.LittleEndian.Uint64(v[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(v) {
			return i, escaped, false
		}
		switch c := v[i]; {
		case c == '"':
			return i + 1, escaped, true
		case c == '\\':
			escaped = true
			if i+1 >= len(v) {
				return i, escaped, false
			}
			switch v[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(v) || !isHex(v[i+2]) || !isHex(v[i+3]) || !isHex(v[i+4]) || !isHex(v[i+5]) {
					return i, escaped, false
				}
				i += 6
			default:
				return i, escaped, false
			}
		case c < 0x20:
			return i, escaped, false
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && size == 1 {
				return i, escaped, false
			}
			i += size
		default:
			i++
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// scanNumber accepts -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i
// and keeps no value: the record carries the number's text as written. It
// returns the position after the number, or where it breaks.
func scanNumber(v []byte, i int) (end int, ok bool) {
	if v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		i = digits(v, i+1)
	default:
		return i, false
	}
	if i < len(v) && v[i] == '.' {
		j := digits(v, i+1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(v) && (v[i] == 'e' || v[i] == 'E') {
		i++
		if i < len(v) && (v[i] == '+' || v[i] == '-') {
			i++
		}
		j := digits(v, i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}

func digits(v []byte, i int) int {
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	return i
}
