package delivery

import (
	"log/slog"
	"sync"
	"time"
)

// episode summarises throttling in the log: one line when it starts, one per
// summaryEvery while it lasts, one when it ends, instead of one per retry.
type episode struct {
	log *slog.Logger

	mu      sync.Mutex
	active  bool
	since   time.Time
	lastLog time.Time
	records int64
}

const summaryEvery = 30 * time.Second

func (e *episode) throttled(records int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
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
	if !e.active {
		return
	}
	e.log.Info("Firehose throttling ended", "lasted", time.Since(e.since).Round(time.Millisecond), "throttled_records", e.records)
	e.active, e.records = false, 0
}
