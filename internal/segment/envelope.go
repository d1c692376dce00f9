package segment

import (
	"bytes"
	stdjson "encoding/json"

	"github.com/segmentio/encoding/json"
)

// Envelope is a batch body as Segment's libraries POST it to /v1/batch:
// {"batch":[{...},{...}],"sentAt":"...","context":{...}}. A value is an
// envelope when it is a JSON object with a top-level "batch" array and no
// "type" (or a null one); anything else is a message of its own.
//
// Items alias the value given to Split and the Splitter's buffers: they are
// valid until the next Split on the same Splitter.
type Envelope struct {
	// Items are the raw elements of "batch", in order, exactly as written
	// (whitespace inside them kept). An item that is not a message is still
	// an item: the caller decides what to do with it, by its index.
	Items [][]byte
	// SentAt, Context and Integrations are the envelope's own members,
	// compact; nil when absent.
	SentAt       []byte
	Context      []byte
	Integrations []byte
}

// Probe reports whether value may be an envelope, from its first bytes: a
// "batch" array is its first member, or comes after only the members that
// Segment's libraries write before it ("messageId", "sentAt", "timestamp",
// "writeKey") with string values. analytics-node and analytics-python put
// "batch" first, analytics-go after "messageId" and "sentAt". A typical
// message is refused by comparing its first key, a few nanoseconds, so a
// caller can split what Probe accepts before decoding it and decode the rest
// first, keeping one pass over most values either way. An envelope Probe
// refuses ("context" first, say) is still one: Split tells.
func Probe(value []byte) bool {
	// The first key decides most values: only its first letters are read.
	k := 0
	for k < len(value) && (isSpace(value[k]) || value[k] == '{') {
		k++
	}
	if k+3 > len(value) || value[k] != '"' {
		return false
	}
	switch value[k+1] {
	case 'b', 'm', 's', 'w': // the first letters of the keys below
	case 't':
		if value[k+2] == 'y' { // "type"
			return false
		}
	default:
		return false
	}
	p := parser{v: value}
	p.space()
	if p.i >= len(value) || value[p.i] != '{' {
		return false
	}
	p.i++
	for {
		p.space()
		rest := value[p.i:]
		switch {
		case bytes.HasPrefix(rest, []byte(`"batch"`)):
			p.i += len(`"batch"`)
			p.space()
			if p.i >= len(value) || value[p.i] != ':' {
				return false
			}
			p.i++
			p.space()
			return p.i < len(value) && value[p.i] == '['
		case bytes.HasPrefix(rest, []byte(`"messageId"`)), bytes.HasPrefix(rest, []byte(`"sentAt"`)),
			bytes.HasPrefix(rest, []byte(`"timestamp"`)), bytes.HasPrefix(rest, []byte(`"writeKey"`)):
		default:
			return false
		}
		if _, err := p.str(); err != nil {
			return false
		}
		p.space()
		if p.i >= len(value) || value[p.i] != ':' {
			return false
		}
		p.i++
		p.space()
		if p.i >= len(value) || value[p.i] != '"' {
			return false
		}
		if _, err := p.str(); err != nil {
			return false
		}
		p.space()
		if p.i >= len(value) || value[p.i] != ',' {
			return false
		}
		p.i++
	}
}

// Splitter finds the items of envelopes. It reuses its buffers, so it is not
// safe for concurrent use: keep one per goroutine.
type Splitter struct {
	p      parser
	key    []byte
	items  [][]byte
	fields []byte // compacted envelope members of a spaced-out envelope

	// For BatchIntegrations and Merge, which read members of an item.
	item  parser
	integ parser
	keys  [][]byte
}

// Envelope members the splitter reads.
const (
	memberBatch        = "batch"
	memberType         = "type"
	memberSentAt       = "sentAt"
	memberContext      = "context"
	memberIntegrations = "integrations"
)

// Item is one element of an envelope's "batch", decoded as a message of
// its own. Msg's Type and Event alias the Decoder's buffers, so they are
// valid only during the call that receives the Item.
type Item struct {
	Value []byte // the element exactly as written
	Msg   Message
	Scan  Scan
	Err   *Error // why the item is not a deliverable message; nil when it is
}

