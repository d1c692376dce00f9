// Package delivery sends batches to one Firehose delivery stream with
// PutRecordBatch and owns the retry loop: whole-call throttling and transient
// faults back off and resend; partial failures resend only the records that
// failed, at once if they were throttled while the stream is paced (the pace
// bounds them; see resendAtOnce); errors retrying cannot fix go to a reject
// function (the dead-letter topic) when there is one, and are retried slowly
// otherwise, so nothing is ever dropped.
package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/congestion"
	"github.com/firehose-worker/firehose-worker/internal/retry"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// PutRecordBatcher is the one Firehose call delivery makes. The SDK client's
// own retries must be off: this package decides what is resent.
type PutRecordBatcher interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// Congestion decides when each call to the stream may go; a
// congestion.Limiter is one. Every Admit that returns nil is followed by
// exactly one Release with the call's outcome.
type Congestion interface {
	Admit(ctx context.Context, records int) error
	Release(congestion.Outcome)
	// Paced reports whether the stream's records are being paced: then
	// records throttled one by one are resent without a backoff, since the
	// pace bounds them (see resendAtOnce).
	Paced() bool
}

// Rejected is a record Firehose refused for good, with the reason.
type Rejected struct {
	Record  batch.Record
	Code    string
	Message string
}

// RejectFunc takes records that can never be delivered. It must finish each
// record's Part once the record is safely stored elsewhere, and must keep
// trying until then or until ctx ends; it returns an error only then, and
// Deliver returns it.
type RejectFunc func(ctx context.Context, stream string, recs []Rejected) error

// Options configure a Stream.
type Options struct {
	Name   string
	Client PutRecordBatcher
	// Retry spaces the attempts of each batch. Once it runs out, a batch's
	// records go to Reject; with no Reject they are retried forever,
	// whatever Retry.Then says, and logged, so lag shows the problem.
	Retry          retry.Policy
	RequestTimeout time.Duration
	Reject         RejectFunc
	Metrics        *telemetry.Metrics
	Logger         *slog.Logger
	// Tracer, when set, records a span per PutRecordBatch attempt, linked to
	// the trace contexts its records carried.
	Tracer trace.Tracer
	// Congestion bounds the calls to the stream; nil leaves them unbounded.
	Congestion Congestion
	// DeadLetterDenied sends records the worker may not write (Denied) to
	// Reject; otherwise they wait, retried with backoff.
	DeadLetterDenied bool
	// Bodies, when set, bounds the bytes of request bodies being sent and
	// recycles their buffers; share one among all streams. A call waits for
	// room before its body is built.
	Bodies *Bodies
}

// Stream delivers batches to one delivery stream. Deliver may be called from
// many goroutines at once; each call owns its batch.
type Stream struct {
	opts     Options
	name     *string
	attrs    metric.MeasurementOption
	episode  episode // throttling
	failures episode // calls failing for other reasons
	hold     hold    // spaces the calls while they fail whole
}

