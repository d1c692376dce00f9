package firehosesim

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Outcome is how a data-plane call ended, from the client's point of view.
type Outcome string

const (
	// OutcomeOK: HTTP 200, every record accepted.
	OutcomeOK Outcome = "ok"
	// OutcomePartial: HTTP 200 with FailedPutCount > 0 (possibly all).
	OutcomePartial Outcome = "partial"
	// OutcomeThrottled: the whole call failed with ServiceUnavailableException
	// (Block, ThrottleNextCalls, a PerCall quota, or a RejectStream with that
	// code).
	OutcomeThrottled Outcome = "throttled"
	// OutcomeError: the whole call failed with any other error (validation,
	// unknown or rejected stream, the 4 MiB limit, a failed PutRecord).
	OutcomeError Outcome = "error"
	// OutcomeDropped: records were accepted and reached the Sink, then the
	// connection was cut before the answer was complete.
	OutcomeDropped Outcome = "dropped"
	// OutcomeCanceled: the client went away before the call was processed
	// (while sending its body, or while SetLatency delayed the call);
	// nothing was accepted.
	OutcomeCanceled Outcome = "canceled"
)

// CallInfo describes one finished data-plane call. The Server hands it to
// Options.Observer before the answer is written, so everything an observer
// records happens before the client sees the result.
type CallInfo struct {
	Operation string  // "PutRecordBatch" or "PutRecord"
	Stream    string  // empty when the call ended before its body was parsed
	Records   int     // records in the request
	Failed    int     // records that failed inside an HTTP 200 answer
	Bytes     int     // record data in the request, before base64
	Outcome   Outcome // how the call ended
	ErrorCode string  // the whole-call error code, if any
	SinkError error   // why the Sink refused the records, which then failed
	// Landed are the records handed to the Sink, each with its '\n' if it
	// had one: for a dropped answer, what landed although the client never
	// learns it. Valid only during the Observer call (the memory is reused).
	Landed [][]byte
}

// Stats is a snapshot of what a Server has done with data-plane calls.
type Stats struct {
	Calls   CallCounts
	Streams map[string]StreamStats // by name; streams that exist and were called
}

// CallCounts counts data-plane calls by Outcome.
type CallCounts struct {
	OK, Partial, Throttled, Error, Dropped, Canceled int64
}

// Total is the number of calls counted.
func (c CallCounts) Total() int64 {
	return c.OK + c.Partial + c.Throttled + c.Error + c.Dropped + c.Canceled
}

// StreamStats counts records and bytes of one stream.
type StreamStats struct {
	// RecordsAccepted reached the Sink, including those of dropped calls.
	RecordsAccepted int64
	// BytesAccepted is their data, before base64.
	BytesAccepted int64
	// RecordsFailed failed one by one inside an HTTP 200 answer.
	RecordsFailed int64
	// RecordsRejected were in calls that failed as a whole after the stream
	// was known (throttled, rejected stream, 4 MiB limit).
	RecordsRejected int64
	// RecordsUnacknowledged were accepted in calls whose answer was dropped,
	// so the client does not know they landed. They are also in
	// RecordsAccepted.
	RecordsUnacknowledged int64
}

// statsRecorder keeps the counters behind Stats. Call counters are atomics;
// per-stream counters sit behind a mutex taken once per call.
type statsRecorder struct {
	calls   [6]atomic.Int64 // indexed by outcomeIndex
	mu      sync.Mutex
	streams map[string]*StreamStats
}

func outcomeIndex(o Outcome) int {
	switch o {
	case OutcomeOK:
		return 0
	case OutcomePartial:
		return 1
	case OutcomeThrottled:
		return 2
	case OutcomeError:
		return 3
	case OutcomeDropped:
		return 4
	default:
		return 5
	}
}

// record counts one call. streamKnown says whether the stream exists, so
// per-stream counters are not created for names a client made up.
func (r *statsRecorder) record(c *CallInfo, streamKnown bool, acceptedBytes int) {
	r.calls[outcomeIndex(c.Outcome)].Add(1)
	if !streamKnown {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[c.Stream]
	if !ok {
		if r.streams == nil {
			r.streams = make(map[string]*StreamStats)
		}
		s = &StreamStats{}
		r.streams[c.Stream] = s
	}
	switch c.Outcome {
	case OutcomeOK, OutcomePartial, OutcomeDropped:
		accepted := int64(c.Records - c.Failed)
		s.RecordsAccepted += accepted
		s.BytesAccepted += int64(acceptedBytes)
		s.RecordsFailed += int64(c.Failed)
		if c.Outcome == OutcomeDropped {
			s.RecordsUnacknowledged += accepted
		}
	case OutcomeThrottled, OutcomeError:
		s.RecordsRejected += int64(c.Records)
	}
}

func (r *statsRecorder) snapshot() Stats {
	st := Stats{Calls: CallCounts{
		OK:        r.calls[0].Load(),
		Partial:   r.calls[1].Load(),
		Throttled: r.calls[2].Load(),
		Error:     r.calls[3].Load(),
		Dropped:   r.calls[4].Load(),
		Canceled:  r.calls[5].Load(),
	}}
	r.mu.Lock()
	defer r.mu.Unlock()
	st.Streams = make(map[string]StreamStats, len(r.streams))
	for name, s := range maps.All(r.streams) {
		st.Streams[name] = *s
	}
	return st
}
