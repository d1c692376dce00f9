package telemetry

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Freshness is a set of pending work that can say how old its oldest item
// is and when an item last finished. checkpoint.Tracker (a partition's
// messages) and freshness.Window (a stream's batches) are two.
type Freshness interface {
	// Oldest is the time of the oldest unfinished item; ok is false when
	// nothing is pending.
	Oldest() (at time.Time, ok bool)
	// LastFinish is when an item last finished (or when tracking began).
	LastFinish() time.Time
}

// freshnessGauges are the two gauges of a kind of Freshness: the age of the
// oldest pending item, 0 when nothing is pending, and the time since an item
// last finished. They are computed when the meter collects, so they are as
// fresh as the scrape.
type freshnessGauges struct {
	age, idle metric.Float64ObservableGauge
}

func newFreshnessGauges(m metric.Meter, what, ageDesc, idleDesc string) (freshnessGauges, error) {
	var g freshnessGauges
	var err error
	if g.age, err = m.Float64ObservableGauge("firehose_worker."+what+".pending_age", metric.WithUnit("s"), metric.WithDescription(ageDesc)); err != nil {
		return g, err
	}
	g.idle, err = m.Float64ObservableGauge("firehose_worker."+what+".since_finish", metric.WithUnit("s"), metric.WithDescription(idleDesc))
	return g, err
}

func (g freshnessGauges) observe(o metric.Observer, now time.Time, attrs metric.ObserveOption, fs ...Freshness) {
	var oldest, last time.Time
	for _, f := range fs {
		if at, ok := f.Oldest(); ok && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
		if lf := f.LastFinish(); lf.After(last) {
			last = lf
		}
	}
	age := 0.0
	if !oldest.IsZero() {
		age = max(now.Sub(oldest).Seconds(), 0)
	}
	o.ObserveFloat64(g.age, age, attrs)
	o.ObserveFloat64(g.idle, max(now.Sub(last).Seconds(), 0), attrs)
}

// Streams holds the Freshness of each delivery stream. Several sources may
// deliver to streams of the same name through different clients; a name's
// figures are then those of its oldest pending batch and its latest finish.
type Streams struct {
	mu sync.Mutex
	m  map[string][]Freshness
}

// Add reports f under stream's name.
func (s *Streams) Add(stream string, f Freshness) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string][]Freshness{}
	}
	s.m[stream] = append(s.m[stream], f)
}

// Remove stops reporting f under stream's name.
func (s *Streams) Remove(stream string, f Freshness) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fs := s.m[stream]
	for i := range fs {
		if fs[i] == f {
			fs = append(fs[:i], fs[i+1:]...)
			break
		}
	}
	if len(fs) == 0 {
		delete(s.m, stream)
		return
	}
	s.m[stream] = fs
}

func (s *Streams) register(m metric.Meter) error {
	g, err := newFreshnessGauges(m, "stream",
		"Age of the oldest record handed to delivery and not yet acknowledged or dead-lettered, from its Kafka timestamp, per stream; 0 when none is pending.",
		"Time since a batch of the stream last finished (acknowledged or dead-lettered), per stream.")
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		now := time.Now()
		s.mu.Lock()
		defer s.mu.Unlock()
		for name, fs := range s.m {
			g.observe(o, now, metric.WithAttributes(AttrStream.String(name)), fs...)
		}
		return nil
	}, g.age, g.idle)
	return err
}

// partitionAttrs are the attributes of a partition's series.
func partitionAttrs(k partitionKey) metric.MeasurementOption {
	return metric.WithAttributes(AttrTopic.String(k.topic), attribute.Int(string(AttrPartition), k.partition))
}
