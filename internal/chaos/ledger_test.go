//go:build chaos

package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"strings"
	"sync"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

// Streams of the run, by index. Every deliverable message goes to the first
// ("*"); pages also go to the second, so a message with two parts (acked once
// both are) is part of the run.
const (
	streamAll = iota
	streamPages
	numStreams
)

// streamRows are the worker's mapped_streams rows for the stream names.
func streamRows(names [numStreams]string) string {
	return fmt.Sprintf("      - {event: \"*\", stream: %q}\n      - {event: page, stream: %q}\n", names[streamAll], names[streamPages])
}

// kind is what must become of a message.
type kind uint8

const (
	kindDeliver kind = iota // to the streams in its mask
	kindOptOut              // integrations turn Firehose off: skipped
	kindInvalid             // dead-lettered with its reason
	kindUnacked             // the producer gave up: may or may not be in Kafka
)

// invalidKinds are the undeliverable messages the run mixes in, with the
// dead-letter reason each must carry (the worker's segment.Reason* codes,
// written out here so that the worker's code is not the judge).
var invalidKinds = []struct {
	reason string
	format string // %s is the message's id; a kind without it has none
}{
	{"not_json", `{"type":"track","event":"Broken","messageId":"%s",`},
	{"not_object", `["%s"]`},
	{"missing_type", `{"messageId":"%s","event":"No Type"}`},
	{"type_not_string", `{"type":42,"messageId":"%s"}`},
	{"invalid_utf8", "{\"type\":\"track\",\"event\":\"\xff\xfe\",\"messageId\":\"%s\"}"},
	{"event_not_string", `{"type":"track","event":7,"messageId":"%s"}`},
	{"missing_event", `{"type":"track","messageId":"%s"}`},
	{"invalid_integrations", `{"type":"track","event":"X","messageId":"%s","integrations":[true]}`},
	{"empty", " \n\t "},
}

// message is one message to produce and what must become of it.
type message struct {
	key, value []byte
	id         string // messageId
	kind       kind
	streams    uint8 // bit per stream index, for kindDeliver
	invalid    uint8 // index into invalidKinds, for kindInvalid
	hash       uint64
	typ        string // for the report's mix
}

// source makes the run's messages: eventgen's realistic Segment traffic with
// an invalid message every invalidEvery-th. It is used by one goroutine.
type source struct {
	gen          *eventgen.Generator
	invalidEvery int
	runID        string
	n            int
	seed         maphash.Seed
	scratch      bytes.Buffer
}

func newSource(o options, seed maphash.Seed) *source {
	return &source{
		gen: eventgen.New(eventgen.Options{
			Seed:           o.Seed,
			FirehoseOptOut: o.OptOut,
			// A few pretty-printed messages: the worker must compact them,
			// and the ledger expects the compacted form.
			PrettyShare: 0.005,
		}),
		invalidEvery: o.InvalidEvery,
		runID:        o.RunID,
		seed:         seed,
	}
}

func (s *source) next() message {
	s.n++
	if s.invalidEvery > 0 && s.n%s.invalidEvery == 0 {
		i := (s.n / s.invalidEvery) % len(invalidKinds)
		id := fmt.Sprintf("chaos-%s-bad-%d", s.runID, s.n)
		value := invalidKinds[i].format
		if strings.Contains(value, "%s") {
			value = fmt.Sprintf(value, id)
		}
		return message{key: []byte(id), value: []byte(value), id: id, kind: kindInvalid, invalid: uint8(i), typ: "invalid"}
	}
	value, key, info := s.gen.Next(nil)
	m := message{key: bytes.Clone(key), value: value, id: string(info.MessageID), typ: string(info.Type)}
	m.hash = s.recordHash(value, info.Pretty)
	if info.FirehoseDisabled {
		m.kind = kindOptOut
		return m
	}
	m.kind = kindDeliver
	m.streams = 1 << streamAll
	if strings.EqualFold(string(info.Type), "page") || (info.Type == eventgen.Track && strings.EqualFold(info.Event, "page")) {
		m.streams |= 1 << streamPages
	}
	return m
}

