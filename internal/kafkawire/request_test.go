package kafkawire

import (
	"bytes"
	"io"
	"testing"

	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/protocol/fetch"
)

// fetchRequest192 is what a fetch loop holding 192 partitions of a topic
// sends.
func fetchRequest192() *fetch.Request {
	req := &fetch.Request{ReplicaID: -1, SessionEpoch: -1, MaxWaitTime: 500, MinBytes: 1, MaxBytes: 1 << 20}
	rt := fetch.RequestTopic{Topic: "bench-parts-192"}
	for i := range 192 {
		rt.Partitions = append(rt.Partitions, fetch.RequestPartition{Partition: int32(i), CurrentLeaderEpoch: -1, FetchOffset: 123456 + int64(i), LogStartOffset: -1, PartitionMaxBytes: 1 << 20})
	}
	req.Topics = []fetch.RequestTopic{rt}
	return req
}

func TestAppendFetchRequestWritesWhatKafkaGoWrites(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		clientID string
		corr     int32
		req      *fetch.Request
	}{
		"192 partitions": {"firehose-worker", 7, fetchRequest192()},
		"no topics":      {"", 1, &fetch.Request{ReplicaID: -1, SessionEpoch: -1, MaxWaitTime: 10}},
		"every field": {"c", -5, &fetch.Request{
			ReplicaID: 3, MaxWaitTime: 250, MinBytes: 1024, MaxBytes: 4 << 20, IsolationLevel: 1, SessionID: 99, SessionEpoch: 4,
			Topics: []fetch.RequestTopic{
				{Topic: "a", Partitions: []fetch.RequestPartition{{Partition: 2, CurrentLeaderEpoch: 8, FetchOffset: -2, LogStartOffset: 5, PartitionMaxBytes: 1}}},
				{Topic: "b-longer-name", Partitions: nil},
			},
			ForgottenTopics: []fetch.RequestForgottenTopic{{Topic: "gone", Partitions: []int32{0, 1, 1 << 30}}, {Topic: "x"}},
			RackID:          "eu-west-1a",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var want bytes.Buffer
			if err := protocol.WriteRequest(&want, FetchVersion, c.corr, c.clientID, c.req); err != nil {
				t.Fatal(err)
			}
			got := appendFetchRequest([]byte("keep"), c.corr, c.clientID, c.req)
			if string(got[:4]) != "keep" {
				t.Fatalf("the bytes before were changed: %q", got[:4])
			}
			if !bytes.Equal(got[4:], want.Bytes()) {
				t.Errorf("appendFetchRequest wrote\n%x\nkafka-go writes\n%x", got[4:], want.Bytes())
			}
		})
	}
}

// BenchmarkWriteFetchRequest compares the request a 192-partition fetch
// loop sends, written by kafka-go's reflection and by appendFetchRequest
// into a reused buffer.
func BenchmarkWriteFetchRequest(b *testing.B) {
	req := fetchRequest192()
	b.Run("kafka-go", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := protocol.WriteRequest(io.Discard, FetchVersion, 1, "firehose-worker", req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kafkawire", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = appendFetchRequest(buf[:0], 1, "firehose-worker", req)
			_, _ = io.Discard.Write(buf)
		}
	})
}
