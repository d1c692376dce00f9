// Package pipeline wires the stages of the worker: consume -> decode/route ->
// batch -> deliver -> checkpoint -> commit, and owns their goroutines.
//
// Data travels one way. A fetched message is decoded once, framed once, and
// its record is added to the accumulator of every stream it routes to; the
// message is tracked in its partition's checkpoint with one part per stream,
// and its offset becomes committable when every part is acknowledged (or
// dead-lettered). Memory held by buffered and in-flight records is capped:
// when the cap is reached, fetching waits.
package pipeline

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
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/awsclient"
	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/congestion"
	"github.com/firehose-worker/firehose-worker/internal/consume"
	"github.com/firehose-worker/firehose-worker/internal/deadletter"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/freshness"
	"github.com/firehose-worker/firehose-worker/internal/retry"
	"github.com/firehose-worker/firehose-worker/internal/route"
	"github.com/firehose-worker/firehose-worker/internal/segment"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// Deps are the pipeline's collaborators. Zero fields get working defaults.
type Deps struct {
	Logger  *slog.Logger
	Metrics *telemetry.Metrics
	// Clients returns the Firehose client of a source; by default an
	// awsclient.Factory built from the SDK's standard environment.
	Clients func(ctx context.Context, src config.Source) (delivery.PutRecordBatcher, error)
	// Dialer connects to Kafka (TLS, SASL); nil uses plain TCP.
	Dialer *kafka.Dialer
	// Transport is the dead-letter producer's transport; nil uses plain TCP.
	Transport kafka.RoundTripper
	// WorkerID names this worker in role session names and logs.
	WorkerID string
	// Health is told about membership, progress and stuck deliveries.
	Health *telemetry.Health
	// Status receives each generation's claims, for tools and tests.
	Status func(claims []string)
	// Tracing, when set, records delivery and commit spans; delivery spans
	// link to the W3C trace context of the messages they carry.
	Tracing *telemetry.Tracing
}

// Pipeline is one worker's processing. Build it with New and Run it once.
type Pipeline struct {
	cfg     *config.Config
	log     *slog.Logger
	metrics *telemetry.Metrics
	deps    Deps

	topics map[string]*source
	dests  []*dest
	dlq    *deadletter.Writer

	// sendCtx outlives the consumer's contexts so revoked partitions and
	// shutdown can still deliver what they hold; it ends only when the
	// shutdown timeout has passed.
	sendCtx    context.Context
	cancelSend context.CancelFunc
	// inflight runs the deliveries and dead-letter writes. Each returns an
	// error only when the send context ended before it finished (its
	// records stay uncommitted); Run logs them.
	inflight errgroup.Group
	cutOff   atomic.Int64 // how many ended so
	dlqSlots chan struct{}

	stats Stats

	// Counts of the hot path, looked up once: a lookup builds an
	// attribute set and takes a lock.
	routed, inflightBytes *telemetry.Tally
	skipped               map[string]*telemetry.Tally // by outcome

	// bodies bounds the request bodies being sent, over all streams, to
	// half the record memory cap (see delivery.Bodies).
	bodies *delivery.Bodies
}

type source struct {
	cfg   config.Source
	table *route.Table
	dests []*dest // indexed like table.Streams()
	pool  sync.Pool
	// mem is the source's share of the memory cap. Shares are separate so
	// a source whose streams are stuck (a refused role, a denied stream)
	// fills only its own and the other sources keep flowing.
	mem     *semaphore.Weighted
	memSize int64
	// envelopes: values shaped as /v1/batch bodies are split (see
	// handleEnvelope).
	envelopes bool
}

// scratch is per-goroutine decode state, pooled per source.
type scratch struct {
	dec segment.Decoder
	ids []int

	// For envelopes (envelope.go).
	split  segment.Splitter
	items  []envItem
	envIDs []int
}

type dest struct {
	stream  *delivery.Stream
	acc     *batch.Accumulator
	limiter *congestion.Limiter
	p       *Pipeline
	// window holds the batches handed to delivery and not yet finished,
	// for the stream's freshness gauges.
	window *freshness.Window
}

