package kafkawire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// rec is a record as a test writes and reads it.
type rec struct {
	offset  int64
	millis  int64
	key     []byte
	value   []byte
	headers []string // "key=value"
}

func (r rec) String() string {
	return fmt.Sprintf("@%d t=%d key=%q value=%q headers=%q", r.offset, r.millis, r.key, r.value, r.headers)
}

func sample(base int64, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		r := rec{offset: base + int64(i), millis: 1_700_000_000_000 + int64(i)*7, value: fmt.Appendf(nil, `{"type":"track","n":%d}`, i)}
		if i%3 != 0 {
			r.key = fmt.Appendf(nil, "user-%d", i)
		}
		if i%4 == 1 {
			r.headers = []string{"traceparent=00-abc-def-01", fmt.Sprintf("n=%d", i)}
		}
		out[i] = r
	}
	return out
}

// rebase sets the base offset of the one batch in b: kafka-go's encoder,
// written for produce requests, always writes 0 there. The base offset is
// outside the batch's CRC.
func rebase(b []byte, base int64) { binary.BigEndian.PutUint64(b, uint64(base)) }

// recordSet is kafka-go's own encoding of recs as one v2 batch.
func recordSet(recs []rec, attrs protocol.Attributes) protocol.RecordSet {
	prs := make([]protocol.Record, len(recs))
	for i, r := range recs {
		pr := protocol.Record{Offset: r.offset, Time: time.UnixMilli(r.millis)}
		if r.key != nil {
			pr.Key = protocol.NewBytes(r.key)
		}
		pr.Value = protocol.NewBytes(r.value)
		for _, h := range r.headers {
			k, v, _ := bytes.Cut([]byte(h), []byte("="))
			pr.Headers = append(pr.Headers, protocol.Header{Key: string(k), Value: v})
		}
		prs[i] = pr
	}
	return protocol.RecordSet{Version: 2, Attributes: attrs, Records: protocol.NewRecordReader(prs...)}
}

// encodeFetch is kafka-go's encoding of resp, after the size and the
// correlation id: what DecodeFetch is given.
func encodeFetch(t *testing.T, resp *fetch.Response) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := protocol.WriteResponse(&buf, FetchVersion, 42, resp); err != nil {
		t.Fatalf("encoding: %v", err)
	}
	return buf.Bytes()[8:]
}

func readAll(t *testing.T, r *Reader, records []byte) ([]rec, []Batch) {
	t.Helper()
	r.Reset(records)
	var got []rec
	var batches []Batch
	for {
		ok, err := r.NextBatch()
		if err != nil {
			t.Fatalf("NextBatch: %v", err)
		}
		if !ok {
			return got, batches
		}
		batches = append(batches, *r.Batch())
		var x Record
		for {
			ok, err := r.NextRecord(&x)
			if err != nil {
				t.Fatalf("NextRecord: %v", err)
			}
			if !ok {
				break
			}
			g := rec{offset: x.Offset, millis: x.TimeMillis, key: bytes.Clone(x.Key), value: bytes.Clone(x.Value)}
			x.EachHeader(func(k, v []byte) { g.headers = append(g.headers, string(k)+"="+string(v)) })
			got = append(got, g)
		}
	}
}

func equalRecs(a, b []rec) bool {
	return slices.EqualFunc(a, b, func(x, y rec) bool { return x.String() == y.String() })
}

