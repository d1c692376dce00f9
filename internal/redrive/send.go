package redrive

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/congestion"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/retry"
)

// sender owns the delivery streams of a run, one per source and stream
// name, built on first use with the source's client, and the goroutines that
// deliver their batches.
type sender struct {
	cfg     *config.Config
	clients func(ctx context.Context, src config.Source) (delivery.PutRecordBatcher, error)
	retry   retry.Policy
	bodies  *delivery.Bodies
	log     *slog.Logger
	onFail  func(p *letterPart, code, why string)

	mu       sync.Mutex
	dests    map[destKey]*dest
	clientOf map[string]delivery.PutRecordBatcher // by source ID
	ctx      context.Context                      // sends end with it
	wg       sync.WaitGroup
}

type destKey struct{ source, stream string }

type dest struct {
	stream *delivery.Stream
	acc    *batch.Accumulator
}

// dest returns the stream for src and name, building it and, once per
// source, its client.
func (s *sender) dest(ctx context.Context, src config.Source, name string) (*dest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.dests[destKey{src.ID, name}]; ok {
		return d, nil
	}
	client, ok := s.clientOf[src.ID]
	if !ok {
		var err error
		if client, err = s.clients(ctx, src); err != nil {
			return nil, fmt.Errorf("source %s: %w", src.ID, err)
		}
		s.clientOf[src.ID] = client
	}
	aggregate := false
	for _, m := range src.MappedStreams {
		aggregate = aggregate || (m.Stream == name && m.Aggregate)
	}
	d := &dest{}
	d.stream = delivery.NewStream(delivery.Options{
		Name:           name,
		Client:         client,
		Retry:          s.retry,
		RequestTimeout: s.cfg.Delivery.RequestTimeout.D(),
		Congestion:     congestion.NewLimiter(s.cfg.Delivery.AdaptiveConcurrency, 2, s.cfg.Delivery.MaxInFlight),
		Bodies:         s.bodies,
		Logger:         s.log.With("source", src.ID, "region", src.Region),
		// Nothing goes back to the dead-letter topic: a record refused
		// again, denied, or given up on is reported as failed.
		Reject:           s.reject,
		DeadLetterDenied: true,
	})
	d.acc = batch.New(batch.Limits{
		MaxRecords:     s.cfg.Batch.MaxRecords,
		MaxBytes:       int(s.cfg.Batch.MaxBytes),
		Linger:         s.cfg.Batch.Linger.D(),
		Aggregate:      aggregate,
		MaxRecordBytes: config.MaxRecordBytes,
	}, func(b *batch.Batch) { s.send(d, b) })
	s.dests[destKey{src.ID, name}] = d
	return d, nil
}

// send delivers b in its own goroutine, as the worker does; the stream's
// limiter paces the calls.
func (s *sender) send(d *dest, b *batch.Batch) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		// On ctx end the records stay unfinished, and the summary counts
		// them so; any other error is a refusal already reported record
		// by record through reject, logged here once for the batch.
		if err := d.stream.Deliver(s.ctx, b); err != nil && s.ctx.Err() == nil {
			s.log.Warn("a batch of letters was not delivered", "stream", d.stream.Name(), "error", err)
		}
		d.acc.Recycle(b)
	}()
}

// reject takes the records Firehose refused for good.
func (s *sender) reject(_ context.Context, stream string, recs []delivery.Rejected) error {
	for _, r := range recs {
		why := r.Message
		if why == "" {
			why = r.Code
		}
		if pk, ok := r.Record.Part.(*batch.Packed); ok {
			for _, in := range pk.Records {
				s.onFail(in.Part.(*letterPart), r.Code, why)
			}
			continue
		}
		s.onFail(r.Record.Part.(*letterPart), r.Code, why)
	}
	return nil
}

// flush hands every buffered record to delivery now.
func (s *sender) flush() {
	s.mu.Lock()
	ds := make([]*dest, 0, len(s.dests))
	for _, d := range s.dests {
		ds = append(ds, d)
	}
	s.mu.Unlock()
	for _, d := range ds {
		d.acc.Flush()
	}
}

// wait flushes and waits for every send to return.
func (s *sender) wait() {
	s.flush()
	s.wg.Wait()
}
