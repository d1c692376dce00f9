package pipeline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/itest"
	"github.com/firehose-worker/firehose-worker/internal/pipeline"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// TestDeniedSourceDoesNotStallTheOthers gives one source a stream that
// denies access and more backlog than its share of the memory cap; the other
// source must still deliver everything, and the denied one must catch up
// once access is granted, with nothing dead-lettered by default.
func TestDeniedSourceDoesNotStallTheOthers(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "a_events", "b_events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().RejectStream("b_stream", "AccessDeniedException", "User is not authorized to perform firehose:PutRecordBatch")
	cfg := testConfig(k.Brokers, "g-iso", "a_events")
	cfg.Memory.MaxBufferedBytes = 4 * config.MaxRecordBytes // 2,048,000 bytes each
	cfg.Sources = append(cfg.Sources, config.Source{
		ID: "src_b", Topics: []string{"b_events"}, Region: "eu-west-1", Routing: config.RoutingAll,
		MappedStreams: []config.Mapping{{Event: "*", Stream: "b_stream"}},
	})
	pad := strings.Repeat("p", 3000)
	var bmsgs []itest.Msg
	wantB := map[string]int{}
	for i := range 1500 { // ~9 MB held as value + record: far over b's share
		v := fmt.Sprintf(`{"type":"page","messageId":"b-%d","pad":%q}`, i, pad)
		bmsgs = append(bmsgs, itest.Msg{Partition: int32(i % 2), Value: []byte(v)})
		wantB[v+"\n"]++
	}
	k.Produce(t, "b_events", bmsgs)
	start(t, cfg, fh)
	fh.Await(t, 20*time.Second, "b to be refused", func() bool { return fh.Sim.Stats().Calls.Error >= 3 })

	evs := events(2000, "iso")
	produce(t, k, "a_events", 2, evs)
	want := expected(evs)
	fh.Await(t, 30*time.Second, "every record of source a", func() bool { return len(fh.Records("everything")) >= len(evs) })
	awaitCommitted(t, k, fh, "g-iso", "a_events")
	checkDelivered(t, fh, want)
	for p, off := range k.Committed(t, "g-iso", "b_events") {
		if off > 0 {
			t.Errorf("b_events/%d committed to %d while its stream denies access", p, off)
		}
	}

	fh.Sim.Faults().AllowStream("b_stream")
	awaitCommitted(t, k, fh, "g-iso", "b_events")
	if d := itest.DiffMultisets(wantB, itest.Multiset(fh.Records("b_stream"))); d != "" {
		t.Errorf("b_stream after access was granted: %s", d)
	}
}

// TestDeliverySpansLinkToTheMessagesTraceContext checks the spans: one per
// PutRecordBatch attempt with its attributes, linked to the W3C trace context
// the Kafka message carried, and one per commit.
func TestDeliverySpansLinkToTheMessagesTraceContext(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().ThrottleNextCalls(1)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	traceID, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	spanID, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	k.Produce(t, "events", []itest.Msg{
		{Value: []byte(`{"type":"page","messageId":"traced"}`), Headers: []kgo.RecordHeader{{Key: "traceparent", Value: []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")}}},
		{Value: []byte(`{"type":"page","messageId":"untraced"}`)},
	})
	cfg := testConfig(k.Brokers, "g-trace", "events")
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{
		Clients: func(context.Context, config.Source) (delivery.PutRecordBatcher, error) {
			return fh.Client(delivery.UseWireProtocol), nil
		},
		Tracing: &telemetry.Tracing{Provider: tp, Propagator: propagation.TraceContext{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	awaitCommitted(t, k, fh, "g-trace", "events")
	cancel()
	<-done

	var puts, commits int
	var linked, retried bool
	for _, s := range exp.GetSpans() {
		switch {
		case strings.HasPrefix(s.Name, "PutRecordBatch "):
			puts++
			attrs := map[string]any{}
			for _, a := range s.Attributes {
				attrs[string(a.Key)] = a.Value.AsInterface()
			}
			if attrs["firehose.stream"] == nil || attrs["firehose.records"] == nil || attrs["firehose.outcome"] == nil {
				t.Errorf("span %s lacks attributes: %v", s.Name, attrs)
			}
			if attrs["firehose.retry"] == int64(1) {
				retried = true
			}
			for _, l := range s.Links {
				if l.SpanContext.TraceID() == traceID && l.SpanContext.SpanID() == spanID {
					linked = true
				}
			}
		case s.Name == "commit offsets":
			commits++
		}
	}
	if puts < 2 || !linked || !retried || commits == 0 {
		t.Errorf("put spans %d (want >= 2, one a retry: %v), linked to the message's trace: %v, commit spans %d", puts, retried, linked, commits)
	}
}
