package consume

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/commitmeta"
	"github.com/firehose-worker/firehose-worker/internal/itest"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// holdHandler finishes every message at once except those hold names,
// which stay unfinished (a stream that never answers). It records what it
// was given.
type holdHandler struct {
	hold func(offset int64) bool
	mu   sync.Mutex
	seen []int64
	held []*checkpoint.Message
}

func (h *holdHandler) Handle(_ context.Context, c *Claim, m *kafka.Message) error {
	msg := c.Tracker.Track(m.Offset, 1, 0)
	h.mu.Lock()
	h.seen = append(h.seen, m.Offset)
	h.mu.Unlock()
	if h.hold == nil || !h.hold(m.Offset) {
		msg.Done()
		return nil
	}
	h.mu.Lock()
	h.held = append(h.held, msg)
	h.mu.Unlock()
	return nil
}

func (h *holdHandler) Flush() {}

func (h *holdHandler) handled() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.seen)
}

func testOptions(k *itest.Kafka, group string) Options {
	return Options{
		Brokers: k.Brokers, GroupID: group, Topics: []string{"events"}, StartOffset: kafka.FirstOffset,
		CommitInterval: 30 * time.Millisecond, HeartbeatInterval: 100 * time.Millisecond,
		SessionTimeout: 3 * time.Second, RebalanceTimeout: 5 * time.Second,
		DrainTimeout: 100 * time.Millisecond, ShutdownTimeout: 100 * time.Millisecond,
		FetchMaxWait: 50 * time.Millisecond, FetchMaxBytes: 1 << 20,
		OnFinish:         func(string) func(*checkpoint.Message) { return nil },
		MetadataMaxBytes: 4096,
		Metrics:          telemetry.Discard(),
	}
}

// runConsumer runs a consumer until the returned stop is called; stop
// waits for Run and fails the test on its error.
func runConsumer(t *testing.T, opts Options, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(opts, h).Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consumer: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func produceN(t *testing.T, k *itest.Kafka, n int) {
	t.Helper()
	msgs := make([]itest.Msg, n)
	for i := range msgs {
		msgs[i] = itest.Msg{Value: fmt.Appendf(nil, "m%d", i)}
	}
	k.Produce(t, "events", msgs)
}

// committed returns partition 0's committed offset, metadata and leader
// epoch, as another tool sees them; offset -1 before any commit.
func committed(t *testing.T, k *itest.Kafka, group string) (int64, string, int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := k.Admin.FetchOffsets(ctx, group)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return -1, "", 0
	}
	if err != nil {
		t.Fatalf("fetching offsets: %v", err)
	}
	o, ok := resp.Lookup("events", 0)
	if !ok || o.Err != nil {
		return -1, "", 0
	}
	return o.At, o.Metadata, o.LeaderEpoch
}

func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNextOwnerSkipsWhatWasFinished: the first owner finishes every message
// but offset 10, and stops without it (its drain times out, as a worker that
// is killed leaves it). The commit says 10, with 11..99 finished in its
// metadata; the next owner must be given offset 10 again and nothing else.
func TestNextOwnerSkipsWhatWasFinished(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	produceN(t, k, 100)
	first := &holdHandler{hold: func(off int64) bool { return off == 10 }}
	stop := runConsumer(t, testOptions(k, "g-skip"), first)
	await(t, "a commit at 10 that carries 11..99", func() bool {
		off, meta, _ := committed(t, k, "g-skip")
		got, err := commitmeta.Decode(meta, off)
		return off == 10 && err == nil && reflect.DeepEqual(got, []commitmeta.Range{{First: 11, Last: 99}})
	})
	stop()
	if off, _, epoch := committed(t, k, "g-skip"); off != 10 || epoch != -1 {
		t.Fatalf("after the first owner: committed %d with leader epoch %d, want 10 and -1 (unknown)", off, epoch)
	}
	// The drain timed out: the held message is withdrawn, so delivery
	// would drop it unsent rather than race its next owner.
	first.mu.Lock()
	held := slices.Clone(first.held)
	first.mu.Unlock()
	if len(held) != 1 || !held[0].Withdrawn() {
		t.Fatalf("held messages %v after the drain timed out: want offset 10, withdrawn", held)
	}
	held[0].Done()

	opts := testOptions(k, "g-skip")
	next := &holdHandler{}
	runConsumer(t, opts, next)
	await(t, "the next owner to commit 100", func() bool { off, _, _ := committed(t, k, "g-skip"); return off == 100 })
	if got := next.handled(); !reflect.DeepEqual(got, []int64{10}) {
		t.Errorf("the next owner was given %v, want only [10]", got)
	}
	if n := opts.Metrics.Resumed.Get(telemetry.AttrTopic.String("events")).Load(); n != 89 {
		t.Errorf("resume.skipped = %d, want 89", n)
	}
}

