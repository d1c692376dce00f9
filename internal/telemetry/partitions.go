package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// Partitions holds the per-partition figures that are read, not counted:
// the committed offset, the consumer lag and, when given, the freshness of
// the partition's unfinished messages. The consumer sets them; the
// meter reads them when it collects. Only owned partitions are reported, so
// the series of a partition handed to another worker disappear from this one.
type Partitions struct {
	mu sync.Mutex
	m  map[partitionKey]*PartitionFigures
}

type partitionKey struct {
	topic     string
	partition int
}

// PartitionFigures are one partition's gauges; -1 means unknown.
type PartitionFigures struct {
	Committed int64
	Lag       int64
	// Freshness, when set (a checkpoint.Tracker), feeds the partition's
	// pending-age and since-finish gauges, read live at each collection.
	Freshness Freshness
}

// Set records the figures of a partition.
func (p *Partitions) Set(topic string, partition int, f PartitionFigures) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[partitionKey]*PartitionFigures{}
	}
	p.m[partitionKey{topic, partition}] = &f
}

// Get returns the figures of a partition and whether it is owned.
func (p *Partitions) Get(topic string, partition int) (PartitionFigures, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.m[partitionKey{topic, partition}]
	if !ok {
		return PartitionFigures{}, false
	}
	return *f, true
}

// Forget drops a partition this worker no longer owns.
func (p *Partitions) Forget(topic string, partition int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, partitionKey{topic, partition})
}

func (p *Partitions) register(m metric.Meter) error {
	committed, err := m.Int64ObservableGauge("firehose_worker.committed.offset", metric.WithUnit("{offset}"),
		metric.WithDescription("Last committed offset (the next to read) of each owned partition."))
	if err != nil {
		return err
	}
	lag, err := m.Int64ObservableGauge("messaging.kafka.consumer.lag", metric.WithUnit("{message}"),
		metric.WithDescription("High watermark minus committed offset, per owned partition."))
	if err != nil {
		return err
	}
	fresh, err := newFreshnessGauges(m, "partition",
		"Age of the oldest unfinished message (the one the committed offset waits for), from its Kafka timestamp, per owned partition; 0 when none is pending.",
		"Time since a message of the partition last finished (delivered, skipped or dead-lettered), per owned partition.")
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now()
		p.mu.Lock()
		defer p.mu.Unlock()
		for k, f := range p.m {
			attrs := partitionAttrs(k)
			if f.Committed >= 0 {
				o.ObserveInt64(committed, f.Committed, attrs)
			}
			if f.Lag >= 0 {
				o.ObserveInt64(lag, f.Lag, attrs)
			}
			if f.Freshness != nil {
				fresh.observe(o, now, attrs, f.Freshness)
			}
		}
		return nil
	}, committed, lag, fresh.age, fresh.idle)
	return err
}
