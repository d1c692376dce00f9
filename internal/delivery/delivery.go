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
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/cenkalti/backoff/v4"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// PutRecordBatcher is the one Firehose call delivery makes. The SDK client's
// own retries must be off: this package decides what is resent.
type PutRecordBatcher interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// Rejected is a record Firehose refused for good, with the reason.
type Rejected struct {
	Record  batch.Record
	Code    string
	Message string
}

// RejectFunc takes records that can never be delivered. It must finish each
// record's Part once the record is safely stored elsewhere, and must keep
// trying until then or until ctx ends.
type RejectFunc func(ctx context.Context, stream string, recs []Rejected)

// Options configure a Stream.
type Options struct {
	Name   string
	Client PutRecordBatcher
	// NewBackOff returns a fresh backoff for each batch.
	NewBackOff     func() backoff.BackOff
	RequestTimeout time.Duration
	// Reject, when set, receives records rejected for good. When nil they are
	// retried with backoff forever, and logged, so lag shows the problem.
	Reject  RejectFunc
	Metrics *telemetry.Metrics
	Logger  *slog.Logger
	// Tracer, when set, records a span per PutRecordBatch attempt, linked to
	// the trace contexts its records carried.
	Tracer trace.Tracer
	// Limiter bounds concurrent calls to the stream; nil leaves them unbounded.
	Limiter *Limiter
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
	framing  func(*firehose.Options) // see withNewlines
	name     *string
	attrs    metric.MeasurementOption
	episode  episode // throttling
	failures episode // calls failing for other reasons
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
	return &Stream{
		opts:     opts,
		framing:  withNewlines(),
		name:     aws.String(opts.Name),
		attrs:    metric.WithAttributes(telemetry.AttrStream.String(opts.Name)),
		episode:  episode{log: opts.Logger, level: slog.LevelWarn, what: "Firehose is throttling this stream"},
		failures: episode{log: opts.Logger, level: slog.LevelError, what: "PutRecordBatch is failing"},
	}
}

// Name is the delivery stream name.
func (s *Stream) Name() string { return s.opts.Name }

// Bodies is the body bound the stream's calls share; nil for none.
func (s *Stream) Bodies() *Bodies { return s.opts.Bodies }

