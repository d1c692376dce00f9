package pipeline

import (
	"bytes"
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/consume"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

// envelopeSize is the number of messages per envelope in the benchmarks,
// a typical flush of Segment's server libraries.
const envelopeSize = 20

// ackClient acknowledges every record at once.
type ackClient struct{}

func (ackClient) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	out := &firehose.PutRecordBatchOutput{RequestResponses: make([]types.PutRecordBatchResponseEntry, len(in.Records))}
	id := "id"
	for i := range out.RequestResponses {
		out.RequestResponses[i].RecordId = &id
	}
	return out, nil
}

// benchHandler is a pipeline over an endpoint that acknowledges at once,
// with one claim to hand messages to, so Handle is measured without Kafka.
// A short linger keeps the sparse streams from holding the memory cap (an
// envelope is held whole until its last item is acknowledged), so the
// figure is the cost of handling, not of waiting for the cap.
func benchHandler(b *testing.B, rows ...config.Mapping) (*Pipeline, *consume.Claim) {
	if len(rows) == 0 {
		rows = []config.Mapping{{Event: "Order Completed", Stream: "orders"}, {Event: "page", Stream: "pages"}, {Event: "*", Stream: "everything"}}
	}
	return claimHandler(b, ackClient{}, time.Millisecond, rows)
}

// claimHandler is a pipeline of one source on topic "t" that delivers to
// client, and a claim of "t" (no Kafka: Handle is called directly).
func claimHandler(tb testing.TB, client delivery.PutRecordBatcher, linger time.Duration, rows []config.Mapping) (*Pipeline, *consume.Claim) {
	tb.Helper()
	cfg := config.Default()
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
	cfg.Kafka.GroupID = "g"
	cfg.Batch.Linger = config.Duration(linger)
	cfg.Sources = []config.Source{{ID: "s", Topics: []string{"t"}, Region: "us-west-2", Routing: config.RoutingAll,
		MappedStreams: rows}}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	p, err := New(tb.Context(), &cfg, Deps{Clients: func(context.Context, config.Source) (delivery.PutRecordBatcher, error) { return client, nil }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.cancelSend(); p.inflight.Wait() })
	return p, &consume.Claim{Topic: "t", Tracker: checkpoint.NewTracker(p.releaser("t"))}
}

// benchValues are envelopeSize generated messages and the /v1/batch body
// that holds the same messages.
func benchValues() (singles [][]byte, envelope []byte) {
	g := eventgen.New(eventgen.DefaultOptions())
	env := []byte(`{"batch":[`)
	for i := range envelopeSize {
		v, _, _ := g.Next(nil)
		v = bytes.TrimSpace(v)
		singles = append(singles, v)
		if i > 0 {
			env = append(env, ',')
		}
		env = append(env, v...)
	}
	env = append(env, `],"sentAt":"2026-11-30T09:14:05.250Z","context":{"library":{"name":"analytics-go","version":"3.3.0"}}}`...)
	return singles, env
}

// BenchmarkHandle compares a message that arrives alone with the same
// message inside an envelope: each op is envelopeSize messages either way,
// and ns/msg is the cost of one. unmapped is the single message under a
// mapping that matches nothing: decoding, validating and skipping it, the
// consume-only row of make bench without Kafka.
func BenchmarkHandle(b *testing.B) {
	singles, envelope := benchValues()
	var bytesPerOp int
	for _, v := range singles {
		bytesPerOp += len(v)
	}
	b.Run("single", func(b *testing.B) {
		p, cl := benchHandler(b)
		handleEach(b, p, cl, singles, bytesPerOp)
	})
	b.Run("unmapped", func(b *testing.B) {
		p, cl := benchHandler(b, config.Mapping{Event: "Never Sent", Stream: "nowhere"})
		handleEach(b, p, cl, singles, bytesPerOp)
		if st := p.Stats(); st.Finished != st.Consumed {
			b.Fatalf("%d messages handled, %d finished: an unmapped message must finish at once", st.Consumed, st.Finished)
		}
	})
	b.Run("envelope", func(b *testing.B) {
		p, cl := benchHandler(b)
		handleEach(b, p, cl, [][]byte{envelope}, bytesPerOp)
	})
}

// handleEach hands each of values to p per op, as consecutive offsets of
// cl, and reports the cost per message (an op is envelopeSize messages,
// bytesPerOp of them, alone or in one envelope).
func handleEach(b *testing.B, p *Pipeline, cl *consume.Claim, values [][]byte, bytesPerOp int) {
	b.SetBytes(int64(bytesPerOp))
	b.ReportAllocs()
	var off int64
	m := &kafka.Message{Topic: "t"}
	cpu := cpuTime()
	for b.Loop() {
		for _, v := range values {
			m.Value, m.Offset = v, off
			off++
			if err := p.Handle(b.Context(), cl, m); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerMessage(b, cpu)
}

// reportPerMessage reports ns/msg, the wall time per message, and
// cpu-ns/msg, the process's CPU time per message (delivery and collection
// included), which a busy machine disturbs less.
func reportPerMessage(b *testing.B, cpuAtStart int64) {
	n := float64(b.N * envelopeSize)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/msg")
	b.ReportMetric(float64(cpuTime()-cpuAtStart)/n, "cpu-ns/msg")
}

func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
