package telemetry

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Partitions holds the per-partition figures that are read, not counted:
// the committed offset and the consumer lag. The consumer sets them; the
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
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		p.mu.Lock()
		defer p.mu.Unlock()
		for k, f := range p.m {
			attrs := metric.WithAttributes(AttrTopic.String(k.topic), attribute.Int(string(AttrPartition), k.partition))
			if f.Committed >= 0 {
				o.ObserveInt64(committed, f.Committed, attrs)
			}
			if f.Lag >= 0 {
				o.ObserveInt64(lag, f.Lag, attrs)
			}
		}
		return nil
	}, committed, lag)
	return err
}
