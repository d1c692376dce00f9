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

// Split reports whether value is an envelope and returns its parts. It
// checks the value's syntax in the same pass (a value that is not valid JSON
// is not an envelope), so it may be given any bytes; the pipeline gives it
// only values Decode found without a type.
func (s *Splitter) Split(value []byte) (Envelope, bool) {
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
		isBatch := string(key) == memberBatch
		if isBatch && p.i < len(value) && value[p.i] == '[' {
			// The last "batch" wins, as the last duplicate does in Decode.
			if !s.walkItems() {
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

// walkItems reads the array at p.i and keeps the bounds of its elements.
func (s *Splitter) walkItems() bool {
	p := &s.p
	s.items = s.items[:0]
	empty, err := p.open(']')
	if err != nil {
		return false
	}
	if empty {
		return true
	}
	for {
		start := p.i
		if err := p.value(); err != nil {
			return false
		}
		s.items = append(s.items, p.v[start:p.i])
		done, err := p.next(']')
		if err != nil {
			return false
		}
		if done {
			return true
		}
	}
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
