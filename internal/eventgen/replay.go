package eventgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Source supplies the messages Produce sends. Generator and Replay are the
// two kinds; a test can write its own.
type Source interface {
	// NextMessage appends the next message's value to dst and returns the
	// extended buffer, its Kafka key and its Info. key and the slices in
	// Info are valid until the next call. It returns io.EOF when there are
	// no more messages.
	NextMessage(dst []byte) (value, key []byte, info Info, err error)
}

// Replay is a Source that sends recorded messages: each non-blank line of
// an NDJSON stream, byte for byte, keyed by its userId (or anonymousId).
// Info is read from the message itself; BigNumbers is true when some number
// literal would read back differently after a float64 round trip.
type Replay struct {
	lines   *lineReader
	key     []byte
	scratch bytes.Buffer
}

// NewReplay returns a Replay reading from r. It reads lazily, one line per
// NextMessage, so a file of any length costs the memory of one line.
func NewReplay(r io.Reader) *Replay {
	return &Replay{lines: newLineReader(r)}
}

// NextMessage returns the next recorded message, io.EOF at the end of the
// stream, or an error naming the line that is not a JSON object.
func (p *Replay) NextMessage(dst []byte) (value, key []byte, info Info, err error) {
	line, err := p.lines.next()
	if err != nil {
		return dst, nil, Info{}, err
	}
	info, err = p.describe(line)
	if err != nil {
		return dst, nil, Info{}, fmt.Errorf("line %d: %w", p.lines.line, err)
	}
	p.key = append(p.key[:0], info.Key()...)
	return append(dst, line...), p.key, info, nil
}

// envelope is the part of a Segment message that Info reports. Every field
// is raw, so that a field of an unexpected type leaves its part of Info
// empty instead of failing the message: sources send ids as numbers and
// worse, and a replay should pass them on as they are.
type envelope struct {
	Type         json.RawMessage `json:"type"`
	Event        json.RawMessage `json:"event"`
	Name         json.RawMessage `json:"name"`
	MessageID    json.RawMessage `json:"messageId"`
	UserID       json.RawMessage `json:"userId"`
	AnonymousID  json.RawMessage `json:"anonymousId"`
	GroupID      json.RawMessage `json:"groupId"`
	Timestamp    json.RawMessage `json:"timestamp"`
	ReceivedAt   json.RawMessage `json:"receivedAt"`
	Integrations json.RawMessage `json:"integrations"`
	Context      json.RawMessage `json:"context"`
}

// describe builds the Info of a recorded message, which must be a JSON
// object.
func (p *Replay) describe(line []byte) (Info, error) {
	if line = bytes.TrimSpace(line); len(line) == 0 || line[0] != '{' {
		return Info{}, errors.New("not a JSON object")
	}
	var e envelope
	if err := json.Unmarshal(line, &e); err != nil {
		return Info{}, fmt.Errorf("decoding message: %w", err)
	}
	info := Info{
		Type:        Type(stringOf(e.Type)),
		UserID:      idText(e.UserID),
		AnonymousID: idText(e.AnonymousID),
		GroupID:     idText(e.GroupID),
	}
	if id := idText(e.MessageID); id != "" {
		info.MessageID = []byte(id)
	}
	switch info.Type {
	case Track:
		info.Event = stringOf(e.Event)
	case Page, Screen:
		info.Name = stringOf(e.Name)
	}
	info.Timestamp, _ = time.Parse(time.RFC3339Nano, stringOf(e.Timestamp))
	info.ReceivedAt, _ = time.Parse(time.RFC3339Nano, stringOf(e.ReceivedAt))

	var integrations map[string]json.RawMessage
	if json.Unmarshal(e.Integrations, &integrations) == nil {
		info.FirehoseDisabled = firehoseDisabled(integrations)
	}
	var context struct {
		Personas json.RawMessage `json:"personas"`
	}
	if json.Unmarshal(e.Context, &context) == nil {
		info.Personas = len(context.Personas) > 0 && string(context.Personas) != "null"
	}

	p.scratch.Reset()
	if err := json.Compact(&p.scratch, line); err == nil {
		info.Pretty = p.scratch.Len() != len(line)
	}
	info.BigNumbers = hasInexactNumber(line)
	return info, nil
}

// stringOf returns raw's value if it is a JSON string, else "".
func stringOf(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// idText returns a string or number id as text, and "" for anything else.
func idText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		return stringOf(raw)
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		return string(raw)
	}
	return ""
}

// firehoseDisabled applies Segment's destination filter: a destination
// named with false is off, one named otherwise is on, and one not named
// follows "All", which defaults to true.
const firehoseName = "Amazon Kinesis Firehose"

func firehoseDisabled(integrations map[string]json.RawMessage) bool {
	if v, ok := integrations[firehoseName]; ok {
		return string(bytes.TrimSpace(v)) == "false"
	}
	if v, ok := integrations["All"]; ok {
		return string(bytes.TrimSpace(v)) == "false"
	}
	return false
}

// hasInexactNumber reports whether some number literal in the valid JSON
// line differs from what encoding/json writes for its float64 value.
func hasInexactNumber(line []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		n, ok := tok.(json.Number)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			// Out of float64 range altogether.
			return true
		}
		again, err := json.Marshal(f)
		if err != nil || string(again) != string(n) {
			return true
		}
	}
}
