// Package deadletter writes messages that can never be delivered to the
// dead-letter topic: the original key, value and headers untouched, plus
// headers that say why and where the message came from.
//
// A message's offset is finished only after the dead-letter write is
// acknowledged by Kafka; writes are retried with backoff until then.
package deadletter

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/retry"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// Header names added to every dead letter.
const (
	HeaderReason       = "dlq.reason"       // stable short code, e.g. not_json
	HeaderMessage      = "dlq.message"      // human-readable detail
	HeaderTopic        = "dlq.source.topic" // original topic
	HeaderPartition    = "dlq.source.partition"
	HeaderOffset       = "dlq.source.offset"
	HeaderSourceID     = "dlq.source.id" // Segment source ID
	HeaderStream       = "dlq.stream"    // target delivery stream, when known
	HeaderFirehoseCode = "dlq.firehose.error_code"
	HeaderTime         = "dlq.time" // RFC 3339, when it was dead-lettered
	HeaderValueDropped = "dlq.value_dropped"
	// HeaderBatchIndex is the position, from 0, of a message in the "batch"
	// array of the envelope it came in; the dead letter's value is that
	// message alone.
	HeaderBatchIndex = "dlq.batch.index"
)

// ReasonPreflightProbe is the reason of the record `check --connect` writes
// to prove the dead-letter topic accepts writes. It is no message: redrive
// leaves it alone.
const ReasonPreflightProbe = "preflight_probe"

// Origin is the Kafka message a record came from.
type Origin struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []kafka.Header
	SourceID  string
	// InBatch says the record is item BatchIndex of an envelope, and Value
	// is that item alone.
	InBatch    bool
	BatchIndex int
}

// Letter is one message to dead-letter and the part to finish once written.
type Letter struct {
	Origin       *Origin
	Reason       string
	Message      string
	Stream       string
	FirehoseCode string
	Part         batch.Part
}

// Writer writes letters to one topic. It is safe for concurrent use;
// concurrent writes are batched together by the underlying kafka.Writer.
type Writer struct {
	topic   string
	w       *kafka.Writer
	retry   retry.Policy
	log     *slog.Logger
	metrics *telemetry.Metrics
	now     func() time.Time
}

// Options configure a Writer.
type Options struct {
	Brokers   []string
	Topic     string
	Transport kafka.RoundTripper // nil: kafka.DefaultTransport
	// Retry spaces the attempts of a write. A dead letter has nowhere else
	// to go, so writes are retried forever, whatever Retry.Then says.
	Retry   retry.Policy
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
}

// New returns a Writer; it connects lazily.
func New(o Options) *Writer {
	if o.Metrics == nil {
		o.Metrics = telemetry.Discard()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Writer{
		topic: o.Topic,
		w: &kafka.Writer{
			Addr:         kafka.TCP(o.Brokers...),
			Topic:        o.Topic,
			Balancer:     &kafka.Murmur2Balancer{},
			RequiredAcks: kafka.RequireAll,
			BatchTimeout: 5 * time.Millisecond,
			BatchBytes:   64 << 20,
			MaxAttempts:  3,
			Transport:    o.Transport,
		},
		retry:   o.Retry.With(retry.Forever),
		log:     o.Logger,
		metrics: o.Metrics,
		now:     time.Now,
	}
}

// Topic is the dead-letter topic.
func (w *Writer) Topic() string { return w.topic }

// Write stores letters and then finishes their parts. It retries until Kafka
// acknowledges them or ctx ends; on ctx end the parts stay unfinished, so the
// original offsets are not committed and the messages are read again.
func (w *Writer) Write(ctx context.Context, letters []Letter) error {
	msgs := make([]kafka.Message, len(letters))
	for i, l := range letters {
		msgs[i] = w.message(l)
	}
	retries := w.retry.Start()
	for {
		err := w.w.WriteMessages(ctx, msgs...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if tooLarge(err) {
			// The broker will never take this value on the dead-letter
			// topic: keep the coordinates and reason, drop the body.
			for i := range msgs {
				if len(msgs[i].Value) > 0 {
					msgs[i].Value = nil
					msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: HeaderValueDropped, Value: []byte("too large for the dead-letter topic")})
				}
			}
			w.log.Error("dead letter too large for the dead-letter topic; writing it without its value", "topic", w.topic, "letters", len(msgs))
			continue
		}
		wait, _ := retries.Next() // a Forever policy is never exhausted
		w.log.Warn("writing to the dead-letter topic failed; retrying", "topic", w.topic, "letters", len(msgs), "retry_in", wait, "error", err)
		if err := retry.Wait(ctx, wait); err != nil {
			return err
		}
	}
	for _, l := range letters {
		o := l.Origin
		telemetry.Add(ctx, w.metrics.DeadLetters, 1, telemetry.AttrReason.String(l.Reason))
		w.log.Warn("message dead-lettered", "reason", l.Reason, "detail", l.Message, "topic", o.Topic, "partition", o.Partition,
			"offset", o.Offset, "source", o.SourceID, "stream", l.Stream, "firehose_code", l.FirehoseCode)
		l.Part.Done()
	}
	return nil
}

func (w *Writer) message(l Letter) kafka.Message {
	o := l.Origin
	h := make([]kafka.Header, 0, len(o.Headers)+10)
	h = append(h, o.Headers...)
	add := func(k, v string) {
		if v != "" {
			h = append(h, kafka.Header{Key: k, Value: []byte(v)})
		}
	}
	add(HeaderReason, l.Reason)
	add(HeaderMessage, l.Message)
	add(HeaderTopic, o.Topic)
	add(HeaderPartition, strconv.Itoa(o.Partition))
	add(HeaderOffset, strconv.FormatInt(o.Offset, 10))
	add(HeaderSourceID, o.SourceID)
	add(HeaderStream, l.Stream)
	add(HeaderFirehoseCode, l.FirehoseCode)
	add(HeaderTime, w.now().UTC().Format(time.RFC3339Nano))
	if o.InBatch {
		add(HeaderBatchIndex, strconv.Itoa(o.BatchIndex))
	}
	return kafka.Message{Key: o.Key, Value: o.Value, Headers: h}
}

func tooLarge(err error) bool {
	var mtl kafka.MessageTooLargeError
	if errors.As(err, &mtl) {
		return true
	}
	if errors.Is(err, kafka.MessageSizeTooLarge) {
		return true
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) {
		for _, e := range we {
			if e != nil && !tooLarge(e) {
				return false
			}
		}
		return len(we) > 0
	}
	return false
}

// Close flushes and closes the producer.
func (w *Writer) Close() error { return w.w.Close() }
