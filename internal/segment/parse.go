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

//go:noinline
func (p *parser) spaceSlow() {
	start := p.i
	for p.i < len(p.v) {
		switch p.v[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
			continue
		}
		break
	}
	if p.i != start {
		p.compact = false
	}
}

func (p *parser) value() error {
	if p.i >= len(p.v) {
		return errSyntax
	}
	switch c := p.v[p.i]; {
	case c == '{':
		return p.objectBody()
	case c == '[':
		return p.array()
	case c == '"':
		_, err := p.str()
		return err
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return errSyntax
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

func (p *parser) objectBody() error {
	if empty, err := p.open('}'); empty || err != nil {
		return err
	}
	for {
		if p.i >= len(p.v) || p.v[p.i] != '"' {
			return errSyntax
		}
		kStart := p.i + 1
		escaped, err := p.str()
		if err != nil {
			return err
		}
		keyLit := p.v[kStart-1 : p.i]
		p.space()
		if p.i >= len(p.v) || p.v[p.i] != ':' {
			return errSyntax
		}
		p.i++
		p.space()
		vStart := p.i
		if err := p.value(); err != nil {
			return err
		}
		if p.depth == 1 && len(p.keys) > 0 {
			p.capture(keyLit, escaped, p.v[vStart:p.i])
		}
		if done, err := p.next('}'); done || err != nil {
			return err
		}
	}
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

func (p *parser) array() error {
	if empty, err := p.open(']'); empty || err != nil {
		return err
	}
	for {
		if err := p.value(); err != nil {
			return err
		}
		if done, err := p.next(']'); done || err != nil {
			return err
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
func special(x uint64) uint64 {
	q := x ^ ('"' * ones)
	b := x ^ ('\\' * ones)
	return ((q - ones) &^ q & highs) |
		((b - ones) &^ b & highs) |
		((x - 0x20*ones) &^ x & highs) |
		(x & highs)
}

// str parses a string starting at its opening quote and reports whether it
// holds escapes.
func (p *parser) str() (escaped bool, err error) {
	v := p.v
	i := p.i + 1
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
			p.i = i
			return escaped, errSyntax
		}
		switch c := v[i]; {
		case c == '"':
			p.i = i + 1
			return escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(v) {
				p.i = i
				return escaped, errSyntax
			}
			switch v[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(v) || !isHex(v[i+2]) || !isHex(v[i+3]) || !isHex(v[i+4]) || !isHex(v[i+5]) {
					p.i = i
					return escaped, errSyntax
				}
				i += 6
			default:
				p.i = i
				return escaped, errSyntax
			}
		case c < 0x20:
			p.i = i
			return escaped, errSyntax
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRune(v[i:])
			if r == utf8.RuneError && size == 1 {
				p.i = i
				return escaped, errSyntax
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

func (p *parser) literal(word string) error {
	if len(p.v)-p.i < len(word) || string(p.v[p.i:p.i+len(word)]) != word {
		return errSyntax
	}
	p.i += len(word)
	return nil
}

// number accepts -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and keeps no
// value: the record carries the number's text as written.
func (p *parser) number() error {
	v, i := p.v, p.i
	if v[i] == '-' {
		i++
	}
	switch {
	case i < len(v) && v[i] == '0':
		i++
	case i < len(v) && v[i] >= '1' && v[i] <= '9':
		i = digits(v, i+1)
	default:
		p.i = i
		return errSyntax
	}
	if i < len(v) && v[i] == '.' {
		j := digits(v, i+1)
		if j == i+1 {
			p.i = j
			return errSyntax
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
			p.i = j
			return errSyntax
		}
		i = j
	}
	p.i = i
	return nil
}

func digits(v []byte, i int) int {
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	return i
}
