package checkpoint

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

func committable(t *testing.T, tr *Tracker) int64 {
	t.Helper()
	off, ok := tr.Committable()
	if !ok {
		t.Fatal("nothing committable")
	}
	return off
}

func TestNothingTrackedNothingToCommit(t *testing.T) {
	t.Parallel()
	if _, ok := NewTracker(nil).Committable(); ok {
		t.Error("empty tracker offers an offset")
	}
}

func TestOutOfOrderFinishes(t *testing.T) {
	t.Parallel()
	tr := NewTracker(nil)
	m := map[int64]*Message{}
	for _, off := range []int64{10, 11, 13, 14} { // a gap at 12, as after compaction
		m[off] = tr.Track(off, 1, 0)
	}
	if got := committable(t, tr); got != 10 {
		t.Fatalf("commit = %d, want 10 (nothing finished)", got)
	}
	m[13].Done()
	m[14].Done()
	if got := committable(t, tr); got != 10 {
		t.Errorf("commit = %d, want 10: 10 is unfinished", got)
	}
	m[10].Done()
	if got := committable(t, tr); got != 11 {
		t.Errorf("commit = %d, want 11", got)
	}
	m[11].Done()
	if got := committable(t, tr); got != 15 {
		t.Errorf("commit = %d, want 15 (after the newest)", got)
	}
	if tr.Pending() != 0 {
		t.Errorf("pending = %d", tr.Pending())
	}
}

func TestFanOutFinishesOnLastPart(t *testing.T) {
	t.Parallel()
	var released int64
	tr := NewTracker(func(m *Message) { released += m.Bytes() })
	a := tr.Track(0, 3, 100)
	b := tr.Track(1, 1, 7)
	b.Done()
	a.Done()
	a.Done()
	if got := committable(t, tr); got != 0 {
		t.Errorf("commit = %d, want 0 with one part of 0 outstanding", got)
	}
	if released != 7 {
		t.Errorf("released %d bytes, want 7", released)
	}
	a.Done()
	if got := committable(t, tr); got != 2 {
		t.Errorf("commit = %d, want 2", got)
	}
	if released != 107 {
		t.Errorf("released %d bytes, want 107", released)
	}
}

