// Package freshness follows the pending batches of one delivery stream, so
// the stream can report how old its oldest unacknowledged record is and how
// long ago a batch last finished.
//
// Batches finish out of order (several are in flight, some wait out a
// backoff), so the oldest pending time is the minimum over the open batches,
// not the first one opened. Callers may rely on Oldest reporting nothing
// pending exactly when every Open has been matched by its Close.
package freshness

import (
	"sync"
	"time"
)

// Window is the set of a stream's open batches. It is safe for concurrent
// use; the zero value is not: build one with New.
type Window struct {
	mu         sync.Mutex
	open       map[uint64]int64 // batch id -> its oldest record, Unix ns
	next       uint64
	lastFinish int64
}

// New returns an empty window whose last finish is now.
func New() *Window {
	return &Window{open: map[uint64]int64{}, lastFinish: time.Now().UnixNano()}
}

// Open registers a batch whose oldest record is from oldest and returns the
// id to Close it with.
func (w *Window) Open(oldest time.Time) uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	w.open[w.next] = oldest.UnixNano()
	return w.next
}

// Close removes a batch. finished says every record of it was acknowledged
// or dead-lettered (not abandoned at shutdown): only then is it a finish.
func (w *Window) Close(id uint64, finished bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.open, id)
	if finished {
		w.lastFinish = time.Now().UnixNano()
	}
}

// Oldest implements telemetry.Freshness. The scan is over batches in flight,
// a handful per stream, and runs once per metric collection.
func (w *Window) Oldest() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var oldest int64
	found := false
	for _, at := range w.open {
		if !found || at < oldest {
			oldest, found = at, true
		}
	}
	if !found {
		return time.Time{}, false
	}
	return time.Unix(0, oldest), true
}

// LastFinish implements telemetry.Freshness.
func (w *Window) LastFinish() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return time.Unix(0, w.lastFinish)
}
