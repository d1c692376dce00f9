package pipeline

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/consume"
	"github.com/firehose-worker/firehose-worker/internal/deadletter"
	"github.com/firehose-worker/firehose-worker/internal/segment"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// untyped reports that Decode found no type in the value: the only values
// that may be envelopes. It costs the single-message path one test.
func untyped(msg segment.Message, err error) bool {
	if msg.Assumed {
		return true
	}
	se, ok := err.(*segment.Error)
	return ok && se.Reason == segment.ReasonMissingType
}

// tryEnvelope handles m as an envelope when it is one, and reports
// whether it did; when not, m is left for the single-message path.
func (p *Pipeline) tryEnvelope(ctx context.Context, cl *consume.Claim, src *source, s *scratch, m *kafka.Message) (bool, error) {
	// Items are slices of the value that outlive Handle.
	cl.Keep(m)
	env, ok := s.split.Split(m.Value, &s.dec, p.sortItems(src, s))
	if !ok {
		return false, nil
	}
	if len(env.Items) == 0 {
		s.items = s.items[:0]
	}
	p.finishItems(src, s, &env)
	return true, p.handleEnvelope(ctx, cl, src, s, m)
}

// envItem is one item of an envelope and what becomes of it: delivered
// (rec set, its streams in scratch.envIDs up to ids), skipped (skip set) or
// undeliverable (reason set).
type envItem struct {
	index   int
	value   []byte
	sc      segment.Scan
	assumed bool
	integ   segment.Integrations
	rec     []byte
	copied  bool // rec is not a slice of the Kafka value
	from    int  // its streams are s.envIDs[from:ids]
	ids     int
	skip    string
	reason  string
	detail  string
	stream  string
}

// sortItems decodes and routes the items of an envelope into s.items, as
// Split finds them, with no effect outside s: the value may yet turn out
// not to be an envelope. Frames and integrations wait for finishItems,
// since the envelope's own members may come after its batch.
func (p *Pipeline) sortItems(src *source, s *scratch) func(i int, it segment.Item) {
	return func(i int, it segment.Item) {
		if i == 0 {
			s.items, s.envIDs = s.items[:0], s.envIDs[:0]
		}
		e := envItem{index: i, value: it.Value, sc: it.Scan, assumed: it.Msg.Assumed, integ: it.Msg.Integrations}
		from := len(s.envIDs)
		if it.Err != nil {
			e.reason, e.detail = it.Err.Reason, it.Err.Detail
		} else {
			// Route keeps ids unique within the slice it appends to, so each
			// item is routed on its own.
			s.ids = src.table.Route(s.ids[:0], it.Msg.Type, it.Msg.Event, it.Msg.Track)
			s.envIDs = append(s.envIDs, s.ids...)
		}
		e.from, e.ids = from, len(s.envIDs)
		s.items = append(s.items, e)
	}
}

// finishItems decides what becomes of each item once the whole envelope is
// known: turned off by its integrations (the envelope's merged under its
// own), routed nowhere, too large, or framed for delivery.
func (p *Pipeline) finishItems(src *source, s *scratch, env *segment.Envelope) {
	for k := range s.items {
		e := &s.items[k]
		switch {
		case e.reason != "":
			continue
		case env.Integrations != nil:
			e.integ = s.split.BatchIntegrations(env, e.value, e.integ)
		}
		switch {
		case e.integ == segment.IntegrationsDisabled:
			e.skip, e.ids = telemetry.MsgSkippedIntegrations, e.from
			continue
		case e.ids == e.from:
			e.skip = telemetry.MsgSkippedUnmapped
			continue
		}
		rec, copied := itemRecord(src, s, e, env)
		if n := len(rec) + 1; n > config.MaxRecordBytes {
			e.reason = segment.ReasonRecordTooLarge
			e.detail = fmt.Sprintf("the record is %d bytes; Firehose takes at most %d", n, config.MaxRecordBytes)
			e.stream = src.table.Streams()[s.envIDs[e.from]]
			e.ids = e.from
			continue
		}
		e.rec, e.copied = rec, copied
	}
}

// handleEnvelope delivers the sorted items of an envelope as messages of
// their own. The Kafka message is tracked once, with one part per item and
// stream plus one per dead-lettered item, so its offset is committable only
// when every item is delivered or dead-lettered; skipped items take no
// part, and an envelope with nothing to deliver finishes at once. The held
// memory is the value, which compact records alias, plus every record that
// had to be copied.
func (p *Pipeline) handleEnvelope(ctx context.Context, cl *consume.Claim, src *source, s *scratch, m *kafka.Message) error {
	parts, held := 0, len(m.Value)
	for _, it := range s.items {
		switch {
		case it.rec != nil:
			parts += it.ids - it.from
			if it.copied {
				held += len(it.rec)
			}
		case it.reason != "" && p.dlq != nil:
			parts++
		}
	}
	var tm *checkpoint.Message
	if parts > 0 {
		size, err := p.reserve(ctx, src, held)
		if err != nil {
			return err
		}
		tm = cl.Tracker.TrackAt(m.Offset, parts, size, m.Time)
	}
	var link trace.SpanContext
	if p.tracing() && parts > 0 {
		link = p.traceContext(m.Headers)
	}
	var letters []deadletter.Letter
	for _, it := range s.items {
		switch {
		case it.skip != "":
			p.skipped[it.skip].Add(1)
			continue
		case it.reason != "" && p.dlq == nil:
			p.drop(src, m, it.reason, it.detail, "batch_index", it.index)
			continue
		}
		var origin *deadletter.Origin
		if p.dlq != nil {
			origin = p.origin(src, m)
			origin.Value, origin.InBatch, origin.BatchIndex = it.value, true, it.index
		}
		if it.rec == nil {
			p.metrics.Messages.Get(telemetry.AttrOutcome.String(telemetry.MsgDeadLettered), telemetry.AttrReason.String(it.reason)).Add(1)
			letters = append(letters, deadletter.Letter{Origin: origin, Reason: it.reason, Message: it.detail, Stream: it.stream, Part: tm})
			continue
		}
		p.routed.Add(1)
		rec := batch.Record{Data: it.rec, Part: tm, Trace: link}
		if origin != nil {
			rec.Origin = origin
		}
		for _, id := range s.envIDs[it.from:it.ids] {
			src.dests[id].acc.Add(rec)
		}
	}
	if parts == 0 {
		p.finishUntracked(cl, m.Offset)
		return nil
	}
	if len(letters) > 0 {
		return p.deadLetter(ctx, letters)
	}
	return nil
}

// itemRecord is the record of an envelope's item, and whether it is a copy
// rather than a slice of the Kafka value: the item compacted, with its
// assumed type and, when the source says so, the envelope's fields merged
// in.
func itemRecord(src *source, s *scratch, e *envItem, env *segment.Envelope) ([]byte, bool) {
	rec, copied := segment.Record(e.value, e.sc), !e.sc.Compact
	if e.assumed {
		rec, copied = segment.AppendType(nil, rec, []byte(src.cfg.DefaultType)), true
	}
	if src.cfg.EnvelopeMerge && (env.SentAt != nil || env.Context != nil) {
		rec, copied = s.split.Merge(nil, rec, env), true
	}
	return rec, copied
}
