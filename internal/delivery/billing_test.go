package delivery

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/retry"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// TestBilledUnitsCountEachAcknowledgedRecordOnce: a record is billed in 5 KB
// steps of its size with its newline, once, when Firehose accepts it; a
// throttled attempt and a rejected record bill nothing.
func TestBilledUnitsCountEachAcknowledgedRecordOnce(t *testing.T) {
	t.Parallel()
	reader := sdkmetric.NewManualReader()
	m, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{ // Data bytes; Firehose counts one more for the newline
		0,          // 1 byte: 1 unit
		5119,       // exactly 5,120: 1 unit
		5120,       // 5,121: 2 units, throttled once, then accepted
		3*5120 - 1, // 15,360: 3 units
		100,        // rejected for good: nothing
	}
	recs := make([]batch.Record, len(sizes))
	for i, n := range sizes {
		recs[i] = batch.Record{Data: bytes.Repeat([]byte{'x'}, n), Part: &part{}}
	}
	c := &fakeClient{t: t}
	c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
		out := ok(len(data))
		if attempt == 0 {
			out.FailedPutCount = aws.Int32(2)
			out.RequestResponses[2] = types.PutRecordBatchResponseEntry{ErrorCode: aws.String("ServiceUnavailableException")}
			out.RequestResponses[4] = types.PutRecordBatchResponseEntry{ErrorCode: aws.String("InvalidArgumentException")}
		}
		return out, nil
	}
	s := NewStream(Options{Name: "s", Client: c, Retry: retry.Policy{New: fastBackOff}, RequestTimeout: time.Second, Metrics: m,
		Reject: func(_ context.Context, _ string, rs []Rejected) error {
			for _, r := range rs {
				r.Record.Part.Done()
			}
			return nil
		}})
	if err := s.Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := int64(-1)
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			if md.Name != "firehose_worker.billed.units" {
				continue
			}
			for _, dp := range md.Data.(metricdata.Sum[int64]).DataPoints {
				if v, _ := dp.Attributes.Value(telemetry.AttrStream); v.AsString() == "s" {
					got = dp.Value
				}
			}
		}
	}
	if want := int64(1 + 1 + 2 + 3); got != want {
		t.Errorf("billed units = %d, want %d", got, want)
	}
}
