package delivery

import (
	"context"
	"sync"
	"time"
)

// Limiter bounds the concurrent PutRecordBatch calls of one stream. In
// adaptive mode it moves the bound the way TCP moves its window (additive
// increase, multiplicative decrease): every call that goes through cleanly
// adds 1/limit, so the limit grows by about one per round of calls; a
// throttled call (more of its records throttled than the stream's baseline of
// random throttles explains, see pace.go; once the stream is paced, only a
// call of which nothing was accepted), or one whose latency rises well above
// the stream's usual latency, halves it, at most once per round trip so one
// burst of throttles counts as one congestion signal. Firehose's per-stream
// quota is then found and tracked instead of overrun, which is what a fixed
// concurrency does.
type Limiter struct {
	adaptive bool
	min, max float64

	mu       sync.Mutex
	limit    float64
	inflight int
	wake     chan struct{}
	lastCut  time.Time
	rtt      float64 // EWMA of call latency in seconds, 0 until measured
	now      func() time.Time
	pace     pacer
}

// Signal is what a finished call says about congestion.
type Signal int

const (
	// Clean: every record accepted.
	Clean Signal = iota
	// Congested: throttled, wholly or per record.
	Congested
	// Neutral: an error that says nothing about load (a bad request, a
	// network fault); the limit stays.
	Neutral
)

// NewLimiter returns a limiter with the given ceiling. A fixed limiter always
// allows max calls; an adaptive one starts at start and moves within [1, max].
func NewLimiter(adaptive bool, start, ceiling int) *Limiter {
	ceiling = max(ceiling, 1)
	l := &Limiter{adaptive: adaptive, min: 1, max: float64(ceiling), limit: float64(ceiling), wake: make(chan struct{}), now: time.Now}
	if adaptive {
		l.limit = float64(min(max(start, 1), ceiling))
	}
	return l
}

// Limit is the current bound.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// Acquire waits for a free call slot or for ctx to end.
func (l *Limiter) Acquire(ctx context.Context) error {
	for {
		l.mu.Lock()
		if l.inflight < int(l.limit) {
			l.inflight++
			l.mu.Unlock()
			return nil
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Release frees the slot taken by Acquire and feeds the call's outcome,
// latency and accepted records to the controller.
func (l *Limiter) Release(sig Signal, latency time.Duration, sent, accepted int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight--
	if l.adaptive {
		// Records throttled at the stream's baseline rate went through as
		// far as load is concerned: the call counts as clean.
		load := sig
		if sig == Congested && !l.pace.callCongested(sig, sent, accepted) {
			load = Clean
		}
		// Once the stream is paced, records throttled one by one are the
		// pace's to answer: halving the calls in flight as well held paced
		// calls back, then let them go in a bunch that met the quota's
		// bucket empty, so a cut was followed by more throttles.
		if load == Congested && l.pace.rate > 0 && accepted > 0 {
			load = Clean
		}
		l.adjust(load, latency.Seconds())
		rate := l.pace.rate
		l.account(sig, sent, accepted, latency)
		if l.pace.rate != rate {
			l.pace.rateMoved()
		}
	}
	close(l.wake)
	l.wake = make(chan struct{})
}

// latencyFactor is how far above its average a call's latency must be to
// count as a sign of congestion, and minLatencyRise by how much at least.
// Without the floor, calls of a few milliseconds (a near endpoint, a busy
// host's scheduler, a collection) halved the limit on jitter alone: a
// goroutine dump of a backlog run had calls queued for slots while the
// machine sat half idle.
const (
	latencyFactor  = 2.5
	minLatencyRise = 0.1 // seconds
)

// adjust moves the concurrency limit; congestion halves it at most once per
// round trip.
func (l *Limiter) adjust(sig Signal, rtt float64) {
	now := l.now()
	slow := l.rtt > 0 && rtt > latencyFactor*l.rtt && rtt-l.rtt > minLatencyRise && sig == Clean
	if sig == Clean && !slow {
		if l.rtt == 0 {
			l.rtt = rtt
		} else {
			l.rtt = 0.9*l.rtt + 0.1*rtt
		}
	}
	switch {
	case sig == Congested || slow:
		window := time.Duration(max(l.rtt, 0.05) * float64(time.Second))
		if now.Sub(l.lastCut) < window {
			return
		}
		l.lastCut = now
		l.limit = max(l.min, l.limit/2)
	case sig == Clean:
		l.limit = min(l.max, l.limit+1/l.limit)
	}
}
