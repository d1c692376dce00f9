package main

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/eventgen"
	"github.com/firehose-worker/firehose-worker/internal/route"
	"github.com/firehose-worker/firehose-worker/internal/segment"
)

// The micro-benchmarks here run the worker's stages on the generator's mix
// (the same messages the end-to-end runs use), where the packages' own
// benchmarks use one fixed message. Each op is one message (one call for
// the request benchmark); allocs/op is per message.

// corpus returns n generated messages, each in its own slice.
func corpus(n int) [][]byte {
	g := eventgen.New(eventgen.DefaultOptions())
	out := make([][]byte, n)
	var buf []byte
	for i := range out {
		v, _, _ := g.Next(buf[:0])
		buf = v
		out[i] = bytes.Clone(v)
	}
	return out
}

func avgLen(msgs [][]byte) int64 {
	total := 0
	for _, m := range msgs {
		total += len(m)
	}
	return int64(total / len(msgs))
}

func BenchmarkDecode(b *testing.B) {
	msgs := corpus(1024)
	var d segment.Decoder
	b.SetBytes(avgLen(msgs))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := d.Decode(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkDecodeEnvelope decodes and frames the same messages alone and
// in /v1/batch envelopes of 20 (Splitter and Decoder in one pass); each op
// is one message either way, so the two ns/op compare directly.
func BenchmarkDecodeEnvelope(b *testing.B) {
	const size = 20
	msgs := corpus(1000)
	var envs [][]byte
	for i := 0; i+size <= len(msgs); i += size {
		env := []byte(`{"batch":[`)
		for j, m := range msgs[i : i+size] {
			if j > 0 {
				env = append(env, ',')
			}
			env = append(env, bytes.TrimSpace(m)...)
		}
		envs = append(envs, append(env, `],"sentAt":"2026-11-30T09:14:05.250Z"}`...))
	}
	b.Run("single", func(b *testing.B) {
		var d segment.Decoder
		b.SetBytes(avgLen(msgs))
		b.ReportAllocs()
		i, n := 0, 0
		for b.Loop() {
			m := msgs[i%len(msgs)]
			_, sc, err := d.Decode(m)
			if err != nil {
				b.Fatal(err)
			}
			n += len(segment.Record(m, sc))
			i++
		}
	})
	b.Run("envelope=20", func(b *testing.B) {
		var (
			d  segment.Decoder
			s  segment.Splitter
			n  int
			ok bool
		)
		frame := func(_ int, it segment.Item) { n += len(segment.Record(it.Value, it.Scan)) }
		b.SetBytes(avgLen(msgs))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%size == 0 {
				if _, ok = s.Split(envs[(i/size)%len(envs)], &d, frame); !ok {
					b.Fatal("not split")
				}
			}
			i++
		}
	})
}

// BenchmarkDecodeStdlibMap is the SDK-defaults reference's decoding, for
// scale: encoding/json into a map[string]any.
func BenchmarkDecodeStdlibMap(b *testing.B) {
	msgs := corpus(1024)
	b.SetBytes(avgLen(msgs))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		var m map[string]any
		if err := stdjson.Unmarshal(msgs[i%len(msgs)], &m); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkFrame(b *testing.B) {
	msgs := corpus(1024)
	scans := make([]segment.Scan, len(msgs))
	var d segment.Decoder
	for i, m := range msgs {
		_, sc, err := d.Decode(m)
		if err != nil {
			b.Fatal(err)
		}
		scans[i] = sc
	}
	b.SetBytes(avgLen(msgs))
	b.ReportAllocs()
	i, n := 0, 0
	for b.Loop() {
		k := i % len(msgs)
		// What the pipeline does: a compact value is its own record.
		n += len(segment.Record(msgs[k], scans[k]))
		i++
	}
	if n == 0 {
		b.Fatal("no record bytes")
	}
}

func BenchmarkRoute(b *testing.B) {
	msgs := corpus(1024)
	type fields struct{ typ, event []byte }
	in := make([]fields, len(msgs))
	var d segment.Decoder
	for i, m := range msgs {
		msg, _, err := d.Decode(m)
		if err != nil {
			b.Fatal(err)
		}
		in[i] = fields{bytes.Clone(msg.Type), bytes.Clone(msg.Event)}
	}
	tab := routeTable(fanOutRows)
	dst := make([]int, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := &in[i%len(in)]
		dst = tab.Route(dst[:0], f.typ, f.event, route.IsTrack(f.typ))
		i++
	}
}

type nopPart struct{}

func (nopPart) Done() {}

// BenchmarkBatch adds framed records to one stream's accumulator at
// Firehose's limits; every 500th record hands a batch over.
func BenchmarkBatch(b *testing.B) {
	for _, aggregate := range []bool{false, true} {
		b.Run(fmt.Sprintf("aggregate=%t", aggregate), func(b *testing.B) {
			msgs := corpus(1024)
			recs := make([]batch.Record, len(msgs))
			for i, m := range msgs {
				recs[i] = batch.Record{Data: m, Part: nopPart{}}
			}
			flushed := 0
			acc := batch.New(batch.Limits{MaxRecords: 500, MaxBytes: 4 << 20, Linger: time.Hour, Aggregate: aggregate, MaxRecordBytes: 1_024_000},
				func(*batch.Batch) { flushed++ })
			b.SetBytes(avgLen(msgs))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				acc.Add(recs[i%len(recs)])
				i++
			}
			acc.Flush()
			b.ReportMetric(float64(flushed), "batches")
		})
	}
}

// discardHTTP answers every request with a canned PutRecordBatch response
// after reading the body, so the benchmark measures the SDK's request
// encoding, signing, middleware and response decoding, not the network.
type discardHTTP struct{ answer []byte }

func (d discardHTTP) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body:          io.NopCloser(bytes.NewReader(d.answer)),
		ContentLength: int64(len(d.answer)),
		Request:       req,
	}, nil
}

