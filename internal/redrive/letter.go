package redrive

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/deadletter"
	"github.com/firehose-worker/firehose-worker/internal/segment"
)

// Letter is a dead letter read back from the dead-letter topic: where it is
// there, what the worker said about it (the dlq.* headers), and the original
// value.
type Letter struct {
	Partition int   // in the dead-letter topic
	Offset    int64 // in the dead-letter topic
	Reason    string
	Detail    string
	Stream    string // the stream that refused it; "" when none was known
	Source    string // the Segment source ID
	Code      string // Firehose's error code, when Firehose refused it
	// Time is when it was dead-lettered; zero when the header is missing
	// or not RFC 3339.
	Time time.Time
	// Origin is where the original message was: topic/partition@offset.
	OriginTopic     string
	OriginPartition int
	OriginOffset    int64
	Value           []byte
	// ValueDropped says the dead-letter topic took the letter only without
	// its value (too large for it): there is nothing to send.
	ValueDropped bool
}

// Parse reads the dead-letter headers of m. Headers it does not know are
// the original message's own and are ignored.
func Parse(m kafka.Message) Letter {
	l := Letter{Partition: m.Partition, Offset: m.Offset, Value: m.Value, OriginPartition: -1, OriginOffset: -1}
	for _, h := range m.Headers {
		v := string(h.Value)
		switch h.Key {
		case deadletter.HeaderReason:
			l.Reason = v
		case deadletter.HeaderMessage:
			l.Detail = v
		case deadletter.HeaderStream:
			l.Stream = v
		case deadletter.HeaderSourceID:
			l.Source = v
		case deadletter.HeaderFirehoseCode:
			l.Code = v
		case deadletter.HeaderTime:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				l.Time = t
			}
		case deadletter.HeaderTopic:
			l.OriginTopic = v
		case deadletter.HeaderPartition:
			if n, err := strconv.Atoi(v); err == nil {
				l.OriginPartition = n
			}
		case deadletter.HeaderOffset:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				l.OriginOffset = n
			}
		case deadletter.HeaderValueDropped:
			l.ValueDropped = true
		}
	}
	if l.Reason == "" {
		l.Reason = "unknown" // not written by the worker
	}
	return l
}

// Origin is the original message's coordinates, for reports.
func (l *Letter) Origin() string {
	return l.OriginTopic + "/" + strconv.Itoa(l.OriginPartition) + "@" + strconv.FormatInt(l.OriginOffset, 10)
}

// Filter selects letters. Empty lists match everything; a letter with no
// dlq.time never matches a time bound.
type Filter struct {
	Reasons []string
	Streams []string
	Sources []string
	Since   time.Time // inclusive
	Until   time.Time // exclusive
}

// Match reports whether l passes every condition of f.
func (f *Filter) Match(l *Letter) bool {
	if len(f.Reasons) > 0 && !slices.Contains(f.Reasons, l.Reason) {
		return false
	}
	if len(f.Streams) > 0 && !slices.Contains(f.Streams, l.Stream) {
		return false
	}
	if len(f.Sources) > 0 && !slices.Contains(f.Sources, l.Source) {
		return false
	}
	if !f.Since.IsZero() && (l.Time.IsZero() || l.Time.Before(f.Since)) {
		return false
	}
	if !f.Until.IsZero() && (l.Time.IsZero() || !l.Time.Before(f.Until)) {
		return false
	}
	return true
}

// Fate is what a redrive does with a letter.
type Fate int

// Fates, in the order of the summary's columns.
const (
	Filtered Fate = iota // does not match the filter: read past
	Send                 // sent to a stream
	Left                 // counted and left alone: no stream, or nothing valid to send
)

// plan is the decision for one matched letter: where it goes and what is
// sent, or why it is left alone.
type plan struct {
	fate   Fate
	stream string
	record []byte // without its newline
	why    string // for Left
}

// decide turns a letter into a plan. A letter that names a stream is sent
// there as the record the worker built for it (the value compacted, as the
// normal path frames it); one that names none goes to toStream when it is
// valid JSON, else it is left alone.
func decide(l *Letter, toStream string, dec *segment.Decoder) plan {
	stream := l.Stream
	if stream == "" {
		stream = toStream
	}
	switch {
	case stream == "":
		return plan{fate: Left, why: "names no stream"}
	case l.ValueDropped || len(l.Value) == 0:
		return plan{fate: Left, why: "carries no value"}
	case l.Reason == deadletter.ReasonPreflightProbe:
		return plan{fate: Left, why: "a check --connect probe, not a message"}
	case l.Reason == segment.ReasonRecordTooLarge:
		return plan{fate: Left, why: "the record is larger than Firehose accepts"}
	}
	var rec []byte
	if _, sc, err := dec.Decode(l.Value); err == nil {
		rec = segment.Record(l.Value, sc)
	} else if l.Stream == "" && json.Valid(l.Value) {
		// Not a Segment message (no type, say) but JSON: --to-stream
		// takes it as an operator's explicit choice.
		var b bytes.Buffer
		_ = json.Compact(&b, l.Value)
		rec = b.Bytes()
	} else {
		return plan{fate: Left, why: "not a valid record"}
	}
	if len(rec)+1 > config.MaxRecordBytes {
		return plan{fate: Left, why: "the record is larger than Firehose accepts"}
	}
	return plan{fate: Send, stream: stream, record: rec}
}
