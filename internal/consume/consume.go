// Package consume runs the Kafka consumer group: it joins generations, fetches
// each assigned partition, hands messages to a Handler, and commits the
// offsets the partitions' trackers say are finished.
//
// It is built on kafka-go's ConsumerGroup/Generation API rather than a Reader
// with a GroupID, because a generation tells us when partitions are revoked:
// its context ends, and the group waits for our goroutines before it rejoins.
// That window is where a revoked partition stops fetching, lets its in-flight
// records finish (bounded by the drain timeout), commits, and is released.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// Handler processes fetched messages.
type Handler interface {
	// Handle takes one message of c. It returns once the message is tracked
	// in c.Tracker (not when it is delivered); blocking here is how
	// backpressure stops fetching. It returns an error only when ctx ends.
	// *m is reused for the next message: keep its fields, not m.
	Handle(ctx context.Context, c *Claim, m *kafka.Message) error
	// Flush sends every buffered record now instead of after its linger, so
	// revoked partitions and shutdown do not wait for it.
	Flush()
}

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
}

func (c *Claim) String() string { return fmt.Sprintf("%s/%d", c.Topic, c.Partition) }

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

// Options configure a Consumer.
type Options struct {
	Brokers           []string
	GroupID           string
	Topics            []string
	Dialer            *kafka.Dialer // nil: kafka.DefaultDialer
	StartOffset       int64         // kafka.FirstOffset or kafka.LastOffset
	CommitInterval    time.Duration
	SessionTimeout    time.Duration
	RebalanceTimeout  time.Duration
	HeartbeatInterval time.Duration
	// DrainTimeout bounds the wait for a revoked partition's in-flight records.
	DrainTimeout time.Duration
	// ShutdownTimeout bounds the same wait when the consumer stops.
	ShutdownTimeout time.Duration
	FetchMaxWait    time.Duration
	FetchMaxBytes   int
	// MaxPending bounds the unfinished messages of a partition: fetching
	// waits at the bound. 0 means no bound.
	MaxPending int
	// OnFinish is given to the tracker of each partition of topic; see
	// checkpoint.NewTracker.
	OnFinish func(topic string) func(m *checkpoint.Message)
	// Transport reaches the brokers for offset look-ups (lag); nil is plain TCP.
	Transport kafka.RoundTripper
	// LagInterval is how often high watermarks are read to compute lag.
	LagInterval time.Duration
	Logger      *slog.Logger
	Metrics     *telemetry.Metrics
	// Health, when set, is told about membership and the commit loop.
	Health *telemetry.Health
	// Status, when set, receives each generation's claims (for tools and tests).
	Status func(claims []string)
	// Tracer, when set, records a span per offset commit.
	Tracer trace.Tracer
}

// Consumer runs the group. Run it once.
type Consumer struct {
	opts     Options
	h        Handler
	log      *slog.Logger
	stopping atomic.Bool
	owned    map[string]bool // claims of the previous generation, for logs

	// delivered holds, per partition, the offset up to which this worker
	// had finished every message when a generation ended without the
	// commit of it reaching the group: the coordinator was unreachable
	// (a broker restart), which is also what often ends the generation.
	// When the next generation gives the partition back, reading resumes
	// there instead of re-reading, and so re-delivering, everything since
	// the last commit that landed. Everything below it was delivered, by
	// this worker, so starting there (or at the group's offset if that is
	// higher) loses nothing. Generations run one after the other, but the
	// lock keeps that an assumption of nothing.
	deliveredMu sync.Mutex
	delivered   map[string]int64
}

// New returns a consumer that gives messages to h.
func New(opts Options, h Handler) *Consumer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = telemetry.Discard()
	}
	if opts.Status == nil {
		opts.Status = func([]string) {}
	}
	if opts.LagInterval <= 0 {
		opts.LagInterval = 5 * time.Second
	}
	return &Consumer{opts: opts, h: h, log: opts.Logger, owned: map[string]bool{}, delivered: map[string]int64{}}
}