func cannedAnswer(n int) []byte {
	var sb strings.Builder
	sb.WriteString(`{"Encrypted":false,"FailedPutCount":0,"RequestResponses":[`)
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"RecordId":"r-%d"}`, i)
	}
	sb.WriteString("]}")
	return []byte(sb.String())
}

// BenchmarkRequestEncoding is one 500-record PutRecordBatch of generated
// events through the stock SDK client with retries off (as the worker
// configures it), over an HTTP client that discards the request.
func BenchmarkRequestEncoding(b *testing.B) {
	msgs := corpus(500)
	in := &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("everything")}
	total := 0
	for _, m := range msgs {
		in.Records = append(in.Records, types.Record{Data: append(bytes.Clone(m), '\n')})
		total += len(m) + 1
	}
	client := firehose.New(firehose.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:  discardHTTP{answer: cannedAnswer(len(msgs))},
		Retryer:     aws.NopRetryer{},
	})
	ctx := context.Background()
	b.SetBytes(int64(total))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.PutRecordBatch(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(msgs)), "ns/record")
}

// TestParseBench checks the go test output parser on a captured sample.
func TestParseBench(t *testing.T) {
	in := `goos: linux
pkg: github.com/firehose-worker/firehose-worker/internal/segment
BenchmarkDecodeFrame-2   	 1000000	      1100 ns/op	 700.50 MB/s	       0 B/op	       0 allocs/op
PASS
pkg: github.com/firehose-worker/firehose-worker/internal/benchrun
BenchmarkBatch/aggregate=true-2  2000  512.0 ns/op  3.000 batches  64 B/op  1 allocs/op
FAIL	github.com/firehose-worker/firehose-worker/internal/x [build failed]
`
	got, problems, err := parseBench(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(problems) != 1 {
		t.Fatalf("got %d results and %d problems: %+v %v", len(got), len(problems), got, problems)
	}
	if g := got[0]; g.Package != "internal/segment" || g.Name != "DecodeFrame" || g.NsPerOp != 1100 || g.MBPerSec != 700.5 {
		t.Errorf("first = %+v", g)
	}
	if g := got[1]; g.Name != "Batch/aggregate=true" || g.Extra["batches"] != 3 || g.AllocsPerOp != 1 || g.BytesPerOp != 64 {
		t.Errorf("second = %+v", g)
	}
}

// TestCompareHashes checks the multiset comparison of the read-back check.
func TestCompareHashes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		want, got      []uint64
		missing, extra int64
	}{
		{"equal", []uint64{1, 2, 2, 3}, []uint64{1, 2, 2, 3}, 0, 0},
		{"duplicate", []uint64{1, 2, 3}, []uint64{1, 2, 2, 3}, 0, 1},
		{"lost", []uint64{1, 2, 3}, []uint64{1, 3}, 1, 0},
		{"foreign", []uint64{1, 3}, []uint64{1, 2, 3, 4}, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, e := compareHashes(tc.want, tc.got)
			if m != tc.missing || e != tc.extra {
				t.Errorf("missing, extra = %d, %d; want %d, %d", m, e, tc.missing, tc.extra)
			}
		})
	}
}

// TestCounterLines checks the endpoint's counting of lines, duplicates,
// billed units and stamped latency.
func TestCounterLines(t *testing.T) {
	c := newCounter()
	now := time.Now().UnixNano()
	stamped := fmt.Sprintf(`%s%d,"messageId":"b"}`, stampPrefix, now-int64(50*time.Millisecond))
	recs := [][]byte{
		[]byte(`{"messageId":"a"}` + "\n"),
		[]byte(stamped + "\n" + `{"messageId":"a"}` + "\n"), // aggregated: 2 lines, one repeated
		bytes.Repeat([]byte("x"), billingUnit+1),            // no messageId, 2 units
	}
	if err := c.Write(context.Background(), "s", recs); err != nil {
		t.Fatal(err)
	}
	if st := c.stats(false, true).Streams["s"]; st.Lines != 4 || st.Duplicates != 0 {
		t.Errorf("progress counts = %+v, want 4 lines and duplicates left uncounted", st)
	}
	st := c.stats(false, false).Streams["s"]
	if st.Records != 3 || st.Lines != 4 || st.Duplicates != 1 || st.NoMessageID != 1 || st.BilledUnits != 4 {
		t.Errorf("counts = %+v", st)
	}
	// Counting again sees only what arrived since: "a" a third time, "c"
	// once.
	if err := c.Write(context.Background(), "s", [][]byte{[]byte(`{"messageId":"a"}` + "\n" + `{"messageId":"c"}` + "\n")}); err != nil {
		t.Fatal(err)
	}
	if st := c.stats(false, true).Streams["s"]; st.Lines != 6 || st.Duplicates != 0 {
		t.Errorf("progress counts after a final call = %+v, want 6 lines and duplicates left uncounted", st)
	}
	if st := c.stats(false, false).Streams["s"]; st.Lines != 6 || st.Duplicates != 2 {
		t.Errorf("after more lines, counts = %+v, want 6 lines and 2 duplicates", st)
	}
	if l := c.latency(); l.Count != 1 || l.P99Ms < 50 {
		t.Errorf("latency = %+v", l)
	}
}