// New checks that every source's client can be built and returns the
// pipeline.
func New(ctx context.Context, cfg *config.Config, deps Deps) (*Pipeline, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = telemetry.Discard()
	}
	if deps.WorkerID == "" {
		deps.WorkerID = "worker"
	}
	if deps.Clients == nil {
		f := awsclient.New(awsclient.Options{WorkerID: deps.WorkerID, MaxConnsPerHost: cfg.Delivery.MaxInFlight * 8, Metrics: deps.Metrics})
		deps.Clients = func(ctx context.Context, s config.Source) (delivery.PutRecordBatcher, error) {
			return f.Firehose(ctx, awsclient.Key{Region: s.Region, RoleARN: s.RoleAddress, ExternalID: s.ExternalID()}, s.ID)
		}
	}
	p := &Pipeline{
		cfg:           cfg,
		log:           deps.Logger,
		metrics:       deps.Metrics,
		deps:          deps,
		topics:        map[string]*source{},
		dlqSlots:      make(chan struct{}, 256),
		routed:        deps.Metrics.Messages.Get(telemetry.AttrOutcome.String(telemetry.MsgRouted)),
		inflightBytes: deps.Metrics.InFlightBytes.Get(),
		skipped: map[string]*telemetry.Tally{
			telemetry.MsgSkippedUnmapped:     deps.Metrics.Messages.Get(telemetry.AttrOutcome.String(telemetry.MsgSkippedUnmapped)),
			telemetry.MsgSkippedIntegrations: deps.Metrics.Messages.Get(telemetry.AttrOutcome.String(telemetry.MsgSkippedIntegrations)),
		},
		bodies: delivery.NewBodies(max(int64(cfg.Memory.MaxBufferedBytes)/2, 2*config.MaxRecordBytes)),
	}
	p.sendCtx, p.cancelSend = context.WithCancel(context.WithoutCancel(ctx))
	policy := retry.New(retry.Config{
		Initial:    cfg.Delivery.Backoff.Initial.D(),
		Max:        cfg.Delivery.Backoff.Max.D(),
		Multiplier: cfg.Delivery.Backoff.Multiplier,
		Jitter:     cfg.Delivery.Backoff.Jitter,
		MaxElapsed: cfg.Delivery.Backoff.MaxElapsed.D(),
	}, retry.GiveUp)
	if cfg.Kafka.DLQTopic != "" {
		p.dlq = deadletter.New(deadletter.Options{
			Brokers: cfg.Kafka.Brokers, Topic: cfg.Kafka.DLQTopic, Transport: deps.Transport,
			Retry: policy, Logger: p.log, Metrics: p.metrics,
		})
	}
	// Streams are shared by sources that deliver to the same stream through
	// the same client, so their records share batches.
	type destKey struct {
		client    awsclient.Key
		stream    string
		aggregate bool
	}
	shared := map[destKey]*dest{}
	for _, sc := range cfg.Sources {
		client, err := deps.Clients(ctx, sc)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", sc.ID, err)
		}
		rows := make([]route.Row, len(sc.MappedStreams))
		for i, m := range sc.MappedStreams {
			rows[i] = route.Row{Event: m.Event, Stream: m.Stream}
		}
		share := max(int64(cfg.Memory.MaxBufferedBytes)/int64(len(cfg.Sources)), 2*config.MaxRecordBytes)
		src := &source{cfg: sc, table: route.New(rows, sc.Routing == config.RoutingFirstMatch), mem: semaphore.NewWeighted(share), memSize: share}
		src.envelopes = sc.Envelope != config.EnvelopeNone
		src.pool.New = func() any {
			s := &scratch{ids: make([]int, 0, 8)}
			s.dec.SetDefaultType(sc.DefaultType)
			return s
		}
		aggregate := map[string]bool{}
		for _, m := range sc.MappedStreams {
			aggregate[m.Stream] = aggregate[m.Stream] || m.Aggregate
		}
		for _, name := range src.table.Streams() {
			key := destKey{awsclient.Key{Region: sc.Region, RoleARN: sc.RoleAddress, ExternalID: sc.ExternalID()}, name, aggregate[name]}
			d, ok := shared[key]
			if !ok {
				d = p.newDest(name, aggregate[name], client, policy, p.log.With("source", sc.ID, "region", sc.Region, "role", sc.RoleAddress))
				shared[key] = d
				p.dests = append(p.dests, d)
			}
			src.dests = append(src.dests, d)
		}
		for _, t := range sc.Topics {
			p.topics[t] = src
		}
	}
	return p, nil
}

// startLimit is where an adaptive stream's concurrency starts: it grows by
// about one per round trip of calls from there.
const startLimit = 2

