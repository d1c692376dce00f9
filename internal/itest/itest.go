// Package itest stands up the in-process real-protocol peers that integration
// tests need: a Kafka broker speaking the real wire protocol (franz-go's
// kfake), a Firehose endpoint over real HTTP with the JSON 1.1 wire format
// (firehosesim), and a separate Kafka client (franz-go) to produce and
// inspect, so the worker's own client is never used to check itself.
package itest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// Kafka is an in-process broker.
type Kafka struct {
	Cluster *kfake.Cluster
	Brokers []string
	Client  *kgo.Client
	Admin   *kadm.Client
}

// StartKafka starts a broker with the given topics, each with partitions
// partitions, closed when the test ends.
func StartKafka(t testing.TB, partitions int32, topics ...string) *Kafka {
	t.Helper()
	return StartKafkaWith(t, nil, partitions, topics...)
}

// StartKafkaWith is StartKafka with broker configs, such as
// "message.max.bytes" for tests of oversized messages.
func StartKafkaWith(t testing.TB, brokerConfigs map[string]string, partitions int32, topics ...string) *Kafka {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...), kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	if brokerConfigs != nil {
		opts = append(opts, kfake.BrokerConfigs(brokerConfigs))
	}
	return StartCluster(t, opts...)
}

// StartCluster starts kfake with exactly opts (brokers, topics, group
// timings are the caller's), closed when the test ends.
func StartCluster(t testing.TB, opts ...kfake.Opt) *Kafka {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(0), kgo.ProducerBatchMaxBytes(64<<20))
	if err != nil {
		c.Close()
		t.Fatalf("kafka client: %v", err)
	}
	t.Cleanup(func() { cl.Close(); c.Close() })
	return &Kafka{Cluster: c, Brokers: c.ListenAddrs(), Client: cl, Admin: kadm.NewClient(cl)}
}

// Msg is a message to produce.
type Msg struct {
	Partition int32
	Key       []byte
	Value     []byte
	Headers   []kgo.RecordHeader
}

// Produce writes msgs to topic and waits until the broker has acknowledged
// all of them. It returns the offset each message got.
func (k *Kafka) Produce(t testing.TB, topic string, msgs []Msg) []int64 {
	t.Helper()
	recs := make([]*kgo.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = &kgo.Record{Topic: topic, Partition: m.Partition, Key: m.Key, Value: m.Value, Headers: m.Headers}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := k.Client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
	offs := make([]int64, len(recs))
	for i, r := range recs {
		offs[i] = r.Offset
	}
	return offs
}

// Committed returns the group's committed offset per partition of topic.
func (k *Kafka) Committed(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := k.Admin.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return map[int32]int64{} // nothing committed yet
	}
	if err != nil {
		t.Fatalf("fetching offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// End returns the end offset (high watermark) of each partition of topic.
func (k *Kafka) End(t testing.TB, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := k.Admin.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatalf("listing end offsets of %s: %v", topic, err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// Consume reads every record of topic from the start up to its current end.
func (k *Kafka) Consume(t testing.TB, topic string) []*kgo.Record {
	t.Helper()
	end := k.End(t, topic)
	total := int64(0)
	for _, e := range end {
		total += e
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for int64(len(out)) < total {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s", len(out), total, topic)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// Firehose is an in-process Firehose endpoint that keeps what it accepts.
type Firehose struct {
	Sim *firehosesim.Server
	URL string

	mu       sync.Mutex
	records  map[string][][]byte
	inFlight int // requests being served
	changed  chan struct{}
}

// StartFirehose serves a simulated Firehose that accepts any stream name.
func StartFirehose(t testing.TB) *Firehose {
	t.Helper()
	f := &Firehose{records: map[string][][]byte{}, changed: make(chan struct{})}
	f.Sim = firehosesim.New(firehosesim.Options{AutoCreate: true, Sink: firehosesim.SinkFunc(f.write)})
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL
	return f
}

// serve counts the requests in progress around the simulator, so that a test
// can wait for what a dead client left on the wire to land or fail.
func (f *Firehose) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.inFlight++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.notifyLocked()
		f.mu.Unlock()
	}()
	f.Sim.ServeHTTP(w, r)
}

// AwaitIdle waits until no request is being served. After a client process
// has died, what it had already sent can still land for a few milliseconds
// (a call past its simulated latency); counting records before that is a
// race.
func (f *Firehose) AwaitIdle(t testing.TB, timeout time.Duration) {
	t.Helper()
	f.Await(t, timeout, "no request in progress", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.inFlight == 0
	})
}

func (f *Firehose) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *Firehose) write(_ context.Context, stream string, recs [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range recs {
		f.records[stream] = append(f.records[stream], slices.Clone(r))
	}
	f.notifyLocked()
	return nil
}

// Records returns a copy of what stream has received, in arrival order.
func (f *Firehose) Records(stream string) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.records[stream])
}

// Total returns the number of records received over all streams.
func (f *Firehose) Total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, r := range f.records {
		n += len(r)
	}
	return n
}

// Await waits until cond holds, re-checking whenever records arrive and at
// least every 50ms (for conditions on other state), or fails the test after
// timeout.
func (f *Firehose) Await(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// Client returns an SDK Firehose client for the endpoint with retries off,
// as the worker configures its own; optFns adjust it further (the worker's
// wire protocol, for one).
func (f *Firehose) Client(optFns ...func(*firehose.Options)) *firehose.Client {
	return firehose.New(firehose.Options{
		Region:       "us-west-2",
		BaseEndpoint: aws.String(f.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer:      aws.NopRetryer{},
	}, optFns...)
}

// Env returns the environment that points a worker subprocess at f.
func (f *Firehose) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_FIREHOSE=" + f.URL,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_REGION=us-west-2",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Multiset counts records by content.
func Multiset(recs [][]byte) map[string]int {
	m := make(map[string]int, len(recs))
	for _, r := range recs {
		m[string(r)]++
	}
	return m
}

// DiffMultisets describes how got differs from want, or returns "".
func DiffMultisets(want, got map[string]int) string {
	var missing, extra, dup int
	var example string
	for k, n := range want {
		switch g := got[k]; {
		case g < n:
			missing += n - g
			if example == "" {
				example = "missing: " + trim(k)
			}
		case g > n:
			dup += g - n
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			extra += g
			if example == "" {
				example = "unexpected: " + trim(k)
			}
		}
	}
	if missing+extra+dup == 0 {
		return ""
	}
	return fmt.Sprintf("%d missing, %d duplicates, %d unexpected (%s)", missing, dup, extra, example)
}

func trim(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
