package consume

import (
	"context"
	"errors"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/commitmeta"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
	"github.com/segmentio/kafka-go"
)

// committable is the offset to commit for the claim: the tracker's, or the
// offset it resumed from while no message has been tracked.
func (c *Claim) committable() (int64, bool) {
	if off, ok := c.Tracker.Committable(); ok {
		return off, true
	}
	return c.resumed, c.resumed >= 0
}

// keepDelivered notes, for each claim of an ending generation whose last
// commit did not land, how far it had finished (see Consumer.delivered).
func (c *Consumer) keepDelivered(claims []*Claim) {
	c.deliveredMu.Lock()
	defer c.deliveredMu.Unlock()
	for _, cl := range claims {
		if off, ok := cl.committable(); ok && off != cl.lastCommitted {
			c.delivered[cl.String()] = off
		}
	}
}

// takeDelivered returns and forgets what keepDelivered noted for a
// partition.
func (c *Consumer) takeDelivered(partition string) (int64, bool) {
	c.deliveredMu.Lock()
	defer c.deliveredMu.Unlock()
	off, ok := c.delivered[partition]
	delete(c.delivered, partition)
	return off, ok
}

// readFinished reads the group's commit metadata of each claim whose
// committed offset the generation gave (cl.lastCommitted) and keeps the
// offsets it says a previous owner finished beyond it, for skipFinished.
//
// Anything it cannot trust is ignored, so those messages are sent again:
// metadata of another tool, version or committed offset, corrupt metadata
// (each with a warning), and a failed look-up.
func (c *Consumer) readFinished(gen int32, claims []*Claim) {
	req := &kafka.OffsetFetchRequest{Addr: kafka.TCP(c.opts.Brokers...), GroupID: c.opts.GroupID, Topics: map[string][]int{}}
	for _, cl := range claims {
		if cl.lastCommitted >= 0 {
			req.Topics[cl.Topic] = append(req.Topics[cl.Topic], cl.Partition)
		}
	}
	if len(req.Topics) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	resp, err := c.offsetFetch(ctx, req)
	if err != nil {
		c.log.Warn("reading the commit metadata failed; messages finished past the committed offsets will be sent again",
			"generation", gen, "error", err)
		return
	}
	for _, cl := range claims {
		if cl.lastCommitted < 0 {
			continue
		}
		for _, p := range resp.Topics[cl.Topic] {
			if p.Partition != cl.Partition || p.Error != nil || p.CommittedOffset != cl.lastCommitted {
				continue
			}
			ranges, err := commitmeta.Decode(p.Metadata, p.CommittedOffset)
			switch {
			case err == nil:
				cl.inherited, cl.lastMeta = ranges, p.Metadata
				var n int64
				for _, r := range ranges {
					n += r.Last - r.First + 1
				}
				c.log.Info("the previous owner finished messages past the committed offset; skipping them",
					"partition", cl.String(), "committed", cl.lastCommitted, "ranges", len(ranges), "offsets", n)
			case errors.Is(err, commitmeta.ErrForeign) && p.Metadata == "":
				// A plain commit.
			default:
				c.log.Warn("ignoring commit metadata this worker cannot trust; messages past the committed offset will be sent again",
					"partition", cl.String(), "committed", cl.lastCommitted, "bytes", len(p.Metadata), "reason", err.Error())
			}
		}
	}
}

// offsetFetchAttempts is how often readFinished asks before it gives up
// and lets the messages finished past the commit be sent again. After a
// broker restart the transport's pooled connection to it fails on first
// use (a chaos run lost a generation's metadata to that one EOF), and a
// coordinator that just moved answers NotCoordinator once.
const offsetFetchAttempts = 3

// offsetFetch reads the group's committed offsets, retrying a failed
// request with backoff within ctx.
func (c *Consumer) offsetFetch(ctx context.Context, req *kafka.OffsetFetchRequest) (*kafka.OffsetFetchResponse, error) {
	client := &kafka.Client{Transport: c.opts.Transport}
	for attempt := 1; ; attempt++ {
		resp, err := client.OffsetFetch(ctx, req)
		if err == nil {
			err = resp.Error
		}
		if err == nil || attempt == offsetFetchAttempts {
			return resp, err
		}
		c.log.Debug("reading the commit metadata failed; retrying", "attempt", attempt, "error", err)
		t := time.NewTimer(backoffFor(attempt - 1))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
}

// skipFinished reports whether the message at offset of cl was already
// finished by a previous owner of the partition, past the committed offset,
// and if so tracks it as done so the partition's committable offset moves
// past it without re-sending it. Offsets must increase from call to call.
func (c *Consumer) skipFinished(cl *Claim, offset int64) bool {
	for cl.skipAt < len(cl.inherited) && cl.inherited[cl.skipAt].Last < offset {
		cl.skipAt++
	}
	if cl.skipAt == len(cl.inherited) || cl.inherited[cl.skipAt].First > offset {
		return false
	}
	cl.Tracker.Skip(offset)
	c.opts.Metrics.Resumed.Get(telemetry.AttrTopic.String(cl.Topic)).Add(1)
	return true
}