func (p *Pipeline) newDest(name string, aggregate bool, client delivery.PutRecordBatcher, policy retry.Policy, log *slog.Logger) *dest {
	lim := congestion.NewLimiter(p.cfg.Delivery.AdaptiveConcurrency, startLimit, p.cfg.Delivery.MaxInFlight)
	d := &dest{p: p, limiter: lim, window: freshness.New()}
	p.metrics.Streams.Add(name, d.window)
	opts := delivery.Options{
		Bodies:         p.bodies,
		Congestion:     lim,
		Tracer:         p.tracer(),
		Name:           name,
		Client:         client,
		Retry:          policy,
		RequestTimeout: p.cfg.Delivery.RequestTimeout.D(),
		Metrics:        p.metrics,
		Logger:         log,
	}
	if p.dlq != nil {
		opts.Reject = p.rejectToDLQ
		opts.DeadLetterDenied = p.cfg.Delivery.OnAccessDenied == config.AccessDeadLetter
	}
	d.stream = delivery.NewStream(opts)
	d.acc = batch.New(batch.Limits{
		MaxRecords:     p.cfg.Batch.MaxRecords,
		MaxBytes:       int(p.cfg.Batch.MaxBytes),
		Linger:         p.cfg.Batch.Linger.D(),
		Aggregate:      aggregate,
		MaxRecordBytes: config.MaxRecordBytes,
	}, d.send)
	// A batch past its linger keeps growing while every call slot of its
	// stream is busy, and goes when one frees: a stream whose calls are slow
	// but healthy then sends batches as large as it needs to keep up,
	// instead of queueing one small batch per linger (which held every
	// partition's commit back behind it).
	d.acc.HoldWhile(func() bool { return !lim.Room() })
	lim.OnRoom(d.acc.Room)
	return d
}

// send delivers b in its own goroutine; the stream's limiter decides when
// each call may go. The caller never waits here: backpressure comes from the
// memory cap, which a fetcher waits on with its generation's context, so a
// rebalance is never held up by a stream that Firehose is throttling. If the
// send context ends first, the records stay unfinished and their offsets are
// never committed.
func (d *dest) send(b *batch.Batch) {
	p := d.p
	p.deps.Health.InFlight(1)
	d.limiter.Expect() // keeps a younger batch from overtaking this one
	id := d.window.Open(oldest(b))
	p.inflight.Go(func() error {
		defer p.deps.Health.InFlight(-1)
		n := len(b.Records)
		err := d.stream.Deliver(p.sendCtx, b)
		d.window.Close(id, err == nil)
		// Deliver has finished every record it will (the rest stay
		// unfinished when the send context ended) and keeps nothing.
		d.acc.Recycle(b)
		return p.cutOffErr(err, "delivering %d records to stream %s", n, d.stream.Name())
	})
}

// cutOffErr wraps the error of a delivery or dead-letter write that ended
// because the send context did, and counts it.
func (p *Pipeline) cutOffErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	p.cutOff.Add(1)
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// oldest is the Kafka timestamp of the oldest message in b, or now if none
// carries one. Records of several partitions share a batch, so it is the
// minimum, not the first.
func oldest(b *batch.Batch) time.Time {
	var at time.Time
	see := func(p batch.Part) {
		if m, ok := p.(*checkpoint.Message); ok {
			if ts := m.Time(); !ts.IsZero() && (at.IsZero() || ts.Before(at)) {
				at = ts
			}
		}
	}
	for _, r := range b.Records {
		if pk, ok := r.Part.(*batch.Packed); ok {
			for _, in := range pk.Records {
				see(in.Part)
			}
			continue
		}
		see(r.Part)
	}
	if at.IsZero() {
		return time.Now()
	}
	return at
}