// NewStream returns a Stream for opts.
func NewStream(opts Options) *Stream {
	if opts.Metrics == nil {
		opts.Metrics = telemetry.Discard()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Logger = opts.Logger.With("stream", opts.Name)
	if opts.Reject == nil {
		opts.Retry = opts.Retry.With(retry.Forever)
	}
	return &Stream{
		opts:     opts,
		name:     aws.String(opts.Name),
		attrs:    metric.WithAttributes(telemetry.AttrStream.String(opts.Name)),
		episode:  episode{log: opts.Logger, level: slog.LevelWarn, what: "Firehose is throttling this stream"},
		failures: episode{log: opts.Logger, level: slog.LevelError, what: "PutRecordBatch is failing"},
		hold:     hold{newBackOff: opts.Retry.New},
	}
}

// Name is the delivery stream name.
func (s *Stream) Name() string { return s.opts.Name }

// Bodies is the body bound the stream's calls share; nil for none.
func (s *Stream) Bodies() *Bodies { return s.opts.Bodies }

// Deliver sends b until every record is acknowledged (its Part is finished)
// or handed to Reject. It returns early only when ctx ends, leaving the
// unfinished records unfinished so their offsets are never committed, with
// ctx's error (or Reject's, which ends only with ctx).
func (s *Stream) Deliver(ctx context.Context, b *batch.Batch) error {
	m := s.opts.Metrics
	m.InFlightBatches.Add(ctx, 1)
	defer m.InFlightBatches.Add(context.WithoutCancel(ctx), -1)
	m.BatchRecords.Record(ctx, int64(len(b.Records)), s.attrs)
	m.BatchBytes.Record(ctx, int64(b.Bytes), s.attrs)

	pending := b.Records
	in := &firehose.PutRecordBatchInput{DeliveryStreamName: s.name}
	wire := make([]types.Record, len(pending))
	retries := s.opts.Retry.Start()
	quick := 0 // resends of this batch that skipped the backoff
	for attempt := 0; ; attempt++ {
		if pending = s.withdraw(ctx, pending); len(pending) == 0 {
			return nil
		}
		in.Records = wire[:len(pending)]
		// Data lacks the record's newline; the RequestBody encodes it.
		for i, r := range pending {
			in.Records[i].Data = r.Data
		}
		c := s.put(ctx, in, pending, attempt)
		var again []batch.Record
		var reason string
		progress := false // some records were accepted and every failure was a throttle
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case c.err != nil && c.class == Permanent && s.opts.Reject != nil:
			return s.reject(ctx, pending, c.code, c.err.Error())
		case c.err != nil:
			again, reason = pending, c.class.String()
			s.trouble(c, len(pending))
		default:
			var rejected []Rejected
			again, rejected, reason, progress = s.sortResponses(ctx, pending, c.out)
			if len(rejected) > 0 {
				if err := s.opts.Reject(ctx, s.opts.Name, rejected); err != nil {
					return err
				}
			}
		}
		if len(again) == 0 {
			s.episode.ok()
			s.failures.ok()
			return nil
		}
		var wait time.Duration
		if resendAtOnce(s.opts.Congestion, progress, quick) {
			quick++
		} else {
			var err error
			if wait, err = retries.Next(); err != nil {
				// Only a stream with a Reject gives up (see NewStream).
				return s.reject(ctx, again, "RetriesExhausted", fmt.Sprintf("gave up after %d attempts", attempt+1))
			}
			m.BackoffTime.Add(ctx, wait.Seconds(), s.attrs)
		}
		telemetry.Add(ctx, m.Retries, 1, telemetry.AttrStream.String(s.opts.Name), telemetry.AttrReason.String(reason))
		if err := retry.Wait(ctx, wait); err != nil {
			return err
		}
		pending = again
	}
}

// withdraw finishes, unsent, the records of pending whose partition this
// worker gave up (see batch.Record.Withdrawn) and returns the rest. The
// partition's next owner sends those records: sending them too, as a batch
// held back by throttling or an outage would, made a second copy of each.
// pending itself is not written: the common case, nothing withdrawn, costs
// one check per record.
func (s *Stream) withdraw(ctx context.Context, pending []batch.Record) []batch.Record {
	first := slices.IndexFunc(pending, batch.Record.Withdrawn)
	if first < 0 {
		return pending
	}
	keep := slices.Clone(pending[:first])
	for _, r := range pending[first:] {
		if r.Withdrawn() {
			r.Part.Done()
			continue
		}
		keep = append(keep, r)
	}
	s.opts.Metrics.RecordsWithdrawn.Add(ctx, int64(len(pending)-len(keep)), s.attrs)
	return keep
}

// trouble logs a call that failed whole, as part of its episode.
func (s *Stream) trouble(c call, records int) {
	switch c.class {
	case Throttled:
		s.episode.trouble(records)
	case Permanent:
		s.failures.trouble(records, "class", c.class.String(), "code", c.code, "error", c.err,
			"note", "Firehose refuses the batch and there is no dead-letter topic; retrying so nothing is lost")
	case Denied:
		s.failures.trouble(records, "class", c.class.String(), "code", c.code, "error", c.err,
			"note", "the worker may not write to this stream; its records wait (delivery.on_access_denied: wait)")
	default:
		s.failures.trouble(records, "class", c.class.String(), "code", c.code, "error", c.err)
	}
}

// maxQuickResends bounds the resends of one batch that skip the backoff
// (see resendAtOnce), so a stream that keeps throttling a few records cannot
// keep a batch spinning: after that many, it backs off as usual.
const maxQuickResends = 16

