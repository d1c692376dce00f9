package redrive

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/deadletter"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/itest"
	"github.com/firehose-worker/firehose-worker/internal/retry"
)

const dlq = "dead-letters"

func testConfig(brokers []string) *config.Config {
	cfg := config.Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.GroupID = "worker"
	cfg.Kafka.DLQTopic = dlq
	cfg.Kafka.HeartbeatInterval = config.Duration(200 * time.Millisecond)
	cfg.Kafka.SessionTimeout = config.Duration(3 * time.Second)
	cfg.Kafka.RebalanceTimeout = config.Duration(5 * time.Second)
	cfg.Kafka.DrainTimeout = config.Duration(2 * time.Second)
	cfg.Batch.Linger = config.Duration(20 * time.Millisecond)
	cfg.Delivery.Backoff.Initial = config.Duration(2 * time.Millisecond)
	cfg.Delivery.Backoff.Max = config.Duration(20 * time.Millisecond)
	cfg.HTTP.Address = ""
	cfg.Sources = []config.Source{{
		ID: "src_1", Topics: []string{"events"}, Region: "us-west-2", Routing: config.RoutingAll,
		MappedStreams: []config.Mapping{{Event: "*", Stream: "everything"}, {Event: "page", Stream: "pages", Aggregate: true}},
	}}
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return &cfg
}

type nopPart struct{}

func (nopPart) Done() {}

// letters writes dead letters the way the worker does, with deadletter.Writer.
func writeLetters(t *testing.T, k *itest.Kafka, ls ...deadletter.Letter) {
	t.Helper()
	w := deadletter.New(deadletter.Options{Brokers: k.Brokers, Topic: dlq, Retry: retry.Policy{New: func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) }}})
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range ls {
		ls[i].Part = nopPart{}
	}
	if err := w.Write(ctx, ls); err != nil {
		t.Fatal(err)
	}
}

// nextOffset gives each letter its own origin offset; tests run in parallel.
var nextOffset atomic.Int64

func letter(reason, stream, value string) deadletter.Letter {
	return deadletter.Letter{
		Origin: &deadletter.Origin{Topic: "events", Partition: 0, Offset: nextOffset.Add(1), Value: []byte(value), SourceID: "src_1"},
		Reason: reason, Stream: stream,
	}
}

