package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
	"github.com/firehose-worker/firehose-worker/internal/itest"
	"github.com/firehose-worker/firehose-worker/internal/pipeline"
)

// testConfig is a config with timings short enough for tests.
func testConfig(brokers []string, group string, topics ...string) *config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.GroupID = group
	cfg.Kafka.CommitInterval = config.Duration(50 * time.Millisecond)
	cfg.Kafka.HeartbeatInterval = config.Duration(200 * time.Millisecond)
	cfg.Kafka.SessionTimeout = config.Duration(3 * time.Second)
	cfg.Kafka.RebalanceTimeout = config.Duration(5 * time.Second)
	cfg.Kafka.DrainTimeout = config.Duration(2 * time.Second)
	cfg.Kafka.FetchMaxWait = config.Duration(50 * time.Millisecond)
	cfg.Batch.Linger = config.Duration(20 * time.Millisecond)
	cfg.Delivery.Backoff.Initial = config.Duration(2 * time.Millisecond)
	cfg.Delivery.Backoff.Max = config.Duration(50 * time.Millisecond)
	cfg.ShutdownTimeout = config.Duration(10 * time.Second)
	cfg.HTTP.Address = ""
	cfg.Sources = []config.Source{{
		ID: "src_1", Topics: topics, Region: "us-west-2", Routing: config.RoutingAll,
		MappedStreams: []config.Mapping{
			{Event: "User Registered", Stream: "new_users"},
			{Event: "page", Stream: "pages"},
			{Event: "*", Stream: "everything"},
		},
	}}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &cfg
}

type running struct {
	p      *pipeline.Pipeline
	cancel context.CancelFunc
	done   chan error
	claims chan []string
}

// startBench runs a pipeline for a benchmark and returns its stop function.
func startBench(b *testing.B, cfg *config.Config, fh *itest.Firehose) func() {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{
		Clients: func(context.Context, config.Source) (delivery.PutRecordBatcher, error) {
			return fh.Client(delivery.UseWireProtocol), nil
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return func() { cancel(); <-done }
}

func start(t *testing.T, cfg *config.Config, fh *itest.Firehose) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), claims: make(chan []string, 100)}
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Clients: func(context.Context, config.Source) (delivery.PutRecordBatcher, error) {
			return fh.Client(delivery.UseWireProtocol), nil
		},
		Status: func(claims []string) { r.claims <- claims },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends the pipeline gracefully and waits for it.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("pipeline: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop within 30s")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// event is a generated message and where it must go.
type event struct {
	value   []byte // as produced
	record  string // what Firehose must receive
	streams []string
}

// events builds n messages covering every type, track names in varied case,
// pretty-printed values, unicode, big numbers and integrations objects.
func events(n int, seed string) []event {
	types := []string{"track", "page", "identify", "group", "screen", "alias", "track", "track"}
	names := []string{"User Registered", "user registered", "USER REGISTERED", "Order Completed", "Signed In", "Ünïcode 🎉 Évent"}
	out := make([]event, 0, n)
	for i := range n {
		typ := types[i%len(types)]
		var b strings.Builder
		fmt.Fprintf(&b, `{"type":%q,"messageId":"%s-%d"`, typ, seed, i)
		name := ""
		if typ == "track" {
			name = names[i%len(names)]
			fmt.Fprintf(&b, `,"event":%q`, name)
		}
		fmt.Fprintf(&b, `,"userId":"u%d","properties":{"big":12345678901234567890123,"ratio":1.50e-7,"nested":{"list":[1,"two",{"three":null}],"text":"caf\u00e9 \"q\" 日本"}}`, i%97)
		if i%11 == 0 {
			b.WriteString(`,"integrations":{"All":true,"Mixpanel":false}`)
		}
		b.WriteString(`,"timestamp":"2026-11-25T10:00:00.000Z"}`)
		compact := b.String()
		value := []byte(compact)
		if i%5 == 0 {
			var pretty bytes.Buffer
			if err := json.Indent(&pretty, value, "", "  "); err != nil {
				panic(err)
			}
			value = pretty.Bytes()
		}
		streams := []string{"everything"}
		if typ == "page" {
			streams = append(streams, "pages")
		}
		if typ == "track" && strings.EqualFold(name, "user registered") {
			streams = append(streams, "new_users")
		}
		out = append(out, event{value: value, record: compact + "\n", streams: streams})
	}
	return out
}

func produce(t *testing.T, k *itest.Kafka, topic string, partitions int32, evs []event) {
	t.Helper()
	msgs := make([]itest.Msg, len(evs))
	for i, e := range evs {
		msgs[i] = itest.Msg{Partition: int32(i) % partitions, Key: fmt.Appendf(nil, "k%d", i), Value: e.value}
	}
	k.Produce(t, topic, msgs)
}

