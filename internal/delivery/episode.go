package delivery

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// episode summarises a kind of trouble in the log (throttling, or failing
// calls): one line when it starts, one per summaryEvery while it lasts, one
// when it ends, instead of one per retry. An episode ends after quietAfter
// without trouble, so batches succeeding in between do not split it into many.
type episode struct {
	log   *slog.Logger
	level slog.Level
	what  string // "Firehose is throttling this stream", "PutRecordBatch is failing"

	mu           sync.Mutex
	active       bool
	since        time.Time
	lastThrottle time.Time
	lastLog      time.Time
	records      int64
	calls        int64
}

const (
	summaryEvery = 30 * time.Second
	quietAfter   = 5 * time.Second
)

// trouble records a call in trouble with records affected; attrs describe it and
// are logged when the episode starts and in summaries.
func (e *episode) trouble(records int, attrs ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if e.active && now.Sub(e.lastThrottle) >= quietAfter {
		e.endLocked()
	}
	e.lastThrottle = now
	e.records += int64(records)
	e.calls++
	ctx := context.Background()
	if !e.active {
		e.active, e.since, e.lastLog = true, now, now
		e.log.Log(ctx, e.level, e.what+"; backing off and retrying", attrs...)
		return
	}
	if now.Sub(e.lastLog) >= summaryEvery {
		e.lastLog = now
		e.log.Log(ctx, e.level, e.what+" still", append([]any{"for", now.Sub(e.since).Round(time.Second).String(), "calls", e.calls, "records", e.records}, attrs...)...)
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
	e.log.Info(e.what+": ended", "lasted", e.lastThrottle.Sub(e.since).Round(time.Millisecond).String(), "calls", e.calls, "records", e.records)
	e.active, e.records, e.calls = false, 0, 0
}