// Run consumes until ctx ends, then drains, commits and leaves the group.
func (p *Pipeline) Run(ctx context.Context) error {
	startOffset := kafka.FirstOffset
	if p.cfg.Kafka.StartOffset == config.StartLatest {
		startOffset = kafka.LastOffset
	}
	k := p.cfg.Kafka
	c := consume.New(consume.Options{
		Brokers:           k.Brokers,
		GroupID:           k.GroupID,
		Topics:            p.cfg.Topics(),
		Dialer:            p.deps.Dialer,
		StartOffset:       startOffset,
		CommitInterval:    k.CommitInterval.D(),
		SessionTimeout:    k.SessionTimeout.D(),
		RebalanceTimeout:  k.RebalanceTimeout.D(),
		HeartbeatInterval: k.HeartbeatInterval.D(),
		DrainTimeout:      k.DrainTimeout.D(),
		ShutdownTimeout:   p.cfg.ShutdownTimeout.D(),
		FetchMaxWait:      k.FetchMaxWait.D(),
		FetchMaxBytes:     int(k.FetchMaxBytes),
		FetchMinBytes:     int(k.FetchMinBytes),
		MaxPending:        k.MaxPendingPerPartition,
		MetadataMaxBytes:  k.CommitMetadataMaxBytes,
		KeepsAll: func(topic string) bool {
			src := p.topics[topic]
			return src != nil && src.table.MatchesAll()
		},
		OnFinish:  p.releaser,
		Transport: p.deps.Transport,
		Logger:    p.log,
		Metrics:   p.metrics,
		Health:    p.deps.Health,
		Status:    p.deps.Status,
		Tracer:    p.tracer(),
	}, p)
	err := c.Run(ctx)
	// The consumer has drained (or timed out draining) and committed. Work
	// still in flight can no longer be committed by us; stop it.
	p.cancelSend()
	if cut := p.inflight.Wait(); cut != nil {
		// Expected when the shutdown timeout cuts deliveries short: their
		// records were not committed and are read again by the next owner.
		p.log.Warn("deliveries cut off at shutdown; their records are not committed and will be read again",
			"count", p.cutOff.Load(), "first", cut)
	}
	for _, d := range p.dests {
		p.metrics.Streams.Remove(d.stream.Name(), d.window)
	}
	if p.dlq != nil {
		if cerr := p.dlq.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("closing the dead-letter producer: %w", cerr))
		}
	}
	return err
}

// reserve takes n bytes from src's share of the memory cap, waiting while it
// is used up. A single message larger than the whole share takes the whole
// share, so it waits for the rest to finish instead of waiting forever.
func (p *Pipeline) reserve(ctx context.Context, src *source, n int) (int64, error) {
	size := min(int64(n), src.memSize)
	if err := src.mem.Acquire(ctx, size); err != nil {
		return 0, err
	}
	p.inflightBytes.Add(size)
	return size, nil
}

// releaser returns the function that finishes the messages of topic.
func (p *Pipeline) releaser(topic string) func(*checkpoint.Message) {
	src := p.topics[topic]
	return func(m *checkpoint.Message) { p.release(src, m) }
}

// release is called once per tracked message when its last part is done.
// A message of a withdrawn partition frees its memory but is not counted
// or timed: the partition's next owner reads it again.
func (p *Pipeline) release(src *source, m *checkpoint.Message) {
	if n := m.Bytes(); n > 0 {
		src.mem.Release(n)
		p.inflightBytes.Add(-n)
	}
	if !m.Finished() {
		return
	}
	if ts := m.Time(); !ts.IsZero() {
		p.metrics.EndToEnd.Record(context.Background(), time.Since(ts).Seconds())
	}
	p.finished()
}

// finished counts one finished message, tracked or not.
func (p *Pipeline) finished() {
	p.deps.Health.Progress()
	p.stats.finished.Add(1)
}

// Flush implements consume.Handler. A stream whose call slots are all busy
// sends its batch the moment one frees (see batch.HoldWhile) rather than
// queueing it small: nothing waits longer than the calls ahead of it.
func (p *Pipeline) Flush() {
	for _, d := range p.dests {
		d.acc.Flush()
	}
}

