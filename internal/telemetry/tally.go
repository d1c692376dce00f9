package telemetry

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Tallies are the counts that move once or more per message. They live in
// atomics and the meter reads them when it collects: a synchronous OTel Add,
// with its attribute handling and exemplar filter, cost ~300 ns and ran three
// times per message (7% of the worker's CPU); an atomic add costs a few.
//
// Each distinct attribute set has one Tally; hot paths look theirs up once
// and keep it.
type Tallies struct {
	mu    sync.Mutex
	byKey map[attribute.Distinct]*Tally
	list  []*Tally
}

// Tally is one count of Tallies.
type Tally struct {
	n   atomic.Int64
	set attribute.Set
}

// Add adds n, which may be negative for an up-down count.
func (t *Tally) Add(n int64) { t.n.Add(n) }

// Load returns the count.
func (t *Tally) Load() int64 { return t.n.Load() }

// Get returns the tally of the attribute set kv, creating it on first use.
func (ts *Tallies) Get(kv ...attribute.KeyValue) *Tally {
	set := attribute.NewSet(kv...)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t, ok := ts.byKey[set.Equivalent()]; ok {
		return t
	}
	if ts.byKey == nil {
		ts.byKey = map[attribute.Distinct]*Tally{}
	}
	t := &Tally{set: set}
	ts.byKey[set.Equivalent()] = t
	ts.list = append(ts.list, t)
	return t
}

func (ts *Tallies) observe(_ context.Context, o metric.Int64Observer) error {
	ts.mu.Lock()
	list := ts.list
	ts.mu.Unlock()
	for _, t := range list {
		o.Observe(t.n.Load(), metric.WithAttributeSet(t.set))
	}
	return nil
}

// counter registers ts as a monotonic counter.
func (ts *Tallies) counter(m metric.Meter, name, unit, desc string) error {
	_, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithInt64Callback(ts.observe))
	return err
}

// upDown registers ts as a count that goes up and down.
func (ts *Tallies) upDown(m metric.Meter, name, unit, desc string) error {
	_, err := m.Int64ObservableUpDownCounter(name, metric.WithUnit(unit), metric.WithDescription(desc), metric.WithInt64Callback(ts.observe))
	return err
}