func expected(evs []event) map[string]map[string]int {
	want := map[string]map[string]int{}
	for _, e := range evs {
		for _, s := range e.streams {
			if want[s] == nil {
				want[s] = map[string]int{}
			}
			want[s][e.record]++
		}
	}
	return want
}

func count(want map[string]map[string]int) int {
	n := 0
	for _, m := range want {
		for _, c := range m {
			n += c
		}
	}
	return n
}

// awaitCommitted waits until the group has committed the end of every
// partition of topic.
func awaitCommitted(t *testing.T, k *itest.Kafka, fh *itest.Firehose, group, topic string) {
	t.Helper()
	end := k.End(t, topic)
	fh.Await(t, 30*time.Second, "offsets committed to the end", func() bool {
		c := k.Committed(t, group, topic)
		for p, e := range end {
			if c[p] != e {
				return false
			}
		}
		return true
	})
}

func checkDelivered(t *testing.T, fh *itest.Firehose, want map[string]map[string]int) {
	t.Helper()
	for stream, w := range want {
		if d := itest.DiffMultisets(w, itest.Multiset(fh.Records(stream))); d != "" {
			t.Errorf("stream %s: %s", stream, d)
		}
	}
}

func TestDeliversEveryEventToEachMappedStreamExactly(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 4, "events")
	fh := itest.StartFirehose(t)
	evs := events(3000, "exact")
	produce(t, k, "events", 4, evs)
	want := expected(evs)
	start(t, testConfig(k.Brokers, "g-exact", "events"), fh)

	fh.Await(t, 30*time.Second, "every record", func() bool { return fh.Total() >= count(want) })
	awaitCommitted(t, k, fh, "g-exact", "events")
	checkDelivered(t, fh, want)
	for _, r := range fh.Records("everything") {
		if bytes.Count(r, []byte("\n")) != 1 || r[len(r)-1] != '\n' {
			t.Fatalf("record does not end in exactly one newline: %q", r)
		}
	}
}

func TestPartialFailuresResendOnlyFailedRecords(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 3, "events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().FailRecords(firehosesim.RecordFault{Fraction: 0.3, Code: "ServiceUnavailableException"})
	fh.Sim.Faults().FailRecords(firehosesim.RecordFault{Every: 7, Code: "InternalFailure"})
	evs := events(2000, "partial")
	produce(t, k, "events", 3, evs)
	want := expected(evs)
	start(t, testConfig(k.Brokers, "g-partial", "events"), fh)

	fh.Await(t, 60*time.Second, "every record", func() bool { return fh.Total() >= count(want) })
	awaitCommitted(t, k, fh, "g-partial", "events")
	checkDelivered(t, fh, want) // reports any duplicate
	st := fh.Sim.Stats()
	if st.Calls.Partial == 0 {
		t.Errorf("no partial failures were injected: %+v", st.Calls)
	}
}

func TestThrottledCallsAreRetriedAndCommitsNeverPassUnacknowledged(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().Block()
	evs := events(400, "block")
	produce(t, k, "events", 2, evs)
	want := expected(evs)
	r := start(t, testConfig(k.Brokers, "g-block", "events"), fh)
	<-r.claims

	// While every call is throttled, nothing may be committed.
	fh.Await(t, 20*time.Second, "throttled calls", func() bool { return fh.Sim.Stats().Calls.Throttled >= 20 })
	for p, off := range k.Committed(t, "g-block", "events") {
		if off > 0 {
			t.Fatalf("partition %d committed to %d while Firehose acknowledged nothing", p, off)
		}
	}

	// Then with half the calls throttled, every commit must stay behind what
	// the sink holds: a committed offset implies every message before it was
	// acknowledged in all its streams.
	fh.Sim.Faults().Unblock()
	fh.Sim.Faults().SetThrottleProbability(0.5)
	byPartition := map[int32][]event{}
	for i, e := range evs {
		byPartition[int32(i%2)] = append(byPartition[int32(i%2)], e)
	}
	check := func() bool {
		committed := k.Committed(t, "g-block", "events")
		got := map[string]map[string]int{}
		for _, s := range []string{"everything", "pages", "new_users"} {
			got[s] = itest.Multiset(fh.Records(s))
		}
		for p, off := range committed {
			for _, e := range byPartition[p][:off] {
				for _, s := range e.streams {
					if got[s][e.record] == 0 {
						t.Fatalf("partition %d committed to %d but a message below it is not in %s", p, off, s)
					}
				}
			}
		}
		return fh.Total() >= count(want)
	}
	fh.Await(t, 60*time.Second, "every record under throttling", check)
	awaitCommitted(t, k, fh, "g-block", "events")
	checkDelivered(t, fh, want)
}

