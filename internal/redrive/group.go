package redrive

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
)

// commitInterval is how often a run commits the letters it finished.
const commitInterval = time.Second

// grouped reads the topic as the group, generation after generation, until
// every partition it holds is read to the end offset it had at the start
// and every letter read is finished and committed.
func (r *run) grouped(ctx context.Context) error {
	k := r.o.Config.Kafka
	first, end, err := r.ends(ctx)
	if err != nil {
		return err
	}
	group, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                r.o.group(),
		Brokers:           k.Brokers,
		Dialer:            r.o.Dialer,
		Topics:            []string{r.topic},
		HeartbeatInterval: k.HeartbeatInterval.D(),
		SessionTimeout:    k.SessionTimeout.D(),
		RebalanceTimeout:  k.RebalanceTimeout.D(),
		JoinGroupBackoff:  time.Second,
		StartOffset:       kafka.FirstOffset,
		RetentionTime:     7 * 24 * time.Hour,
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { r.log.Debug("kafka group: " + fmt.Sprintf(f, a...)) }),
	})
	if err != nil {
		return fmt.Errorf("joining group %s: %w", r.o.group(), err)
	}
	defer func() { _ = group.Close() }() // leaves the group
	for {
		gen, err := group.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Info("consumer group not ready; retrying", "group", r.o.group(), "reason", err.Error())
			continue
		}
		done, err := r.generation(ctx, gen, first, end)
		if done || err != nil {
			return err
		}
		r.log.Info("the group rebalanced; continuing in the next generation", "group", r.o.group())
	}
}

// claim is one partition of a generation: the span to read and the
// tracker of its letters.
type claim struct {
	span
	tr *checkpoint.Tracker
}

// generation reads the partitions gen assigns up to end. done is false when
// the generation ended first (a rebalance): what was finished is committed
// and the next generation continues.
//
// The work runs as one function of gen.Start, since the generation ends as
// soon as any such function returns: the readers are its own goroutines.
func (r *run) generation(ctx context.Context, gen *kafka.Generation, first, end map[int]int64) (done bool, err error) {
	var claims []*claim
	var spans []span
	for _, p := range gen.Assignments[r.topic] {
		from := p.Offset // the group's commit; negative when there is none
		if from < first[p.ID] {
			from = first[p.ID]
		}
		c := &claim{span{p.ID, from, end[p.ID]}, checkpoint.NewTracker(nil)}
		claims = append(claims, c)
		spans = append(spans, c.span)
	}
	r.addTotal(spans)
	type result struct {
		done bool
		err  error
	}
	res := make(chan result, 1)
	gen.Start(func(gctx context.Context) {
		d, err := r.work(ctx, gctx, gen, claims)
		res <- result{d, err}
	})
	x := <-res
	return x.done, x.err
}

// work reads the claims, waits for their letters to finish and commits.
// It returns promptly when gctx ends (the group waits for it), leaving the
// letters in flight to be read again.
func (r *run) work(ctx, gctx context.Context, gen *kafka.Generation, claims []*claim) (bool, error) {
	rctx, cancel := context.WithCancel(gctx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()

	var readers sync.WaitGroup
	readErrs := make([]error, len(claims))
	for i, c := range claims {
		readers.Add(1)
		go func() {
			defer readers.Done()
			readErrs[i] = r.readSpan(rctx, c.span, func(m *kafka.Message) error { return r.handle(rctx, c.tr, m) })
		}()
	}
	commit := func() error {
		offsets := map[int]int64{}
		for _, c := range claims {
			if off, ok := c.tr.Committable(); ok {
				offsets[c.partition] = off
			}
		}
		if len(offsets) == 0 {
			return nil
		}
		return gen.CommitOffsets(map[string]map[int]int64{r.topic: offsets})
	}
	// Read to the end, then let the sends of what was read finish; commit
	// along the way and once at the end.
	readDone := make(chan struct{})
	go func() { readers.Wait(); close(readDone) }()
	drained := make(chan struct{})
	go func() {
		<-readDone
		r.send.flush()
		// Letters in flight when the generation ends (a rebalance) get
		// drain_timeout to finish, so their commit can still land before
		// the group moves on; at the end of the span they get what they
		// need, until the run is interrupted.
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		drain := r.o.Config.Kafka.DrainTimeout.D()
		stopDrain := context.AfterFunc(gctx, func() { time.AfterFunc(drain, cancel) })
		defer stopDrain()
		for _, c := range claims {
			_ = c.tr.WaitDrained(wctx)
		}
		close(drained)
	}()
	tick := time.NewTicker(commitInterval)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-tick.C:
			if err := commit(); err != nil {
				r.log.Warn("committing the redrive's progress failed; the next commit includes it", "error", err)
			}
		case <-drained:
			waiting = false
		}
	}
	if err := commit(); err != nil {
		r.log.Error("the last commit of the redrive's progress failed: the next run sends again what this one sent since the last commit", "error", err)
	}
	switch {
	case ctx.Err() != nil:
		return false, ctx.Err()
	case gctx.Err() != nil:
		return false, nil
	}
	return true, errors.Join(readErrs...)
}

// handle tracks one letter and sends, counts or skips it.
func (r *run) handle(ctx context.Context, tr *checkpoint.Tracker, m *kafka.Message) error {
	l := Parse(*m)
	p, _ := r.decide(&l)
	if p.fate != Send {
		r.tally.add(&l, p.fate, p.why)
		tr.Track(m.Offset, 1, 0).Done()
		return nil
	}
	src, ok := r.srcs[l.Source]
	msg := tr.Track(m.Offset, 1, 0)
	lp := &letterPart{r: r, l: l, msg: msg}
	lp.l.Value = nil
	lp.l.Stream = p.stream
	r.tally.add(&lp.l, Send, "")
	if !ok {
		r.failed(lp, "", fmt.Sprintf("source %q is not in the configuration", l.Source))
		return nil
	}
	d, err := r.send.dest(ctx, src, p.stream)
	if err != nil {
		r.failed(lp, "", err.Error())
		return nil
	}
	d.acc.Add(batch.Record{Data: p.record, Part: lp, Origin: lp})
	if max := r.o.Config.Kafka.MaxPendingPerPartition; max > 0 && tr.Pending() >= max {
		r.send.flush()
		return tr.WaitPendingBelow(ctx, max)
	}
	return nil
}