// Deliver sends b until every record is acknowledged (its Part is finished)
// or handed to Reject. It returns early only when ctx ends, leaving the
// unfinished records unfinished so their offsets are never committed.
func (s *Stream) Deliver(ctx context.Context, b *batch.Batch) error {
	m := s.opts.Metrics
	m.InFlightBatches.Add(ctx, 1)
	defer m.InFlightBatches.Add(context.WithoutCancel(ctx), -1)
	m.BatchRecords.Record(ctx, int64(len(b.Records)), s.attrs)
	m.BatchBytes.Record(ctx, int64(b.Bytes), s.attrs)

	pending := b.Records
	in := &firehose.PutRecordBatchInput{DeliveryStreamName: s.name}
	wire := make([]types.Record, len(pending))
	bo := s.opts.NewBackOff()
	quick := 0 // resends of this batch that skipped the backoff
	for attempt := 0; ; attempt++ {
		in.Records = wire[:len(pending)]
		// Data lacks the record's newline; the s.framing option passed
		// with the call encodes it.
		for i, r := range pending {
			in.Records[i].Data = r.Data
		}
		out, class, code, err := s.put(ctx, in, pending, attempt)
		class = s.decide(class)
		var retry []batch.Record
		var reason string
		progress := false // some records were accepted and every failure was a throttle
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil && class == Permanent && s.opts.Reject != nil:
			s.reject(ctx, pending, code, err.Error())
			return nil
		case err != nil:
			retry, reason = pending, class.String()
			switch class {
			case Throttled:
				s.episode.trouble(len(pending))
			case Permanent:
				s.failures.trouble(len(pending), "class", class.String(), "code", code, "error", err,
					"note", "Firehose refuses the batch and there is no dead-letter topic; retrying so nothing is lost")
			case Denied:
				s.failures.trouble(len(pending), "class", class.String(), "code", code, "error", err,
					"note", "the worker may not write to this stream; its records wait (delivery.on_access_denied: wait)")
			default:
				s.failures.trouble(len(pending), "class", class.String(), "code", code, "error", err)
			}
		default:
			var rejected []Rejected
			retry, rejected, reason, progress = s.sortResponses(ctx, pending, out)
			if len(rejected) > 0 {
				s.opts.Reject(ctx, s.opts.Name, rejected)
			}
		}
		if len(retry) == 0 {
			s.episode.ok()
			s.failures.ok()
			return nil
		}
		if resendAtOnce(s.opts.Limiter, progress, quick) {
			quick++
			telemetry.Add(ctx, m.Retries, 1, telemetry.AttrStream.String(s.opts.Name), telemetry.AttrReason.String(reason))
			pending = retry
			continue
		}
		wait := bo.NextBackOff()
		if wait == backoff.Stop {
			if s.opts.Reject != nil {
				s.reject(ctx, retry, "RetriesExhausted", fmt.Sprintf("gave up after %d attempts", attempt+1))
				return nil
			}
			bo.Reset()
			wait = bo.NextBackOff()
		}
		telemetry.Add(ctx, m.Retries, 1, telemetry.AttrStream.String(s.opts.Name), telemetry.AttrReason.String(reason))
		m.BackoffTime.Add(ctx, wait.Seconds(), s.attrs)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
		pending = retry
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
func resendAtOnce(l *Limiter, progress bool, quick int) bool {
	return progress && quick < maxQuickResends && l != nil && l.Rate() > 0
}

// put makes one call and records its metrics.
func (s *Stream) put(ctx context.Context, in *firehose.PutRecordBatchInput, recs []batch.Record, attempt int) (*firehose.PutRecordBatchOutput, Class, string, error) {
	// Waiting for the pace and a slot comes first: the request timeout is
	// for the call alone, and a call that never started is never of unknown
	// outcome.
	if l := s.opts.Limiter; l != nil {
		if err := l.Pace(ctx, len(in.Records)); err != nil {
			return nil, Transient, "Canceled", err
		}
		if err := l.Acquire(ctx); err != nil {
			return nil, Transient, "Canceled", err
		}
	}
	held, err := s.opts.Bodies.acquire(ctx, bodySize(in))
	if err != nil {
		if l := s.opts.Limiter; l != nil {
			l.Release(Neutral, 0, 0, 0)
		}
		return nil, Transient, "Canceled", err
	}
	defer s.opts.Bodies.release(held)
	callCtx, cancel := context.WithTimeout(ctx, s.opts.RequestTimeout)
	defer cancel()
	// The body buffer is held for this call only, not while the batch
	// waits out a backoff or its turn in the pace.
	callCtx, release := s.opts.Bodies.withBody(callCtx)
	defer release()
	if s.opts.Tracer != nil {
		var span trace.Span
		callCtx, span = s.startSpan(callCtx, recs, attempt)
		defer span.End()
	}
	start := time.Now()
	out, err := s.opts.Client.PutRecordBatch(callCtx, in, s.framing)
	if l := s.opts.Limiter; l != nil {
		accepted := 0
		if err == nil {
			accepted = len(in.Records) - int(aws.ToInt32(out.FailedPutCount))
		}
		l.Release(signal(out, err), time.Since(start), len(in.Records), accepted)
	}
	if span := trace.SpanFromContext(callCtx); span.IsRecording() {
		endSpan(span, out, err)
	}
	m := s.opts.Metrics
	m.PutDuration.Record(ctx, time.Since(start).Seconds(), s.attrs)
	if err != nil {
		if ctx.Err() != nil {
			return nil, Transient, "Canceled", err
		}
		class, code := Classify(err)
		outcome := telemetry.OutcomeError
		switch class {
		case Throttled:
			outcome = telemetry.OutcomeThrottled
		case Unknown:
			outcome = telemetry.OutcomeUnknown
		}
		s.callOutcome(ctx, outcome)
		return nil, class, code, err
	}
	return out, 0, "", nil
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

// decide turns Denied into Permanent when denied records are dead-lettered.
func (s *Stream) decide(c Class) Class {
	if c == Denied && s.opts.DeadLetterDenied && s.opts.Reject != nil {
		return Permanent
	}
	return c
}

// signal reads a call's outcome as a congestion signal: Congested when the
// call or any of its records was throttled. How much throttling is congestion
// is the limiter's call (pace.go): it knows the share of records the stream
// loses at random whatever the rate, and a share under a fixed threshold can
// still be a quota overrun.
func signal(out *firehose.PutRecordBatchOutput, err error) Signal {
	if err != nil {
		if c, _ := Classify(err); c == Throttled {
			return Congested
		}
		return Neutral
	}
	if aws.ToInt32(out.FailedPutCount) == 0 {
		return Clean
	}
	for _, rr := range out.RequestResponses {
		if rr.ErrorCode != nil && ClassifyCode(*rr.ErrorCode) == Throttled {
			return Congested
		}
	}
	return Neutral
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
		class := s.decide(ClassifyCode(code))
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

func (s *Stream) reject(ctx context.Context, recs []batch.Record, code, msg string) {
	if len(recs) == 0 {
		return
	}
	out := make([]Rejected, len(recs))
	for i, r := range recs {
		out[i] = Rejected{Record: r, Code: code, Message: msg}
	}
	s.opts.Reject(ctx, s.opts.Name, out)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
