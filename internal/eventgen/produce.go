package eventgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/sync/semaphore"
)

// ProduceOptions configure Produce. Zero fields take the defaults noted.
type ProduceOptions struct {
	// Brokers are bootstrap addresses, host:port.
	Brokers []string
	// Topic receives the messages.
	Topic string
	// Rate is the target in messages per second; 0 sends as fast as the
	// brokers acknowledge. Time lost to backpressure is made up by at most
	// one batch, so a stall is not followed by a burst.
	Rate float64
	// Count is how many messages to send; 0 sends until ctx ends or the
	// source runs out.
	Count int
	// Seed seeds the Generator that Produce makes when it is given neither
	// a Source nor a ReplayFile.
	Seed int64
	// ReplayFile, when set and Produce is given no Source, is an NDJSON
	// file whose lines are sent instead of generated messages.
	ReplayFile string

	// Partitions, when positive, makes Produce create Topic with this many
	// partitions if it does not exist, and wait until the brokers serve it.
	Partitions int
	// ReplicationFactor is for a topic Produce creates. Default 1; -1
	// leaves it to the broker's default.
	ReplicationFactor int

	// BatchSize is the most messages in one produce request to a
	// partition. Default 1000.
	BatchSize int
	// BatchTimeout is how long a partition's batch may wait to fill before
	// it is sent. Default 10ms.
	BatchTimeout time.Duration
	// MaxInFlight caps the messages handed to the writer and not yet
	// acknowledged or failed: it bounds memory, and is the backpressure
	// that keeps Rate 0 from outrunning the brokers. Default 10*BatchSize.
	MaxInFlight int
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MaxAttempts is how often the writer tries a batch before counting it
	// failed. Default 3. When ctx ends, Produce waits for messages already
	// handed over, so this and WriteTimeout bound how long that can take.
	MaxAttempts int
	// Compression of produce requests; default none.
	Compression kafka.Compression
	// Balancer picks a message's partition from its key. Default
	// kafka.Murmur2Balancer{}, the Java client's partitioner, so a userId
	// lands where Segment's and Java producers would put it.
	Balancer kafka.Balancer
	// Transport carries the Kafka requests: set a *kafka.Transport with TLS
	// or SASL for a secured cluster. Default: a fresh kafka.Transport,
	// closed when Produce returns.
	Transport kafka.RoundTripper

	// Record, when set, is called once for every acknowledged message with
	// its partition and offset. It runs on the writer's goroutines:
	// concurrently for different partitions, in offset order within one,
	// always before Produce returns. It must not modify the slices, and
	// should be quick, since it holds up acknowledgements.
	Record func(Record)
	// ProgressInterval is how often Produce calls its progress function.
	// Default 1s.
	ProgressInterval time.Duration
}

// Record is one acknowledged message.
type Record struct {
	Key, Value []byte
	Info       Info
	Partition  int
	Offset     int64
}

// Stats count what Produce achieved.
type Stats struct {
	// Sent counts messages the brokers acknowledged.
	Sent int64
	// Bytes counts the value bytes of those messages.
	Bytes int64
	// Errors counts messages the writer gave up on. Such a message may
	// still have reached the topic (a request that timed out), so the
	// topic holds at least Sent messages from this run, never fewer.
	Errors int64
	// Elapsed is the time since Produce started sending.
	Elapsed time.Duration
}

// PerSecond returns the acknowledged messages per second.
func (s Stats) PerSecond() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Sent) / s.Elapsed.Seconds()
}

// DefaultProduceOptions returns the defaults Produce applies to zero
// fields; Brokers and Topic have none.
func DefaultProduceOptions() ProduceOptions {
	return ProduceOptions{}.withDefaults()
}

func (o ProduceOptions) withDefaults() ProduceOptions {
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = 1
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 10 * time.Millisecond
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 10 * o.BatchSize
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 3
	}
	if o.Balancer == nil {
		o.Balancer = kafka.Murmur2Balancer{}
	}
	if o.ProgressInterval <= 0 {
		o.ProgressInterval = time.Second
	}
	return o
}

// Validate reports every problem with o at once.
func (o ProduceOptions) Validate() error {
	var errs []error
	if len(o.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if o.Topic == "" {
		errs = append(errs, errors.New("no topic"))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("rate %v is negative", o.Rate))
	}
	if o.Count < 0 {
		errs = append(errs, fmt.Errorf("count %d is negative", o.Count))
	}
	if o.Partitions < 0 {
		errs = append(errs, fmt.Errorf("partitions %d is negative", o.Partitions))
	}
	if d := o.withDefaults(); d.MaxInFlight < d.BatchSize {
		errs = append(errs, fmt.Errorf("max in flight %d is below batch size %d", d.MaxInFlight, d.BatchSize))
	}
	return errors.Join(errs...)
}

