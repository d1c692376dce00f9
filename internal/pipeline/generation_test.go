package pipeline_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// TestNewGenerationResumesWhereCommitsFailed delivers a topic while every
// offset commit fails (the group's coordinator refusing them, as around a
// broker restart), then ends the generation. The worker gets the same
// partitions back; it must resume where it had delivered, not where the
// group last committed (nothing), so no record reaches Firehose twice once
// commits work again.
func TestNewGenerationResumesWhereCommitsFailed(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "events")
	fh := itest.StartFirehose(t)
	evs := events(400, "gen")
	produce(t, k, "events", 2, evs)
	want := expected(evs)

	var failing atomic.Bool
	failing.Store(true)
	k.Cluster.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.Cluster.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, tp := range r.Topics {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = tp.Topic
			for _, p := range tp.Partitions {
				rp := kmsg.NewOffsetCommitResponseTopicPartition()
				rp.Partition = p.Partition
				rp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil, true
	})

	cfg := testConfig(k.Brokers, "g-gen", "events")
	r := start(t, cfg, fh)
	<-r.claims // the first generation
	fh.Await(t, 30*time.Second, "every record, with no commit landing", func() bool { return fh.Total() >= count(want) })
	if c := k.Committed(t, "g-gen", "events"); len(c) != 0 {
		t.Fatalf("offsets %v were committed while commits were failing", c)
	}

	// End the generation: the next heartbeat is told a rebalance is on.
	k.Cluster.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.(*kmsg.HeartbeatRequest).ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
		return resp, nil, true
	})
	select {
	case <-r.claims:
	case <-time.After(30 * time.Second):
		t.Fatal("no new generation after the rebalance")
	}
	failing.Store(false)
	awaitCommitted(t, k, fh, "g-gen", "events")
	checkDelivered(t, fh, want)
}
