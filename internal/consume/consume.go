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
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// Handler processes fetched messages.
type Handler interface {
	// Handle takes one message of c. It returns once the message is tracked
	// in c.Tracker (not when it is delivered); blocking here is how
	// backpressure stops fetching. It returns an error only when ctx ends.
	// *m is reused for the next message: keep its fields, not m. The
	// memory of m.Key and m.Value may be reused once Handle returns: call
	// c.Keep(m) before keeping them. Its headers are m's own.
	Handle(ctx context.Context, c *Claim, m *kafka.Message) error
	// Flush sends every buffered record now instead of after its linger, so
	// revoked partitions and shutdown do not wait for it.
	Flush()
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
	// FetchMinBytes is what a fetch waits for, up to FetchMaxWait; 0 or 1
	// answers at the first message.
	FetchMinBytes int
	FetchMaxBytes int
	// MaxPending bounds the unfinished messages of a partition: fetching
	// waits at the bound. 0 means no bound.
	MaxPending int
	// KeepsAll reports the topics whose every message the Handler keeps
	// past Handle (a "*" row). Their keys and values get memory of their
	// own, so Claim.Keep has nothing to copy; other topics' are copied
	// into slabs reused once Handle returns (see Handler). nil: none.
	KeepsAll func(topic string) bool
	// OnFinish is given to the tracker of each partition of topic; see
	// checkpoint.NewTracker.
	OnFinish func(topic string) func(m *checkpoint.Message)
	// MetadataMaxBytes bounds the commit metadata that records the offsets
	// finished beyond the committed one (see internal/commitmeta); 0 writes
	// plain commits. It must not exceed the brokers' offset.metadata.max.bytes.
	MetadataMaxBytes int
	// Transport reaches the brokers for offset commits, committed-offset and
	// high-watermark look-ups, with the TLS and SASL of Dialer; nil is
	// kafka.DefaultTransport (plain TCP).
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
	opts Options
	h    Handler
	// transport carries leader and offset look-ups (see fetch.go).
	transport *kafka.Transport
	log       *slog.Logger
	stopping  atomic.Bool
	owned     map[string]bool // claims of the previous generation, for logs

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

	// parked holds claims of ended generations whose records were still in
	// flight, by partition, for the next generation (see park.go).
	parkedMu sync.Mutex
	parked   map[string]*parkedClaim

	// metaBudget is MetadataMaxBytes until a broker refuses metadata that
	// size, then 0 (plain commits).
	metaBudget atomic.Int64
	// assigned is the last generation's partitions by topic, which the
	// sticky balancer announces when the worker joins the next one.
	assigned atomic.Pointer[map[string][]int]
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
	if opts.Transport == nil {
		opts.Transport = kafka.DefaultTransport
	}
	c := &Consumer{opts: opts, h: h, log: opts.Logger, owned: map[string]bool{}, delivered: map[string]int64{}, parked: map[string]*parkedClaim{}}
	c.transport = c.fetchTransport()
	c.metaBudget.Store(int64(opts.MetadataMaxBytes))
	return c
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
		GroupBalancers:    []kafka.GroupBalancer{stickyBalancer{owned: c.lastAssigned}, kafka.RangeGroupBalancer{}},
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
		c.transport.CloseIdleConnections()
		close(closed)
	}()
	for {
		gen, err := group.Next(ctx)
		switch {
		case ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed):
			<-closed
			c.releaseParked("the consumer stopped")
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
