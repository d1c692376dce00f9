package consume

import (
	"context"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/telemetry"
	"github.com/segmentio/kafka-go"
)

// report publishes each claim's committed offset and lag.
func (c *Consumer) report(claims []*Claim, hwm map[string]map[int]int64) {
	for _, cl := range claims {
		f := telemetry.PartitionFigures{Committed: cl.lastCommitted, Lag: -1, Freshness: cl.Tracker}
		if h, ok := hwm[cl.Topic][cl.Partition]; ok && cl.lastCommitted >= 0 {
			f.Lag = max(h-cl.lastCommitted, 0)
		}
		c.opts.Metrics.Partitions.Set(cl.Topic, cl.Partition, f)
	}
}

// highWatermarks returns the end offset of each claim: the one the last
// fetch response gave for it, or, for claims no fetch has asked for within
// LagInterval (a partition that waits on the memory cap drops out of
// fetches, and its lag is what an operator looks at then), one read from
// the brokers. kafka-go sends a ListOffsets request per partition, which on
// a few hundred idle partitions was most of an idle worker's connections
// and CPU, so only the stale ones are asked.
func (c *Consumer) highWatermarks(ctx context.Context, claims []*Claim) map[string]map[int]int64 {
	out := map[string]map[int]int64{}
	var stale []*Claim
	since := time.Now().Add(-c.opts.LagInterval).UnixNano()
	for _, cl := range claims {
		if cl.hwmAt.Load() < since {
			stale = append(stale, cl)
			continue
		}
		if out[cl.Topic] == nil {
			out[cl.Topic] = map[int]int64{}
		}
		out[cl.Topic][cl.Partition] = cl.hwm.Load()
	}
	c.listHighWatermarks(ctx, stale, out)
	return out
}

// listHighWatermarks reads the end offsets of claims from the brokers into
// out.
func (c *Consumer) listHighWatermarks(ctx context.Context, claims []*Claim, out map[string]map[int]int64) {
	req := &kafka.ListOffsetsRequest{Addr: kafka.TCP(c.opts.Brokers...), Topics: map[string][]kafka.OffsetRequest{}}
	for _, cl := range claims {
		req.Topics[cl.Topic] = append(req.Topics[cl.Topic], kafka.LastOffsetOf(cl.Partition))
	}
	if len(claims) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := &kafka.Client{Transport: c.opts.Transport}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		c.log.Debug("reading high watermarks failed", "error", err)
		return
	}
	for topic, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				continue
			}
			if out[topic] == nil {
				out[topic] = map[int]int64{}
			}
			out[topic][p.Partition] = p.LastOffset
		}
	}
}
