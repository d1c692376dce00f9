package segment

import (
	"bytes"
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
	msg   parser
	integ parser
	typ   []byte
	event []byte
	// assumed is the quoted type literal given to messages without one
	// (see SetDefaultType); nil reports them as missing_type.
	assumed []byte
}

// Top-level members read for routing, and the members of "integrations"
// that concern this destination, in the order of the parsers' vals.
var (
	messageKeys     = []string{"type", "event", "integrations"}
	integrationKeys = []string{"All", IntegrationName}
)

const (
	keyType = iota
	keyEvent
	keyIntegrations
)

const (
	keyAll = iota
	keyFirehose
)

// Scan describes the shape of a value, found while it is parsed.
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
	if d.msg.keys == nil {
		d.msg.keys, d.msg.vals = messageKeys, make([][]byte, len(messageKeys))
		d.integ.keys, d.integ.vals = integrationKeys, make([][]byte, len(integrationKeys))
	}
	if err := d.shape(value); err != nil {
		return msg, Scan{}, err
	}
	return d.fields(Scan{Compact: d.msg.compact})
}

// fields reads the routing fields from the members the parser captured.
func (d *Decoder) fields(sc Scan) (Message, Scan, error) {
	var msg Message
	typ, event := d.msg.vals[keyType], d.msg.vals[keyEvent]

	switch {
	case (len(typ) == 0 || string(typ) == "null") && d.assumed == nil:
		return msg, sc, invalid(ReasonMissingType, `the message has no "type"`)
	case len(typ) == 0 || string(typ) == "null":
		typ, msg.Assumed = d.assumed, true
	case typ[0] != '"':
		return msg, sc, invalid(ReasonTypeNotString, `"type" is not a string`)
	}
	d.typ = unquote(d.typ[:0], typ)
	msg.Type = d.typ

	if len(event) > 0 && string(event) != "null" {
		if event[0] != '"' {
			return msg, sc, invalid(ReasonEventNotString, `"event" is not a string`)
		}
		d.event = unquote(d.event[:0], event)
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

// shape parses value as a JSON object and says why it is not one. Bad UTF-8
// anywhere is reported as such; otherwise the first problem in the text
// decides between not JSON, not an object and too deep.
func (d *Decoder) shape(value []byte) error {
	i := 0
	for i < len(value) && isSpace(value[i]) {
		i++
	}
	if i == len(value) {
		return invalid(ReasonEmpty, "the Kafka value is empty")
	}
	if value[i] != '{' {
		switch {
		case !utf8.Valid(value):
			return invalid(ReasonInvalidUTF8, "the value is not valid UTF-8")
		case json.Valid(value):
			return invalid(ReasonNotObject, "the value is JSON but not an object")
		}
		return invalid(ReasonNotJSON, "not valid JSON")
	}
	err := d.msg.object(value)
	switch {
	case err == nil:
		return nil
	case !utf8.Valid(value):
		return invalid(ReasonInvalidUTF8, "the value is not valid UTF-8")
	case err == errTooDeep:
		return invalid(ReasonTooDeep, "nested deeper than %d levels", MaxDepth)
	}
	return invalid(ReasonNotJSON, "not valid JSON: syntax error at byte %d", d.msg.i)
}

func (d *Decoder) readIntegrations() (Integrations, error) {
	raw := d.msg.vals[keyIntegrations]
	if len(raw) == 0 || string(raw) == "null" {
		return IntegrationsDefault, nil
	}
	if raw[0] != '{' {
		return IntegrationsDefault, invalid(ReasonInvalidIntegrations, `"integrations" is not an object`)
	}
	// Already validated as part of the message: this parse cannot fail.
	if err := d.integ.object(raw); err != nil {
		return IntegrationsDefault, invalid(ReasonNotJSON, "not valid JSON in integrations")
	}
	fh := string(d.integ.vals[keyFirehose])
	if fh == "false" {
		return IntegrationsDisabled, nil
	}
	// A settings object for the destination enables it like true does.
	explicitlyOn := fh == "true" || (len(fh) > 0 && fh[0] == '{')
	if string(d.integ.vals[keyAll]) == "false" && !explicitlyOn {
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

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
