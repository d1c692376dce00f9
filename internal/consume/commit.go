package consume

import (
	"context"
	"sync"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/telemetry"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// commitLoop commits finished offsets every CommitInterval and once more after
// every fetcher of the generation has drained. It also refreshes the
// partitions' committed-offset and lag gauges.
func (c *Consumer) commitLoop(ctx context.Context, gen *kafka.Generation, claims []*Claim, fetchers *sync.WaitGroup) {
	t := time.NewTicker(c.opts.CommitInterval)
	defer t.Stop()
	lagTick := time.NewTicker(c.opts.LagInterval)
	defer lagTick.Stop()
	parts := c.opts.Metrics.Partitions
	for _, cl := range claims {
		parts.Set(cl.Topic, cl.Partition, telemetry.PartitionFigures{Committed: -1, Lag: -1, Freshness: cl.Tracker})
	}
	hwm := c.highWatermarks(ctx, claims)
	for {
		select {
		case <-t.C:
			c.opts.Health.Tick()
			c.commit(gen, claims)
			c.report(claims, hwm)
		case <-lagTick.C:
			hwm = c.highWatermarks(ctx, claims)
			c.report(claims, hwm)
		case <-ctx.Done():
			// Commit what is acknowledged now, while the membership is
			// surely still valid, then again once the partitions drained.
			c.commit(gen, claims)
			fetchers.Wait()
			c.commit(gen, claims)
			c.keepDelivered(claims)
			for _, cl := range claims {
				parts.Forget(cl.Topic, cl.Partition)
			}
			return
		}
	}
}

func (c *Consumer) commit(gen *kafka.Generation, claims []*Claim) {
	offsets := map[string]map[int]int64{}
	var moved []*Claim
	var next []int64
	for _, cl := range claims {
		off, ok := cl.committable()
		if !ok || off == cl.lastCommitted {
			continue
		}
		if offsets[cl.Topic] == nil {
			offsets[cl.Topic] = map[int]int64{}
		}
		offsets[cl.Topic][cl.Partition] = off
		moved = append(moved, cl)
		next = append(next, off)
	}
	if len(moved) == 0 {
		return
	}
	var span trace.Span
	if c.opts.Tracer != nil {
		_, span = c.opts.Tracer.Start(context.Background(), "commit offsets", trace.WithAttributes(
			attribute.String("messaging.consumer.group.name", c.opts.GroupID),
			attribute.Int("firehose_worker.generation", int(gen.ID)),
			attribute.Int("firehose_worker.partitions", len(moved))))
		defer span.End()
	}
	err := gen.CommitOffsets(offsets)
	if span != nil && err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
		c.log.Warn("offset commit failed; the next commit will include these offsets", "generation", gen.ID, "error", err)
	} else {
		for i, cl := range moved {
			cl.lastCommitted = next[i]
		}
	}
	telemetry.Add(context.Background(), c.opts.Metrics.Commits, 1, telemetry.AttrOutcome.String(outcome))
}
