package sandbox

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// KafkaState is what the broker holds in the sandbox's topics.
type KafkaState struct {
	// Messages is how many messages the topics hold.
	Messages int64
	// Lag is how many of them the group has not committed past: per
	// partition, the end offset minus the committed offset, or minus the
	// log start where nothing is committed yet. -1 when unknown.
	Lag int64
}

// StreamState is one delivery stream as the endpoint saw it.
type StreamState struct {
	Name string
	// Acknowledged records were accepted and answered as such.
	Acknowledged int64
	// Refused records failed one by one or in whole calls that were
	// throttled or refused; the worker sends them again.
	Refused int64
	// Written records are in Files files of Bytes bytes; Pending records
	// wait in the buffer for the next file.
	Written, Pending, Bytes, Files int64
}

// Observation is one reading of the sandbox.
type Observation struct {
	Kafka KafkaState
	// Streams are sorted by name.
	Streams []StreamState
	// ThrottledCalls failed as a whole with "Slow down.".
	ThrottledCalls int64
}

// Observe reads the endpoint's counters and asks the broker for offsets.
// The broker part is bounded by ctx; when it fails, Kafka.Lag is -1.
func (s *Sandbox) Observe(ctx context.Context) Observation {
	stats := s.sim.Stats()
	files := s.sink.Totals()
	byName := map[string]*StreamState{}
	get := func(name string) *StreamState {
		st, ok := byName[name]
		if !ok {
			st = &StreamState{Name: name}
			byName[name] = st
		}
		return st
	}
	for name, ss := range stats.Streams {
		st := get(name)
		st.Acknowledged = ss.RecordsAccepted - ss.RecordsUnacknowledged
		st.Refused = ss.RecordsFailed + ss.RecordsRejected
	}
	for name, t := range files {
		st := get(name)
		st.Written, st.Pending, st.Bytes, st.Files = t.Records, t.PendingRecords, t.Bytes, t.Files
	}
	obs := Observation{Kafka: s.Kafka(ctx), ThrottledCalls: stats.Calls.Throttled}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		obs.Streams = append(obs.Streams, *byName[name])
	}
	return obs
}

// Kafka sums the sandbox topics' offsets and the group's lag, asking the
// broker within ctx.
func (s *Sandbox) Kafka(ctx context.Context) KafkaState {
	st := KafkaState{Lag: -1}
	starts, err := s.admin.ListStartOffsets(ctx, s.opts.Topics...)
	if err != nil {
		return st
	}
	ends, err := s.admin.ListEndOffsets(ctx, s.opts.Topics...)
	if err != nil {
		return st
	}
	committed, err := s.admin.FetchOffsets(ctx, s.opts.Group)
	known := err == nil
	if errors.Is(err, kerr.GroupIDNotFound) {
		known = true // the group has not committed anything yet
	}
	var lag int64
	ends.Each(func(end kadm.ListedOffset) {
		if end.Err != nil {
			known = false
			return
		}
		from := int64(0)
		if start, ok := starts.Lookup(end.Topic, end.Partition); ok && start.Err == nil {
			from = start.Offset
		}
		st.Messages += end.Offset - from
		if c, ok := committed.Lookup(end.Topic, end.Partition); ok && c.Err == nil && c.At >= from {
			from = c.At
		}
		lag += max(end.Offset-from, 0)
	})
	if known {
		st.Lag = lag
	}
	return st
}
