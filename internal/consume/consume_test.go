package consume_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/consume"
	"github.com/firehose-worker/firehose-worker/internal/itest"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// got is one message as the Handler saw it, copied.
type got struct {
	Offset  int64
	Key     string
	Value   string
	Headers []kafka.Header
	Time    time.Time
}

// recorder is a Handler that keeps a copy of every message and finishes it
// at once, unless hold is set, in which case it keeps the tracked message
// for the test to finish.
type recorder struct {
	hold bool

	mu      sync.Mutex
	parts   map[int][]got
	held    []*checkpoint.Message
	changed chan struct{}
}

func newRecorder() *recorder {
	return &recorder{parts: map[int][]got{}, changed: make(chan struct{}, 1)}
}

func (r *recorder) Handle(_ context.Context, c *consume.Claim, m *kafka.Message) error {
	g := got{Offset: m.Offset, Key: string(m.Key), Value: string(m.Value), Headers: slices.Clone(m.Headers), Time: m.Time}
	tm := c.Tracker.Track(m.Offset, 1, 0)
	r.mu.Lock()
	r.parts[m.Partition] = append(r.parts[m.Partition], g)
	hold := r.hold
	if hold {
		r.held = append(r.held, tm)
	}
	r.mu.Unlock()
	if !hold {
		tm.Done()
	}
	select {
	case r.changed <- struct{}{}:
	default:
	}
	return nil
}

func (r *recorder) Flush() {}

// release stops holding: it finishes every held message, and the handler
// finishes each new one at once.
func (r *recorder) release() {
	r.mu.Lock()
	held := r.held
	r.hold, r.held = false, nil
	r.mu.Unlock()
	for _, m := range held {
		m.Done()
	}
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ms := range r.parts {
		n += len(ms)
	}
	return n
}

func (r *recorder) partition(p int) []got {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.parts[p])
}

// await waits until cond holds, re-checking whenever a message arrives and
// every 50 ms (for conditions on the broker's side).
func await(t *testing.T, r *recorder, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-r.changed:
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// onMessage is a log handler that closes ch at the first record whose
// message starts with prefix.
type onMessage struct {
	prefix string
	ch     chan struct{}
	once   sync.Once
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h *onMessage) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.prefix) {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h *onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onMessage) WithGroup(string) slog.Handler      { return h }

func options(k *itest.Kafka, group string, topics ...string) consume.Options {
	return consume.Options{
		Brokers:           k.Brokers,
		GroupID:           group,
		Topics:            topics,
		StartOffset:       kafka.FirstOffset,
		CommitInterval:    50 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  6 * time.Second,
		HeartbeatInterval: 200 * time.Millisecond,
		DrainTimeout:      2 * time.Second,
		ShutdownTimeout:   2 * time.Second,
		FetchMaxWait:      100 * time.Millisecond,
		FetchMaxBytes:     1 << 20,
		OnFinish:          func(string) func(*checkpoint.Message) { return nil },
	}
}

// run starts a consumer and returns a function that stops it and waits for
// Run to return, failing the test on an error.
func run(t *testing.T, opts consume.Options, h consume.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- consume.New(opts, h).Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("Run did not return within 30s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func values(gs []got) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = g.Value
	}
	return out
}

func awaitCommitted(t *testing.T, k *itest.Kafka, r *recorder, group, topic string, want map[int32]int64) {
	t.Helper()
	await(t, r, 20*time.Second, fmt.Sprintf("committed offsets %v", want), func() bool {
		got := k.Committed(t, group, topic)
		for p, o := range want {
			if got[p] != o {
				return false
			}
		}
		return true
	})
}