// Handle implements consume.Handler.
func (p *Pipeline) Handle(ctx context.Context, cl *consume.Claim, m *kafka.Message) error {
	src := p.topics[cl.Topic]
	p.stats.consumed.Add(1)
	s := src.pool.Get().(*scratch)
	defer src.pool.Put(s)

	// Envelopes whose leading members say so are split before any decoding
	// (one pass over their items), the others once Decode finds no type.
	if src.envelopes && segment.Probe(m.Value) {
		if done, err := p.tryEnvelope(ctx, cl, src, s, m); done {
			return err
		}
	}
	msg, sc, err := s.dec.Decode(m.Value)
	if src.envelopes && untyped(msg, err) {
		if done, err := p.tryEnvelope(ctx, cl, src, s, m); done {
			return err
		}
	}
	if err != nil {
		reason, detail := reasonDecodeFailed, err.Error()
		if se, ok := errors.AsType[*segment.Error](err); ok {
			reason, detail = se.Reason, se.Detail
		}
		return p.undeliverable(ctx, cl, src, m, reason, detail, "")
	}
	if msg.Integrations == segment.IntegrationsDisabled {
		p.skip(ctx, cl, m, telemetry.MsgSkippedIntegrations)
		return nil
	}
	s.ids = src.table.Route(s.ids[:0], msg.Type, msg.Event, msg.Track)
	if len(s.ids) == 0 {
		p.skip(ctx, cl, m, telemetry.MsgSkippedUnmapped)
		return nil
	}
	// From here the message is kept past Handle, in its record and its
	// dead letter's origin.
	cl.Keep(m)
	// The record is the value itself when it is compact (most are), else a
	// compacted copy; either way without the newline the request encoder
	// adds, which Size counts.
	rec := batch.Record{Data: segment.Record(m.Value, sc)}
	copied := !sc.Compact
	if msg.Assumed {
		rec.Data, copied = segment.AppendType(nil, rec.Data, msg.Type), true
	}
	if rec.Size() > config.MaxRecordBytes {
		return p.tooLarge(ctx, cl, src, m, rec.Size(), s.ids[0])
	}
	// Only the record is held until every stream has it, and the original
	// value for the dead-letter topic, which a compact value shares.
	held := rec.Size()
	var origin any
	if p.dlq != nil {
		origin = p.origin(src, m)
		if copied {
			held += len(m.Value)
		}
	}
	size, err := p.reserve(ctx, src, held)
	if err != nil {
		return err
	}
	tm := cl.Tracker.TrackAt(m.Offset, len(s.ids), size, m.Time)
	p.routed.Add(1)
	var link trace.SpanContext
	if p.tracing() {
		link = p.traceContext(m.Headers)
	}
	for _, id := range s.ids {
		src.dests[id].acc.Add(batch.Record{Data: rec.Data, Part: tm, Origin: origin, Trace: link})
	}
	return nil
}

// reasonDecodeFailed is the dead-letter reason of a message Decode refused
// without saying why (it promises a *segment.Error): still undeliverable.
const reasonDecodeFailed = "decode_failed"

func (p *Pipeline) tooLarge(ctx context.Context, cl *consume.Claim, src *source, m *kafka.Message, size, streamID int) error {
	detail := fmt.Sprintf("the record is %d bytes; Firehose takes at most %d", size, config.MaxRecordBytes)
	return p.undeliverable(ctx, cl, src, m, segment.ReasonRecordTooLarge, detail, src.table.Streams()[streamID])
}

func (p *Pipeline) skip(ctx context.Context, cl *consume.Claim, m *kafka.Message, outcome string) {
	p.skipped[outcome].Add(1)
	p.finishUntracked(cl, m.Offset)
}

// finishUntracked finishes the message at offset, which holds no memory and
// no parts, without tracking it (release never runs for it).
func (p *Pipeline) finishUntracked(cl *consume.Claim, offset int64) {
	cl.Tracker.Skip(offset)
	p.finished()
}

func (p *Pipeline) origin(src *source, m *kafka.Message) *deadletter.Origin {
	return &deadletter.Origin{
		Topic: m.Topic, Partition: m.Partition, Offset: m.Offset,
		Key: m.Key, Value: m.Value, Headers: m.Headers, SourceID: src.cfg.ID,
	}
}

// undeliverable dead-letters m, or, with no dead-letter topic, logs it with
// its coordinates, counts it and moves on, so its partition keeps moving.
func (p *Pipeline) undeliverable(ctx context.Context, cl *consume.Claim, src *source, m *kafka.Message, reason, detail, stream string) error {
	if p.dlq == nil {
		p.drop(src, m, reason, detail)
		p.finishUntracked(cl, m.Offset)
		return nil
	}
	cl.Keep(m)
	size, err := p.reserve(ctx, src, len(m.Value))
	if err != nil {
		return err
	}
	p.metrics.Messages.Get(telemetry.AttrOutcome.String(telemetry.MsgDeadLettered), telemetry.AttrReason.String(reason)).Add(1)
	letter := deadletter.Letter{
		Origin: p.origin(src, m), Reason: reason, Message: detail, Stream: stream,
		Part: cl.Tracker.Track(m.Offset, 1, size),
	}
	return p.deadLetter(ctx, []deadletter.Letter{letter})
}