// resendAtOnce reports whether the records a call left throttled go again
// without a backoff. It needs three things:
//   - the stream is paced (the limiter's Rate is set): the pace, not the
//     backoff, then bounds the records offered, and resends wait their turn
//     in its line like any call. Backing off on top only held a batch's last
//     records out for seconds: at 30% of records throttled at random a batch
//     takes about seven attempts, and the backoff had reached 6 s by then
//     while its partition's window of unfinished records stood still;
//   - progress: the call was answered, some of its records were accepted and
//     every one that failed was throttled. A call that failed whole, errors
//     and an outage (nothing accepted) back off, and so does a single record
//     Firehose keeps throttling, since a call of it alone accepts nothing;
//   - fewer than maxQuickResends such resends of this batch so far.
func resendAtOnce(c Congestion, progress bool, quick int) bool {
	return progress && quick < maxQuickResends && c != nil && c.Paced()
}

// call is what one PutRecordBatch came to: an answer, or an error with its
// class (as this stream treats it, see classOf) and code.
type call struct {
	out   *firehose.PutRecordBatchOutput
	class Class
	code  string
	err   error
}

// put makes one call and records its metrics.
func (s *Stream) put(ctx context.Context, in *firehose.PutRecordBatchInput, recs []batch.Record, attempt int) call {
	// Waiting for the pace and a slot comes first: the request timeout is
	// for the call alone, and a call that never started is never of unknown
	// outcome.
	cg := s.opts.Congestion
	if cg != nil {
		if err := cg.Admit(ctx, len(in.Records)); err != nil {
			return call{class: Transient, code: "Canceled", err: err}
		}
	}
	// Then the stream's hold: after a call failed whole, one probe goes
	// per backoff interval and the others wait for its answer.
	probe, err := s.hold.pass(ctx)
	if err != nil {
		if cg != nil {
			cg.Release(congestion.Outcome{Signal: congestion.Neutral})
		}
		return call{class: Transient, code: "Canceled", err: err}
	}
	held, err := s.opts.Bodies.acquire(ctx, bodySize(in))
	if err != nil {
		s.hold.abandon(probe)
		if cg != nil {
			cg.Release(congestion.Outcome{Signal: congestion.Neutral})
		}
		return call{class: Transient, code: "Canceled", err: err}
	}
	defer s.opts.Bodies.release(held)
	callCtx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	// The body buffer is held for this call only, not while the batch
	// waits out a backoff or its turn in the pace.
	body := s.opts.Bodies.body()
	defer s.opts.Bodies.keep(body)
	if s.opts.Tracer != nil {
		var span trace.Span
		callCtx, span = s.startSpan(callCtx, recs, attempt)
		defer span.End()
	}
	start := time.Now()
	out, err := s.opts.Client.PutRecordBatch(callCtx, in, body.Option())
	if cg != nil {
		accepted := 0
		if err == nil {
			accepted = len(in.Records) - int(aws.ToInt32(out.FailedPutCount))
		}
		cg.Release(congestion.Outcome{Signal: signal(out, err), Latency: time.Since(start), Sent: len(in.Records), Accepted: accepted})
	}
	if span := trace.SpanFromContext(callCtx); span.IsRecording() {
		endSpan(span, out, err)
	}
	m := s.opts.Metrics
	m.PutDuration.Record(ctx, time.Since(start).Seconds(), s.attrs)
	if err != nil {
		if ctx.Err() != nil {
			s.hold.abandon(probe)
			return call{class: Transient, code: "Canceled", err: err}
		}
		class, code := Classify(err)
		if class = s.treat(class); class == Permanent {
			// The batch is refused for good: a verdict on it, not on the
			// stream's health, and it goes to the dead-letter topic.
			s.hold.answered(probe)
		} else {
			s.hold.failed(probe)
		}
		outcome := telemetry.OutcomeError
		switch class {
		case Throttled:
			outcome = telemetry.OutcomeThrottled
		case Unknown:
			outcome = telemetry.OutcomeUnknown
		}
		s.callOutcome(ctx, outcome)
		return call{class: class, code: code, err: err}
	}
	s.hold.answered(probe)
	return call{out: out}
}

type codeCount struct {
	code string
	n    int
}

func countCode(cs []codeCount, code string) []codeCount {
	for i := range cs {
		if cs[i].code == code {
			cs[i].n++
			return cs
		}
	}
	return append(cs, codeCount{code, 1})
}