func TestReadsEveryPartitionInOrderWithKeysHeadersAndTimes(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 3, "events")
	var msgs []itest.Msg
	for i := range 300 {
		msgs = append(msgs, itest.Msg{
			Partition: int32(i % 3),
			Key:       fmt.Appendf(nil, "key-%d", i),
			Value:     fmt.Appendf(nil, `{"n":%d}`, i),
			Headers:   []kgo.RecordHeader{{Key: "traceparent", Value: fmt.Appendf(nil, "tp-%d", i)}},
		})
	}
	before := time.Now().Add(-time.Second)
	k.Produce(t, "events", msgs)
	r := newRecorder()
	run(t, options(k, "g", "events"), r)
	await(t, r, 20*time.Second, "300 messages", func() bool { return r.count() == 300 })
	for p := range 3 {
		gs := r.partition(p)
		if len(gs) != 100 {
			t.Fatalf("partition %d: %d messages, want 100", p, len(gs))
		}
		for j, g := range gs {
			i := j*3 + p
			if g.Offset != int64(j) || g.Value != fmt.Sprintf(`{"n":%d}`, i) || g.Key != fmt.Sprintf("key-%d", i) {
				t.Fatalf("partition %d message %d: got offset %d key %q value %q", p, j, g.Offset, g.Key, g.Value)
			}
			if len(g.Headers) != 1 || g.Headers[0].Key != "traceparent" || string(g.Headers[0].Value) != fmt.Sprintf("tp-%d", i) {
				t.Fatalf("partition %d message %d: headers %v", p, j, g.Headers)
			}
			if g.Time.Before(before) || g.Time.After(time.Now()) {
				t.Fatalf("partition %d message %d: timestamp %v is not the produce time", p, j, g.Time)
			}
		}
	}
	awaitCommitted(t, k, r, "g", "events", map[int32]int64{0: 100, 1: 100, 2: 100})
}

func TestCompressedBatchesStartingMidBatch(t *testing.T) {
	t.Parallel()
	codecs := map[string]kgo.CompressionCodec{
		"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k := itest.StartKafka(t, 1, "events")
			prod, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers...), kgo.ProducerBatchCompression(codec),
				kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			var recs []*kgo.Record
			for i := range 200 {
				// Repetitive values compress well, so a batch holds many.
				recs = append(recs, &kgo.Record{Topic: "events", Value: bytes.Repeat(fmt.Appendf(nil, "%04d", i), 50)})
			}
			if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			// The group resumes at 37, inside the first compressed batch:
			// the broker returns the batch from its start, and nothing
			// before 37 may reach the handler.
			commit := kadm.Offsets{}
			commit.Add(kadm.Offset{Topic: "events", Partition: 0, At: 37, LeaderEpoch: -1})
			if _, err := k.Admin.CommitOffsets(context.Background(), "g-"+name, commit); err != nil {
				t.Fatal(err)
			}
			r := newRecorder()
			run(t, options(k, "g-"+name, "events"), r)
			await(t, r, 20*time.Second, "163 messages", func() bool { return r.count() == 163 })
			gs := r.partition(0)
			for j, g := range gs {
				if want := string(bytes.Repeat(fmt.Appendf(nil, "%04d", j+37), 50)); g.Offset != int64(j+37) || g.Value != want {
					t.Fatalf("message %d: offset %d, value %.12q..., want offset %d", j, g.Offset, g.Value, j+37)
				}
			}
			awaitCommitted(t, k, r, "g-"+name, "events", map[int32]int64{0: 200})
		})
	}
}

