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

// highWatermarks asks the brokers for the end offset of each claim. The
// group reader in kafka-go does not report lag, and a fetcher waiting on the
// memory cap does not see new high watermarks, so they are read directly.
func (c *Consumer) highWatermarks(ctx context.Context, claims []*Claim) map[string]map[int]int64 {
	req := &kafka.ListOffsetsRequest{Addr: kafka.TCP(c.opts.Brokers...), Topics: map[string][]kafka.OffsetRequest{}}
	for _, cl := range claims {
		req.Topics[cl.Topic] = append(req.Topics[cl.Topic], kafka.LastOffsetOf(cl.Partition))
	}
	if len(claims) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client := &kafka.Client{Transport: c.opts.Transport}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		c.log.Debug("reading high watermarks failed", "error", err)
		return nil
	}
	out := map[string]map[int]int64{}
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
	return out
}