// recordHash hashes the record the worker must write for value: the value
// compacted as encoding/json.Compact does (generated values are compact
// unless pretty), without its '\n'.
func (s *source) recordHash(value []byte, pretty bool) uint64 {
	if !pretty {
		return maphash.Bytes(s.seed, value)
	}
	s.scratch.Reset()
	if err := json.Compact(&s.scratch, value); err != nil {
		panic(fmt.Sprintf("eventgen made invalid JSON: %v", err)) // a bug in the generator, not the worker
	}
	return maphash.Bytes(s.seed, s.scratch.Bytes())
}

// entry is one acknowledged message in the ledger.
type entry struct {
	id        string
	hash      uint64
	partition int32
	offset    int64
	kind      kind
	streams   uint8
	invalid   uint8
	seen      [numStreams]int32 // lines in S3, per stream
	firstAt   [numStreams]int32 // arrival of the earliest copy, s since the run's start
	letters   int32             // letters in the dead-letter topic
	reason    string            // the first letter's reason
}

// ledger is every message the broker acknowledged and what must become of
// it. It is safe for concurrent use (produce callbacks).
type ledger struct {
	seed maphash.Seed

	mu       sync.Mutex
	entries  []entry
	byHash   map[uint64]int32
	byID     map[string]int32
	byOffset map[tpo]int32 // invalid messages, for the dead letters
	ends     map[int32]int64
	dupIDs   []string // messageIds the source made twice (invalidates the check)
	mix      map[string]int
}

// tpo is a partition and offset of the run's topic.
type tpo struct {
	partition int32
	offset    int64
}

func newLedger(seed maphash.Seed) *ledger {
	return &ledger{seed: seed, byHash: map[uint64]int32{}, byID: map[string]int32{}, byOffset: map[tpo]int32{},
		ends: map[int32]int64{}, mix: map[string]int{}}
}

// add enters an acknowledged message; unacked marks one the producer gave up
// on, which may or may not be in the topic.
func (l *ledger) add(m *message, partition int32, offset int64, unacked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := entry{id: m.id, hash: m.hash, partition: partition, offset: offset, kind: m.kind, streams: m.streams, invalid: m.invalid}
	if unacked {
		e.kind = kindUnacked
	}
	i := int32(len(l.entries))
	l.entries = append(l.entries, e)
	if _, dup := l.byID[m.id]; dup && len(l.dupIDs) < 10 {
		l.dupIDs = append(l.dupIDs, m.id)
	}
	l.byID[m.id] = i
	if m.kind != kindInvalid {
		l.byHash[m.hash] = i
	}
	if unacked {
		return
	}
	if m.kind == kindInvalid {
		l.byOffset[tpo{partition, offset}] = i
	}
	l.ends[partition] = max(l.ends[partition], offset+1)
	l.mix[m.typ]++
}

// endOffsets returns, per partition, the offset after the last acknowledged
// message: where the group's commits must arrive.
func (l *ledger) endOffsets() map[int32]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int32]int64, len(l.ends))
	for p, o := range l.ends {
		out[p] = o
	}
	return out
}

// produced counts acknowledged messages by kind.
type produced struct {
	Messages        int             `json:"messages"`
	ToDeliver       int             `json:"to_deliver"`
	SkippedByIntegr int             `json:"skipped_by_integrations"`
	Invalid         int             `json:"invalid"`
	InvalidByReason map[string]int  `json:"invalid_by_reason"`
	Unacknowledged  int             `json:"unacknowledged"`
	ExpectedRecords [numStreams]int `json:"expected_records_per_stream"`
	Mix             map[string]int  `json:"mix"`
}

func (l *ledger) produced() produced {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := produced{InvalidByReason: map[string]int{}, Mix: map[string]int{}}
	for k, v := range l.mix {
		p.Mix[k] = v
	}
	for i := range l.entries {
		e := &l.entries[i]
		if e.kind == kindUnacked {
			p.Unacknowledged++
			continue
		}
		p.Messages++
		switch e.kind {
		case kindDeliver:
			p.ToDeliver++
			for s := range numStreams {
				if e.streams&(1<<s) != 0 {
					p.ExpectedRecords[s]++
				}
			}
		case kindOptOut:
			p.SkippedByIntegr++
		case kindInvalid:
			p.Invalid++
			p.InvalidByReason[invalidKinds[e.invalid].reason]++
		}
	}
	return p
}
