package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// TestSlowStreamOverHTTPKeepsCommitsMoving is TestSlowStreamKeepsUp against
// real components, in wall time: Kafka's protocol (kfake), the pipeline as
// it runs, and a Firehose endpoint over HTTP whose every call takes 3 s.
// 200 events a second go to 4 partitions for 10 s. The stream must have
// caught up within 2 x latency + 2 s of the last event, and no partition's
// committed offset may stand still for more than 3 x latency + 2 s while it
// is behind what was produced to it.
func TestSlowStreamOverHTTPKeepsCommitsMoving(t *testing.T) {
	t.Parallel()
	const (
		latency    = 3 * time.Second
		partitions = 4
		rate       = 200
		produce    = 10 * time.Second
		tick       = 100 * time.Millisecond
	)
	k := itest.StartKafka(t, partitions, "events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().SetLatency(latency, latency)
	cfg := testConfig(k.Brokers, "g-slow", "events")
	cfg.Batch.Linger = config.Duration(200 * time.Millisecond) // the default, as in the field
	start(t, cfg, fh)

	produced := make([]int64, partitions) // messages produced per partition
	moved := make([]time.Time, partitions)
	last := make([]int64, partitions)
	var stall time.Duration
	stallAt := 0
	observe := func(now time.Time) {
		committed := k.Committed(t, "g-slow", "events")
		for p := range partitions {
			if c := committed[int32(p)]; c != last[p] || c >= produced[p] {
				last[p], moved[p] = c, now
			}
			if s := now.Sub(moved[p]); s > stall {
				stall, stallAt = s, p
			}
		}
	}
	begin := time.Now()
	for p := range moved {
		moved[p] = begin
	}
	n := 0
	ticker := time.NewTicker(tick) // paces production; nothing waits on it for a result
	defer ticker.Stop()
	for time.Since(begin) < produce {
		msgs := make([]itest.Msg, 0, rate*tick/time.Second)
		for range rate * tick / time.Second {
			p := n % partitions
			msgs = append(msgs, itest.Msg{Partition: int32(p), Value: fmt.Appendf(nil, `{"type":"track","event":"Signed In","messageId":"slow-%d"}`, n)})
			produced[p]++
			n++
		}
		k.Produce(t, "events", msgs)
		observe(time.Now())
		<-ticker.C
	}
	stopped := time.Now()
	fh.Await(t, time.Minute, "every record", func() bool {
		observe(time.Now())
		return len(fh.Records("everything")) >= n
	})
	caughtUp := time.Since(stopped)
	fh.Await(t, 30*time.Second, "every partition committed to its end", func() bool {
		observe(time.Now())
		c := k.Committed(t, "g-slow", "events")
		for p := range partitions {
			if c[int32(p)] < produced[p] {
				return false
			}
		}
		return true
	})
	t.Logf("%d events at %d/s, calls of %s: caught up %s after the last; longest commit stall %s (partition %d)",
		n, rate, latency, caughtUp.Round(time.Millisecond), stall.Round(time.Millisecond), stallAt)
	// The bounds are wall time under -race beside the other packages'
	// tests: a wait for a call slot, a call, the linger and a fetch come
	// to about 2*latency, and the margin is for a busy machine. The
	// regression this guards against stalled partitions for tens of
	// seconds; the exact bounds are TestSlowStreamKeepsUp's, in fake time.
	if want := 3*latency + 4*time.Second; caughtUp > want {
		t.Errorf("caught up %s after production stopped, want within %s", caughtUp, want)
	}
	if want := 4*latency + 4*time.Second; stall > want {
		t.Errorf("partition %d's commit stood still %s while it was behind, want at most %s", stallAt, stall, want)
	}
}
