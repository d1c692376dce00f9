package eventgen

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const testTopic = "events"

// newCluster starts an in-process Kafka with a 4-partition "events" topic.
func newCluster(t *testing.T, opts ...kfake.Opt) (*kfake.Cluster, []string) {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(4, testTopic)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, c.ListenAddrs()
}

// recorder collects the Records Produce reports, by partition and offset.
type recorder struct {
	mu   sync.Mutex
	recs map[[2]int64]Record
}

func (r *recorder) record(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recs == nil {
		r.recs = map[[2]int64]Record{}
	}
	k := [2]int64{int64(rec.Partition), rec.Offset}
	if _, dup := r.recs[k]; dup {
		panic("two records at one offset")
	}
	r.recs[k] = rec
}

// consumeAll reads the whole topic back and checks it holds exactly the
// recorded messages, no more and no fewer.
func consumeAll(t *testing.T, addrs []string, topic string, rec *recorder) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != int64(len(rec.recs)) {
		t.Fatalf("topic holds %d messages, %d were acknowledged", total, len(rec.recs))
	}

	consumer, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []*kgo.Record
	for int64(len(got)) < total {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d messages: %v", len(got), total, err)
		}
		fetches.EachError(func(topic string, p int32, err error) { t.Fatalf("fetching %s/%d: %v", topic, p, err) })
		got = append(got, fetches.Records()...)
	}
	for _, r := range got {
		want, ok := rec.recs[[2]int64{int64(r.Partition), r.Offset}]
		if !ok {
			t.Fatalf("no record for %d/%d", r.Partition, r.Offset)
		}
		if !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) {
			t.Fatalf("%d/%d holds %q %q, recorded %q %q", r.Partition, r.Offset, r.Key, r.Value, want.Key, want.Value)
		}
	}
	return got
}