// TestNextOwnerRetriesAFailedMetadataRead: the next owner's first read of
// the commit metadata meets a dropped connection (what a transport's pooled
// connection to a restarted broker does); it asks again instead of sending
// every finished message a second time.
func TestNextOwnerRetriesAFailedMetadataRead(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	produceN(t, k, 50)
	first := &holdHandler{hold: func(off int64) bool { return off == 5 }}
	stop := runConsumer(t, testOptions(k, "g-retry"), first)
	await(t, "a commit at 5 that carries 6..49", func() bool {
		off, meta, _ := committed(t, k, "g-retry")
		got, err := commitmeta.Decode(meta, off)
		return off == 5 && err == nil && reflect.DeepEqual(got, []commitmeta.Range{{First: 6, Last: 49}})
	})
	stop()

	var mu sync.Mutex
	dropped := 0
	k.Cluster.ControlKey(int16(kmsg.OffsetFetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		// Only the worker's own read through its transport: kafka-go's
		// group code asks with v1 and the test's kadm with v10. Should a
		// version change, nothing is dropped and the check below fails.
		if v := req.GetVersion(); dropped == 0 && v > 1 && v < 10 {
			dropped++
			return nil, errors.New("connection dropped by the test"), true // kfake closes the connection
		}
		return nil, nil, false
	})
	next := &holdHandler{}
	runConsumer(t, testOptions(k, "g-retry"), next)
	await(t, "the next owner to commit 50", func() bool { off, _, _ := committed(t, k, "g-retry"); return off == 50 })
	mu.Lock()
	n := dropped
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d OffsetFetch connections dropped, want 1: the test did not exercise the retry", n)
	}
	if got := next.handled(); !reflect.DeepEqual(got, []int64{5}) {
		t.Errorf("the next owner was given %v, want only [5]", got)
	}
}

// TestFinishedRangesSurviveAnotherHandOver: the second owner is given the
// first's unfinished message again and holds it too, while new messages come
// and one of them is held as well; its commits must carry both the inherited
// and its own finished offsets, so a third owner is given only the two held.
func TestFinishedRangesSurviveAnotherHandOver(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	produceN(t, k, 50)
	stop := runConsumer(t, testOptions(k, "g-again"), &holdHandler{hold: func(off int64) bool { return off == 10 }})
	await(t, "the first owner's commit", func() bool {
		off, meta, _ := committed(t, k, "g-again")
		got, err := commitmeta.Decode(meta, off)
		return off == 10 && err == nil && reflect.DeepEqual(got, []commitmeta.Range{{First: 11, Last: 49}})
	})
	stop()
	stop = runConsumer(t, testOptions(k, "g-again"), &holdHandler{hold: func(off int64) bool { return off == 10 || off == 55 }})
	produceN(t, k, 10)
	want := []commitmeta.Range{{First: 11, Last: 54}, {First: 56, Last: 59}}
	await(t, "the second owner's commit of 10 with 11..54 and 56..59", func() bool {
		off, meta, _ := committed(t, k, "g-again")
		got, err := commitmeta.Decode(meta, off)
		return off == 10 && err == nil && reflect.DeepEqual(got, want)
	})
	stop()
	third := &holdHandler{}
	runConsumer(t, testOptions(k, "g-again"), third)
	await(t, "the third owner to commit 60", func() bool { off, _, _ := committed(t, k, "g-again"); return off == 60 })
	if got := third.handled(); !reflect.DeepEqual(got, []int64{10, 55}) {
		t.Errorf("the third owner was given %v, want only [10 55]", got)
	}
}

