package delivery

import (
	"log/slog"
	"sync"
	"time"
)

// episode summarises throttling in the log: one line when it starts, one per
// summaryEvery while it lasts, one when it ends, instead of one per retry. An
// episode ends after quietAfter without a throttle, so batches succeeding in
// between throttled ones do not split it into many.
type episode struct {
	log *slog.Logger

	mu           sync.Mutex
	active       bool
	since        time.Time
	lastThrottle time.Time
	lastLog      time.Time
	records      int64
}

const (
	summaryEvery = 30 * time.Second
	quietAfter   = 5 * time.Second
)

func (e *episode) throttled(records int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if e.active && now.Sub(e.lastThrottle) >= quietAfter {
		e.endLocked()
	}
	e.lastThrottle = now
	e.records += int64(records)
	if !e.active {
		e.active, e.since, e.lastLog = true, now, now
		e.log.Warn("Firehose is throttling this stream; backing off")
		return
	}
	if now.Sub(e.lastLog) >= summaryEvery {
		e.lastLog = now
		e.log.Warn("Firehose is still throttling this stream", "for", now.Sub(e.since).Round(time.Second), "throttled_records", e.records)
	}
}

func (e *episode) ok() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.active && time.Since(e.lastThrottle) >= quietAfter {
		e.endLocked()
	}
}

func (e *episode) endLocked() {
	e.log.Info("Firehose throttling ended", "lasted", e.lastThrottle.Sub(e.since).Round(time.Millisecond), "throttled_records", e.records)
	e.active, e.records = false, 0
}
