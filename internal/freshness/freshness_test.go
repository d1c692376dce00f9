package freshness

import (
	"testing"
	"time"
)

func TestWindowOldestIsTheMinimumOfOpenBatches(t *testing.T) {
	t.Parallel()
	w := New()
	if _, ok := w.Oldest(); ok {
		t.Fatal("an empty window reports a pending batch")
	}
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	a := w.Open(t0.Add(2 * time.Second))
	b := w.Open(t0) // opened later, older records (another partition's backlog)
	c := w.Open(t0.Add(time.Second))
	if got, _ := w.Oldest(); !got.Equal(t0) {
		t.Errorf("Oldest = %v, want %v", got, t0)
	}
	before := w.LastFinish()
	w.Close(b, true)
	if got, _ := w.Oldest(); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("Oldest after the oldest batch finished = %v, want %v", got, t0.Add(time.Second))
	}
	if !w.LastFinish().After(before) {
		t.Error("a finished batch did not move LastFinish")
	}
	after := w.LastFinish()
	w.Close(c, false) // abandoned at shutdown: not a finish
	if !w.LastFinish().Equal(after) {
		t.Error("an abandoned batch moved LastFinish")
	}
	w.Close(a, true)
	if _, ok := w.Oldest(); ok {
		t.Error("Oldest reports a batch after every batch closed")
	}
}
