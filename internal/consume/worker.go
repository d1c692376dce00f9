package consume

import (
	"context"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// work hands p's fetched messages to the Handler until ctx ends, then
// drains the partition.
//
// It must return promptly after ctx ends (bounded by the drain timeout): the
// group waits for it before joining the next generation.
func (s *session) work(ctx context.Context, p *part) {
	defer s.c.drain(p.cl)
	consumed := s.consumed[p.cl.Topic]
	for {
		var f *fetched
		select {
		case <-ctx.Done():
			return
		case f = <-p.in:
		}
		err := s.handle(ctx, p, f, consumed)
		s.giveBack(p, f)
		if err != nil {
			return
		}
	}
}

// giveBack returns f, handled, to p's free buffers and its bytes to the
// topic's read-ahead budget. That wakes p's own loop, which may ask for p
// again now that it has a free buffer, and every other loop of the topic
// (see readAhead).
func (s *session) giveBack(p *part, f *fetched) {
	n := f.bytes
	s.recycle(f)
	p.free <- f
	p.ahead.release(n)
}

func (s *session) handle(ctx context.Context, p *part, f *fetched, consumed *telemetry.Tally) error {
	cl, window := p.cl, s.c.opts.MaxPending
	cl.owned, cl.kept = f.mem.owned(), 0
	defer func() { cl.keptMost.Store(2*cl.kept > len(f.msgs)) }()
	last := int64(-1)
	for i := range f.msgs {
		m := &f.msgs[i]
		consumed.Add(1)
		last = m.Offset
		if s.c.skipFinished(cl, m.Offset) {
			continue
		}
		if err := s.c.h.Handle(ctx, cl, m); err != nil {
			// The generation ended inside Handle, which may have tracked
			// the message without handing it on: it would never finish,
			// so this claim must not be parked and gone on from.
			cl.interrupted = true
			return err
		}
		if window > 0 && cl.Tracker.Pending() >= window {
			// The read-ahead window is full. Its oldest message may only be
			// waiting out the linger of a stream that gets few records;
			// holding the partition for it capped a backlog's speed at
			// MaxPending per linger. Send lingering batches now.
			s.c.h.Flush()
			if err := cl.Tracker.WaitPendingBelow(ctx, window); err != nil {
				return err
			}
		}
	}
	if f.through-1 > last {
		// The response ended in offsets that are not messages (a
		// transaction marker, compacted-away records): mark them done so
		// the committed offset reaches the end of the log.
		cl.Tracker.Skip(f.through - 1)
	}
	return nil
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
		if !c.stopping.Load() && !cl.interrupted && c.park(cl) {
			c.log.Info("partition's records still in flight at the rebalance; kept, for the next generation may give it back",
				"partition", cl.String(), "pending", cl.Tracker.Pending(), "waited", timeout.String())
			return
		}
		// Freeze the partition's state before its final commit, so the
		// commit and its metadata say exactly what the next owner must
		// read again; delivery then drops those records where they are not
		// yet in a call, instead of sending copies of them.
		cl.Tracker.Withdraw()
		c.log.Warn("partition released with unacknowledged records; they will be read again by its next owner",
			"partition", cl.String(), "pending", cl.Tracker.Pending(), "waited", timeout.String(),
			"note", "those not yet in a call are withdrawn: this worker does not send them")
		return
	}
	c.log.Debug("partition drained", "partition", cl.String(), "took", time.Since(start).String())
}