// Split reports whether value is an envelope and returns its parts. Its
// items are decoded by d in the same pass, each given to each in order, so
// an envelope is read once: each may see items of a value that turns out
// not to be an envelope (a "type" after the batch, a syntax error further
// on), and when a value has several "batch" members it sees each of them,
// from index 0 again. Only the last one counts, as the last duplicate
// member does in Decode. A value with a syntax error anywhere, in an item
// too, is not an envelope: it is better dead-lettered whole, as Segment's
// API would refuse the request.
func (s *Splitter) Split(value []byte, d *Decoder, each func(i int, it Item)) (Envelope, bool) {
	var env Envelope
	p := &s.p
	p.v, p.i, p.depth, p.compact = value, 0, 0, true
	s.items = s.items[:0]
	p.space()
	if p.i >= len(value) || value[p.i] != '{' {
		return env, false
	}
	empty, err := p.open('}')
	if err != nil || empty {
		return env, false
	}
	batch, typed := false, false
	for {
		if p.i >= len(value) || value[p.i] != '"' {
			return env, false
		}
		kStart := p.i
		escaped, err := p.str()
		if err != nil {
			return env, false
		}
		key := value[kStart+1 : p.i-1]
		if escaped {
			s.key = json.AppendUnescape(s.key[:0], value[kStart:p.i], 0)
			key = s.key
		}
		p.space()
		if p.i >= len(value) || value[p.i] != ':' {
			return env, false
		}
		p.i++
		p.space()
		vStart := p.i
		if string(key) == memberBatch && p.i < len(value) && value[p.i] == '[' {
			if !s.walkItems(d, each) {
				return env, false
			}
		} else if err := p.value(); err != nil {
			return env, false
		}
		val := value[vStart:p.i]
		switch string(key) {
		case memberBatch:
			batch = val[0] == '['
		case memberType:
			typed = string(val) != "null"
		case memberSentAt:
			env.SentAt = val
		case memberContext:
			env.Context = val
		case memberIntegrations:
			env.Integrations = val
		}
		done, err := p.next('}')
		if err != nil {
			return env, false
		}
		if done {
			break
		}
	}
	p.space()
	if p.i != len(value) || !batch || typed {
		return env, false
	}
	if !p.compact {
		s.fields = s.fields[:0]
		env.SentAt = s.compact(env.SentAt)
		env.Context = s.compact(env.Context)
		env.Integrations = s.compact(env.Integrations)
	}
	env.Items = s.items
	return env, true
}

// walkItems reads the array at p.i, decoding its elements with d.
func (s *Splitter) walkItems(d *Decoder, each func(i int, it Item)) bool {
	p := &s.p
	s.items = s.items[:0]
	empty, err := p.open(']')
	if err != nil {
		return false
	}
	if empty {
		return true
	}
	for i := 0; ; i++ {
		start := p.i
		msg, sc, end, err := d.decodeItem(p.v, start)
		if end < 0 {
			return false
		}
		p.i = end
		item := p.v[start:end]
		s.items = append(s.items, item)
		each(i, Item{Value: item, Msg: msg, Scan: sc, Err: err})
		done, nerr := p.next(']')
		if nerr != nil {
			return false
		}
		if done {
			return true
		}
	}
}

// decodeItem decodes the value that starts at v[i] as Decode decodes a
// whole Kafka value, and returns where it ends: -1 when it is not valid
// JSON (or too deep to tell), which makes the envelope invalid too.
func (d *Decoder) decodeItem(v []byte, i int) (Message, Scan, int, *Error) {
	if d.msg.keys == nil {
		d.msg.keys, d.msg.vals = messageKeys, make([][]byte, len(messageKeys))
		d.integ.keys, d.integ.vals = integrationKeys, make([][]byte, len(integrationKeys))
	}
	p := &d.msg
	p.v, p.i, p.depth, p.compact = v, i, 0, true
	for j := range p.vals {
		p.vals[j] = nil
	}
	if err := p.value(); err != nil {
		return Message{}, Scan{}, -1, nil
	}
	end := p.i
	if v[i] != '{' {
		return Message{}, Scan{}, end, invalid(ReasonNotObject, "the item is JSON but not an object")
	}
	msg, sc, err := d.fields(Scan{Compact: p.compact})
	if err != nil {
		return msg, sc, end, err.(*Error)
	}
	return msg, sc, end, nil
}

// compact returns v compacted, appended to s.fields. Each result is cut at
// its own capacity, so a later append to s.fields never writes into it (if
// s.fields moves, the result keeps the old array).
func (s *Splitter) compact(v []byte) []byte {
	if v == nil {
		return nil
	}
	start := len(s.fields)
	buf := bytes.NewBuffer(s.fields)
	if err := stdjson.Compact(buf, v); err != nil {
		// Split has validated v; keep it as written if Compact disagrees.
		return v
	}
	s.fields = buf.Bytes()
	return s.fields[start:len(s.fields):len(s.fields)]
}

// BatchIntegrations applies the envelope's integrations to an item whose own
// integrations decoded as own: Segment's API merges the batch-level object
// into each message, the message's members winning. item is the item's raw
// value, which Decode has accepted.
func (s *Splitter) BatchIntegrations(env *Envelope, item []byte, own Integrations) Integrations {
	if len(env.Integrations) == 0 || env.Integrations[0] != '{' {
		return own
	}
	if s.item.keys == nil {
		s.item.keys, s.item.vals = []string{memberIntegrations, memberSentAt, memberContext}, make([][]byte, 3)
		s.integ.keys, s.integ.vals = integrationKeys, make([][]byte, len(integrationKeys))
	}
	var all, fh []byte
	if s.item.object(item) == nil {
		if raw := s.item.vals[0]; len(raw) > 0 && raw[0] == '{' && s.integ.object(raw) == nil {
			all, fh = s.integ.vals[keyAll], s.integ.vals[keyFirehose]
		}
	}
	if s.integ.object(env.Integrations) != nil {
		return own
	}
	if len(fh) == 0 || string(fh) == "null" {
		fh = s.integ.vals[keyFirehose]
	}
	if len(all) == 0 || string(all) == "null" {
		all = s.integ.vals[keyAll]
	}
	return integrationsOf(all, fh)
}

