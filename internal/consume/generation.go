package consume

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/commitmeta"
	"github.com/segmentio/kafka-go"
)

// Claim is one partition owned in the current generation.
type Claim struct {
	Topic     string
	Partition int
	Tracker   *checkpoint.Tracker
	// lastCommitted is the last offset committed for the claim; -1 for none.
	lastCommitted int64
	// resumed is the offset the claim resumed from past the group's
	// committed one (see Consumer.delivered), to be committed even if no
	// message comes; -1 for none.
	resumed int64
	// lastMeta is the metadata of the last commit (see commitmeta).
	lastMeta string
	// inherited are the offsets beyond the group's committed offset that a
	// previous owner had finished, read from the commit metadata when the
	// generation started; fixed from then on. skipAt is the fetcher's
	// position in it.
	inherited []commitmeta.Range
	skipAt    int
	// Scratch space of the commit loop's metadata encoding.
	finished []checkpoint.Range
	ranges   []commitmeta.Range
	// interrupted is set when a Handle of the claim returned early because
	// the generation ended (see park.go). The claim's worker goroutine
	// owns it.
	interrupted bool
	// hwm is the partition's high watermark in the last fetch response that
	// asked for it, at hwmAt (Unix nanoseconds; 0 before one), for lag.
	hwm, hwmAt atomic.Int64
	// owned says the keys and values of the messages being handled have
	// memory of their own, so Keep need not copy them. The fetch loop
	// decides it per response (the arena of its fetched buffer) and the
	// claim's worker sets it before handing that response's messages on:
	// always when
	// Options.KeepsAll names the topic (keepsAll), and when the Handler
	// kept most messages of the claim's previous response (keptMost). A
	// mapping of every event type but no "*" row, or a dead-letter storm,
	// then copies each message once, not into a slab and again in Keep.
	owned    bool
	keepsAll bool
	// kept counts the Keep calls while one response is handled; the worker
	// goroutine's own.
	kept     int
	keptMost atomic.Bool
}

// Keep makes m's key and value safe to keep after Handle returns: unless
// the consumer gave them memory of their own, it copies them into one
// allocation, never nil (nil, empty and present stay apart, as a dead
// letter writes them: an empty value is not a tombstone). Call it from
// Handle, with m as given.
func (c *Claim) Keep(m *kafka.Message) {
	c.kept++
	if c.owned {
		return
	}
	k := len(m.Key)
	kv := make([]byte, k+len(m.Value))
	copy(kv, m.Key)
	copy(kv[k:], m.Value)
	if m.Key != nil {
		m.Key = kv[:k:k]
	}
	if m.Value != nil {
		m.Value = kv[k:]
	}
}

func (c *Claim) String() string { return fmt.Sprintf("%s/%d", c.Topic, c.Partition) }

func (c *Consumer) startGeneration(gen *kafka.Generation) {
	var claims []*Claim
	now := map[string]bool{}
	for topic, parts := range gen.Assignments {
		for _, p := range parts {
			cl := &Claim{Topic: topic, Partition: p.ID, Tracker: checkpoint.NewTracker(c.opts.OnFinish(topic)), lastCommitted: -1, resumed: -1}
			claims = append(claims, cl)
			now[cl.String()] = true
		}
	}
	sort.Slice(claims, func(i, j int) bool { return claims[i].String() < claims[j].String() })
	assigned := map[string][]int{}
	for _, cl := range claims {
		assigned[cl.Topic] = append(assigned[cl.Topic], cl.Partition)
	}
	c.assigned.Store(&assigned)
	c.logAssignment(gen, now)
	c.opts.Metrics.Rebalances.Add(context.Background(), 1)
	names := make([]string, len(claims))
	for i, cl := range claims {
		names[i] = cl.String()
	}
	c.opts.Health.SetMembership(true, names)
	c.opts.Status(names)

	for _, cl := range claims {
		if offset := startOffset(gen, cl); offset >= 0 {
			cl.lastCommitted = offset // the group's committed offset
		}
	}
	c.readFinished(gen.ID, claims)
	var fetchers sync.WaitGroup
	offsets := make([]int64, 0, len(claims))
	for _, cl := range claims {
		offset := startOffset(gen, cl)
		d, delivered := c.takeDelivered(cl.String())
		if next, ok := c.unpark(cl, max(offset, -1)); ok {
			offsets = append(offsets, next)
			continue
		}
		if delivered && d > offset {
			c.log.Info("resuming past the group's committed offset: this worker delivered up to here, but its commit did not reach the group",
				"partition", cl.String(), "committed", offset, "resume", d)
			offset, cl.resumed = d, d
		}
		offsets = append(offsets, offset)
	}
	// Parked claims of partitions this generation did not give back.
	c.releaseParked("the partition went to another member")
	c.startFetching(gen, claims, offsets, &fetchers)
	gen.Start(func(ctx context.Context) { c.commitLoop(ctx, gen, claims, &fetchers) })
}

// lastAssigned is what the last generation gave this worker.
func (c *Consumer) lastAssigned() map[string][]int {
	if a := c.assigned.Load(); a != nil {
		return *a
	}
	return nil
}

func startOffset(gen *kafka.Generation, cl *Claim) int64 {
	for _, p := range gen.Assignments[cl.Topic] {
		if p.ID == cl.Partition {
			return p.Offset
		}
	}
	return kafka.FirstOffset
}

func (c *Consumer) logAssignment(gen *kafka.Generation, now map[string]bool) {
	var gained, lost []string
	for k := range now {
		if !c.owned[k] {
			gained = append(gained, k)
		}
	}
	for k := range c.owned {
		if !now[k] {
			lost = append(lost, k)
		}
	}
	sort.Strings(gained)
	sort.Strings(lost)
	c.owned = now
	c.log.Info("joined consumer group generation", "group", c.opts.GroupID, "generation", gen.ID, "member", gen.MemberID,
		"partitions", len(now), "gained", strings.Join(gained, ","), "lost", strings.Join(lost, ","))
}