// TestMetadataCarriesInheritedRangesNotFetchedYet: a commit made before the
// fetcher reached the previous owner's finished offsets still names them.
func TestMetadataCarriesInheritedRangesNotFetchedYet(t *testing.T) {
	t.Parallel()
	c := New(Options{MetadataMaxBytes: 4096}, nil)
	cl := &Claim{Topic: "events", Tracker: checkpoint.NewTracker(nil), inherited: []commitmeta.Range{{First: 101, Last: 101}, {First: 105, Last: 150}}}
	held := cl.Tracker.Track(100, 1, 0)
	cl.Tracker.Track(101, 1, 0).Done() // fetched and skipped
	meta := c.metadata(cl, 100)
	got, err := commitmeta.Decode(meta, 100)
	if err != nil || !reflect.DeepEqual(got, cl.inherited) {
		t.Errorf("metadata holds %v (%v), want %v", got, err, cl.inherited)
	}
	held.Done()
	cl.Tracker.Track(102, 1, 0) // 102 unfinished: the commit moves to it
	meta = c.metadata(cl, 102)
	got, err = commitmeta.Decode(meta, 102)
	if want := []commitmeta.Range{{First: 105, Last: 150}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("metadata holds %v (%v), want %v", got, err, want)
	}
	c.metaBudget.Store(0)
	if meta := c.metadata(cl, 102); meta != "" {
		t.Errorf("plain commits carry %q", meta)
	}
}

// TestUntrustedMetadataIsIgnored: metadata the worker did not write for this
// committed offset must not make it skip anything.
func TestUntrustedMetadataIsIgnored(t *testing.T) {
	t.Parallel()
	stale, _, err := commitmeta.Encode(5, []commitmeta.Range{{First: 6, Last: 19}}, 4096)
	if err != nil {
		t.Fatal(err)
	}
	good, _, err := commitmeta.Encode(10, []commitmeta.Range{{First: 11, Last: 19}}, 4096)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, meta string }{
		{"another tool's", "written by some other consumer"},
		{"another version", "fhw9" + good[4:]},
		{"for another committed offset", stale},
		{"corrupt", good[:len(good)-1] + "A"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			k := itest.StartKafka(t, 1, "events")
			produceN(t, k, 20)
			group := fmt.Sprintf("g-untrusted-%d", i)
			offs := kadm.Offsets{}
			offs.Add(kadm.Offset{Topic: "events", Partition: 0, At: 10, LeaderEpoch: -1, Metadata: c.meta})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := k.Admin.CommitOffsets(ctx, group, offs); err != nil {
				t.Fatalf("committing %q: %v", c.meta, err)
			}
			h := &holdHandler{}
			runConsumer(t, testOptions(k, group), h)
			await(t, "a commit of 20", func() bool { off, _, _ := committed(t, k, group); return off == 20 })
			if got, want := h.handled(), []int64{10, 11, 12, 13, 14, 15, 16, 17, 18, 19}; !reflect.DeepEqual(got, want) {
				t.Errorf("handled %v, want %v (nothing skipped)", got, want)
			}
		})
	}
}

// TestMetadataTooLargeFallsBackToPlainCommits: a broker whose
// offset.metadata.max.bytes is below the configured budget refuses the
// commit; the offset must still be committed, without metadata.
func TestMetadataTooLargeFallsBackToPlainCommits(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	var refused sync.Map
	k.Cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		r := req.(*kmsg.OffsetCommitRequest)
		tooLarge := false
		for _, tp := range r.Topics {
			for _, p := range tp.Partitions {
				if p.Metadata != nil && len(*p.Metadata) > 8 {
					tooLarge = true
				}
			}
		}
		if !tooLarge {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, tp := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				rt.Partitions = append(rt.Partitions, rp)
				refused.Store(p.Partition, true)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})
	produceN(t, k, 30)
	runConsumer(t, testOptions(k, "g-large"), &holdHandler{hold: func(off int64) bool { return off == 3 }})
	await(t, "a plain commit of 3", func() bool { off, meta, _ := committed(t, k, "g-large"); return off == 3 && meta == "" })
	if _, ok := refused.Load(int32(0)); !ok {
		t.Error("no commit with metadata was tried")
	}
}

