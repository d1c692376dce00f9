package congestion

import (
	"context"
	"sync"
	"time"
)

// Limiter is the congestion control of one stream. Its concurrency half moves
// the bound on calls in flight the way TCP moves its window (additive
// increase, multiplicative decrease), so Firehose's per-stream quota is found
// and tracked instead of overrun, which is what a fixed concurrency does; its
// pace half (pace.go) bounds records per second, since a stream over its
// record quota is answered at once and the bound on calls alone does not
// bound the rate. Its fields are guarded by mu, the pacer's too.
type Limiter struct {
	adaptive bool
	min, max float64

	mu       sync.Mutex
	limit    float64
	inflight int
	waiters  []*waiter // callers waiting for a slot, oldest first
	coming   int       // calls announced by Expect that have not reached Acquire
	lastCut  time.Time
	rtt      float64 // EWMA of call latency in seconds, 0 until measured
	now      func() time.Time
	pace     pacer
	onRoom   func()
}

// waiter is a caller waiting in Acquire; ready is closed once it holds a slot.
type waiter struct {
	ready   chan struct{}
	granted bool
}

// Signal is what a finished call says about congestion.
type Signal int

const (
	// Clean: every record accepted.
	Clean Signal = iota
	// Congested: throttled, wholly or per record.
	Congested
	// Neutral: an error that says nothing about load (a bad request, a
	// network fault, a call that never went); the limit stays.
	Neutral
)

// Outcome is how one admitted call went.
type Outcome struct {
	Signal  Signal
	Latency time.Duration
	// Sent and Accepted count the call's records; Accepted is 0 for a call
	// that failed whole.
	Sent, Accepted int
}

// NewLimiter returns a limiter with the given ceiling. A fixed limiter always
// allows ceiling calls; an adaptive one starts at start and moves within
// [1, ceiling].
func NewLimiter(adaptive bool, start, ceiling int) *Limiter {
	ceiling = max(ceiling, 1)
	l := &Limiter{adaptive: adaptive, min: 1, max: float64(ceiling), limit: float64(ceiling), now: time.Now}
	if adaptive {
		l.limit = float64(min(max(start, 1), ceiling))
	}
	return l
}

// OnRoom sets the function called after a Release that leaves a slot free
// with nobody waiting (see the package doc). It must not call Release, and
// is set once, before the first call.
func (l *Limiter) OnRoom(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onRoom = f
}

// Limit is the current bound.
func (l *Limiter) Limit() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return int(l.limit)
}

// Room reports whether a call admitted now would get a slot at once.
func (l *Limiter) Room() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.roomLocked()
}

func (l *Limiter) roomLocked() bool {
	return len(l.waiters) == 0 && l.coming == 0 && l.inflight < int(l.limit)
}

// Expect announces a call that will Admit soon, from a goroutine not yet
// running: until it reaches its slot (or the line for one), Room reports
// false, so a batcher does not send a younger batch that could overtake it.
// Every Expect must be followed by an Admit.
func (l *Limiter) Expect() {
	l.mu.Lock()
	l.coming++
	l.mu.Unlock()
}

// arrivedLocked counts an announced call as arrived. Resends arrive without
// an Expect; a count that is short by them only makes Room true a little
// early, never holds it false.
func (l *Limiter) arrivedLocked() {
	if l.coming > 0 {
		l.coming--
	}
}

// Paced reports whether the stream is being paced.
func (l *Limiter) Paced() bool { return l.Rate() > 0 }

// Admit waits for the pace to let n records go, then for a call slot.
func (l *Limiter) Admit(ctx context.Context, n int) error {
	if err := l.Pace(ctx, n); err != nil {
		l.mu.Lock()
		l.arrivedLocked()
		l.unlockNotify()
		return err
	}
	return l.Acquire(ctx)
}