// drop logs and counts a message (or an envelope's item, named by attrs)
// that cannot be delivered when there is no dead-letter topic to keep it.
func (p *Pipeline) drop(src *source, m *kafka.Message, reason, detail string, attrs ...any) {
	p.metrics.Messages.Get(telemetry.AttrOutcome.String(telemetry.MsgDropped), telemetry.AttrReason.String(reason)).Add(1)
	p.log.Error("undeliverable message skipped (no dead-letter topic is set)", append([]any{"reason", reason, "detail", detail,
		"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "source", src.cfg.ID}, attrs...)...)
	p.stats.dropped.Add(1)
}

// deadLetter writes letters in the background, at most cap(p.dlqSlots)
// writes at a time; it waits for a slot with ctx. Their parts finish once
// Kafka has them.
func (p *Pipeline) deadLetter(ctx context.Context, letters []deadletter.Letter) error {
	if len(letters) == 0 {
		return nil
	}
	select {
	case p.dlqSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	o := letters[0].Origin // m is the consumer's, and may be reused once Handle returns
	p.inflight.Go(func() error {
		defer func() { <-p.dlqSlots }()
		err := p.dlq.Write(p.sendCtx, letters)
		return p.cutOffErr(err, "dead-lettering %d letters from %s/%d@%d", len(letters), o.Topic, o.Partition, o.Offset)
	})
	return nil
}

// rejectToDLQ dead-letters records Firehose refused for good.
func (p *Pipeline) rejectToDLQ(ctx context.Context, stream string, recs []delivery.Rejected) error {
	letters := make([]deadletter.Letter, 0, len(recs))
	add := func(rec batch.Record, r delivery.Rejected) {
		if o, ok := rec.Origin.(*deadletter.Origin); ok {
			letters = append(letters, deadletter.Letter{
				Origin: o, Reason: "firehose_rejected", Message: r.Message, Stream: stream, FirehoseCode: r.Code, Part: rec.Part,
			})
		}
	}
	for _, r := range recs {
		if pk, ok := r.Record.Origin.(*batch.Packed); ok {
			// A packed record is dead-lettered as the messages it holds.
			for _, inner := range pk.Records {
				add(inner, r)
			}
			continue
		}
		add(r.Record, r)
	}
	if err := p.dlq.Write(ctx, letters); err != nil {
		return fmt.Errorf("dead-lettering %d records refused by stream %s: %w", len(letters), stream, err)
	}
	return nil
}

// tracing reports whether spans are exported; without an exporter no span
// is started and no trace context is read from messages.
func (p *Pipeline) tracing() bool { return p.deps.Tracing != nil && !p.deps.Tracing.Off }

func (p *Pipeline) tracer() trace.Tracer {
	if !p.tracing() {
		return nil
	}
	return p.deps.Tracing.Provider.Tracer("github.com/firehose-worker/firehose-worker")
}

// traceContext reads a W3C trace context from Kafka headers, if there is one.
func (p *Pipeline) traceContext(h []kafka.Header) trace.SpanContext {
	for _, x := range h {
		if x.Key == "traceparent" {
			ctx := p.deps.Tracing.Propagator.Extract(context.Background(), headerCarrier(h))
			return trace.SpanContextFromContext(ctx)
		}
	}
	return trace.SpanContext{}
}

// headerCarrier adapts Kafka headers to propagation.TextMapCarrier.
type headerCarrier []kafka.Header

func (c headerCarrier) Get(key string) string {
	for _, x := range c {
		if x.Key == key {
			return string(x.Value)
		}
	}
	return ""
}

func (c headerCarrier) Set(string, string) {}

func (c headerCarrier) Keys() []string {
	keys := make([]string, len(c))
	for i, x := range c {
		keys[i] = x.Key
	}
	return keys
}

// Stats are running totals for status lines and summaries.
type Stats struct {
	consumed atomic.Int64
	finished atomic.Int64
	dropped  atomic.Int64
}

// Snapshot is a copy of Stats.
type Snapshot struct {
	Consumed, Finished, Dropped int64
	At                          time.Time
}

// Stats returns running totals.
func (p *Pipeline) Stats() Snapshot {
	return Snapshot{Consumed: p.stats.consumed.Load(), Finished: p.stats.finished.Load(), Dropped: p.stats.dropped.Load(), At: time.Now()}
}