func TestUndeliverableMessagesAreSkippedAndThePartitionMoves(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	fh := itest.StartFirehose(t)
	bad := [][]byte{nil, []byte("not json"), []byte(`{"type":7}`), []byte(`[1,2]`), []byte("{\"type\":\"page\",\"x\":\"\xff\"}"),
		[]byte(`{"type":"page","p":"` + strings.Repeat("x", config.MaxRecordBytes) + `"}`)}
	good := events(10, "skip")
	var msgs []itest.Msg
	for i := range good {
		msgs = append(msgs, itest.Msg{Value: good[i].value})
		if i < len(bad) {
			msgs = append(msgs, itest.Msg{Value: bad[i]})
		}
	}
	k.Produce(t, "events", msgs)
	want := expected(good)
	start(t, testConfig(k.Brokers, "g-skip", "events"), fh)
	fh.Await(t, 30*time.Second, "every good record", func() bool { return fh.Total() >= count(want) })
	awaitCommitted(t, k, fh, "g-skip", "events")
	checkDelivered(t, fh, want)
}

func TestDeadLetterTopicReceivesUndeliverableWithReasons(t *testing.T) {
	t.Parallel()
	// With a "*" row the consumer gives every value memory of its own;
	// without one it reuses their memory and the pipeline copies what it
	// keeps (consume.Options.KeepsAll): both must dead-letter the originals.
	t.Run("wildcard row", func(t *testing.T) {
		t.Parallel()
		testDeadLetters(t, nil)
	})
	t.Run("no wildcard row", func(t *testing.T) {
		t.Parallel()
		testDeadLetters(t, []config.Mapping{{Event: "page", Stream: "pages"}, {Event: "page", Stream: "everything"}, {Event: "track", Stream: "everything"}})
	})
}

func testDeadLetters(t *testing.T, rows []config.Mapping) {
	k := itest.StartKafka(t, 1, "events", "dlq")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().RejectStream("pages", "ResourceNotFoundException", "Stream pages not found")
	msgs := []itest.Msg{
		{Key: []byte("k1"), Value: []byte("not json")},
		{Key: []byte("k2"), Value: []byte(`{"type":"page","messageId":"p1"}`)},
		{Key: []byte("k3"), Value: []byte(`{"type":"track","event":"x","messageId":"t1"}`)},
	}
	k.Produce(t, "events", msgs)
	cfg := testConfig(k.Brokers, "g-dlq", "events")
	cfg.Kafka.DLQTopic = "dlq"
	if rows != nil {
		cfg.Sources[0].MappedStreams = rows
	}
	start(t, cfg, fh)
	awaitCommitted(t, k, fh, "g-dlq", "events")

	recs := k.Consume(t, "dlq")
	got := map[string]map[string]string{}
	for _, r := range recs {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		got[string(r.Key)] = h
		if want := msgs[int(r.Key[1]-'1')].Value; !bytes.Equal(r.Value, want) {
			t.Errorf("dead letter %s value = %q, want the original %q", r.Key, r.Value, want)
		}
	}
	if len(recs) != 2 {
		t.Fatalf("%d dead letters, want 2 (not json, rejected page): %v", len(recs), got)
	}
	if h := got["k1"]; h["dlq.reason"] != "not_json" || h["dlq.source.topic"] != "events" || h["dlq.source.offset"] != "0" || h["dlq.source.id"] != "src_1" {
		t.Errorf("not-json headers: %v", h)
	}
	if h := got["k2"]; h["dlq.reason"] != "firehose_rejected" || h["dlq.stream"] != "pages" || h["dlq.firehose.error_code"] != "ResourceNotFoundException" || h["dlq.source.offset"] != "1" {
		t.Errorf("rejected headers: %v", h)
	}
	// The page also went to "everything", which accepted it.
	if d := itest.DiffMultisets(map[string]int{"{\"type\":\"page\",\"messageId\":\"p1\"}\n": 1, "{\"type\":\"track\",\"event\":\"x\",\"messageId\":\"t1\"}\n": 1},
		itest.Multiset(fh.Records("everything"))); d != "" {
		t.Errorf("everything: %s", d)
	}
}

func TestTwoWorkersSplitPartitionsAndHandOverWithoutLoss(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 6, "events")
	fh := itest.StartFirehose(t)
	cfg := testConfig(k.Brokers, "g-two", "events")
	a := start(t, cfg, fh)
	b := start(t, cfg, fh)

	// Wait until a generation gives each worker a share.
	var ca, cb []string
	deadline := time.After(30 * time.Second)
	for len(ca) == 0 || len(cb) == 0 || len(ca)+len(cb) != 6 {
		select {
		case ca = <-a.claims:
		case cb = <-b.claims:
		case <-deadline:
			t.Fatalf("partitions never split: a=%v b=%v", ca, cb)
		}
	}
	evs := events(3000, "two")
	var wg sync.WaitGroup
	wg.Go(func() { produce(t, k, "events", 6, evs[:1500]) })
	wg.Wait()
	fh.Await(t, 30*time.Second, "first half", func() bool { return fh.Total() >= count(expected(evs[:1500])) })
	// b leaves gracefully; a takes over all partitions.
	b.stop(t)
	produce(t, k, "events", 6, evs[1500:])
	want := expected(evs)
	fh.Await(t, 60*time.Second, "every record", func() bool { return fh.Total() >= count(want) })
	awaitCommitted(t, k, fh, "g-two", "events")
	checkDelivered(t, fh, want) // a graceful hand-over must not duplicate
}