func TestProduceDeliversExactly(t *testing.T) {
	_, addrs := newCluster(t)
	var rec recorder
	const n = 3000
	stats, err := Produce(t.Context(), ProduceOptions{
		Brokers: addrs, Topic: testTopic, Count: n, Seed: 42, BatchSize: 200, Record: rec.record,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sent != n || stats.Errors != 0 || len(rec.recs) != n {
		t.Fatalf("stats %+v with %d records, want %d sent", stats, len(rec.recs), n)
	}
	got := consumeAll(t, addrs, testTopic, &rec)

	// What came back is the seed's sequence, split by the Java
	// partitioner and in order within each partition.
	values, infos, keys := generate(t, Options{Seed: 42}, n)
	javaPartitioner := kgo.StickyKeyPartitioner(nil).ForTopic(testTopic)
	want := map[int32][][]byte{}
	var wantBytes int64
	for i := range values {
		p := int32(javaPartitioner.Partition(&kgo.Record{Key: keys[i]}, 4))
		want[p] = append(want[p], values[i])
		wantBytes += int64(len(values[i]))
	}
	slices.SortFunc(got, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	next := map[int32]int{}
	for _, r := range got {
		i := next[r.Partition]
		next[r.Partition]++
		if i >= len(want[r.Partition]) || !bytes.Equal(r.Value, want[r.Partition][i]) {
			t.Fatalf("partition %d offset %d is not the seed's message %d for that partition", r.Partition, r.Offset, i)
		}
	}
	if stats.Bytes != wantBytes {
		t.Errorf("stats count %d bytes, the messages have %d", stats.Bytes, wantBytes)
	}
	byID := map[string]Info{}
	for _, info := range infos {
		byID[string(info.MessageID)] = info
	}
	for _, r := range rec.recs {
		if w, ok := byID[string(r.Info.MessageID)]; !ok || w.Event != r.Info.Event || w.UserID != r.Info.UserID {
			t.Fatalf("recorded Info %+v does not match the generator's %+v", r.Info, w)
		}
	}
}

func TestProduceRate(t *testing.T) {
	_, addrs := newCluster(t)
	var rec recorder
	var calls atomic.Int32
	var last atomic.Int64
	const rate, n = 2000, 600
	start := time.Now()
	stats, err := Produce(t.Context(), ProduceOptions{
		Brokers: addrs, Topic: testTopic, Count: n, Rate: rate, Record: rec.record, ProgressInterval: 50 * time.Millisecond,
	}, New(Options{Seed: 1}), func(s Stats) {
		calls.Add(1)
		if s.Sent < last.Load() {
			t.Errorf("progress went back from %d to %d", last.Load(), s.Sent)
		}
		last.Store(s.Sent)
	})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sent != n {
		t.Fatalf("sent %d, want %d", stats.Sent, n)
	}
	// The last of n messages is due (n-1)/rate after the first.
	if min := time.Duration(n-1) * time.Second / rate; elapsed < min-20*time.Millisecond || elapsed > 10*min {
		t.Errorf("took %v at %d/s, want about %v", elapsed, rate, min)
	}
	if calls.Load() < 2 {
		t.Errorf("progress called %d times", calls.Load())
	}
	consumeAll(t, addrs, testTopic, &rec)
}

// TestProduceUntilCanceled stops Produce while messages are in flight:
// the topic must hold exactly what Stats and Record report.
func TestProduceUntilCanceled(t *testing.T) {
	for _, tc := range []struct {
		name string
		rate float64
	}{
		{"as fast as possible", 0},
		{"rate limited", 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addrs := newCluster(t)
			var rec recorder
			ctx, cancel := context.WithTimeout(t.Context(), 400*time.Millisecond)
			defer cancel()
			stats, err := Produce(ctx, ProduceOptions{
				Brokers: addrs, Topic: testTopic, Rate: tc.rate, Record: rec.record,
			}, New(Options{Seed: 2}), nil)
			if err != nil {
				t.Fatalf("running until ctx ends must succeed: %v", err)
			}
			if stats.Sent == 0 || stats.Sent != int64(len(rec.recs)) {
				t.Fatalf("stats %+v, %d records", stats, len(rec.recs))
			}
			t.Logf("%d messages, %.0f/s", stats.Sent, stats.PerSecond())
			consumeAll(t, addrs, testTopic, &rec)
		})
	}
}

func TestProduceCountNotReached(t *testing.T) {
	_, addrs := newCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	stats, err := Produce(ctx, ProduceOptions{Brokers: addrs, Topic: testTopic, Rate: 100, Count: 1000}, nil, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "of 1000 messages") {
		t.Fatalf("error %v, want one saying the count was not reached", err)
	}
	if stats.Sent == 0 || stats.Sent >= 1000 {
		t.Errorf("sent %d", stats.Sent)
	}
}

func TestProduceReplay(t *testing.T) {
	_, addrs := newCluster(t)
	var rec recorder
	path := filepath.Join("testdata", "seed42.ndjson")
	stats, err := Produce(t.Context(), ProduceOptions{
		Brokers: addrs, Topic: testTopic, ReplayFile: path, Record: rec.record,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Sent != 100 {
		t.Fatalf("sent %d of the file's 100 lines", stats.Sent)
	}
	got := consumeAll(t, addrs, testTopic, &rec)
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if !bytes.Contains(file, append(append([]byte{'\n'}, r.Value...), '\n')) && !bytes.HasPrefix(file, r.Value) {
			t.Fatalf("%q is not a line of the file", r.Value)
		}
	}
}

func TestProduceCreatesTopic(t *testing.T) {
	_, addrs := newCluster(t)
	var rec recorder
	stats, err := Produce(t.Context(), ProduceOptions{
		Brokers: addrs, Topic: "fresh", Partitions: 3, Count: 500, Record: rec.record,
	}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	partitions := map[int]bool{}
	for _, r := range rec.recs {
		partitions[r.Partition] = true
	}
	if stats.Sent != 500 || len(partitions) != 3 {
		t.Fatalf("sent %d over partitions %v, want 500 over 3", stats.Sent, partitions)
	}
	consumeAll(t, addrs, "fresh", &rec)

	// An existing topic is fine too.
	if _, err := Produce(t.Context(), ProduceOptions{Brokers: addrs, Topic: "fresh", Partitions: 3, Count: 10}, nil, nil); err != nil {
		t.Fatal(err)
	}
}

// TestProduceBrokerRejects lets some produce requests through and then
// fails the rest with an error the writer does not retry: Produce must
// stop, say so, and count exactly what the topic holds.
func TestProduceBrokerRejects(t *testing.T) {
	c, addrs := newCluster(t)
	var produced atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		if produced.Add(1) <= 5 {
			return nil, nil, false
		}
		pr := req.(*kmsg.ProduceRequest)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.InvalidRecord.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	var rec recorder
	stats, err := Produce(t.Context(), ProduceOptions{
		Brokers: addrs, Topic: testTopic, Count: 20_000, BatchSize: 100, Record: rec.record,
	}, nil, nil)
	if err == nil || !errors.Is(err, kafka.InvalidRecord) {
		t.Fatalf("error %v, want the broker's", err)
	}
	if stats.Errors == 0 || stats.Sent != int64(len(rec.recs)) || stats.Sent+stats.Errors >= 20_000 {
		t.Fatalf("stats %+v with %d records", stats, len(rec.recs))
	}
	consumeAll(t, addrs, testTopic, &rec)
}

func TestProduceUnknownTopic(t *testing.T) {
	_, addrs := newCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stats, err := Produce(ctx, ProduceOptions{Brokers: addrs, Topic: "missing", Count: 10}, nil, nil)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || stats.Sent != 0 {
		t.Fatalf("stats %+v, error %v; want a prompt error", stats, err)
	}
	t.Log(err)
}

func TestProduceUnreachable(t *testing.T) {
	c, addrs := newCluster(t)
	c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stats, err := Produce(ctx, ProduceOptions{Brokers: addrs, Topic: testTopic, Count: 10}, nil, nil)
	if err == nil || errors.Is(err, context.DeadlineExceeded) || stats.Sent != 0 {
		t.Fatalf("stats %+v, error %v; want a prompt error", stats, err)
	}
	t.Log(err)
}

func TestProduceOptionsValidate(t *testing.T) {
	err := ProduceOptions{Rate: -1, Count: -2, BatchSize: 10, MaxInFlight: 5}.Validate()
	for _, want := range []string{"no brokers", "no topic", "rate -1", "count -2", "max in flight 5"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
	// The default batch size counts too.
	if err := (ProduceOptions{Brokers: []string{"b:9092"}, Topic: "t", MaxInFlight: 5}).Validate(); err == nil {
		t.Error("max in flight below the default batch size accepted")
	}
	if _, err := Produce(t.Context(), ProduceOptions{}, nil, nil); err == nil {
		t.Error("Produce accepted empty options")
	}
	if err := (ProduceOptions{Brokers: []string{"b:9092"}, Topic: "t"}).Validate(); err != nil {
		t.Errorf("minimal options: %v", err)
	}
}
