// Package redrive sends dead letters back to the delivery stream that
// refused them, once their cause is fixed.
//
// It reads the dead-letter topic as its own consumer group, from the group's
// committed offsets up to the end offsets the topic had when the run began,
// and stops there. A letter that names a stream is sent to exactly that
// stream as the record the worker built for it, through the same delivery
// path as the worker (the source's client, role and region; batching;
// retries; pacing), so a message that was fanned out to several streams is
// not duplicated in those that had acknowledged it. A letter that names no
// stream is counted and left alone, or sent to Options.ToStream when it is
// valid JSON.
//
// Callers may rely on these guarantees:
//   - the group's offset passes a letter only once it is finished: delivered,
//     failed (refused again, denied, given up on) or left alone. A second run
//     resumes after the letters a first one finished, so interrupting a run
//     re-sends at most the letters that were in flight;
//   - a letter that fails again is reported (logged and counted) and never
//     written to any topic;
//   - letters that do not match the filter are read past and counted, so
//     each filter needs its own group (Options.Group) if letters it skips are
//     to be redriven later;
//   - a dry run joins no group, commits nothing and sends nothing.
package redrive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/retry"
	"github.com/firehose-worker/firehose-worker/internal/segment"
)

// Options configure a run.
type Options struct {
	Config *config.Config
	// Group is the consumer group; default kafka.group_id + "-redrive".
	Group  string
	Filter Filter
	// ToStream receives the letters that name no stream, when they are
	// valid records; "" leaves them alone.
	ToStream string
	DryRun   bool
	// GiveUpAfter bounds the retries of one batch; what is left is reported
	// as failed. 0 retries until the run is interrupted.
	GiveUpAfter time.Duration
	// Clients builds the Firehose client of a source (the worker's
	// awsclient factory, in production).
	Clients func(ctx context.Context, src config.Source) (delivery.PutRecordBatcher, error)
	// Dialer connects to Kafka (TLS, SASL); nil is plain TCP.
	Dialer *kafka.Dialer
	// Transport is for offset look-ups; nil is plain TCP.
	Transport kafka.RoundTripper
	Logger    *slog.Logger
	// Progress receives a progress line every ProgressEvery; when
	// Redraw is set each line replaces the last (a terminal).
	Progress      io.Writer
	ProgressEvery time.Duration
	Redraw        bool
}

// ErrNoDLQ is returned for a configuration without kafka.dlq_topic.
var ErrNoDLQ = errors.New("kafka.dlq_topic is not set: there is no dead-letter topic to redrive")

// group is the consumer group a run with o uses.
func (o *Options) group() string {
	if o.Group != "" {
		return o.Group
	}
	return o.Config.Kafka.GroupID + "-redrive"
}

// run is the state of one Run.
type run struct {
	o     Options
	log   *slog.Logger
	topic string
	srcs  map[string]config.Source
	send  *sender
	tally *Tally
	start time.Time
	total atomic.Int64 // letters to read in this run, once known
	read  atomic.Int64
	decMu sync.Mutex
	dec   segment.Decoder
}