// Run consumes until ctx ends. Then it stops fetching, waits for in-flight
// records (bounded by ShutdownTimeout), commits what is finished, and leaves
// the group before returning. Temporary group errors, such as a rebalance in
// progress or a broker restart, are logged and retried.
func (c *Consumer) Run(ctx context.Context) error {
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                c.opts.GroupID,
		Brokers:           c.opts.Brokers,
		Dialer:            c.opts.Dialer,
		Topics:            c.opts.Topics,
		HeartbeatInterval: c.opts.HeartbeatInterval,
		SessionTimeout:    c.opts.SessionTimeout,
		RebalanceTimeout:  c.opts.RebalanceTimeout,
		JoinGroupBackoff:  time.Second,
		StartOffset:       c.opts.StartOffset,
		// Kafka's own default; kafka-go would otherwise ask for 24h, and a
		// group idle over a weekend would lose its place.
		RetentionTime:          7 * 24 * time.Hour,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 10 * time.Second,
		ErrorLogger:            kafka.LoggerFunc(func(f string, a ...any) { c.log.Debug("kafka group: " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("creating consumer group: %w", err)
	}
	closed := make(chan struct{})
	go func() {
		<-ctx.Done()
		c.stopping.Store(true)
		// Closing ends the current generation: its goroutines drain and
		// commit, then the group leaves. Close waits for all of it.
		_ = group.Close()
		close(closed)
	}()
	for {
		gen, err := group.Next(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed):
			<-closed
			c.opts.Health.SetMembership(false, nil)
			c.log.Info("left the consumer group", "group", c.opts.GroupID)
			return nil
		case err != nil:
			c.opts.Health.SetMembership(false, nil)
			if isTemporary(err) {
				c.log.Info("consumer group is rebalancing", "reason", err.Error())
			} else {
				c.log.Warn("consumer group error; retrying", "error", err)
			}
			continue
		}
		c.startGeneration(gen)
	}
}

// isTemporary reports group errors that are part of normal membership
// changes: kafka-go's Temporary list misses the rebalance codes.
func isTemporary(err error) bool {
	var ke kafka.Error
	if !errors.As(err, &ke) {
		return false
	}
	switch ke {
	case kafka.RebalanceInProgress, kafka.IllegalGeneration, kafka.UnknownMemberId,
		kafka.NotCoordinatorForGroup, kafka.GroupCoordinatorNotAvailable, kafka.GroupLoadInProgress:
		return true
	}
	return ke.Temporary()
}

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
	c.logAssignment(gen, now)
	c.opts.Metrics.Rebalances.Add(context.Background(), 1)
	names := make([]string, len(claims))
	for i, cl := range claims {
		names[i] = cl.String()
	}
	c.opts.Health.SetMembership(true, names)
	c.opts.Status(names)

	var fetchers sync.WaitGroup
	for _, cl := range claims {
		offset := startOffset(gen, cl)
		if offset >= 0 {
			cl.lastCommitted = offset // the group's committed offset
		}
		if d, ok := c.takeDelivered(cl.String()); ok && d > offset {
			c.log.Info("resuming past the group's committed offset: this worker delivered up to here, but its commit did not reach the group",
				"partition", cl.String(), "committed", offset, "resume", d)
			offset, cl.resumed = d, d
		}
		fetchers.Add(1)
		gen.Start(func(ctx context.Context) {
			defer fetchers.Done()
			c.fetch(ctx, cl, offset)
		})
	}
	gen.Start(func(ctx context.Context) { c.commitLoop(ctx, gen, claims, &fetchers) })
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
		parts.Set(cl.Topic, cl.Partition, telemetry.PartitionFigures{Committed: -1, Lag: -1})
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

// report publishes each claim's committed offset and lag.
func (c *Consumer) report(claims []*Claim, hwm map[string]map[int]int64) {
	for _, cl := range claims {
		f := telemetry.PartitionFigures{Committed: cl.lastCommitted, Lag: -1}
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
