// Package telemetry defines the worker's OpenTelemetry instruments and sets
// up the providers and the HTTP endpoints that expose them.
//
// Attribute sets are bounded: topics, partitions, streams, outcomes and
// reason codes only; never anything taken from a message.
package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
)

// Attribute keys.
const (
	AttrTopic     = attribute.Key("messaging.destination.name")
	AttrPartition = attribute.Key("messaging.destination.partition.id")
	AttrStream    = attribute.Key("firehose.stream")
	AttrOutcome   = attribute.Key("outcome")
	AttrReason    = attribute.Key("reason")
)

// Put call outcomes.
const (
	OutcomeOK        = "ok"
	OutcomePartial   = "partial"
	OutcomeThrottled = "throttled"
	OutcomeError     = "error"
	OutcomeUnknown   = "unknown" // the call may have landed; its records are sent again
)

// Message outcomes.
const (
	MsgRouted              = "routed"
	MsgSkippedUnmapped     = "skipped_unmapped"
	MsgSkippedIntegrations = "skipped_integrations"
	MsgDeadLettered        = "dead_lettered"
	MsgDropped             = "dropped" // undeliverable with no dead-letter topic: logged and counted
)

// Metrics holds every instrument the worker records. A zero Metrics is not
// usable; build one with NewMetrics.
type Metrics struct {
	Consumed      *Tallies // by topic
	Resumed       *Tallies // by topic: finished by a previous owner, skipped
	Messages      *Tallies // by outcome and, for the undeliverable, reason
	RecordsSent   metric.Int64Counter
	RecordsFailed metric.Int64Counter
	PutCalls      metric.Int64Counter
	PutDuration   metric.Float64Histogram
	Retries       metric.Int64Counter
	// RecordsWithdrawn counts records not sent because their partition was
	// released unfinished (its next owner sends them), by stream.
	RecordsWithdrawn metric.Int64Counter
	BackoffTime      metric.Float64Counter
	BatchRecords     metric.Int64Histogram
	BatchBytes       metric.Int64Histogram
	EndToEnd         metric.Float64Histogram
	InFlightBytes    *Tallies // one count, no attributes
	InFlightBatches  metric.Int64UpDownCounter
	Commits          metric.Int64Counter
	Rebalances       metric.Int64Counter
	CredRefreshes    metric.Int64Counter
	DeadLetters      metric.Int64Counter
	// BilledUnits counts acknowledged records in Firehose's 5 KB billing
	// steps, by stream (see batch.BilledUnits).
	BilledUnits metric.Int64Counter
	// Streams feeds the per-stream pending-age and since-finish gauges.
	Streams *Streams
	// Partitions feeds the committed-offset and lag gauges.
	Partitions *Partitions
}

// NewMetrics creates the instruments on m.
func NewMetrics(m metric.Meter) (*Metrics, error) {
	var errs []error
	c := func(name, unit, desc string) metric.Int64Counter {
		i, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return i
	}
	latency := metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
	x := &Metrics{
		Consumed:         &Tallies{},
		Resumed:          &Tallies{},
		Messages:         &Tallies{},
		InFlightBytes:    &Tallies{},
		RecordsSent:      c("firehose_worker.records.delivered", "{record}", "Records Firehose acknowledged, by stream."),
		RecordsFailed:    c("firehose_worker.records.failed", "{record}", "Records Firehose failed in a call, by stream and error code; most are sent again."),
		PutCalls:         c("firehose_worker.put.calls", "{call}", "PutRecordBatch calls by stream and outcome: ok, partial, throttled, error, unknown."),
		Retries:          c("firehose_worker.put.retries", "{retry}", "Attempts after the first for a batch, by stream and reason."),
		RecordsWithdrawn: c("firehose_worker.records.withdrawn", "{record}", "Records not sent because their partition was released before they were delivered (a drain that timed out): the partition's next owner sends them, by stream."),
		Commits:          c("firehose_worker.commits", "{commit}", "Offset commits, by outcome."),
		Rebalances:       c("firehose_worker.rebalances", "{rebalance}", "Consumer group generations joined."),
		CredRefreshes:    c("firehose_worker.credentials.refreshes", "{refresh}", "Assumed-role credentials fetched from STS, by outcome."),
		DeadLetters:      c("firehose_worker.dead_letters", "{message}", "Messages written to the dead-letter topic, by reason."),
		BilledUnits:      c("firehose_worker.billed.units", "{unit}", "Acknowledged records in Firehose's billing steps: each record (an aggregated one counts once) is ceil(bytes / 5,120) units, by stream."),
		Partitions:       &Partitions{},
		Streams:          &Streams{},
	}
	errs = append(errs, x.Partitions.register(m), x.Streams.register(m),
		x.Consumed.counter(m, "messaging.client.consumed.messages", "{message}", "Kafka messages fetched, by topic."),
		x.Resumed.counter(m, "firehose_worker.resume.skipped", "{message}", "Fetched messages a previous owner had finished beyond the committed offset (from the commit metadata), skipped instead of re-sent, by topic."),
		x.Messages.counter(m, "firehose_worker.messages", "{message}", "Messages by outcome: routed, skipped_unmapped, skipped_integrations, dead_lettered, dropped; reason for the last two."),
		x.InFlightBytes.upDown(m, "firehose_worker.inflight.bytes", "By", "Bytes of messages buffered or in flight."),
	)
	var err error
	x.PutDuration, err = m.Float64Histogram("firehose_worker.put.duration", metric.WithUnit("s"), metric.WithDescription("PutRecordBatch call latency."), latency)
	errs = append(errs, err)
	x.EndToEnd, err = m.Float64Histogram("firehose_worker.delivery.latency", metric.WithUnit("s"), metric.WithDescription("From the Kafka message timestamp to the acknowledgement of its last record."), latency)
	errs = append(errs, err)
	x.BackoffTime, err = m.Float64Counter("firehose_worker.put.backoff", metric.WithUnit("s"), metric.WithDescription("Time spent waiting between attempts, by stream."))
	errs = append(errs, err)
	x.BatchRecords, err = m.Int64Histogram("firehose_worker.batch.records", metric.WithUnit("{record}"), metric.WithDescription("Records per PutRecordBatch call."),
		metric.WithExplicitBucketBoundaries(1, 10, 50, 100, 250, 400, 500))
	errs = append(errs, err)
	x.BatchBytes, err = m.Int64Histogram("firehose_worker.batch.size", metric.WithUnit("By"), metric.WithDescription("Record bytes per PutRecordBatch call."),
		metric.WithExplicitBucketBoundaries(1<<10, 16<<10, 64<<10, 256<<10, 1<<20, 2<<20, 4<<20))
	errs = append(errs, err)
	x.InFlightBatches, err = m.Int64UpDownCounter("firehose_worker.inflight.batches", metric.WithUnit("{batch}"), metric.WithDescription("PutRecordBatch batches being sent or retried."))
	errs = append(errs, err)
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return x, nil
}

// Discard returns instruments that record nothing, for tests and tools.
func Discard() *Metrics {
	m, _ := NewMetrics(noop.NewMeterProvider().Meter("discard"))
	return m
}

// Add is a shorthand for counters with attributes.
func Add(ctx context.Context, c metric.Int64Counter, n int64, attrs ...attribute.KeyValue) {
	c.Add(ctx, n, metric.WithAttributes(attrs...))
}