// TestNeverPassesUnfinished finishes messages in random order from many
// goroutines and checks, at every step, that the committable offset never
// passes a message that is not finished.
func TestNeverPassesUnfinished(t *testing.T) {
	t.Parallel()
	const n = 5000
	tr := NewTracker(nil)
	msgs := make([]*Message, n)
	finished := make([]bool, n)
	var mu sync.Mutex
	for i := range msgs {
		msgs[i] = tr.Track(int64(i), 1+i%3, 0)
	}
	type part struct{ i int }
	var parts []part
	for i := range msgs {
		for range 1 + i%3 {
			parts = append(parts, part{i})
		}
	}
	rand.Shuffle(len(parts), func(a, b int) { parts[a], parts[b] = parts[b], parts[a] })
	remaining := make([]int, n)
	for i := range remaining {
		remaining[i] = 1 + i%3
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for k := w; k < len(parts); k += 4 {
				i := parts[k].i
				mu.Lock()
				remaining[i]--
				if remaining[i] == 0 {
					finished[i] = true
				}
				mu.Unlock()
				msgs[i].Done()
				off, _ := tr.Committable()
				mu.Lock()
				for j := int64(0); j < off; j++ {
					if !finished[j] {
						t.Errorf("committable %d passes unfinished %d", off, j)
						mu.Unlock()
						return
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if got := committable(t, tr); got != n {
		t.Errorf("final commit = %d, want %d", got, n)
	}
}

func TestWaitDrained(t *testing.T) {
	t.Parallel()
	tr := NewTracker(nil)
	if err := tr.WaitDrained(context.Background()); err != nil {
		t.Fatalf("empty tracker: %v", err)
	}
	m := tr.Track(5, 1, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tr.WaitDrained(ctx); err == nil {
		t.Fatal("WaitDrained returned with a message pending")
	}
	done := make(chan error)
	go func() { done <- tr.WaitDrained(context.Background()) }()
	m.Done()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWaitPendingBelow(t *testing.T) {
	t.Parallel()
	tr := NewTracker(nil)
	a := tr.Track(0, 1, 0)
	tr.Track(1, 1, 0)
	if err := tr.WaitPendingBelow(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tr.WaitPendingBelow(ctx, 2); err == nil {
		t.Fatal("returned with 2 pending and a bound of 2")
	}
	done := make(chan error)
	go func() { done <- tr.WaitPendingBelow(context.Background(), 2) }()
	a.Done()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestOldestAndLastFinish(t *testing.T) {
	t.Parallel()
	before := time.Now()
	tr := NewTracker(nil)
	if _, ok := tr.Oldest(); ok {
		t.Fatal("an empty tracker reports a pending message")
	}
	created := tr.LastFinish()
	if created.Before(before) {
		t.Errorf("LastFinish %v before the tracker was created (%v)", created, before)
	}
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a := tr.TrackAt(1, 1, 0, t0)
	b := tr.TrackAt(2, 1, 0, t0.Add(time.Second))
	c := tr.Track(3, 1, 0) // no timestamp
	if got, ok := tr.Oldest(); !ok || !got.Equal(t0) {
		t.Errorf("Oldest = %v %v, want %v", got, ok, t0)
	}
	b.Done() // out of order: the oldest is still a
	if got, _ := tr.Oldest(); !got.Equal(t0) {
		t.Errorf("Oldest after a later message finished = %v, want %v", got, t0)
	}
	finished := time.Now()
	a.Done()
	if lf := tr.LastFinish(); lf.Before(finished) {
		t.Errorf("LastFinish %v, want at or after %v", lf, finished)
	}
	if lf := tr.LastFinish(); lf.Before(finished) {
		t.Errorf("a second look moved LastFinish back to %v", lf)
	}
	// Message 3 has no timestamp: it is as old as the first look at it as
	// the oldest, and stays so.
	seen := time.Now()
	first, _ := tr.Oldest()
	if first.Before(seen) {
		t.Errorf("Oldest of an untimed message = %v, before it was first seen (%v)", first, seen)
	}
	if again, _ := tr.Oldest(); !again.Equal(first) {
		t.Errorf("Oldest of the same untimed message moved from %v to %v", first, again)
	}
	c.Done()
	if _, ok := tr.Oldest(); ok {
		t.Error("Oldest reports a message once everything finished")
	}
}

// BenchmarkTrackDone is the tracker's cost per message on the hot path: one
// TrackAt and one Done, in order, with a window of unfinished messages.
func BenchmarkTrackDone(b *testing.B) {
	tr := NewTracker(nil)
	ts := time.Now()
	window := make([]*Message, 0, 64)
	b.ReportAllocs()
	for i := range b.N {
		window = append(window, tr.TrackAt(int64(i), 1, 0, ts))
		if len(window) == cap(window) {
			for _, m := range window {
				m.Done()
			}
			window = window[:0]
		}
	}
}

func TestFinishedBeyondCommittable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		offsets []int64
		done    []int64
		n       int
		want    []Range
	}{
		{"nothing tracked", nil, nil, 10, nil},
		{"everything finished: nothing beyond", []int64{1, 2, 3}, []int64{1, 2, 3}, 10, nil},
		{"nothing finished", []int64{1, 2, 3}, nil, 10, nil},
		{"finished behind the oldest unfinished", []int64{1, 2, 3, 4, 5, 6}, []int64{1, 3, 4, 6}, 10, []Range{{3, 4}, {6, 6}}},
		{"compaction gaps inside a run", []int64{10, 12, 15, 20, 21}, []int64{12, 15, 21}, 10, []Range{{12, 15}, {21, 21}}},
		{"at most n, nearest first", []int64{0, 1, 2, 3, 4, 5, 6}, []int64{1, 3, 5}, 2, []Range{{1, 1}, {3, 3}}},
		{"n of zero", []int64{0, 1}, []int64{1}, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tr := NewTracker(nil)
			m := map[int64]*Message{}
			for _, off := range c.offsets {
				m[off] = tr.Track(off, 1, 0)
			}
			for _, off := range c.done {
				m[off].Done()
			}
			got := tr.Finished(nil, c.n)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
			if len(got) > 0 {
				if off, _ := tr.Committable(); got[0].First <= off {
					t.Errorf("range %v is not beyond the committable offset %d", got[0], off)
				}
			}
		})
	}
}

// TestWithdrawFreezes: after Withdraw, finishing messages changes neither the
// offset to commit nor the finished ranges (the partition's next owner will
// read them again, so a dropped message must never count as finished), but
// onFinish still runs for each so its memory is released.
func TestWithdrawFreezes(t *testing.T) {
	t.Parallel()
	var released, counted []int64
	tr := NewTracker(func(m *Message) {
		released = append(released, m.Offset())
		if m.Finished() {
			counted = append(counted, m.Offset())
		}
	})
	m := map[int64]*Message{}
	for off := int64(0); off < 6; off++ {
		m[off] = tr.Track(off, 1, 10)
	}
	m[0].Done()
	m[2].Done()
	if m[3].Withdrawn() {
		t.Fatal("withdrawn before Withdraw")
	}
	tr.Withdraw()
	for _, off := range []int64{1, 3, 4, 5} {
		if !m[off].Withdrawn() {
			t.Fatalf("message %d not withdrawn after Withdraw", off)
		}
		m[off].Done()
	}
	if got := committable(t, tr); got != 1 {
		t.Errorf("commit = %d after finishes that followed Withdraw, want 1 as frozen", got)
	}
	if got := tr.Finished(nil, 10); len(got) != 1 || got[0] != (Range{First: 2, Last: 2}) {
		t.Errorf("finished beyond the commit = %v, want [{2 2}] as frozen", got)
	}
	if got := tr.Pending(); got != 5 {
		t.Errorf("pending = %d, want 5 (offsets 1..5) as frozen", got)
	}
	if len(released) != 6 {
		t.Errorf("onFinish ran for %v, want all six messages", released)
	}
	if !slices.Equal(counted, []int64{0, 2}) {
		t.Errorf("Finished() true for %v, want [0 2]: the two done before Withdraw", counted)
	}
}

// Skip must leave a tracker exactly as Track followed by Done does, minus
// the onFinish call.
func TestSkipIsTrackAndDone(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 11))
	finishes := 0
	skipped, tracked := NewTracker(func(*Message) { finishes++ }), NewTracker(nil)
	var openA, openB []*Message // unfinished, same messages in both trackers
	skips, tracks := 0, 0
	for off := int64(0); off < 5000; off += 1 + rng.Int64N(2) { // gaps, as after compaction
		switch r := rng.IntN(10); {
		case r < 4:
			skipped.Skip(off)
			tracked.Track(off, 1, 0).Done()
			skips++
		case r < 7 || len(openA) == 0:
			openA = append(openA, skipped.Track(off, 1, 0))
			tracks++
			openB = append(openB, tracked.Track(off, 1, 0))
		default:
			i := rng.IntN(len(openA))
			openA[i].Done()
			openB[i].Done()
			openA = append(openA[:i], openA[i+1:]...)
			openB = append(openB[:i], openB[i+1:]...)
		}
		a, aok := skipped.Committable()
		b, bok := tracked.Committable()
		if a != b || aok != bok {
			t.Fatalf("at %d: Committable %d,%v after Skip, %d,%v after Track and Done", off, a, aok, b, bok)
		}
		if a, b := skipped.Pending(), tracked.Pending(); a != b {
			t.Fatalf("at %d: Pending %d after Skip, %d after Track and Done", off, a, b)
		}
		fa, fb := skipped.Finished(nil, 8), tracked.Finished(nil, 8)
		if len(fa) != len(fb) {
			t.Fatalf("at %d: Finished %v after Skip, %v after Track and Done", off, fa, fb)
		}
		for i := range fa {
			if fa[i] != fb[i] {
				t.Fatalf("at %d: Finished %v after Skip, %v after Track and Done", off, fa, fb)
			}
		}
		if a, b := offsetOnly(skipped.Next()), offsetOnly(tracked.Next()); a != b {
			t.Fatalf("at %d: Next %d after Skip, %d after Track and Done", off, a, b)
		}
	}
	if skips == 0 || finishes == 0 {
		t.Fatal("the sequence skipped or finished nothing")
	}
	for _, m := range openA {
		m.Done()
	}
	if finishes != tracks {
		t.Errorf("onFinish ran %d times, want one per tracked message (%d): never for a skip", finishes, tracks)
	}
}

func TestSkipAfterWithdrawChangesNothing(t *testing.T) {
	t.Parallel()
	tr := NewTracker(nil)
	m := tr.Track(1, 1, 0)
	tr.Withdraw()
	tr.Skip(2)
	m.Done()
	if got := committable(t, tr); got != 1 {
		t.Errorf("commit = %d after a skip on a withdrawn tracker, want 1", got)
	}
}

func offsetOnly(off int64, _ bool) int64 { return off }
