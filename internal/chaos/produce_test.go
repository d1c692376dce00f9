//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producer sends the run's messages at an even rate with franz-go, an
// independent client: idempotent, acks from all in-sync replicas, retrying
// without limit (a broker restart delays messages, never fails them), keys
// partitioned like the Java client (murmur2), as Segment's producers do.
type producer struct {
	cl    *kgo.Client
	led   *ledger
	src   *source
	topic string
	rate  float64
	count int

	handed, acked, failed atomic.Int64
	pending               sync.WaitGroup
	mu                    sync.Mutex
	firstErr              error
}

func newProducer(o options, led *ledger, src *source, topic string) (*producer, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(o.Kafka),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ClientID("chaos-producer"),
	)
	if err != nil {
		return nil, fmt.Errorf("producer client: %w", err)
	}
	return &producer{cl: cl, led: led, src: src, topic: topic, rate: o.Rate, count: o.Events}, nil
}

// run hands count messages to the client, paced from the start so that a
// stall (a broker restart) is made up afterwards, then waits for every
// acknowledgement. It returns the first produce error, or ctx's.
func (p *producer) run(ctx context.Context) error {
	defer p.cl.Close()
	const tick = 10 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	n := 0
	for n < p.count {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-t.C:
			due := min(p.count, int(now.Sub(start).Seconds()*p.rate)+1)
			for ; n < due; n++ {
				m := p.src.next()
				p.pending.Add(1)
				p.handed.Add(1)
				// Produce blocks while the client's buffer is full, which is
				// the backpressure during a broker restart.
				p.cl.Produce(ctx, &kgo.Record{Topic: p.topic, Key: m.key, Value: m.value}, func(r *kgo.Record, err error) {
					defer p.pending.Done()
					if err != nil {
						p.failed.Add(1)
						p.led.add(&m, -1, -1, true)
						p.mu.Lock()
						if p.firstErr == nil {
							p.firstErr = err
						}
						p.mu.Unlock()
						return
					}
					p.led.add(&m, r.Partition, r.Offset, false)
					p.acked.Add(1)
				})
			}
		}
	}
	done := make(chan struct{})
	go func() { p.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.firstErr != nil {
		return fmt.Errorf("%d messages not acknowledged, the first: %w", p.failed.Load(), p.firstErr)
	}
	return nil
}
