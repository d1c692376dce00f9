package segment

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// MaxDepth is the deepest nesting of objects and arrays accepted. Segment's
// own API rejects far shallower documents; the bound keeps a hostile message
// from costing unbounded stack or time.
const MaxDepth = 512

// Decoder decodes messages. It reuses its buffers between calls, so it is not
// safe for concurrent use: keep one per goroutine.
type Decoder struct {
	env   envelope
	integ integrations
	typ   []byte
	event []byte
}

type envelope struct {
	Type         json.RawMessage `json:"type"`
	Event        json.RawMessage `json:"event"`
	Integrations json.RawMessage `json:"integrations"`
}

type integrations struct {
	All      json.RawMessage `json:"All"`
	Firehose json.RawMessage `json:"Amazon Kinesis Firehose"`
}

// Keys are case-sensitive in Segment's spec: "Type" is not "type".
const parseFlags = json.DontMatchCaseInsensitiveStructFields | json.ZeroCopy

// Scan describes the shape of a value, found in one pass before parsing.
type Scan struct {
	// Compact is true when the value has no whitespace outside strings, so it
	// is already its own compact form.
	Compact bool
}

// Decode validates value as a Segment message and returns its routing fields.
// A message that can never be delivered returns an *Error.
func (d *Decoder) Decode(value []byte) (Message, Scan, error) {
	var msg Message
	if len(value) == 0 {
		return msg, Scan{}, invalid(ReasonEmpty, "the Kafka value is empty")
	}
	if !utf8.Valid(value) {
		return msg, Scan{}, invalid(ReasonInvalidUTF8, "the value is not valid UTF-8")
	}
	sc, err := scan(value)
	if err != nil {
		return msg, sc, err
	}
	d.env = envelope{}
	rest, perr := json.Parse(value, &d.env, parseFlags)
	if perr != nil || len(rest) != 0 {
		// A type mismatch cannot happen with RawMessage fields, so any error
		// is a syntax error; its text quotes no message content.
		if perr == nil {
			return msg, sc, invalid(ReasonNotJSON, "unexpected data after the JSON object")
		}
		return msg, sc, invalid(ReasonNotJSON, "not valid JSON: %s", syntaxSummary(perr))
	}

	switch {
	case len(d.env.Type) == 0 || string(d.env.Type) == "null":
		return msg, sc, invalid(ReasonMissingType, `the message has no "type"`)
	case d.env.Type[0] != '"':
		return msg, sc, invalid(ReasonTypeNotString, `"type" is not a string`)
	}
	d.typ = unquote(d.typ[:0], d.env.Type)
	msg.Type = d.typ

	if len(d.env.Event) > 0 && string(d.env.Event) != "null" {
		if d.env.Event[0] != '"' {
			return msg, sc, invalid(ReasonEventNotString, `"event" is not a string`)
		}
		d.event = unquote(d.event[:0], d.env.Event)
		msg.Event = d.event
		msg.HasEvent = true
	}

	msg.Track = strings.EqualFold(string(msg.Type), "track")
	if msg.Track && !msg.HasEvent {
		// Segment's tracking API refuses such calls; a row can never name it.
		return msg, sc, invalid(ReasonMissingEvent, `a track call has no "event"`)
	}

	in, ierr := d.readIntegrations()
	if ierr != nil {
		return msg, sc, ierr
	}
	msg.Integrations = in
	return msg, sc, nil
}

func (d *Decoder) readIntegrations() (Integrations, error) {
	raw := d.env.Integrations
	if len(raw) == 0 || string(raw) == "null" {
		return IntegrationsDefault, nil
	}
	if raw[0] != '{' {
		return IntegrationsDefault, invalid(ReasonInvalidIntegrations, `"integrations" is not an object`)
	}
	d.integ = integrations{}
	if _, err := json.Parse(raw, &d.integ, parseFlags); err != nil {
		return IntegrationsDefault, invalid(ReasonNotJSON, "not valid JSON in integrations: %s", syntaxSummary(err))
	}
	fh := string(d.integ.Firehose)
	if fh == "false" {
		return IntegrationsDisabled, nil
	}
	// A settings object for the destination enables it like true does.
	explicitlyOn := fh == "true" || (len(fh) > 0 && fh[0] == '{')
	if string(d.integ.All) == "false" && !explicitlyOn {
		return IntegrationsDisabled, nil
	}
	return IntegrationsDefault, nil
}

// unquote appends the text of a JSON string literal to dst. The literal has
// already been validated by the parser.
func unquote(dst, lit []byte) []byte {
	inner := lit[1 : len(lit)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return append(dst, inner...)
	}
	return json.AppendUnescape(dst, lit, 0)
}

// syntaxSummary keeps the parser's position but not the excerpt of the input
// that some parsers quote, so no message content reaches logs or headers.
func syntaxSummary(err error) string {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	}
	return "syntax error"
}

// scan checks nesting depth, that the top level is an object, and whether the
// value is already compact, in one pass that skips over strings with
// IndexByte (the bulk of a Segment message is string content).
func scan(v []byte) (Scan, error) {
	sc := Scan{Compact: true}
	i := 0
	for i < len(v) && isSpace(v[i]) {
		i++
	}
	switch {
	case i == len(v):
		return sc, invalid(ReasonEmpty, "the Kafka value is empty")
	case v[i] == '{':
	case json.Valid(v):
		return sc, invalid(ReasonNotObject, "the value is JSON but not an object")
	default:
		return sc, invalid(ReasonNotJSON, "not valid JSON")
	}
	if i > 0 {
		sc.Compact = false
	}
	depth := 0
	for ; i < len(v); i++ {
		switch c := v[i]; c {
		case '"':
			end := closingQuote(v, i+1)
			if end < 0 {
				return sc, nil // unterminated: the parser reports it
			}
			i = end
		case '{', '[':
			depth++
			if depth > MaxDepth {
				return sc, invalid(ReasonTooDeep, "nested deeper than %d levels", MaxDepth)
			}
		case '}', ']':
			depth--
		case ' ', '\t', '\n', '\r':
			sc.Compact = false
		}
	}
	return sc, nil
}

// closingQuote returns the index of the quote that ends the string starting
// at from, or -1.
func closingQuote(v []byte, from int) int {
	for {
		j := bytes.IndexByte(v[from:], '"')
		if j < 0 {
			return -1
		}
		q := from + j
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for k := q - 1; k >= from && v[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q
		}
		from = q + 1
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