func TestTransactionMarkersAreSkippedAndCommittedPast(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	prod, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers...), kgo.TransactionalID("tx"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx := context.Background()
	for tx := range 3 {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			prod.Produce(ctx, &kgo.Record{Topic: "events", Value: fmt.Appendf(nil, "tx%d-%d", tx, i)}, nil)
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	end := k.End(t, "events")[0] // 15 messages and 3 commit markers
	if end != 18 {
		t.Fatalf("end offset %d, want 18 (15 messages, 3 markers)", end)
	}
	r := newRecorder()
	run(t, options(k, "g", "events"), r)
	await(t, r, 20*time.Second, "15 messages", func() bool { return r.count() == 15 })
	want := []string{}
	for tx := range 3 {
		for i := range 5 {
			want = append(want, fmt.Sprintf("tx%d-%d", tx, i))
		}
	}
	if got := values(r.partition(0)); !slices.Equal(got, want) {
		t.Fatalf("values %v, want %v", got, want)
	}
	// The last marker is no message, but the committed offset passes it:
	// otherwise the group would show a lag of one forever.
	awaitCommitted(t, k, r, "g", "events", map[int32]int64{0: 18})
}

func TestCompactedTopicOffsetGaps(t *testing.T) {
	t.Parallel()
	k := itest.StartCluster(t, kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	c, cl, adm := k.Cluster, k.Client, k.Admin
	ctx := context.Background()
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "users"); err != nil {
		t.Fatal(err)
	}
	// Keys a, b, c written three times each: compaction keeps the last of
	// each, offsets 6, 7 and 8, and leaves a gap before them.
	for round := range 3 {
		for _, key := range []string{"a", "b", "c"} {
			r := &kgo.Record{Topic: "users", Key: []byte(key), Value: fmt.Appendf(nil, "%s-%d", key, round)}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.Compact()
	// franz-go's own reading of the compacted log is the reference.
	var wantOffs []int64
	var wantVals []string
	ref, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("users"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for len(wantOffs) == 0 || wantOffs[len(wantOffs)-1] != 8 {
		fs := ref.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("franz-go read offsets %v of the compacted log, not up to 8", wantOffs)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			wantOffs = append(wantOffs, rec.Offset)
			wantVals = append(wantVals, string(rec.Value))
		})
	}
	if len(wantOffs) == 9 || wantOffs[len(wantOffs)-1] != 8 {
		t.Fatalf("compaction left offsets %v: no gap to test", wantOffs)
	}
	r := newRecorder()
	run(t, options(k, "g", "users"), r)
	await(t, r, 20*time.Second, "the compacted messages", func() bool {
		gs := r.partition(0)
		return len(gs) > 0 && gs[len(gs)-1].Offset == 8
	})
	gs := r.partition(0)
	var offs []int64
	for _, g := range gs {
		offs = append(offs, g.Offset)
	}
	if !slices.Equal(offs, wantOffs) || !slices.Equal(values(gs), wantVals) {
		t.Fatalf("read offsets %v values %v, want %v %v", offs, values(gs), wantOffs, wantVals)
	}
	awaitCommitted(t, k, r, "g", "users", map[int32]int64{0: 9})
}

func TestOffsetOutOfRangeAppliesStartOffset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start int64
		want  []string
	}{
		{"earliest", kafka.FirstOffset, []string{"m5", "m6", "m7", "m8", "m9"}},
		{"latest", kafka.LastOffset, []string{"late"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k := itest.StartKafka(t, 1, "events")
			var msgs []itest.Msg
			for i := range 10 {
				msgs = append(msgs, itest.Msg{Value: fmt.Appendf(nil, "m%d", i)})
			}
			k.Produce(t, "events", msgs)
			ctx := context.Background()
			// Records below 5 are deleted, and the group's committed offset,
			// 2, now points at nothing.
			del := kadm.Offsets{}
			del.Add(kadm.Offset{Topic: "events", Partition: 0, At: 5})
			if _, err := k.Admin.DeleteRecords(ctx, del); err != nil {
				t.Fatal(err)
			}
			commit := kadm.Offsets{}
			commit.Add(kadm.Offset{Topic: "events", Partition: 0, At: 2, LeaderEpoch: -1})
			if _, err := k.Admin.CommitOffsets(ctx, "g", commit); err != nil {
				t.Fatal(err)
			}
			r := newRecorder()
			opts := options(k, "g", "events")
			opts.StartOffset = tc.start
			reset := make(chan struct{})
			opts.Logger = slog.New(&onMessage{prefix: "offset out of range", ch: reset})
			run(t, opts, r)
			select {
			case <-reset:
			case <-time.After(20 * time.Second):
				t.Fatal("no offset-out-of-range reset was logged")
			}
			if tc.start == kafka.LastOffset {
				// Reading goes on from the end: only what comes later arrives.
				k.Produce(t, "events", []itest.Msg{{Value: []byte("late")}})
			}
			await(t, r, 20*time.Second, fmt.Sprintf("%d messages", len(tc.want)), func() bool { return r.count() == len(tc.want) })
			if got := values(r.partition(0)); !slices.Equal(got, tc.want) {
				t.Fatalf("values %v, want %v", got, tc.want)
			}
		})
	}
}

