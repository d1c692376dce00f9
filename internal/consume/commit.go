package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/commitmeta"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/offsetcommit"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// commitTimeout bounds one offset commit: the coordinator look-up and the
// commit itself. A commit that does not land is retried by the next one.
const commitTimeout = 5 * time.Second

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
	// Lag waits for the first tick: by then fetch responses have given most
	// partitions' high watermarks, and only the others are asked for.
	var hwm map[string]map[int]int64
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

// pendingCommit is one partition's part of a commit.
type pendingCommit struct {
	cl     *Claim
	offset int64
	meta   string
}

// commit commits, for each claim whose offset or finished set moved, the
// committable offset with the offsets finished beyond it in the metadata.
//
// It commits with the generation's id and member id through the Transport
// (the same TLS and SASL as the group), not with Generation.CommitOffsets,
// which cannot carry metadata. The coordinator refuses the commit of a
// member the group has dropped, as it refused CommitOffsets'.
func (c *Consumer) commit(gen *kafka.Generation, claims []*Claim) {
	var todo []pendingCommit
	for _, cl := range claims {
		off, ok := cl.committable()
		if !ok {
			continue
		}
		meta := c.metadata(cl, off)
		if off == cl.lastCommitted && meta == cl.lastMeta {
			continue
		}
		todo = append(todo, pendingCommit{cl: cl, offset: off, meta: meta})
	}
	if len(todo) == 0 {
		return
	}
	var span trace.Span
	if c.opts.Tracer != nil {
		_, span = c.opts.Tracer.Start(context.Background(), "commit offsets", trace.WithAttributes(
			attribute.String("messaging.consumer.group.name", c.opts.GroupID),
			attribute.Int("firehose_worker.generation", int(gen.ID)),
			attribute.Int("firehose_worker.partitions", len(todo))))
		defer span.End()
	}
	errs, err := c.offsetCommit(gen, todo)
	var tooLarge []pendingCommit
	for i, p := range todo {
		if err == nil && errs[i] == nil {
			p.cl.lastCommitted, p.cl.lastMeta = p.offset, p.meta
			continue
		}
		if err == nil && errors.Is(errs[i], kafka.OffsetMetadataTooLarge) && p.meta != "" {
			p.meta = ""
			tooLarge = append(tooLarge, p)
		}
		if err == nil {
			err = fmt.Errorf("partition %s: %w", p.cl, errs[i])
		}
	}
	if len(tooLarge) > 0 {
		c.log.Warn("the broker refused the commit metadata as too large; committing plain offsets from now on (lower kafka.commit_metadata_max_bytes to the brokers' offset.metadata.max.bytes)",
			"bytes", c.metaBudget.Load())
		c.metaBudget.Store(0)
		if errs, err2 := c.offsetCommit(gen, tooLarge); err2 == nil && !anyError(errs) {
			for _, p := range tooLarge {
				p.cl.lastCommitted, p.cl.lastMeta = p.offset, p.meta
			}
		}
	}
	if span != nil && err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
		c.log.Warn("offset commit failed; the next commit will include these offsets", "generation", gen.ID, "error", err)
	}
	telemetry.Add(context.Background(), c.opts.Metrics.Commits, 1, telemetry.AttrOutcome.String(outcome))
}

func anyError(errs []error) bool {
	for _, e := range errs {
		if e != nil {
			return true
		}
	}
	return false
}

// offsetCommit sends one OffsetCommit request for todo and returns each
// partition's error, or the error of the whole request.
//
// It builds kafka-go's protocol request itself rather than calling
// Client.OffsetCommit, which sends a committed leader epoch of 0 from
// protocol version 6 on: a Java consumer of the same group would validate its
// position against epoch 0 after a leader change, find the log "truncated"
// and reset its offset. -1 means "unknown", as a plain commit says.
func (c *Consumer) offsetCommit(gen *kafka.Generation, todo []pendingCommit) ([]error, error) {
	byTopic := map[string]int{}
	req := &offsetcommit.Request{GroupID: c.opts.GroupID, GenerationID: gen.ID, MemberID: gen.MemberID}
	now := time.Now().UnixMilli()
	for _, p := range todo {
		i, ok := byTopic[p.cl.Topic]
		if !ok {
			i = len(req.Topics)
			byTopic[p.cl.Topic] = i
			req.Topics = append(req.Topics, offsetcommit.RequestTopic{Name: p.cl.Topic})
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, offsetcommit.RequestPartition{
			PartitionIndex:       int32(p.cl.Partition),
			CommittedOffset:      p.offset,
			CommitTimestamp:      now,
			CommittedLeaderEpoch: -1,
			CommittedMetadata:    p.meta,
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	m, err := c.opts.Transport.RoundTrip(ctx, kafka.TCP(c.opts.Brokers...), req)
	if err != nil {
		return nil, fmt.Errorf("committing offsets: %w", err)
	}
	resp, ok := m.(*offsetcommit.Response)
	if !ok {
		return nil, fmt.Errorf("committing offsets: unexpected answer %T", m)
	}
	got := map[string]map[int32]error{}
	for _, t := range resp.Topics {
		got[t.Name] = map[int32]error{}
		for _, p := range t.Partitions {
			var e error
			if p.ErrorCode != 0 {
				e = kafka.Error(p.ErrorCode)
			}
			got[t.Name][p.PartitionIndex] = e
		}
	}
	errs := make([]error, len(todo))
	for i, p := range todo {
		e, ok := got[p.cl.Topic][int32(p.cl.Partition)]
		if !ok {
			e = errors.New("no answer for the partition")
		}
		errs[i] = e
	}
	return errs, nil
}

// metadata is the commit metadata for cl at offset off: the offsets finished
// beyond it, this generation's and those inherited from the previous owner
// that fetching has not reached yet, as commitmeta encodes them within the
// budget. "" is a plain commit.
func (c *Consumer) metadata(cl *Claim, off int64) string {
	budget := int(c.metaBudget.Load())
	if budget == 0 {
		return ""
	}
	// Every encoded range takes at least two bytes: more cannot fit.
	cl.finished = cl.Tracker.Finished(cl.finished[:0], budget/2)
	ranges := cl.ranges[:0]
	for _, r := range cl.finished {
		ranges = append(ranges, commitmeta.Range{First: r.First, Last: r.Last})
	}
	ranges = append(ranges, cl.inherited...)
	ranges = commitmeta.Normalize(ranges, off)
	cl.ranges = ranges
	meta, _, err := commitmeta.Encode(off, ranges, budget)
	if err != nil {
		// Normalize's output is always encodable: this is a bug, and a
		// plain commit is still correct.
		c.log.Error("encoding commit metadata failed; committing the plain offset", "partition", cl.String(), "error", err)
		return ""
	}
	return meta
}
