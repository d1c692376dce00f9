package congestion

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// TestWaitersAreServedOldestFirst: with every slot busy, callers waiting for
// one get it in the order they came, one per Release, and a caller whose
// context ends leaves the line without taking a slot from the others.
func TestWaitersAreServedOldestFirst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(false, 0, 1)
		if err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := make(chan int, 4)
		quit, cancel := context.WithCancel(context.Background())
		for i := range 4 {
			ctx := context.Background()
			if i == 1 {
				ctx = quit
			}
			go func() {
				if l.Acquire(ctx) == nil {
					got <- i
				}
			}()
			synctest.Wait() // caller i is in line before caller i+1 comes
		}
		cancel()
		synctest.Wait()
		for _, want := range []int{0, 2, 3} {
			l.Release(Outcome{Signal: Clean})
			synctest.Wait()
			select {
			case g := <-got:
				if g != want {
					t.Fatalf("caller %d got the slot, want %d (oldest first)", g, want)
				}
			default:
				t.Fatalf("a Release left caller %d waiting", want)
			}
			if len(got) != 0 {
				t.Fatal("one Release let two callers through")
			}
		}
	})
}

// TestRoomTellsABatcherWhenToSend: Room is false while every slot is busy,
// while someone waits, and while an announced call has not arrived; OnRoom's
// function runs on the Release that leaves a slot free with nobody waiting.
func TestRoomTellsABatcherWhenToSend(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewLimiter(false, 0, 2)
		var called atomic.Int32
		l.OnRoom(func() { called.Add(1) })
		if !l.Room() {
			t.Fatal("no room in an idle limiter")
		}
		l.Expect()
		if l.Room() {
			t.Fatal("room while an announced call has not arrived")
		}
		if err := l.Admit(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		// The announced call took one of two slots: a batch held for it
		// may go at once, not after the call.
		if n := called.Load(); n != 1 || !l.Room() {
			t.Fatalf("OnRoom ran %d times, room %v, once the announced call had its slot; want once and room", n, l.Room())
		}
		called.Store(0)
		if err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		called.Store(0)
		if l.Room() {
			t.Fatal("room with the only slot in use")
		}
		waiting := make(chan error)
		go func() { waiting <- l.Acquire(context.Background()) }()
		synctest.Wait()
		l.Release(Outcome{Signal: Clean})
		if err := <-waiting; err != nil {
			t.Fatal(err)
		}
		if n := called.Load(); n != 0 {
			t.Fatalf("OnRoom ran %d times while the freed slot went to a waiter", n)
		}
		l.Release(Outcome{Signal: Clean})
		l.Release(Outcome{Signal: Clean})
		if n := called.Load(); n != 2 || !l.Room() {
			t.Fatalf("OnRoom ran %d times, room %v, after the last two calls returned; want twice and room", n, l.Room())
		}
	})
}

// TestAnnouncedCallThatNeverArrivesDoesNotBlockRoom: an Admit that ends with
// its context (in the pace's line) still counts the announced call as
// arrived, so Room does not stay false.
func TestAnnouncedCallThatNeverArrivesDoesNotBlockRoom(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 2, 2)
	l.pace.rate, l.pace.filled = 1, time.Now() // one record a second
	l.pace.issued, l.pace.served = 100, 0      // a long line
	l.Expect()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Admit(ctx, 1); err == nil {
		t.Fatal("Admit with an ended context went through")
	}
	if !l.Room() {
		t.Fatal("no room after the announced call gave up")
	}
}

// TestSteadilySlowCallsAreNotCongestion: calls that always take 3 s are the
// stream's normal latency, not a latency rise, so the limit grows.
func TestSteadilySlowCallsAreNotCongestion(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 2, 16)
	now := time.Unix(100, 0)
	l.now = func() time.Time { return now }
	for range 40 {
		now = now.Add(3 * time.Second)
		if err := l.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.Release(Outcome{Signal: Clean, Latency: 3 * time.Second, Sent: 500, Accepted: 500})
	}
	if got := l.Limit(); got < 8 {
		t.Errorf("limit %d after 40 clean calls of 3 s each, want it grown well past the start of 2", got)
	}
}
