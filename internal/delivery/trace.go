package delivery

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/firehose-worker/firehose-worker/internal/batch"
)

// maxLinks bounds the links of one span: a batch holds up to 500 records, and
// a span with 500 links helps no one.
const maxLinks = 64

func (s *Stream) startSpan(ctx context.Context, recs []batch.Record, attempt int) (context.Context, trace.Span) {
	var links []trace.Link
	bytes := 0
	for _, r := range recs {
		bytes += r.Size()
		if r.Trace.IsValid() && len(links) < maxLinks {
			links = append(links, trace.Link{SpanContext: r.Trace})
		}
	}
	return s.opts.Tracer.Start(ctx, "PutRecordBatch "+s.opts.Name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithLinks(links...),
		trace.WithAttributes(
			attribute.String("firehose.stream", s.opts.Name),
			attribute.Int("firehose.records", len(recs)),
			attribute.Int("firehose.bytes", bytes),
			attribute.Int("firehose.retry", attempt),
		))
}

func endSpan(span trace.Span, out *firehose.PutRecordBatchOutput, err error) {
	switch {
	case err != nil:
		class, code := Classify(err)
		span.SetAttributes(attribute.String("firehose.outcome", class.String()), attribute.String("firehose.error_code", code))
		span.SetStatus(codes.Error, code)
	case aws.ToInt32(out.FailedPutCount) > 0:
		span.SetAttributes(attribute.String("firehose.outcome", "partial"), attribute.Int("firehose.failed", int(aws.ToInt32(out.FailedPutCount))))
	default:
		span.SetAttributes(attribute.String("firehose.outcome", "ok"))
	}
}