// TestDecodesWhatKafkaGoEncodes: a response of two topics, partitions with
// and without records, an error and every compression codec, written by
// kafka-go's own encoder, decodes to the same fields and records.
func TestDecodesWhatKafkaGoEncodes(t *testing.T) {
	t.Parallel()
	codecs := []protocol.Attributes{0, protocol.Gzip, protocol.Snappy, protocol.Lz4, protocol.Zstd}
	resp := &fetch.Response{ThrottleTimeMs: 3}
	want := map[string][]rec{}
	var parts []fetch.ResponsePartition
	for i, c := range codecs {
		recs := sample(int64(100*i), 20+i)
		want[fmt.Sprintf("events/%d", i)] = recs
		parts = append(parts, fetch.ResponsePartition{
			Partition: int32(i), HighWatermark: int64(100*i + 50), LastStableOffset: int64(100*i + 50), LogStartOffset: int64(i),
			AbortedTransactions: []fetch.ResponseTransaction{{ProducerID: 9, FirstOffset: 1}},
			RecordSet:           recordSet(recs, c),
		})
	}
	resp.Topics = []fetch.ResponseTopic{
		{Topic: "events", Partitions: parts},
		{Topic: "other", Partitions: []fetch.ResponsePartition{{Partition: 0, HighWatermark: 5, RecordSet: recordSet(sample(0, 1), 0)}}},
	}
	want["other/0"] = sample(0, 1)

	var got FetchResponse
	if err := got.DecodeFetch(encodeFetch(t, resp)); err != nil {
		t.Fatal(err)
	}
	if got.ThrottleMillis != 3 || len(got.Topics) != 2 {
		t.Fatalf("throttle %d, %d topics; want 3 and 2", got.ThrottleMillis, len(got.Topics))
	}
	var r Reader
	for ti, tp := range got.Topics {
		if string(tp.Name) != resp.Topics[ti].Topic || len(tp.Partitions) != len(resp.Topics[ti].Partitions) {
			t.Fatalf("topic %d: %q with %d partitions", ti, tp.Name, len(tp.Partitions))
		}
		for pi, p := range tp.Partitions {
			w := resp.Topics[ti].Partitions[pi]
			if p.Partition != w.Partition || p.ErrorCode != w.ErrorCode || p.HighWatermark != w.HighWatermark ||
				p.LastStableOffset != w.LastStableOffset || p.LogStartOffset != w.LogStartOffset {
				t.Errorf("%s/%d: %+v, want %+v", tp.Name, w.Partition, p, w)
			}
			key := fmt.Sprintf("%s/%d", tp.Name, p.Partition)
			if len(want[key]) > 0 {
				rebase(p.Records, want[key][0].offset)
			}
			recs, batches := readAll(t, &r, p.Records)
			if !equalRecs(recs, want[key]) {
				t.Errorf("%s: records\n%v\nwant\n%v", key, recs, want[key])
			}
			if len(want[key]) > 0 {
				if len(batches) != 1 || batches[0].Compression != w.RecordSet.Attributes.Compression() ||
					batches[0].LastOffset != want[key][len(want[key])-1].offset {
					t.Errorf("%s: batches %+v", key, batches)
				}
			}
		}
	}
}

// TestNullsDecode: a partition with an error carries null aborted
// transactions and a null record set (kafka-go cannot encode one, so the
// bytes are written here).
func TestNullsDecode(t *testing.T) {
	t.Parallel()
	be := binary.BigEndian
	var b []byte
	b = be.AppendUint32(b, 0) // throttle
	b = be.AppendUint16(b, 0) // error
	b = be.AppendUint32(b, 0) // session
	b = be.AppendUint32(b, 1) // topics
	b = append(be.AppendUint16(b, 1), 't')
	b = be.AppendUint32(b, 1) // partitions
	b = be.AppendUint32(b, 7) // partition
	b = be.AppendUint16(b, 1) // OFFSET_OUT_OF_RANGE
	for range 3 {
		b = be.AppendUint64(b, ^uint64(0)) // -1
	}
	b = be.AppendUint32(b, ^uint32(0)) // aborted: null
	b = be.AppendUint32(b, ^uint32(0)) // preferred replica -1
	b = be.AppendUint32(b, ^uint32(0)) // records: null
	var got FetchResponse
	if err := got.DecodeFetch(b); err != nil {
		t.Fatal(err)
	}
	p := got.Topics[0].Partitions[0]
	if p.Partition != 7 || p.ErrorCode != 1 || p.HighWatermark != -1 || p.Records != nil {
		t.Errorf("decoded %+v", p)
	}
	var r Reader
	r.Reset(p.Records)
	if ok, err := r.NextBatch(); ok || err != nil {
		t.Errorf("a null record set: batch %v, %v", ok, err)
	}
}