// integrationsOf is the destination's verdict from the raw values of "All"
// and "Amazon Kinesis Firehose", by the rule Decode applies.
func integrationsOf(all, fh []byte) Integrations {
	if string(fh) == "false" {
		return IntegrationsDisabled
	}
	explicitlyOn := string(fh) == "true" || (len(fh) > 0 && fh[0] == '{')
	if string(all) == "false" && !explicitlyOn {
		return IntegrationsDisabled
	}
	return IntegrationsDefault
}

// Merge appends to dst the record rec (an item's compact record, without
// its newline) with the envelope's sentAt and context merged in the way
// Segment's API merges them: the item's "sentAt" is kept when it has one,
// else the envelope's is added; the envelope's "context" members that the
// item's context lacks are added to it (one level deep: an item member wins
// whole), or the envelope's context is added whole when the item has none.
// Everything else in rec is kept byte for byte; added members go last.
func (s *Splitter) Merge(dst, rec []byte, env *Envelope) []byte {
	if s.item.keys == nil {
		s.item.keys, s.item.vals = []string{memberIntegrations, memberSentAt, memberContext}, make([][]byte, 3)
		s.integ.keys, s.integ.vals = integrationKeys, make([][]byte, len(integrationKeys))
	}
	if len(rec) < 2 || s.item.object(rec) != nil {
		return append(dst, rec...)
	}
	sentAt, ctx := s.item.vals[1], s.item.vals[2]
	body := rec[:len(rec)-1] // without its closing brace
	first := len(rec) == 2
	batchCtx := env.Context
	if len(batchCtx) < 2 || batchCtx[0] != '{' || string(batchCtx) == "{}" {
		batchCtx = nil
	}
	switch {
	case batchCtx != nil && len(ctx) > 0 && ctx[0] == '{':
		// cap tells where ctx starts: it is a slice of rec.
		start := cap(rec) - cap(ctx)
		dst = append(dst, rec[:start]...)
		dst = s.mergeObject(dst, ctx, batchCtx)
		dst = append(dst, body[start+len(ctx):]...)
	default:
		dst = append(dst, body...)
		if batchCtx != nil && len(ctx) == 0 {
			dst = appendMember(dst, first, memberContext, batchCtx)
			first = false
		}
	}
	if len(env.SentAt) > 0 && len(sentAt) == 0 {
		dst = appendMember(dst, first, memberSentAt, env.SentAt)
	}
	return append(dst, '}')
}

func appendMember(dst []byte, first bool, key string, val []byte) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return append(dst, val...)
}

// mergeObject appends own (a compact object) with the members of extra
// whose keys own lacks added at its end.
func (s *Splitter) mergeObject(dst, own, extra []byte) []byte {
	s.keys = s.keys[:0]
	members(own, func(key, _ []byte) { s.keys = append(s.keys, key) })
	dst = append(dst, own[:len(own)-1]...)
	first := len(own) == 2
	members(extra, func(key, member []byte) {
		for _, k := range s.keys {
			if bytes.Equal(k, key) {
				return
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, member...)
		first = false
	})
	return append(dst, '}')
}

// members calls fn with the key (unescaped) and the whole "key":value text
// of each member of obj, a valid compact object.
func members(obj []byte, fn func(key, member []byte)) {
	p := parser{v: obj}
	if empty, err := p.open('}'); empty || err != nil {
		return
	}
	for {
		start := p.i
		escaped, err := p.str()
		if err != nil {
			return
		}
		key := obj[start+1 : p.i-1]
		if escaped {
			key = json.AppendUnescape(nil, obj[start:p.i], 0)
		}
		p.i++ // the colon: obj is compact
		if err := p.value(); err != nil {
			return
		}
		fn(key, obj[start:p.i])
		if done, err := p.next('}'); done || err != nil {
			return
		}
	}
}

// SetDefaultType makes Decode assume typ for a message without a type (or
// with a null one), and report it in Message.Assumed, instead of returning
// missing_type. An empty typ restores missing_type.
func (d *Decoder) SetDefaultType(typ string) {
	if typ == "" {
		d.assumed = nil
		return
	}
	d.assumed = json.AppendEscape(nil, typ, 0)
}

// AppendType appends to dst the record rec (a compact object, without its
// newline) with a "type" member for typ added last, so the record says what
// it is. A "type":null already in rec stays where it is; the added member,
// being last, is the one JSON readers keep.
func AppendType(dst, rec, typ []byte) []byte {
	dst = append(dst, rec[:len(rec)-1]...)
	if len(rec) > 2 {
		dst = append(dst, ',')
	}
	dst = append(dst, `"type":`...)
	dst = json.AppendEscape(dst, string(typ), 0)
	return append(dst, '}')
}