// Acquire waits for a free call slot or for ctx to end. Waiting callers get
// slots in the order they came.
func (l *Limiter) Acquire(ctx context.Context) error {
	l.mu.Lock()
	l.arrivedLocked()
	if len(l.waiters) == 0 && l.inflight < int(l.limit) {
		l.inflight++
		// A batch held while this call was announced may go now, if
		// slots are left.
		l.unlockNotify()
		return nil
	}
	w := &waiter{ready: make(chan struct{})}
	l.waiters = append(l.waiters, w)
	l.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	if w.granted {
		// The slot came as ctx ended: pass it on.
		l.inflight--
		l.grantLocked()
	} else {
		for i, x := range l.waiters {
			if x == w {
				l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
				break
			}
		}
	}
	l.unlockNotify()
	return ctx.Err()
}

// unlockNotify unlocks mu and, if a slot is free with nobody waiting, calls
// the OnRoom function, outside the lock.
func (l *Limiter) unlockNotify() {
	f := l.onRoom
	room := f != nil && l.roomLocked()
	l.mu.Unlock()
	if room {
		f()
	}
}

// grantLocked hands the free slots to the oldest waiters.
func (l *Limiter) grantLocked() {
	for len(l.waiters) > 0 && l.inflight < int(l.limit) {
		w := l.waiters[0]
		l.waiters[0] = nil
		l.waiters = l.waiters[1:]
		l.inflight++
		w.granted = true
		close(w.ready)
	}
}

// Release frees the slot taken by Admit or Acquire and feeds the call's
// outcome to the controller.
func (l *Limiter) Release(o Outcome) {
	l.mu.Lock()
	l.inflight--
	if l.adaptive {
		l.adjust(l.loadSignal(o), o.Latency.Seconds())
		rate := l.pace.rate
		l.account(o.Signal, o.Sent, o.Accepted, o.Latency)
		if l.pace.rate != rate {
			l.pace.rateMoved()
		}
	}
	l.grantLocked()
	l.unlockNotify()
}

// loadSignal is what a call says about the number of calls in flight, which
// is less than what it says about the pace.
func (l *Limiter) loadSignal(o Outcome) Signal {
	switch {
	case o.Signal != Congested:
		return o.Signal
	case !l.pace.callCongested(o.Signal, o.Sent, o.Accepted):
		// Records throttled at the stream's baseline rate went through as
		// far as load is concerned.
		return Clean
	case l.pace.rate > 0 && o.Accepted > 0:
		// Once the stream is paced, records throttled one by one are the
		// pace's to answer: halving the calls in flight as well held paced
		// calls back, then let them go in a bunch that met the quota's
		// bucket empty, so a cut was followed by more throttles.
		return Clean
	}
	return Congested
}

// Telling a slow call from a congested one. A call latencyFactor times
// slower than the stream's average, and at least minLatencyRise slower,
// counts as congestion. Without the floor, calls of a few milliseconds (a
// near endpoint, a busy host's scheduler, a collection) halved the limit on
// jitter alone: a goroutine dump of a backlog run had calls queued for slots
// while the machine sat half idle. A stream that is steadily slow is not
// congested: its average is its latency (TestSteadilySlowCallsAreNotCongestion).
const (
	latencyFactor  = 2.5
	minLatencyRise = 0.1 // seconds
	// rttWeight is the weight of a new call in the latency average: about
	// the last ten calls.
	rttWeight = 0.1
	// minCutWindow: congestion halves the limit at most once per round
	// trip, so one burst of throttles counts as one signal; for calls
	// faster than this, once per minCutWindow.
	minCutWindow = 50 * time.Millisecond
)

// adjust moves the concurrency limit; congestion halves it at most once per
// round trip (TestLimiterCutsOncePerRoundTrip).
func (l *Limiter) adjust(sig Signal, rtt float64) {
	now := l.now()
	slow := l.rtt > 0 && rtt > latencyFactor*l.rtt && rtt-l.rtt > minLatencyRise && sig == Clean
	if sig == Clean && !slow {
		if l.rtt == 0 {
			l.rtt = rtt
		} else {
			l.rtt = (1-rttWeight)*l.rtt + rttWeight*rtt
		}
	}
	switch {
	case sig == Congested || slow:
		window := max(time.Duration(l.rtt*float64(time.Second)), minCutWindow)
		if now.Sub(l.lastCut) < window {
			return
		}
		l.lastCut = now
		l.limit = max(l.min, l.limit/2)
	case sig == Clean:
		l.limit = min(l.max, l.limit+1/l.limit)
	}
}