// TestControlAndCutShortBatches: a control batch says so; a record set
// whose last batch was cut short by the response's size limit ends before
// it, without an error; a flipped byte fails the CRC.
func TestControlAndCutShortBatches(t *testing.T) {
	t.Parallel()
	set := func(recs []rec, attrs protocol.Attributes) []byte {
		resp := &fetch.Response{Topics: []fetch.ResponseTopic{{Topic: "t", Partitions: []fetch.ResponsePartition{{RecordSet: recordSet(recs, attrs)}}}}}
		var got FetchResponse
		if err := got.DecodeFetch(encodeFetch(t, resp)); err != nil {
			t.Fatal(err)
		}
		b := got.Topics[0].Partitions[0].Records
		rebase(b, recs[0].offset)
		return b
	}
	first := set(sample(0, 5), 0)
	control := set(sample(5, 1), protocol.Control|protocol.Transactional)
	third := set(sample(6, 4), protocol.Zstd)
	all := slices.Concat(first, control, third)

	var r Reader
	recs, batches := readAll(t, &r, all)
	if len(batches) != 3 || batches[0].Control || !batches[1].Control || batches[2].Control {
		t.Fatalf("batches %+v, want the second alone to be control", batches)
	}
	if len(recs) != 10 {
		t.Errorf("%d records, want 10", len(recs))
	}
	for cut := 1; cut < len(third); cut += 7 {
		recs, batches := readAll(t, &r, all[:len(all)-cut])
		if len(batches) != 2 || len(recs) != 6 {
			t.Fatalf("cut %d bytes short: %d batches, %d records; want 2 and 6", cut, len(batches), len(recs))
		}
	}

	bad := slices.Clone(first)
	bad[len(bad)-3] ^= 0x40
	r.Reset(bad)
	if _, err := r.NextBatch(); !errors.Is(err, ErrMalformed) {
		t.Errorf("a flipped byte: %v, want a CRC failure", err)
	}
}

// TestMalformedResponsesFail: every truncation of a valid response fails
// with ErrMalformed instead of panicking or reading beyond the buffer.
func TestMalformedResponsesFail(t *testing.T) {
	t.Parallel()
	resp := &fetch.Response{Topics: []fetch.ResponseTopic{{Topic: "events", Partitions: []fetch.ResponsePartition{
		{Partition: 0, HighWatermark: 9, RecordSet: recordSet(sample(0, 3), protocol.Lz4)},
		{Partition: 1, HighWatermark: 9, RecordSet: recordSet(sample(0, 2), 0)},
	}}}}
	body := encodeFetch(t, resp)
	var got FetchResponse
	for n := range len(body) {
		if err := got.DecodeFetch(body[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("the first %d of %d bytes: %v, want ErrMalformed", n, len(body), err)
		}
	}
	if err := got.DecodeFetch(append(slices.Clone(body), 0)); !errors.Is(err, ErrMalformed) {
		t.Errorf("a trailing byte: %v, want ErrMalformed", err)
	}
}

// FuzzReader: no record set makes the reader panic, loop or read beyond
// its buffer.
func FuzzReader(f *testing.F) {
	for _, c := range []protocol.Attributes{0, protocol.Gzip, protocol.Snappy, protocol.Lz4, protocol.Zstd} {
		resp := &fetch.Response{Topics: []fetch.ResponseTopic{{Topic: "t", Partitions: []fetch.ResponsePartition{{RecordSet: recordSet(sample(3, 4), c)}}}}}
		var buf bytes.Buffer
		if err := protocol.WriteResponse(&buf, FetchVersion, 1, resp); err != nil {
			f.Fatal(err)
		}
		var got FetchResponse
		if err := got.DecodeFetch(buf.Bytes()[8:]); err != nil {
			f.Fatal(err)
		}
		f.Add(got.Topics[0].Partitions[0].Records)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Reader
		r.Reset(b)
		var x Record
		for range 1000 {
			ok, err := r.NextBatch()
			if err != nil || !ok {
				return
			}
			for {
				ok, err := r.NextRecord(&x)
				if err != nil || !ok {
					break
				}
				x.EachHeader(func(_, _ []byte) {})
			}
		}
		t.Fatal("a record set of a few bytes gave 1000 batches")
	})
}
