package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// BenchmarkPipeline moves b.N generated events from an in-process broker to
// an endpoint that acknowledges at once. The broker and the endpoint run in
// the same process, so use it for profiles of the worker's share, not as a
// throughput figure (make bench has that).
func BenchmarkPipeline(b *testing.B) {
	k := itest.StartKafka(b, 12, "events")
	var delivered int64
	done := make(chan struct{})
	sim := firehosesim.New(firehosesim.Options{AutoCreate: true, Sink: firehosesim.SinkFunc(func(_ context.Context, stream string, recs [][]byte) error {
		if stream == "everything" {
			delivered += int64(len(recs))
			if delivered == int64(b.N) {
				close(done)
			}
		}
		return nil
	})})
	ep, err := sim.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ep.Close(context.Background())
	fh := &itest.Firehose{Sim: sim, URL: ep.URL}
	g := eventgen.New(eventgen.DefaultOptions())
	msgs := make([]itest.Msg, 0, 10000)
	var buf []byte
	for i := 0; i < b.N; i++ {
		v, key, _ := g.Next(buf[:0])
		msgs = append(msgs, itest.Msg{Partition: int32(i % 12), Key: append([]byte(nil), key...), Value: append([]byte(nil), v...)})
		if len(msgs) == cap(msgs) {
			k.Produce(b, "events", msgs)
			msgs = msgs[:0]
		}
	}
	k.Produce(b, "events", msgs)
	cfg := testConfig(k.Brokers, fmt.Sprintf("g-bench-%d", b.N), "events")
	b.ResetTimer()
	start := time.Now()
	r := startBench(b, cfg, fh)
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("delivered %d of %d", delivered, b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	r()
}
