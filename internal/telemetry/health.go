package telemetry

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Health tracks what /healthz and /readyz report. All methods are safe for
// concurrent use and on a nil *Health, so code under test can pass none.
//
// Alive: the commit loop of the current generation keeps turning (it ticks
// every commit interval), or the worker is between generations.
// Ready: the worker is in a group generation, and it is not stuck: when
// batches are in flight, some message finished within StuckAfter. A worker
// retrying against a Firehose that refuses everything turns unready, so an
// orchestrator can alert or stop routing to it, and ready again once
// acknowledgements resume.
type Health struct {
	StuckAfter time.Duration
	// LoopStale is how long the commit loop may go without turning before
	// the worker is reported dead.
	LoopStale time.Duration

	mu     sync.Mutex
	joined bool
	claims int
	// Progress runs once per finished message, so it only counts: a clock
	// read there cost more than the rest of it. Ready stamps lastProgress
	// when it sees the count move (seen is the count it last saw), which
	// makes "nothing acknowledged for" exact to within the interval between
	// readiness probes.
	progress atomic.Uint64
	seen     uint64 // guarded by mu

	inflight     atomic.Int64
	lastProgress atomic.Int64 // unix nanoseconds
	lastTick     atomic.Int64
	now          func() time.Time
}

// NewHealth returns a Health with the given stuck threshold.
func NewHealth(stuckAfter time.Duration) *Health {
	h := &Health{StuckAfter: stuckAfter, LoopStale: time.Minute, now: time.Now}
	h.lastProgress.Store(h.now().UnixNano())
	return h
}

// SetMembership records whether the worker is in a group generation.
func (h *Health) SetMembership(joined bool, claims []string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.joined, h.claims = joined, len(claims)
	h.lastTick.Store(h.now().UnixNano())
}

// Progress records that a message finished.
func (h *Health) Progress() {
	if h == nil {
		return
	}
	h.progress.Add(1)
}

// InFlight adds delta to the batches being delivered. The first batch after
// an idle spell restarts the stuck clock, so idleness is never "stuck".
func (h *Health) InFlight(delta int64) {
	if h == nil {
		return
	}
	if h.inflight.Add(delta) == delta && delta > 0 {
		h.lastProgress.Store(h.now().UnixNano())
	}
}

// Tick records that the commit loop turned.
func (h *Health) Tick() {
	if h == nil {
		return
	}
	h.lastTick.Store(h.now().UnixNano())
}

// Ready reports readiness and why.
func (h *Health) Ready() (bool, string) {
	if h == nil {
		return true, "ok"
	}
	h.mu.Lock()
	joined, claims := h.joined, h.claims
	if n := h.progress.Load(); n != h.seen {
		h.seen = n
		h.lastProgress.Store(h.now().UnixNano())
	}
	h.mu.Unlock()
	if !joined {
		return false, "not in a consumer group generation"
	}
	if n := h.inflight.Load(); n > 0 && h.StuckAfter > 0 {
		since := h.now().Sub(time.Unix(0, h.lastProgress.Load()))
		if since > h.StuckAfter {
			return false, fmt.Sprintf("stuck: %d batches in flight and nothing acknowledged for %s", n, since.Round(time.Second))
		}
	}
	return true, fmt.Sprintf("ready: in generation with %d partitions", claims)
}

// Alive reports liveness and why.
func (h *Health) Alive() (bool, string) {
	if h == nil {
		return true, "ok"
	}
	h.mu.Lock()
	joined := h.joined
	h.mu.Unlock()
	if joined && h.LoopStale > 0 {
		if since := h.now().Sub(time.Unix(0, h.lastTick.Load())); since > h.LoopStale {
			return false, fmt.Sprintf("commit loop has not turned for %s", since.Round(time.Second))
		}
	}
	return true, "alive"
}
