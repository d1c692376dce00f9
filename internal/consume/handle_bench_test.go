package consume

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"

	"github.com/firehose-worker/firehose-worker/internal/kafkawire"
)

// BenchmarkHandleResponse hands a broker loop a response in which one
// partition of many has records, as on a backlog: the response fills from
// one partition, and every other partition asked for comes back empty.
// The gap between the counts is what each empty partition costs.
func BenchmarkHandleResponse(b *testing.B) {
	for _, n := range []int{12, 192} {
		b.Run(fmt.Sprintf("partitions=%d", n), func(b *testing.B) {
			l, resp, records := handleFixture(b, n)
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				l.handle(ctx, resp)
				for _, p := range l.parts {
					select {
					case f := <-p.in:
						if len(f.msgs) != records {
							b.Fatalf("%d messages handed on, want %d", len(f.msgs), records)
						}
						l.s.giveBack(p, f)
						p.next = 0
					default:
					}
				}
			}
		})
	}
}

// handleFixture builds a session of n parts of one topic held by one loop,
// and a decoded response in which partition 0 has a batch of records.
func handleFixture(b *testing.B, n int) (*brokerLoop, *kafkawire.FetchResponse, int) {
	b.Helper()
	c := &Consumer{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s := &session{c: c, byKey: map[partitionKey]*part{}}
	l := &brokerLoop{s: s}
	ahead := &readAhead{limit: 64 << 20}
	const topic = "events"
	value := bytes.Repeat([]byte(`{"type":"track","event":"Product Viewed","properties":{"sku":"x"}} `), 15)
	const records = 800
	prs := make([]protocol.Record, records)
	for j := range prs {
		prs[j] = protocol.Record{Offset: int64(j), Time: time.UnixMilli(1_700_000_000_000), Key: protocol.NewBytes(fmt.Appendf(nil, "user-%d", j)), Value: protocol.NewBytes(value)}
	}
	full := fetch.ResponsePartition{HighWatermark: records, RecordSet: protocol.RecordSet{Version: 2, Records: protocol.NewRecordReader(prs...)}}
	var buf bytes.Buffer
	if err := protocol.WriteResponse(&buf, kafkawire.FetchVersion, 1, &fetch.Response{Topics: []fetch.ResponseTopic{{Topic: topic, Partitions: []fetch.ResponsePartition{full}}}}); err != nil {
		b.Fatal(err)
	}
	resp := &kafkawire.FetchResponse{}
	if err := resp.DecodeFetch(buf.Bytes()[8:]); err != nil {
		b.Fatal(err)
	}
	// kafka-go writes no empty record set; a broker does, as a partition
	// with no records.
	t := &resp.Topics[0]
	for i := range n {
		cl := &Claim{Topic: topic, Partition: i}
		p := &part{cl: cl, free: make(chan *fetched, depth), in: make(chan *fetched, depth), ahead: ahead}
		for range depth {
			p.free <- &fetched{mem: arena{pool: &s.slabs}}
		}
		p.loop.Store(l)
		l.parts = append(l.parts, p)
		s.byKey[partitionKey{topic, i}] = p
		if i > 0 {
			t.Partitions = append(t.Partitions, kafkawire.FetchPartition{Partition: int32(i), HighWatermark: records, LastStableOffset: records})
		}
	}
	return l, resp, records
}
