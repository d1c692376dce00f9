package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
)

// slowClient is a healthy stream whose every call takes latency: it accepts
// every record, and notes each call's record ids in the order calls start.
type slowClient struct {
	latency time.Duration

	mu    sync.Mutex
	calls []slowCall
}

// slowCall is one call: when it started (in fake time) and its record ids.
type slowCall struct {
	at  time.Time
	ids []int
}

func (c *slowClient) PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	ids := make([]int, len(in.Records))
	for i, r := range in.Records {
		var v struct{ I int }
		if err := json.Unmarshal(r.Data, &v); err != nil {
			return nil, fmt.Errorf("record %q: %w", r.Data, err)
		}
		ids[i] = v.I
	}
	c.mu.Lock()
	c.calls = append(c.calls, slowCall{time.Now(), ids})
	c.mu.Unlock()
	t := time.NewTimer(c.latency)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0), RequestResponses: make([]types.PutRecordBatchResponseEntry, len(in.Records))}, nil
}

// TestSlowStreamKeepsUp runs a stream whose calls are slow but healthy
// (1.5 s and 3 s each) at 200 records a second over 4 partitions, with the
// default configuration, in fake time (testing/synctest), through the
// pipeline's own wiring of accumulator, congestion control and delivery.
// Once production stops the stream must have caught up within 2 x latency
// + 2 s; no partition's commit may stand still longer than 3 x latency + 2 s
// while it has records waiting; batches must grow beyond what one linger
// collects while they wait for a slot; and calls must start oldest records
// first (the limiter serves waiting calls oldest first, and a due batch
// waits for calls announced before it). Before the fix, at 3 s a call the stream fell thousands of records
// behind and held every partition's commit for tens of seconds.
func TestSlowStreamKeepsUp(t *testing.T) {
	t.Parallel()
	for _, latency := range []time.Duration{1500 * time.Millisecond, 3 * time.Second} {
		t.Run(latency.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) { slowStream(t, latency) })
		})
	}
}

func slowStream(t *testing.T, latency time.Duration) {
	const (
		rate       = 200 // records per second
		partitions = 4
		produce    = 30 * time.Second
		tick       = 10 * time.Millisecond // 2 records per tick
	)
	cfg := config.Default()
	cfg.Kafka.Brokers = []string{"127.0.0.1:1"}
	cfg.Kafka.GroupID = "g"
	cfg.Sources = []config.Source{{ID: "s", Topics: []string{"t"}, Region: "us-west-2", Routing: config.RoutingAll,
		MappedStreams: []config.Mapping{{Event: "*", Stream: "slow"}}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	client := &slowClient{latency: latency}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	p, err := New(ctx, &cfg, Deps{Clients: func(context.Context, config.Source) (delivery.PutRecordBatcher, error) { return client, nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { p.cancelSend(); p.inflight.Wait() }()
	d := p.dests[0]
	trackers := make([]*checkpoint.Tracker, partitions)
	next := make([]int64, partitions)      // next offset per partition
	moved := make([]time.Time, partitions) // when the committable offset last moved
	last := make([]int64, partitions)
	start := time.Now()
	for i := range trackers {
		trackers[i] = checkpoint.NewTracker(nil)
		moved[i], last[i] = start, -1
	}
	id := 0
	stall, stallAt := time.Duration(0), 0
	observe := func(now time.Time) {
		for i, tr := range trackers {
			if off, ok := tr.Committable(); ok && off != last[i] {
				last[i], moved[i] = off, now
			}
			if tr.Pending() == 0 {
				moved[i] = now
				continue
			}
			if s := now.Sub(moved[i]); s > stall {
				stall, stallAt = s, i
			}
		}
	}
	for time.Since(start) < produce {
		for range rate * tick / time.Second {
			part := id % partitions
			m := trackers[part].Track(next[part], 1, 0)
			next[part]++
			d.acc.Add(batch.Record{Data: fmt.Appendf(nil, `{"I":%d}`, id), Part: m})
			id++
		}
		time.Sleep(tick)
		observe(time.Now())
	}
	stopped := time.Now()
	pending := func() (n int) {
		for _, tr := range trackers {
			n += tr.Pending()
		}
		return n
	}
	waiting := pending()
	for pending() > 0 && time.Since(stopped) < time.Minute {
		time.Sleep(tick)
		observe(time.Now())
	}
	caughtUp := time.Since(stopped)
	client.mu.Lock()
	calls := slices.Clone(client.calls)
	client.mu.Unlock()
	perLinger := float64(rate) * cfg.Batch.Linger.D().Seconds()
	t.Logf("latency %s: %d records waiting when production stopped, caught up %s later; longest commit stall %s (partition %d); %d calls of %.0f records on average (one linger collects %.0f); limit %d",
		latency, waiting, caughtUp, stall, stallAt, len(calls), float64(id)/float64(len(calls)), perLinger, d.limiter.Limit())

	if want := 2*latency + 2*time.Second; caughtUp > want {
		t.Errorf("caught up %s after production stopped, want within %s", caughtUp, want)
	}
	if want := 3*latency + 2*time.Second; stall > want {
		t.Errorf("partition %d's commit stood still %s while records waited, want at most %s", stallAt, stall, want)
	}
	// At the start the stream has startLimit slots, both busy for a whole
	// call: what arrives meanwhile must go as one batch, not one per linger.
	largest := 0
	for _, c := range calls {
		largest = max(largest, len(c.ids))
	}
	if want := min(cfg.Batch.MaxRecords, int(rate*latency.Seconds()/2)); largest < want {
		t.Errorf("the largest call carried %d records; batches waiting for a slot should grow to %d or more (one linger collects %.0f)", largest, want, perLinger)
	}
	// Calls granted slots by the same Release start at the same instant,
	// in whichever order their goroutines run; calls that start later must
	// carry younger records.
	slices.SortStableFunc(calls, func(a, b slowCall) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.ids[0] - b.ids[0]
	})
	seen := 0
	for i, c := range calls {
		for _, x := range c.ids {
			if x != seen {
				t.Fatalf("call %d (at %s) sent record %d where record %d was the oldest waiting: calls must go oldest first", i, c.at.Sub(start), x, seen)
			}
			seen++
		}
	}
	if seen != id {
		t.Errorf("%d records sent, %d produced", seen, id)
	}
}