func TestMessageLargerThanTheFetchSize(t *testing.T) {
	t.Parallel()
	k := itest.StartKafkaWith(t, map[string]string{"message.max.bytes": fmt.Sprint(8 << 20)}, 1, "events")
	big := bytes.Repeat([]byte("x"), 3<<20)
	k.Produce(t, "events", []itest.Msg{{Value: []byte("small")}, {Value: big}, {Value: []byte("after")}})
	r := newRecorder()
	opts := options(k, "g", "events")
	opts.FetchMaxBytes = 64 << 10
	run(t, opts, r)
	await(t, r, 20*time.Second, "3 messages", func() bool { return r.count() == 3 })
	gs := r.partition(0)
	if gs[0].Value != "small" || gs[1].Value != string(big) || gs[2].Value != "after" {
		t.Fatalf("got values of lengths %d, %d, %d", len(gs[0].Value), len(gs[1].Value), len(gs[2].Value))
	}
}

func TestReadAheadIsBoundedPerPartition(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "events")
	var msgs []itest.Msg
	for i := range 100 {
		msgs = append(msgs, itest.Msg{Partition: int32(i % 2), Value: fmt.Appendf(nil, "m%d", i)})
	}
	k.Produce(t, "events", msgs)
	r := newRecorder()
	r.hold = true
	opts := options(k, "g", "events")
	opts.MaxPending = 7
	run(t, opts, r)
	await(t, r, 20*time.Second, "7 messages per partition", func() bool {
		return len(r.partition(0)) == 7 && len(r.partition(1)) == 7
	})
	// Each partition had 50 messages fetched at once: had the window not
	// held, the handler would have seen them all, not stopped at 7.
	if n := r.count(); n != 14 {
		t.Fatalf("%d messages read with a window of 7 on 2 partitions", n)
	}
	r.release()
	await(t, r, 20*time.Second, "every message", func() bool { return r.count() == 100 })
	awaitCommitted(t, k, r, "g", "events", map[int32]int64{0: 50, 1: 50})
}

// TestOneFetchCarriesEveryPartitionOfABroker checks the shape of the fetch
// path: the partitions a broker leads are asked for in one request, so an
// idle worker's requests do not grow with its partitions.
func TestOneFetchCarriesEveryPartitionOfABroker(t *testing.T) {
	t.Parallel()
	const partitions = 64
	k := itest.StartKafka(t, partitions, "events")
	var mu sync.Mutex
	widest := 0
	k.Cluster.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		n := 0
		for _, t := range req.(*kmsg.FetchRequest).Topics {
			n += len(t.Partitions)
		}
		mu.Lock()
		widest = max(widest, n)
		mu.Unlock()
		return nil, nil, false
	})
	var msgs []itest.Msg
	for i := range partitions {
		msgs = append(msgs, itest.Msg{Partition: int32(i), Value: fmt.Appendf(nil, "m%d", i)})
	}
	k.Produce(t, "events", msgs)
	r := newRecorder()
	run(t, options(k, "g", "events"), r)
	await(t, r, 20*time.Second, "a message from every partition", func() bool { return r.count() == partitions })
	awaitCommitted(t, k, r, "g", "events", map[int32]int64{0: 1, partitions - 1: 1})
	mu.Lock()
	defer mu.Unlock()
	if widest != partitions {
		t.Fatalf("the widest fetch asked for %d partitions, want all %d in one request", widest, partitions)
	}
}

