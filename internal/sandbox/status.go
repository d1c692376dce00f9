package sandbox

import (
	"strings"
	"time"
)

// Status is one reading of the whole sandbox, for the status line.
type Status struct {
	Elapsed time.Duration
	// Generated counts messages the generator had acknowledged; -1 when
	// no generator runs.
	Generated int64
	// InKafka counts the messages in the sandbox topics, whoever sent them.
	InKafka int64
	// Consumed and Dropped are the worker's totals.
	Consumed, Dropped int64
	// Streams are the records Firehose acknowledged, per stream, in the
	// order to show them.
	Streams []StreamCount
	// Retries counts records Firehose refused, which the worker sends again.
	Retries int64
	// Throttled counts calls refused as a whole with "Slow down.".
	Throttled int64
	// Lag is the messages the group has not committed past; -1 unknown.
	Lag int64
}

// StreamCount is a number of records for one stream.
type StreamCount struct {
	Name  string
	Count int64
}

// Line renders s on one line, the same for a terminal and a log:
//
//	0:42 in 8,400 (generated 8,400) | consumed 8,390 | delivered orders 160, pages 1,650, everything 8,388 | retries 0 | lag 12
func (s Status) Line() string {
	var b strings.Builder
	b.WriteString(clock(s.Elapsed))
	b.WriteString(" in ")
	b.WriteString(count(s.InKafka))
	if s.Generated >= 0 {
		b.WriteString(" (generated ")
		b.WriteString(count(s.Generated))
		b.WriteString(")")
	}
	b.WriteString(" | consumed ")
	b.WriteString(count(s.Consumed))
	if s.Dropped > 0 {
		b.WriteString(", dropped ")
		b.WriteString(count(s.Dropped))
	}
	b.WriteString(" | delivered")
	if len(s.Streams) == 0 {
		b.WriteString(" nothing yet")
	}
	for i, st := range s.Streams {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(st.Name)
		b.WriteByte(' ')
		b.WriteString(count(st.Count))
	}
	b.WriteString(" | retries ")
	b.WriteString(count(s.Retries))
	if s.Throttled > 0 {
		b.WriteString(" (")
		b.WriteString(count(s.Throttled))
		b.WriteString(" calls throttled)")
	}
	b.WriteString(" | lag ")
	if s.Lag < 0 {
		b.WriteString("?")
	} else {
		b.WriteString(count(s.Lag))
	}
	return b.String()
}

// OrderStreams returns the streams of obs as StreamCounts of acknowledged
// records: first those named in order (the config's order, which is how a
// reader thinks of them), each once, then any others by name. Streams in
// order that have seen nothing yet are shown with 0, so the line does not
// change shape as traffic starts.
func OrderStreams(order []string, obs []StreamState) []StreamCount {
	acked := make(map[string]int64, len(obs))
	for _, st := range obs {
		acked[st.Name] = st.Acknowledged
	}
	out := make([]StreamCount, 0, len(order)+len(obs))
	seen := map[string]bool{}
	for _, name := range order {
		if !seen[name] {
			seen[name] = true
			out = append(out, StreamCount{name, acked[name]})
		}
	}
	for _, st := range obs {
		if !seen[st.Name] {
			seen[st.Name] = true
			out = append(out, StreamCount{st.Name, st.Acknowledged})
		}
	}
	return out
}