func options(cfg *config.Config, fh *itest.Firehose) Options {
	return Options{
		Config:  cfg,
		Clients: func(context.Context, config.Source) (delivery.PutRecordBatcher, error) { return fh.Client(), nil },
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

func redriveOnce(t *testing.T, o Options) *Tally {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tally, err := Run(ctx, o)
	if err != nil {
		t.Fatalf("redrive: %v", err)
	}
	return tally
}

func row(t *testing.T, tally *Tally, reason, stream string) Row {
	t.Helper()
	for _, r := range tally.Rows() {
		if r.Reason == reason && r.Stream == stream {
			return r
		}
	}
	var b bytes.Buffer
	_ = tally.Write(&b, false)
	t.Fatalf("no row for %s/%s in\n%s", reason, stream, b.String())
	return Row{}
}

// TestRedriveSendsEachLetterToItsStreamOnce: letters that name a stream go
// to exactly that stream, once, as their compact record; letters without
// one are left alone; a stream that still refuses makes failures that are
// reported and not retried by the next run, which resumes past them.
func TestRedriveSendsEachLetterToItsStreamOnce(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, dlq)
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().RejectStream("gone", "ResourceNotFoundException", "Firehose gone not found")
	var ls []deadletter.Letter
	var want []string
	for i := range 7 {
		v := fmt.Sprintf(`{ "type": "track", "event": "e%d" }`, i) // not compact: the record is
		ls = append(ls, letter("firehose_rejected", "everything", v))
		want = append(want, fmt.Sprintf(`{"type":"track","event":"e%d"}`+"\n", i))
	}
	for i := range 4 {
		ls = append(ls, letter("firehose_rejected", "pages", fmt.Sprintf(`{"type":"page","name":"p%d"}`, i)))
	}
	ls = append(ls,
		letter("firehose_rejected", "gone", `{"type":"identify"}`),
		letter("firehose_rejected", "gone", `{"type":"group"}`),
		letter("not_json", "", `nope`),
		letter("missing_type", "", `{"event":"x"}`),
		letter("record_too_large", "everything", `{"type":"track","event":"big"}`),
		// What check --connect writes to prove the topic takes writes.
		letter(deadletter.ReasonPreflightProbe, "everything", `{"type":"track","event":"probe"}`),
	)
	writeLetters(t, k, ls...)

	cfg := testConfig(k.Brokers)
	o := options(cfg, fh)
	tally := redriveOnce(t, o)
	if got := itest.Multiset(fh.Records("everything")); len(got) != 7 || itest.DiffMultisets(itest.Multiset(bytesOf(want)), got) != "" {
		t.Errorf("stream everything received %q, want each of %q once", fh.Records("everything"), want)
	}
	// pages aggregates: its 4 letters arrive packed, one event per line.
	if got := bytes.Count(bytes.Join(fh.Records("pages"), nil), []byte(`"type":"page"`)); got != 4 {
		t.Errorf("stream pages received %d events, want 4", got)
	}
	if r := row(t, tally, "firehose_rejected", "everything"); r.Delivered != 7 || r.Failed != 0 {
		t.Errorf("everything: %+v", r)
	}
	if r := row(t, tally, "firehose_rejected", "gone"); r.Failed != 2 || r.Delivered != 0 {
		t.Errorf("gone: %+v, want 2 failed", r)
	}
	for _, c := range []struct{ reason, stream string }{{"not_json", ""}, {"missing_type", ""}, {"record_too_large", "everything"}, {deadletter.ReasonPreflightProbe, "everything"}} {
		if r := row(t, tally, c.reason, c.stream); r.Left != 1 || r.Sent != 0 {
			t.Errorf("%s: %+v, want it left alone", c.reason, r)
		}
	}
	if s := tally.Total(); s.Letters != len(ls) || s.Unfinished() != 0 {
		t.Errorf("total %+v, want %d letters, none unfinished", s, len(ls))
	}
	committed := k.Committed(t, "worker-redrive", dlq)
	end := k.End(t, dlq)
	for p, e := range end {
		if committed[p] != e {
			t.Errorf("group worker-redrive committed %d on partition %d, want the end %d", committed[p], p, e)
		}
	}

	// A second run resumes: only the letters written since are read, and
	// the stream that failed is not tried again.
	fh.Sim.Faults().AllowStream("gone")
	writeLetters(t, k, letter("firehose_rejected", "everything", `{"type":"track","event":"later"}`))
	tally = redriveOnce(t, o)
	if s := tally.Total(); s.Letters != 1 || s.Delivered != 1 {
		t.Errorf("second run: %+v, want the one new letter delivered", s)
	}
	if n := len(fh.Records("gone")); n != 0 {
		t.Errorf("stream gone received %d records from the second run, want 0", n)
	}
	if n := len(fh.Records("everything")); n != 8 {
		t.Errorf("stream everything holds %d records after the second run, want 8", n)
	}
}

func bytesOf(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// TestDryRunSendsAndCommitsNothing, and a later run still finds every letter.
func TestDryRunSendsAndCommitsNothing(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, dlq)
	fh := itest.StartFirehose(t)
	writeLetters(t, k,
		letter("firehose_rejected", "everything", `{"type":"track","event":"a"}`),
		letter("firehose_rejected", "everything", `{"type":"track","event":"b"}`),
		letter("not_json", "", `x`),
	)
	o := options(testConfig(k.Brokers), fh)
	o.DryRun = true
	tally := redriveOnce(t, o)
	if fh.Total() != 0 {
		t.Errorf("a dry run sent %d records", fh.Total())
	}
	if r := row(t, tally, "firehose_rejected", "everything"); r.Sent != 2 {
		t.Errorf("dry run: %+v, want 2 to send", r)
	}
	var b bytes.Buffer
	if err := tally.Write(&b, true); err != nil || !bytes.Contains(b.Bytes(), []byte("would send")) {
		t.Errorf("dry-run table %q (%v)", b.String(), err)
	}
	if c := k.Committed(t, "worker-redrive", dlq); c[0] > 0 {
		t.Errorf("a dry run committed %d", c[0])
	}
	o.DryRun = false
	if s := redriveOnce(t, o).Total(); s.Delivered != 2 || s.Left != 1 {
		t.Errorf("the run after the dry run: %+v", s)
	}
}

// TestToStreamAndFilters: --to-stream takes the valid letters without a
// stream; filters read past what they exclude.
func TestToStreamAndFilters(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, dlq)
	fh := itest.StartFirehose(t)
	writeLetters(t, k,
		letter("missing_type", "", `{"event": "no type"}`),
		letter("not_json", "", `{nope`),
		letter("firehose_rejected", "everything", `{"type":"track","event":"x"}`),
	)
	o := options(testConfig(k.Brokers), fh)
	o.ToStream = "catch_all"
	o.Filter.Reasons = []string{"missing_type", "not_json"}
	tally := redriveOnce(t, o)
	if got := fh.Records("catch_all"); len(got) != 1 || string(got[0]) != `{"event":"no type"}`+"\n" {
		t.Errorf("catch_all received %q, want the compacted missing_type letter", got)
	}
	if n := len(fh.Records("everything")); n != 0 {
		t.Errorf("a filtered-out letter was sent to everything (%d)", n)
	}
	if s := tally.Total(); s.Delivered != 1 || s.Left != 1 || s.Filtered != 1 {
		t.Errorf("total %+v, want 1 delivered, 1 left alone, 1 filtered out", s)
	}
}