func TestLeaderMovesToAnotherBroker(t *testing.T) {
	t.Parallel()
	k := itest.StartCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(2, "events"), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	c := k.Cluster
	produce := func(from, to int) {
		var msgs []itest.Msg
		for i := from; i < to; i++ {
			msgs = append(msgs, itest.Msg{Partition: int32(i % 2), Value: fmt.Appendf(nil, "m%d", i)})
		}
		k.Produce(t, "events", msgs)
	}
	produce(0, 100)
	r := newRecorder()
	run(t, options(k, "g", "events"), r)
	await(t, r, 20*time.Second, "100 messages", func() bool { return r.count() == 100 })
	for p := range int32(2) {
		next := (c.LeaderFor("events", p) + 1) % 3
		if err := c.MoveTopicPartition("events", p, next); err != nil {
			t.Fatal(err)
		}
	}
	produce(100, 200)
	await(t, r, 30*time.Second, "200 messages", func() bool { return r.count() == 200 })
	for p := range 2 {
		gs := r.partition(p)
		for j, g := range gs {
			if g.Offset != int64(j) {
				t.Fatalf("partition %d: message %d has offset %d: a message was lost or repeated across the move", p, j, g.Offset)
			}
		}
	}
	awaitCommitted(t, k, r, "g", "events", map[int32]int64{0: 100, 1: 100})
}

// blockingHandler tracks each message and then waits for its context, as
// the pipeline does when its source's memory share is full.
type blockingHandler struct{ entered chan struct{} }

func (h *blockingHandler) Handle(ctx context.Context, c *consume.Claim, m *kafka.Message) error {
	c.Tracker.Track(m.Offset, 1, 0)
	select {
	case h.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *blockingHandler) Flush() {}

func TestRunReturnsPromptlyWhileTheHandlerWaits(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 4, "events")
	var msgs []itest.Msg
	for i := range 40 {
		msgs = append(msgs, itest.Msg{Partition: int32(i % 4), Value: fmt.Appendf(nil, "m%d", i)})
	}
	k.Produce(t, "events", msgs)
	h := &blockingHandler{entered: make(chan struct{}, 1)}
	opts := options(k, "g", "events")
	opts.DrainTimeout, opts.ShutdownTimeout = 500*time.Millisecond, 500*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- consume.New(opts, h).Run(ctx) }()
	select {
	case <-h.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("no message reached the handler")
	}
	cancel()
	// The unfinished messages hold the drain for ShutdownTimeout; then the
	// worker commits what is finished (nothing) and leaves: well within
	// the bound below, which only catches a fetch loop or a worker that
	// ignores its context.
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending while the handler waited")
	}
	for p, off := range k.Committed(t, "g", "events") {
		if off != 0 {
			t.Fatalf("partition %d committed at %d although no message finished", p, off)
		}
	}
}

// TestLagFromFetchResponses checks the lag gauge: end offset minus the
// committed offset, with the end offsets taken from fetch responses (and
// from the brokers only for partitions no fetch asked for lately).
func TestLagFromFetchResponses(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "events")
	var msgs []itest.Msg
	for i := range 30 {
		msgs = append(msgs, itest.Msg{Partition: int32(i % 2), Value: fmt.Appendf(nil, "m%d", i)})
	}
	k.Produce(t, "events", msgs)
	r := newRecorder()
	r.hold = true // nothing finishes: the committed offsets stay at 0
	opts := options(k, "g", "events")
	opts.Metrics = telemetry.Discard()
	opts.LagInterval = 200 * time.Millisecond
	run(t, opts, r)
	await(t, r, 20*time.Second, "a lag of 15 on each partition", func() bool {
		for p := range 2 {
			if f, ok := opts.Metrics.Partitions.Get("events", p); !ok || f.Lag != 15 {
				return false
			}
		}
		return true
	})
	r.release()
	await(t, r, 20*time.Second, "no lag once everything finished", func() bool {
		for p := range 2 {
			if f, ok := opts.Metrics.Partitions.Get("events", p); !ok || f.Lag != 0 || f.Committed != 15 {
				return false
			}
		}
		return true
	})
}