// Run redrives the letters between the group's offsets and the topic's end
// as of the start, and returns what happened to them. It returns an error
// when the run could not complete (ctx ended, Kafka unreachable); the tally
// is still filled for what was done. Letters that failed are in the tally,
// not an error.
func Run(ctx context.Context, o Options) (*Tally, error) {
	cfg := o.Config
	if cfg.Kafka.DLQTopic == "" {
		return nil, ErrNoDLQ
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	r := &run{o: o, log: o.Logger, topic: cfg.Kafka.DLQTopic, srcs: map[string]config.Source{}, tally: newTally(), start: time.Now()}
	for _, s := range cfg.Sources {
		r.srcs[s.ID] = s
	}
	bo := cfg.Delivery.Backoff
	r.send = &sender{
		cfg:     cfg,
		clients: o.Clients,
		retry: retry.New(retry.Config{
			Initial: bo.Initial.D(), Max: bo.Max.D(), Multiplier: bo.Multiplier, Jitter: bo.Jitter, MaxElapsed: o.GiveUpAfter,
		}, retry.GiveUp),
		bodies:   delivery.NewBodies(max(int64(cfg.Memory.MaxBufferedBytes)/2, 2*config.MaxRecordBytes)),
		log:      r.log,
		onFail:   r.failed,
		dests:    map[destKey]*dest{},
		clientOf: map[string]delivery.PutRecordBatcher{},
		ctx:      ctx,
	}
	stop := r.progress(ctx)
	defer stop()
	if o.DryRun {
		return r.tally, r.dryRun(ctx)
	}
	err := r.grouped(ctx)
	r.send.wait()
	return r.tally, err
}

// span is the part of one partition a run reads: [from, to).
type span struct {
	partition int
	from, to  int64
}

// ends reads the first and end offsets of every partition of the topic.
func (r *run) ends(ctx context.Context) (first, end map[int]int64, err error) {
	client := &kafka.Client{Addr: kafka.TCP(r.o.Config.Kafka.Brokers...), Transport: r.o.Transport}
	meta, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{r.topic}})
	if err != nil {
		return nil, nil, fmt.Errorf("reading the metadata of %s: %w", r.topic, err)
	}
	if len(meta.Topics) != 1 || meta.Topics[0].Error != nil {
		var terr error = errors.New("not found")
		if len(meta.Topics) == 1 {
			terr = meta.Topics[0].Error
		}
		return nil, nil, fmt.Errorf("dead-letter topic %s: %w", r.topic, terr)
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range meta.Topics[0].Partitions {
		req.Topics[r.topic] = append(req.Topics[r.topic], kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the offsets of %s: %w", r.topic, err)
	}
	first, end = map[int]int64{}, map[int]int64{}
	for _, p := range resp.Topics[r.topic] {
		if p.Error != nil {
			return nil, nil, fmt.Errorf("reading the offsets of %s/%d: %w", r.topic, p.Partition, p.Error)
		}
		first[p.Partition], end[p.Partition] = p.FirstOffset, p.LastOffset
	}
	return first, end, nil
}

// dryRun reads from the group's committed offsets without joining it.
func (r *run) dryRun(ctx context.Context) error {
	first, end, err := r.ends(ctx)
	if err != nil {
		return err
	}
	client := &kafka.Client{Addr: kafka.TCP(r.o.Config.Kafka.Brokers...), Transport: r.o.Transport}
	parts := make([]int, 0, len(end))
	for p := range end {
		parts = append(parts, p)
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: r.o.group(), Topics: map[string][]int{r.topic: parts}})
	if err != nil {
		return fmt.Errorf("reading the offsets of group %s: %w", r.o.group(), err)
	}
	committed := map[int]int64{}
	for _, p := range resp.Topics[r.topic] {
		if p.Error == nil && p.CommittedOffset >= 0 {
			committed[p.Partition] = p.CommittedOffset
		}
	}
	var spans []span
	for p, e := range end {
		from, ok := committed[p]
		if !ok || from < first[p] {
			from = first[p]
		}
		spans = append(spans, span{p, from, e})
	}
	r.addTotal(spans)
	var wg sync.WaitGroup
	errs := make([]error, len(spans))
	for i, s := range spans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.readSpan(ctx, s, func(m *kafka.Message) error {
				l := Parse(*m)
				p, _ := r.decide(&l)
				if p.fate == Send {
					l.Stream = p.stream // counted where it would go, as a run counts it
				}
				r.tally.add(&l, p.fate, p.why)
				return nil
			})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *run) addTotal(spans []span) {
	var n int64
	for _, s := range spans {
		n += max(s.to-s.from, 0)
	}
	r.total.Store(n)
}

func (r *run) decide(l *Letter) (plan, bool) {
	if !r.o.Filter.Match(l) {
		return plan{fate: Filtered}, false
	}
	r.decMu.Lock()
	p := decide(l, r.o.ToStream, &r.dec)
	r.decMu.Unlock()
	return p, true
}

// readSpan reads s and gives each message to handle, returning once the
// message before s.to has been handled.
func (r *run) readSpan(ctx context.Context, s span, handle func(*kafka.Message) error) error {
	if s.from >= s.to {
		return nil
	}
	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:        r.o.Config.Kafka.Brokers,
		Topic:          r.topic,
		Partition:      s.partition,
		Dialer:         r.o.Dialer,
		MinBytes:       1,
		MaxBytes:       int(max(r.o.Config.Kafka.FetchMaxBytes, 1<<20)),
		MaxWait:        500 * time.Millisecond,
		ReadBackoffMin: 100 * time.Millisecond,
		ReadBackoffMax: 2 * time.Second,
		MaxAttempts:    1 << 30,
	})
	defer rd.Close()
	if err := rd.SetOffset(s.from); err != nil {
		return fmt.Errorf("%s/%d: setting the offset to %d: %w", r.topic, s.partition, s.from, err)
	}
	for {
		m, err := rd.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Warn("fetch failed; retrying", "partition", s.partition, "error", err)
			continue
		}
		if m.Offset >= s.to {
			return nil // a gap before the end offset (compaction, a transaction marker)
		}
		r.read.Add(1)
		if err := handle(&m); err != nil {
			return err
		}
		if m.Offset >= s.to-1 {
			return nil
		}
	}
}

// letterPart is a sent letter's part of its batch: finished once, as
// delivered (Done) or failed (run.failed).
type letterPart struct {
	r   *run
	l   Letter // without its value
	msg *checkpoint.Message
}

// Done implements batch.Part: Firehose acknowledged the record.
func (p *letterPart) Done() {
	p.r.tally.delivered(&p.l)
	p.msg.Done()
}

// failed finishes a letter Firehose refused again or that was given up on.
func (r *run) failed(p *letterPart, code, why string) {
	r.log.Error("dead letter could not be redriven", "stream", p.l.Stream, "reason", p.l.Reason, "source", p.l.Source,
		"dlq_partition", p.l.Partition, "dlq_offset", p.l.Offset, "origin", p.l.Origin(), "firehose_code", code, "error", why)
	r.tally.failed(&p.l)
	p.msg.Done()
}