func TestNoDeadLetterTopic(t *testing.T) {
	t.Parallel()
	cfg := testConfig([]string{"127.0.0.1:1"})
	cfg.Kafka.DLQTopic = ""
	if _, err := Run(context.Background(), Options{Config: cfg}); err != ErrNoDLQ {
		t.Errorf("Run without dlq_topic = %v, want ErrNoDLQ", err)
	}
}

func TestFilterMatch(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	l := Letter{Reason: "firehose_rejected", Stream: "s", Source: "src", Time: at}
	noTime := l
	noTime.Time = time.Time{}
	cases := []struct {
		name string
		f    Filter
		l    Letter
		want bool
	}{
		{"empty filter", Filter{}, l, true},
		{"reason in list", Filter{Reasons: []string{"not_json", "firehose_rejected"}}, l, true},
		{"reason not in list", Filter{Reasons: []string{"not_json"}}, l, false},
		{"stream", Filter{Streams: []string{"other"}}, l, false},
		{"source", Filter{Sources: []string{"src"}}, l, true},
		{"since is inclusive", Filter{Since: at}, l, true},
		{"after since", Filter{Since: at.Add(time.Second)}, l, false},
		{"until is exclusive", Filter{Until: at}, l, false},
		{"before until", Filter{Until: at.Add(time.Second)}, l, true},
		{"no time never matches a bound", Filter{Since: at.Add(-time.Hour)}, noTime, false},
	}
	for _, c := range cases {
		if got := c.f.Match(&c.l); got != c.want {
			t.Errorf("%s: Match = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestProgressLines: without a terminal, a line every ProgressEvery and a
// last one with the totals.
func TestProgressLines(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, dlq)
	fh := itest.StartFirehose(t)
	writeLetters(t, k, letter("firehose_rejected", "everything", `{"type":"track","event":"a"}`), letter("not_json", "", `x`))
	var progress lockedBuffer
	o := options(testConfig(k.Brokers), fh)
	o.Progress, o.ProgressEvery = &progress, 10*time.Millisecond
	redriveOnce(t, o)
	lines := strings.Split(strings.TrimSpace(progress.String()), "\n")
	last := lines[len(lines)-1]
	if want := "redrive: read 2 of 2 letters; 1 delivered, 0 failed, 1 left alone, 0 filtered out"; last != want {
		t.Errorf("last progress line %q, want %q", last, want)
	}
	if strings.Contains(progress.String(), "\r") {
		t.Error("progress redraws without Redraw")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTwoRunsShareTheGroup: two runs at once split the partitions between
// them through the group and rebalance as the second joins; every letter is
// delivered and neither run fails.
func TestTwoRunsShareTheGroup(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 4, dlq)
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().SetLatency(time.Millisecond, 5*time.Millisecond) // letters in flight at the rebalance
	const n = 2000
	var ls []deadletter.Letter
	for i := range n {
		ls = append(ls, letter("firehose_rejected", "everything", fmt.Sprintf(`{"type":"track","event":"e%d"}`, i)))
	}
	writeLetters(t, k, ls...)
	o := options(testConfig(k.Brokers), fh)
	o.Config.Kafka.MaxPendingPerPartition = 50
	var wg sync.WaitGroup
	tallies := make([]*Tally, 2)
	for i := range tallies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tally, err := Run(ctx, o)
			if err != nil {
				t.Errorf("run %d: %v", i, err)
			}
			tallies[i] = tally
		}()
	}
	wg.Wait()
	got := itest.Multiset(fh.Records("everything"))
	dups := 0
	for i := range n {
		c := got[fmt.Sprintf(`{"type":"track","event":"e%d"}`, i)+"\n"]
		if c == 0 {
			t.Errorf("letter e%d was not delivered", i)
		}
		dups += max(c-1, 0)
	}
	delivered := tallies[0].Total().Delivered + tallies[1].Total().Delivered
	if delivered != n+dups || tallies[0].Total().Failed+tallies[1].Total().Failed != 0 {
		t.Errorf("the runs report %d delivered (%+v, %+v); Firehose received %d letters and %d duplicates", delivered, tallies[0].Total(), tallies[1].Total(), n, dups)
	}
	t.Logf("run 1: %+v; run 2: %+v; %d duplicates from the rebalance", tallies[0].Total(), tallies[1].Total(), dups)
}