// sliceKeeper keeps the Handler's value slices themselves, not copies.
type sliceKeeper struct {
	mu   sync.Mutex
	kept [][]byte
	done chan struct{}
	n    int
}

func (h *sliceKeeper) Handle(_ context.Context, c *consume.Claim, m *kafka.Message) error {
	c.Tracker.Track(m.Offset, 1, 0).Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.kept = append(h.kept, m.Value)
	if len(h.kept) == h.n {
		close(h.done)
	}
	return nil
}

func (h *sliceKeeper) Flush() {}

// A topic KeepsAll names hands over values with memory of their own: kept
// without a copy, they are still the messages once the consumer has moved
// on (race builds, which make test uses, scrub reused memory, so without
// KeepsAll this test sees 0xff bytes there).
func TestKeepsAllTopicsValuesAreTheMessagesOwn(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "kept")
	var msgs []itest.Msg
	for i := range 400 {
		msgs = append(msgs, itest.Msg{Partition: int32(i % 2), Value: fmt.Appendf(nil, `{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%300))})
	}
	k.Produce(t, "kept", msgs)
	opts := options(k, "g-kept", "kept")
	opts.KeepsAll = func(topic string) bool { return topic == "kept" }
	h := &sliceKeeper{done: make(chan struct{}), n: len(msgs)}
	stop := run(t, opts, h)
	select {
	case <-h.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d of %d messages in 20 s", len(h.kept), h.n)
	}
	stop()
	want := map[string]bool{}
	for _, m := range msgs {
		want[string(m.Value)] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range h.kept {
		if !want[string(v)] {
			t.Fatalf("a kept value changed after Handle: %q", v)
		}
		delete(want, string(v))
	}
}

// keeper keeps every every-th message with Claim.Keep and notes whether
// Keep had to copy it; handled is poked after each message.
type keeper struct {
	every   int
	handled chan struct{}

	mu     sync.Mutex
	n      int
	kept   [][]byte
	copied []bool
}

func (h *keeper) Handle(_ context.Context, c *consume.Claim, m *kafka.Message) error {
	c.Tracker.Track(m.Offset, 1, 0).Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	defer func() {
		select {
		case h.handled <- struct{}{}:
		default:
		}
	}()
	h.n++
	if h.n%h.every != 0 {
		return nil
	}
	before := &m.Value[0]
	c.Keep(m)
	h.kept = append(h.kept, m.Value)
	h.copied = append(h.copied, &m.Value[0] != before)
	return nil
}

func (h *keeper) Flush() {}

func (h *keeper) seen() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// A partition whose Handler kept most messages of a response gets the next
// ones in memory of their own, which Keep then leaves where it is; one that
// keeps few stays on shared slabs, from which Keep copies. Either way every
// kept value stays the message's after the consumer has moved on (race
// builds scrub released slabs).
func TestKeepingMostMessagesStopsTheSecondCopy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		every int
		// wantCopy says whether Keep must have copied the i-th kept
		// value of the 2×200 produced; ok false leaves it open.
		wantCopy func(i int) (copied, ok bool)
	}{
		// The first message comes before anything was kept; the first
		// round may span responses; every response of the second follows
		// one whose messages were all kept.
		{"keeps all", 1, func(i int) (bool, bool) { return i == 0, i == 0 || i >= 200 }},
		{"keeps a tenth", 10, func(int) (bool, bool) { return true, true }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			topic := "keep-" + strings.ReplaceAll(c.name, " ", "-")
			k := itest.StartKafka(t, 1, topic)
			h := &keeper{every: c.every, handled: make(chan struct{}, 1)}
			stop := run(t, options(k, "g-"+topic, topic), h)
			var want []string
			for round := range 2 {
				var msgs []itest.Msg
				for i := range 200 {
					v := fmt.Sprintf(`{"round":%d,"n":%d}`, round, i)
					msgs = append(msgs, itest.Msg{Value: []byte(v)})
					if (round*200+i+1)%c.every == 0 {
						want = append(want, v)
					}
				}
				k.Produce(t, topic, msgs)
				timeout := time.After(20 * time.Second)
				for h.seen() < (round+1)*200 {
					select {
					case <-h.handled:
					case <-timeout:
						t.Fatalf("%d of %d messages in 20 s", h.seen(), (round+1)*200)
					}
				}
			}
			stop()
			h.mu.Lock()
			defer h.mu.Unlock()
			for i, v := range h.kept {
				if string(v) != want[i] {
					t.Fatalf("kept value %d is %q after the consumer moved on, want %q", i, v, want[i])
				}
				if copied, ok := c.wantCopy(i); ok && h.copied[i] != copied {
					t.Fatalf("kept value %d (%q): copied %v, want %v", i, v, h.copied[i], copied)
				}
			}
		})
	}
}

// gate is a Handler that holds partition 0's messages until open is
// closed and finishes every other message at once.
type gate struct {
	open    chan struct{}
	entered chan struct{} // closed at partition 0's first message
	once    sync.Once
	mu      sync.Mutex
	counts  map[int]int
	changed chan struct{}
}

func (g *gate) Handle(ctx context.Context, c *consume.Claim, m *kafka.Message) error {
	if m.Partition == 0 {
		g.once.Do(func() { close(g.entered) })
		select {
		case <-g.open:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.Tracker.Track(m.Offset, 1, 0).Done()
	g.mu.Lock()
	g.counts[m.Partition]++
	g.mu.Unlock()
	select {
	case g.changed <- struct{}{}:
	default:
	}
	return nil
}

func (g *gate) Flush() {}

func (g *gate) count(p int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.counts[p]
}

// TestBudgetFreedByOneBrokerWakesTheOthers: a topic's read-ahead budget is
// shared by the fetch loops of every broker leading its partitions. With
// partition 0 (on one broker) holding the whole budget, the loop of
// partition 1 (on the other) has nothing it may ask for and waits; when
// partition 0's messages are handled, the budget they free must wake it,
// although no worker of its own had anything to hand back.
func TestBudgetFreedByOneBrokerWakesTheOthers(t *testing.T) {
	t.Parallel()
	k := itest.StartCluster(t, kfake.NumBrokers(2), kfake.SeedTopics(2, "events"), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	c := k.Cluster
	if a, b := c.LeaderFor("events", 0), c.LeaderFor("events", 1); a == b {
		if err := c.MoveTopicPartition("events", 1, (a+1)%2); err != nil {
			t.Fatal(err)
		}
	}
	value := bytes.Repeat([]byte("v"), 100<<10)
	batches := func(p int32, n, each int) {
		for range n { // one produce per batch, so reading them takes several fetches
			var msgs []itest.Msg
			for range each {
				msgs = append(msgs, itest.Msg{Partition: p, Value: value})
			}
			k.Produce(t, "events", msgs)
		}
	}
	batches(0, 4, 5) // 2 MB: twice the budget
	g := &gate{open: make(chan struct{}), entered: make(chan struct{}), counts: map[int]int{}, changed: make(chan struct{}, 1)}
	opts := options(k, "g", "events")
	opts.FetchMaxBytes = 1 << 20
	run(t, opts, g)
	select {
	case <-g.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("partition 0's first message never reached the handler")
	}
	batches(1, 6, 5) // 3 MB, arriving while partition 0 holds the budget
	close(g.open)
	// Every handled message signals changed after it is counted (a signal
	// already pending stands for it), so no count goes unseen.
	deadline := time.After(20 * time.Second)
	for g.count(0) < 20 || g.count(1) < 30 {
		select {
		case <-g.changed:
		case <-deadline:
			t.Fatalf("handled %d of partition 0's 20 messages and %d of partition 1's 30 within 20s of partition 0's release", g.count(0), g.count(1))
		}
	}
}
