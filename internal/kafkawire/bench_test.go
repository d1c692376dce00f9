package kafkawire

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// benchResponse is a fetch response of 12 partitions, each one batch of
// 200 records of ~1 KB: what a worker reading a backlog gets.
func benchResponse(b *testing.B, attrs protocol.Attributes) (body []byte, records int, size int64) {
	b.Helper()
	value := bytes.Repeat([]byte(`{"type":"track","event":"Product Viewed","properties":{"sku":"x"}} `), 15)
	resp := &fetch.Response{}
	var parts []fetch.ResponsePartition
	for p := range 12 {
		prs := make([]protocol.Record, 200)
		for i := range prs {
			prs[i] = protocol.Record{Time: time.UnixMilli(1_700_000_000_000), Key: protocol.NewBytes(fmt.Appendf(nil, "user-%d", i)), Value: protocol.NewBytes(value)}
			size += int64(len(value))
		}
		records += len(prs)
		parts = append(parts, fetch.ResponsePartition{Partition: int32(p), HighWatermark: 1 << 20,
			RecordSet: protocol.RecordSet{Version: 2, Attributes: attrs, Records: protocol.NewRecordReader(prs...)}})
	}
	resp.Topics = []fetch.ResponseTopic{{Topic: "events", Partitions: parts}}
	var buf bytes.Buffer
	if err := protocol.WriteResponse(&buf, FetchVersion, 1, resp); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes(), records, size
}

// BenchmarkDecodeFetch compares, on the same response bytes, this
// package's decoding (records read in place, each key and value then
// copied once, as internal/consume does) with kafka-go's own
// (protocol.ReadResponse into its pages, then each record's key and value
// read out), the path internal/consume used before.
func BenchmarkDecodeFetch(b *testing.B) {
	for _, c := range []struct {
		name  string
		attrs protocol.Attributes
	}{{"none", 0}, {"snappy", protocol.Snappy}} {
		whole, records, size := benchResponse(b, c.attrs)
		b.Run("kafkawire/"+c.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			var resp FetchResponse
			var rd Reader
			var r Record
			for b.Loop() {
				if err := resp.DecodeFetch(whole[8:]); err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						rd.Reset(p.Records)
						for {
							ok, err := rd.NextBatch()
							if err != nil {
								b.Fatal(err)
							}
							if !ok {
								break
							}
							for {
								ok, err := rd.NextRecord(&r)
								if err != nil {
									b.Fatal(err)
								}
								if !ok {
									break
								}
								kv := make([]byte, len(r.Key)+len(r.Value))
								copy(kv[copy(kv, r.Key):], r.Value)
								n++
							}
						}
					}
				}
				if n != records {
					b.Fatalf("%d records, want %d", n, records)
				}
			}
		})
		b.Run("kafka-go/"+c.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				_, msg, err := protocol.ReadResponse(bytes.NewReader(whole), protocol.Fetch, FetchVersion)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for _, t := range msg.(*fetch.Response).Topics {
					for _, p := range t.Partitions {
						rs := p.RecordSet.Records
						for {
							r, err := rs.ReadRecord()
							if err == io.EOF {
								break
							}
							if err != nil {
								b.Fatal(err)
							}
							key, _ := io.ReadAll(r.Key)
							value := make([]byte, r.Value.Len())
							_, _ = io.ReadFull(r.Value, value)
							_ = key
							r.Key.Close()
							r.Value.Close()
							n++
						}
					}
				}
				if n != records {
					b.Fatalf("%d records, want %d", n, records)
				}
			}
		})
	}
}