// Produce sends messages from src to opts.Topic until opts.Count messages
// are settled, src runs out (io.EOF) or ctx ends, and returns what the
// brokers acknowledged. With a nil src it sends opts.ReplayFile if set,
// else messages of New(Options{Seed: opts.Seed}).
//
// Messages go out in src's order, each keyed by its Info.Key (a message
// without one is spread at random), through an asynchronous kafka-go
// writer that requires acknowledgement from all in-sync replicas. The
// writer's completion callback does the counting, so Stats are exact: once
// ctx ends, Produce stops taking messages from src but waits for those
// already handed over to be acknowledged or to fail.
//
// progress, if not nil, is called every opts.ProgressInterval with the
// stats so far, from a goroutine of Produce's own, never after Produce
// returns.
//
// Produce stops at the first batch the writer gives up on and returns an
// error counting the failed messages. It also returns an error when ctx
// ended before a positive Count was reached; running without Count until
// ctx ends is a success.
func Produce(ctx context.Context, opts ProduceOptions, src Source, progress func(Stats)) (Stats, error) {
	if err := opts.Validate(); err != nil {
		return Stats{}, fmt.Errorf("produce options: %w", err)
	}
	opts = opts.withDefaults()

	if src == nil {
		if opts.ReplayFile != "" {
			f, err := os.Open(opts.ReplayFile)
			if err != nil {
				return Stats{}, fmt.Errorf("opening replay file: %w", err)
			}
			defer f.Close()
			src = NewReplay(f)
		} else {
			src = New(Options{Seed: opts.Seed})
		}
	}

	transport := opts.Transport
	if transport == nil {
		t := &kafka.Transport{}
		defer t.CloseIdleConnections()
		transport = t
	}
	addr := kafka.TCP(opts.Brokers...)
	if opts.Partitions > 0 {
		client := &kafka.Client{Addr: addr, Transport: transport}
		if err := ensureTopic(ctx, client, opts.Topic, opts.Partitions, opts.ReplicationFactor); err != nil {
			return Stats{}, err
		}
	}

	p := &producer{
		opts:     opts,
		src:      src,
		inFlight: semaphore.NewWeighted(int64(opts.MaxInFlight)),
		start:    time.Now(),
	}
	w := &kafka.Writer{
		Addr:         addr,
		Topic:        opts.Topic,
		Balancer:     opts.Balancer,
		MaxAttempts:  opts.MaxAttempts,
		BatchSize:    opts.BatchSize,
		BatchTimeout: opts.BatchTimeout,
		WriteTimeout: opts.WriteTimeout,
		RequiredAcks: kafka.RequireAll,
		// Async keeps a single caller's order while batches for all
		// partitions are in flight at once; Completion reports every
		// batch's outcome, so nothing is lost track of.
		Async:       true,
		Completion:  p.completed,
		Compression: opts.Compression,
		Transport:   transport,
	}

	done := make(chan struct{})
	var wg sync.WaitGroup
	if progress != nil {
		wg.Go(func() {
			// Returns as soon as done is closed.
			tick := time.NewTicker(opts.ProgressInterval)
			defer tick.Stop()
			for {
				select {
				case <-tick.C:
					progress(p.stats())
				case <-done:
					return
				}
			}
		})
	}

	runErr := p.run(ctx, w)
	// Close sends what is pending and waits for every completion, after
	// which the counters are final.
	closeErr := w.Close()
	close(done)
	wg.Wait()

	stats := p.stats()
	if n := stats.Errors; n > 0 {
		return stats, fmt.Errorf("producing to %q: %d messages not acknowledged: %w", opts.Topic, n, p.firstErr())
	}
	if runErr != nil {
		if ctx.Err() != nil && errors.Is(runErr, ctx.Err()) {
			if opts.Count == 0 {
				return stats, nil
			}
			return stats, fmt.Errorf("producing to %q: stopped after %d of %d messages: %w", opts.Topic, stats.Sent, opts.Count, runErr)
		}
		return stats, fmt.Errorf("producing to %q: %w", opts.Topic, runErr)
	}
	if closeErr != nil {
		return stats, fmt.Errorf("closing writer: %w", closeErr)
	}
	return stats, nil
}

// producer is the state of one Produce call.
type producer struct {
	opts     ProduceOptions
	src      Source
	inFlight *semaphore.Weighted
	start    time.Time

	sent, bytes, errors atomic.Int64
	failed              atomic.Bool
	mu                  sync.Mutex
	err                 error

	arena arena
}

func (p *producer) stats() Stats {
	return Stats{
		Sent:    p.sent.Load(),
		Bytes:   p.bytes.Load(),
		Errors:  p.errors.Load(),
		Elapsed: time.Since(p.start),
	}
}

func (p *producer) firstErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// completed is the writer's Completion callback: it runs once per batch,
// on the writer's goroutine for the batch's partition.
func (p *producer) completed(msgs []kafka.Message, err error) {
	defer p.inFlight.Release(int64(len(msgs)))
	if err != nil {
		p.fail(len(msgs), err)
		return
	}
	var n int64
	for i := range msgs {
		m := &msgs[i]
		n += int64(len(m.Value))
		if p.opts.Record != nil {
			p.opts.Record(Record{
				Key:       m.Key,
				Value:     m.Value,
				Info:      *m.WriterData.(*Info),
				Partition: m.Partition,
				Offset:    m.Offset,
			})
		}
	}
	p.bytes.Add(n)
	p.sent.Add(int64(len(msgs)))
}