// TestRebalanceKeepsAPartitionThatStays: the owner holds offset 10 (a stream
// that does not answer) when a second member joins. The partition stays
// with the owner (sticky), whose drain times out: it goes on from where it
// was with its records still in flight, instead of reading offset 10 again,
// and commits past it once it finishes.
func TestRebalanceKeepsAPartitionThatStays(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	produceN(t, k, 100)
	first := &holdHandler{hold: func(off int64) bool { return off == 10 }}
	var mu sync.Mutex
	var generations [][]string
	opts := testOptions(k, "g-park")
	opts.Status = func(claims []string) {
		mu.Lock()
		generations = append(generations, claims)
		mu.Unlock()
	}
	runConsumer(t, opts, first)
	await(t, "a commit at 10 that carries 11..99", func() bool {
		off, meta, _ := committed(t, k, "g-park")
		got, err := commitmeta.Decode(meta, off)
		return off == 10 && err == nil && reflect.DeepEqual(got, []commitmeta.Range{{First: 11, Last: 99}})
	})

	second := &holdHandler{}
	runConsumer(t, testOptions(k, "g-park"), second)
	await(t, "the owner's second generation", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(generations) >= 2
	})
	mu.Lock()
	if g := generations[1]; !reflect.DeepEqual(g, []string{"events/0"}) {
		t.Fatalf("the owner's second generation claims %v, want [events/0] (sticky)", g)
	}
	mu.Unlock()
	first.mu.Lock()
	held := slices.Clone(first.held)
	first.mu.Unlock()
	if len(held) != 1 || held[0].Withdrawn() {
		t.Fatalf("held %v: want offset 10, still in flight (not withdrawn)", held)
	}
	produceN(t, k, 5) // offsets 100..104: reading goes on
	await(t, "offsets 100..104 to be handled", func() bool { return len(first.handled()) == 105 })
	held[0].Done()
	await(t, "the owner to commit 105", func() bool { off, _, _ := committed(t, k, "g-park"); return off == 105 })
	got := first.handled()
	for i, off := range got {
		if off != int64(i) {
			t.Fatalf("the owner was given %v: want 0..104, each once", got)
		}
	}
	if n := len(second.handled()); n != 0 {
		t.Errorf("the second member was given %d messages, want none", n)
	}
}

// stuckHandler tracks every message; the first time it is given offset
// stuckAt it waits for the generation to end and returns its error without
// finishing the message (a Handler cut off by backpressure), and finishes
// every other message at once.
type stuckHandler struct {
	stuckAt int64
	mu      sync.Mutex
	stuck   bool
	reached chan struct{}
}

func (h *stuckHandler) Handle(ctx context.Context, c *Claim, m *kafka.Message) error {
	msg := c.Tracker.Track(m.Offset, 1, 0)
	h.mu.Lock()
	first := m.Offset == h.stuckAt && !h.stuck
	if first {
		h.stuck = true
	}
	h.mu.Unlock()
	if !first {
		msg.Done()
		return nil
	}
	close(h.reached)
	<-ctx.Done()
	return ctx.Err()
}

func (h *stuckHandler) Flush() {}

// TestCutOffHandleIsNotParked: a Handle cut off by the rebalance leaves its
// message tracked and unfinished for good. That claim must not be parked
// and gone on from, or its commits would stop there: the next generation
// reads the message again and commits past it.
func TestCutOffHandleIsNotParked(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	produceN(t, k, 100)
	h := &stuckHandler{stuckAt: 10, reached: make(chan struct{})}
	runConsumer(t, testOptions(k, "g-cut"), h)
	<-h.reached
	runConsumer(t, testOptions(k, "g-cut"), &holdHandler{}) // a rebalance
	await(t, "a commit at 100", func() bool { off, _, _ := committed(t, k, "g-cut"); return off == 100 })
}