func TestMemoryCapStopsFetchingWhileFirehoseIsBlocked(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().Block()
	// 4,000 messages of ~2 KB: 8 MB, four times the cap below.
	evs := make([]event, 4000)
	pad := strings.Repeat("x", 2000)
	for i := range evs {
		v := fmt.Sprintf(`{"type":"page","messageId":"cap-%d","pad":%q}`, i, pad)
		evs[i] = event{value: []byte(v), record: v + "\n", streams: []string{"everything", "pages"}}
	}
	produce(t, k, "events", 2, evs)
	cfg := testConfig(k.Brokers, "g-cap", "events")
	cfg.Memory.MaxBufferedBytes = 2 * config.MaxRecordBytes
	r := start(t, cfg, fh)

	fh.Await(t, 20*time.Second, "throttled calls", func() bool { return fh.Sim.Stats().Calls.Throttled >= 10 })
	// Each message holds its record (~2 KB) until delivered; with no
	// dead-letter topic the Kafka value is not kept.
	limit := int64(cfg.Memory.MaxBufferedBytes) / 2000
	if got := r.p.Stats().Consumed; got > limit+1 {
		t.Fatalf("consumed %d messages while nothing was acknowledged; the cap allows about %d", got, limit)
	}
	fh.Sim.Faults().Unblock()
	want := expected(evs)
	fh.Await(t, 60*time.Second, "every record", func() bool { return fh.Total() >= count(want) })
	awaitCommitted(t, k, fh, "g-cap", "events")
	checkDelivered(t, fh, want)
}

func TestAggregatedStreamReadsBackTheSameLines(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 3, "events")
	fh := itest.StartFirehose(t)
	evs := events(3000, "agg")
	produce(t, k, "events", 3, evs)
	cfg := testConfig(k.Brokers, "g-agg", "events")
	cfg.Sources[0].MappedStreams[2].Aggregate = true // "*" -> everything
	start(t, cfg, fh)
	want := expected(evs)
	lines := func() map[string]int {
		got := map[string]int{}
		for _, r := range fh.Records("everything") {
			for _, l := range bytes.SplitAfter(r, []byte("\n")) {
				if len(l) > 0 {
					got[string(l)]++
				}
			}
		}
		return got
	}
	fh.Await(t, 30*time.Second, "every line", func() bool {
		n := 0
		for _, c := range lines() {
			n += c
		}
		return n >= len(evs)
	})
	awaitCommitted(t, k, fh, "g-agg", "events")
	if d := itest.DiffMultisets(want["everything"], lines()); d != "" {
		t.Errorf("aggregated stream: %s", d)
	}
	recs := fh.Records("everything")
	if len(recs) >= len(evs)/10 {
		t.Errorf("%d Firehose records for %d events: not aggregated", len(recs), len(evs))
	}
	for _, r := range recs {
		if len(r) > config.MaxRecordBytes || r[len(r)-1] != '\n' {
			t.Fatalf("aggregated record of %d bytes, ending %q", len(r), r[len(r)-1])
		}
	}
	// Streams without aggregate keep one event per record.
	checkDelivered(t, fh, map[string]map[string]int{"pages": want["pages"]})
}

// TestLingerNeverStallsAPartition reads a partition whose read-ahead window
// (max_pending_per_partition) is far smaller than a batch, with a linger of
// a minute: every window's oldest message sits in a batch that is not full.
// Batches must go out when the window fills, not when the linger ends, so
// all but the last window is delivered in seconds (the last one, with
// nothing behind it, rightly waits out its linger).
func TestLingerNeverStallsAPartition(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	fh := itest.StartFirehose(t)
	evs := events(1500, "linger")
	produce(t, k, "events", 1, evs)
	cfg := testConfig(k.Brokers, "g-linger", "events")
	cfg.Batch.Linger = config.Duration(time.Minute)
	cfg.Kafka.MaxPendingPerPartition = 100
	cfg.ShutdownTimeout = config.Duration(2 * time.Second)
	start(t, cfg, fh)
	head := count(expected(evs[:len(evs)-cfg.Kafka.MaxPendingPerPartition]))
	fh.Await(t, 30*time.Second, "all but the last window, well before one linger", func() bool { return fh.Total() >= head })
}
