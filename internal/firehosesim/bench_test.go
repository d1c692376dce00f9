package firehosesim

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"testing"
)

// batchBody encodes a PutRecordBatch request the way the SDK does.
func batchBody(stream string, records [][]byte) []byte {
	b := []byte(`{"DeliveryStreamName":"` + stream + `","Records":[`)
	for i, r := range records {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Data":"`...)
		b = base64.StdEncoding.AppendEncode(b, r)
		b = append(b, `"}`...)
	}
	return append(b, "]}"...)
}

// rewindBody is a request body that can be replayed without allocating.
type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

// discardWriter is a ResponseWriter that keeps only the status, reusing its
// header map, so the benchmark measures the handler and not the recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// countSink counts records without keeping them: the cheapest real Sink.
type countSink struct{ n int }

func (s *countSink) Write(_ context.Context, _ string, records [][]byte) error {
	s.n += len(records)
	return nil
}

// BenchmarkPutRecordBatch drives ServeHTTP with pre-encoded 500-record
// bodies. allocs/op is per call; the goal is a handful, independent of the
// number of records.
func BenchmarkPutRecordBatch(b *testing.B) {
	for _, size := range []int{100, 1000, 8000} {
		b.Run("record="+strconv.Itoa(size)+"B", func(b *testing.B) {
			sink := &countSink{}
			srv := New(Options{Streams: []string{"bench"}, Sink: sink})
			body := batchBody("bench", makeRecords("b", MaxBatchRecords, size))
			req, err := http.NewRequest(http.MethodPost, "/", nil)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("X-Amz-Target", "Firehose_20150804.PutRecordBatch")
			req.ContentLength = int64(len(body))
			rb := &rewindBody{}
			req.Body = rb
			w := &discardWriter{h: make(http.Header)}

			b.SetBytes(int64(MaxBatchRecords * size))
			b.ReportAllocs()
			for b.Loop() {
				rb.Reset(body)
				clear(w.h)
				srv.ServeHTTP(w, req)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
			b.ReportMetric(float64(b.N*MaxBatchRecords)/b.Elapsed().Seconds(), "records/s")
			if sink.n != b.N*MaxBatchRecords {
				b.Fatalf("sink saw %d records, want %d", sink.n, b.N*MaxBatchRecords)
			}
		})
	}
}

// BenchmarkPutRecordBatchSDK is the end-to-end cost seen by the worker: the
// real SDK client over loopback TCP, 500 records of 1 KB per call.
func BenchmarkPutRecordBatchSDK(b *testing.B) {
	srv := New(Options{Streams: []string{"bench"}})
	ep, err := srv.Start("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = ep.Close(context.Background()) }()
	c := newClient(ep.URL, 64)
	records := makeRecords("b", MaxBatchRecords, 1000)
	b.SetBytes(int64(MaxBatchRecords * 1000))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := putBatch(context.Background(), c, "bench", records); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var _ io.ReadCloser = (*rewindBody)(nil)
