package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// hold spaces a stream's calls while they fail whole (an outage, a stream
// throttled call by call, a broken network), so the stream makes one probe
// call per backoff interval instead of every queued batch retrying on its
// own schedule: with a backoff per batch, a 5-minute outage of a stream with
// hundreds of small batches queued cost 58 calls a second.
//
// After a call fails whole, no call goes until the stream's backoff has
// passed; then exactly one probe goes while the others wait for its answer.
// A probe that fails holds the stream again for the next, longer interval;
// any answered call (a success, even a partial one, or a refusal of that
// batch for good) ends the hold, and every waiting call goes. A failure of a
// call that went out before the hold began does not lengthen it.
//
// The zero value never holds; NewStream sets newBackOff.
type hold struct {
	newBackOff func() backoff.BackOff // nil: never hold

	mu      sync.Mutex
	bo      backoff.BackOff // the stream's backoff while held; nil when not
	until   time.Time       // zero when not held
	probing bool            // a probe is out: the others wait for its answer
	changed chan struct{}   // closed when the hold ends or a probe is answered
}

// pass waits until the stream may make a call, or ctx ends. probe reports
// that this call is the hold's probe: the caller must then report its
// outcome with failed or answered, or call abandon if it makes no call.
func (h *hold) pass(ctx context.Context) (probe bool, err error) {
	if h.newBackOff == nil {
		return false, nil
	}
	for {
		h.mu.Lock()
		if h.until.IsZero() {
			h.mu.Unlock()
			return false, nil
		}
		if wait := time.Until(h.until); wait > 0 {
			h.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return false, ctx.Err()
			}
			continue
		}
		if !h.probing {
			h.probing = true
			h.mu.Unlock()
			return true, nil
		}
		ch := h.changedLocked()
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// failed records a call that failed whole.
func (h *hold) failed(probe bool) {
	if h.newBackOff == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !probe && !h.until.IsZero() {
		// While held only the probe goes: this call went out before the
		// hold began, which already accounts for it.
		return
	}
	if h.bo == nil {
		h.bo = h.newBackOff()
	}
	d := h.bo.NextBackOff()
	if d == backoff.Stop {
		// A backoff with a MaxElapsed runs out; a stream's hold never
		// gives up, it starts over.
		h.bo.Reset()
		d = h.bo.NextBackOff()
	}
	h.until = time.Now().Add(max(d, time.Nanosecond))
	if probe {
		h.probing = false
		h.signalLocked()
	}
}

// answered records an answered call: the stream is not held.
func (h *hold) answered(probe bool) {
	if h.newBackOff == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.until.IsZero() && !probe {
		return
	}
	h.bo, h.until = nil, time.Time{}
	if probe {
		h.probing = false
	}
	h.signalLocked()
}

// abandon gives the probe up without a call (its context ended): another
// waiting call becomes the probe.
func (h *hold) abandon(probe bool) {
	if !probe {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.probing = false
	h.signalLocked()
}

func (h *hold) changedLocked() chan struct{} {
	if h.changed == nil {
		h.changed = make(chan struct{})
	}
	return h.changed
}

func (h *hold) signalLocked() {
	if h.changed != nil {
		close(h.changed)
		h.changed = nil
	}
}