func (p *producer) fail(n int, err error) {
	p.errors.Add(int64(n))
	p.failed.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

// run hands messages to w, paced by Rate and bounded by MaxInFlight, until
// Count, the end of the source, a failure or the end of ctx. It returns
// ctx's error when ctx ended it.
func (p *producer) run(ctx context.Context, w *kafka.Writer) error {
	opts := &p.opts
	msgs := make([]kafka.Message, 0, opts.BatchSize)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	// paceStart is when message 0 was due; it moves forward when the
	// producer falls behind by more than a batch.
	paceStart := time.Now()
	handed := 0
	for {
		if p.failed.Load() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		n := opts.BatchSize
		if opts.Count > 0 {
			if handed >= opts.Count {
				return nil
			}
			n = min(n, opts.Count-handed)
		}
		if opts.Rate > 0 {
			elapsed := time.Since(paceStart).Seconds()
			due := int(elapsed*opts.Rate) + 1 - handed
			if due > opts.BatchSize {
				paceStart = time.Now().Add(-time.Duration(float64(handed+opts.BatchSize-1) / opts.Rate * float64(time.Second)))
				due = opts.BatchSize
			}
			if due <= 0 {
				next := paceStart.Add(time.Duration(float64(handed) / opts.Rate * float64(time.Second)))
				// A floor on the wait turns high rates into small bursts
				// instead of a timer per message.
				wait := max(time.Until(next), time.Millisecond)
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
				continue
			}
			n = min(n, due)
		}

		if err := p.inFlight.Acquire(ctx, int64(n)); err != nil {
			return err
		}
		if p.failed.Load() {
			// A batch failed while this goroutine waited for room.
			p.inFlight.Release(int64(n))
			return nil
		}
		var err error
		msgs, err = p.fill(msgs[:0], n)
		if unused := n - len(msgs); unused > 0 {
			p.inFlight.Release(int64(unused))
		}
		if len(msgs) > 0 {
			if werr := w.WriteMessages(ctx, msgs...); werr != nil {
				// An asynchronous writer rejects a call before queueing
				// any of it, so none of these will complete.
				p.inFlight.Release(int64(len(msgs)))
				if ctx.Err() != nil {
					return ctx.Err()
				}
				p.fail(len(msgs), werr)
				return nil
			}
			handed += len(msgs)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading source: %w", err)
		}
	}
}

// fill appends up to n messages from the source to msgs. Their bytes live
// in the arena, untouched until the writer is done with them.
func (p *producer) fill(msgs []kafka.Message, n int) ([]kafka.Message, error) {
	var infos []Info
	if p.opts.Record != nil {
		infos = make([]Info, n)
	}
	for i := range n {
		tail := p.arena.tail()
		value, key, info, err := p.src.NextMessage(tail)
		if err != nil {
			return msgs, err
		}
		value = p.arena.keep(tail, value)
		m := kafka.Message{Value: value}
		if len(key) > 0 {
			m.Key = p.arena.copy(key)
		}
		if infos != nil {
			info.MessageID = p.arena.copy(info.MessageID)
			infos[i] = info
			m.WriterData = &infos[i]
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// ensureTopic creates topic unless it exists, then waits until the brokers
// serve its metadata: a broker learns of a new topic asynchronously, and
// the writer fails at once on an unknown one.
func ensureTopic(ctx context.Context, client *kafka.Client, topic string, partitions, replication int) error {
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: replication}},
	})
	if err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}

	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		if err == nil && len(md.Topics) == 1 && md.Topics[0].Error == nil && len(md.Topics[0].Partitions) > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for topic %q: %w", topic, errors.Join(ctx.Err(), err))
		case <-tick.C:
		}
	}
}

// arena hands out memory for message bytes that must stay untouched until
// the writer has finished with them. Chunks are never reused: the garbage
// collector frees one once every message in it is done and dropped.
type arena struct{ buf []byte }

const (
	arenaChunk   = 1 << 20
	arenaMinFree = 16 << 10
)

// tail returns an empty slice over the arena's free space.
func (a *arena) tail() []byte {
	if cap(a.buf)-len(a.buf) < arenaMinFree {
		a.buf = make([]byte, 0, arenaChunk)
	}
	return a.buf[len(a.buf):len(a.buf)]
}

// keep claims v, which was appended to tail. If it outgrew the tail,
// append gave it memory of its own and the arena is left as it was.
func (a *arena) keep(tail, v []byte) []byte {
	if len(v) > 0 && &v[0] == &tail[:1][0] {
		a.buf = a.buf[:len(a.buf)+len(v)]
	}
	return v[:len(v):len(v)]
}

func (a *arena) copy(b []byte) []byte {
	tail := a.tail()
	return a.keep(tail, append(tail, b...))
}