// treat is how this stream treats an error of class c: Denied is Permanent
// when denied records are dead-lettered.
func (s *Stream) treat(c Class) Class {
	if c == Denied && s.opts.DeadLetterDenied && s.opts.Reject != nil {
		return Permanent
	}
	return c
}

// signal reads a call's outcome as a congestion signal: Congested when the
// call or any of its records was throttled. How much throttling is congestion
// is the limiter's call (internal/congestion): it knows the share of records the stream
// loses at random whatever the rate, and a share under a fixed threshold can
// still be a quota overrun.
func signal(out *firehose.PutRecordBatchOutput, err error) congestion.Signal {
	if err != nil {
		if c, _ := Classify(err); c == Throttled {
			return congestion.Congested
		}
		return congestion.Neutral
	}
	if aws.ToInt32(out.FailedPutCount) == 0 {
		return congestion.Clean
	}
	for _, rr := range out.RequestResponses {
		if rr.ErrorCode != nil && ClassifyCode(*rr.ErrorCode) == Throttled {
			return congestion.Congested
		}
	}
	return congestion.Neutral
}

func (s *Stream) callOutcome(ctx context.Context, outcome string) {
	telemetry.Add(ctx, s.opts.Metrics.PutCalls, 1, telemetry.AttrStream.String(s.opts.Name), telemetry.AttrOutcome.String(outcome))
}

// sortResponses finishes the acknowledged records of a 200 answer and returns
// the ones to send again and the ones rejected for good; progress reports that
// some were accepted and every record to send again was throttled.
func (s *Stream) sortResponses(ctx context.Context, pending []batch.Record, out *firehose.PutRecordBatchOutput) (retry []batch.Record, rejected []Rejected, reason string, progress bool) {
	m := s.opts.Metrics
	if len(out.RequestResponses) != len(pending) {
		// The answer cannot be matched to the records: treat the call as one
		// whose outcome is unknown and send everything again.
		s.callOutcome(ctx, telemetry.OutcomeUnknown)
		s.opts.Logger.Warn("PutRecordBatch answer does not match the request; sending every record again",
			"sent", len(pending), "answered", len(out.RequestResponses))
		return pending, nil, Unknown.String(), false
	}
	acked, throttled, refused, refusedCode := 0, 0, 0, ""
	billed := 0            // only acknowledged records are billed
	var failed []codeCount // few distinct codes: counted, then recorded once each
	for i, rr := range out.RequestResponses {
		r := pending[i]
		if rr.ErrorCode == nil || *rr.ErrorCode == "" {
			billed += r.BilledUnits()
			r.Part.Done()
			acked++
			continue
		}
		code := *rr.ErrorCode
		failed = countCode(failed, code)
		class := s.treat(ClassifyCode(code))
		if class == Throttled {
			throttled++
		}
		if class == Permanent && s.opts.Reject != nil {
			rejected = append(rejected, Rejected{Record: r, Code: code, Message: aws.ToString(rr.ErrorMessage)})
			continue
		}
		if class == Permanent {
			refused, refusedCode = refused+1, code
		}
		retry = append(retry, r)
		reason = class.String()
	}
	for _, f := range failed {
		telemetry.Add(ctx, m.RecordsFailed, int64(f.n), telemetry.AttrStream.String(s.opts.Name), telemetry.AttrReason.String(f.code))
	}
	if refused > 0 {
		s.failures.trouble(refused, "code", refusedCode, "note", "Firehose refuses records and there is no dead-letter topic; retrying so nothing is lost")
	}
	m.RecordsSent.Add(ctx, int64(acked), s.attrs)
	m.BilledUnits.Add(ctx, int64(billed), s.attrs)
	switch {
	case acked == len(pending):
		s.callOutcome(ctx, telemetry.OutcomeOK)
	case acked == 0 && throttled == len(pending):
		s.callOutcome(ctx, telemetry.OutcomeThrottled)
	default:
		s.callOutcome(ctx, telemetry.OutcomePartial)
	}
	if throttled > 0 {
		s.episode.trouble(throttled)
	}
	return retry, rejected, reason, acked > 0 && throttled == len(retry)
}

func (s *Stream) reject(ctx context.Context, recs []batch.Record, code, msg string) error {
	if len(recs) == 0 {
		return nil
	}
	out := make([]Rejected, len(recs))
	for i, r := range recs {
		out[i] = Rejected{Record: r, Code: code, Message: msg}
	}
	return s.opts.Reject(ctx, s.opts.Name, out)
}
