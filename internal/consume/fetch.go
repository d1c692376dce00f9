package consume

import (
	"context"
	"fmt"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/telemetry"
	"github.com/segmentio/kafka-go"
)

// fetch reads one partition from offset until ctx ends, then drains it.
//
// It must return promptly after ctx ends (bounded by the drain timeout): the
// group waits for it before joining the next generation.
func (c *Consumer) fetch(ctx context.Context, cl *Claim, offset int64) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        c.opts.Brokers,
		Topic:          cl.Topic,
		Partition:      cl.Partition,
		Dialer:         c.opts.Dialer,
		MinBytes:       1,
		MaxBytes:       c.opts.FetchMaxBytes,
		MaxWait:        c.opts.FetchMaxWait,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: 2 * time.Second,
		MaxAttempts:    1 << 30,
		ErrorLogger:    kafka.LoggerFunc(func(f string, a ...any) { c.log.Debug("kafka reader: "+fmt.Sprintf(f, a...), "partition", cl.String()) }),
	})
	defer r.Close()
	if err := r.SetOffset(offset); err != nil {
		c.log.Error("cannot set the start offset", "partition", cl.String(), "offset", offset, "error", err)
	}
	consumed := c.opts.Metrics.Consumed.Get(telemetry.AttrTopic.String(cl.Topic))
	// One Message for the loop: passed by pointer through an interface, a
	// fresh one per message escaped to the heap (50 MB per million).
	var m kafka.Message
	for {
		var err error
		m, err = r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			c.log.Warn("fetch failed; retrying", "partition", cl.String(), "error", err)
			continue
		}
		consumed.Add(1)
		if c.skipFinished(cl, m.Offset) {
			continue
		}
		if err := c.h.Handle(ctx, cl, &m); err != nil {
			break
		}
		if c.opts.MaxPending > 0 && cl.Tracker.Pending() >= c.opts.MaxPending {
			// The read-ahead window is full. Its oldest message may only be
			// waiting out the linger of a stream that gets few records;
			// holding the partition for it capped a backlog's speed at
			// MaxPending per linger. Send lingering batches now.
			c.h.Flush()
			if err := cl.Tracker.WaitPendingBelow(ctx, c.opts.MaxPending); err != nil {
				break
			}
		}
	}
	c.drain(cl)
}

// drain waits for cl's tracked messages to finish, bounded by the drain or
// shutdown timeout.
func (c *Consumer) drain(cl *Claim) {
	timeout := c.opts.DrainTimeout
	if c.stopping.Load() {
		timeout = c.opts.ShutdownTimeout
	}
	// Heartbeats stop when the generation ends, for a rebalance as for a
	// shutdown: past the session timeout the broker drops the member and
	// refuses its final commit, so no drain may outlast it.
	timeout = min(timeout, max(c.opts.SessionTimeout-time.Second, time.Second))
	c.h.Flush()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	if err := cl.Tracker.WaitDrained(ctx); err != nil {
		c.log.Warn("partition released with unacknowledged records; they will be read again by its next owner",
			"partition", cl.String(), "pending", cl.Tracker.Pending(), "waited", timeout.String())
		return
	}
	c.log.Debug("partition drained", "partition", cl.String(), "took", time.Since(start).String())
}
