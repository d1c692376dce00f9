// Package checkpoint turns out-of-order completions of Kafka messages into the
// offset that is safe to commit for each partition.
//
// Messages of one partition are fetched in order but finish out of order:
// batches for different streams are acknowledged independently, and a message
// fanned out to three streams finishes only when all three have acknowledged
// it. The offset to commit is the offset of the oldest unfinished message, or
// the offset after the newest message when every message is finished.
package checkpoint

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Tracker follows the messages of one partition. It is safe for concurrent
// use.
type Tracker struct {
	onFinish func(m *Message)

	mu      sync.Mutex
	entries []entry // in offset order; entries[head:] are live
	head    int
	next    int64         // offset after the newest tracked message; -1 before any
	below   chan struct{} // closed when pending drops under belowN
	belowN  int
	// Freshness is read lazily, so the hot path reads no clock (a clock
	// read cost 60-100 ns per message here): finished counts finishes, and
	// LastFinish stamps the time it first sees the count move; headSeen*
	// stamp an untimed head message when Oldest first sees it. Both are
	// as exact as the interval between reads (a metric collection).
	finished uint64
	// withdrawn is set once by Withdraw; finishes after it change nothing
	// here. It is read without the lock on the delivery path.
	withdrawn      atomic.Bool
	seenFinished   uint64
	seenFinishAt   int64 // Unix ns; the tracker's creation until a finish is seen
	headSeenOffset int64
	headSeenAt     int64
}

type entry struct {
	offset int64
	at     int64 // the Kafka timestamp given to TrackAt, Unix ns; 0 for none
	done   bool
}

// NewTracker returns an empty tracker. onFinish, when not nil, is called once
// for each message when it finishes, so the caller can release the memory it
// reserved for it and observe its latency.
func NewTracker(onFinish func(m *Message)) *Tracker {
	return &Tracker{onFinish: onFinish, next: -1, seenFinishAt: time.Now().UnixNano(), headSeenOffset: -1}
}

// Message is one tracked Kafka message with a number of parts (one per
// stream it goes to, or one for a skip or a dead-letter). It finishes when
// every part is done.
type Message struct {
	t      *Tracker
	offset int64
	bytes  int64
	time   time.Time
	parts  atomic.Int32
	// counted is set by the last Done when its finish counted: false when
	// the tracker was withdrawn first. onFinish reads it after.
	counted bool
}

// Offset is the message's Kafka offset.
func (m *Message) Offset() int64 { return m.offset }

// Bytes is the memory the message holds until it finishes.
func (m *Message) Bytes() int64 { return m.bytes }

// Time is the Kafka timestamp given to TrackAt; zero for Track.
func (m *Message) Time() time.Time { return m.time }

// Finished reports, from onFinish, whether m's finish counted: false when
// its tracker was withdrawn before its last part was done, so that the
// partition's next owner reads m again and m was not delivered by this
// worker (or its delivery is not known). Callers that count deliveries
// count only these.
func (m *Message) Finished() bool { return m.counted }

// Track registers the message at offset with parts parts and bytes of memory
// held until it finishes. Offsets must increase from call to call. parts must
// be at least 1.
func (t *Tracker) Track(offset int64, parts int, bytes int64) *Message {
	return t.TrackAt(offset, parts, bytes, time.Time{})
}

// TrackAt is Track for a message whose delivery latency is measured from ts.
func (t *Tracker) TrackAt(offset int64, parts int, bytes int64, ts time.Time) *Message {
	m := &Message{t: t, offset: offset, bytes: bytes, time: ts}
	m.parts.Store(int32(parts))
	var at int64
	if !ts.IsZero() {
		at = ts.UnixNano()
	}
	t.mu.Lock()
	t.push(entry{offset: offset, at: at})
	t.mu.Unlock()
	return m
}

// Skip is Track(offset, 1, 0) followed by Done, for a message that needs no
// delivery (unmapped, or finished by a previous owner) or an offset that
// holds no message, without a Message and without onFinish, which is not
// called. What the tracker reports is the same as after Track and Done,
// except on a withdrawn tracker, which Skip leaves as it is (Track would
// add a message that never finishes there).
func (t *Tracker) Skip(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.withdrawn.Load() {
		return // frozen: see Withdraw
	}
	if t.head < len(t.entries) {
		// Behind an unfinished message it is kept, done, as a finished
		// message is: Pending and Finished count it.
		t.push(entry{offset: offset, done: true})
	}
	t.next = offset + 1
	t.finished++
}

func (t *Tracker) push(e entry) {
	if t.head > 0 && t.head >= len(t.entries)/2 {
		n := copy(t.entries, t.entries[t.head:])
		t.entries = t.entries[:n]
		t.head = 0
	}
	t.entries = append(t.entries, e)
	t.next = e.offset + 1
}

// Done marks one part of m finished. The last part finishes the message.
func (m *Message) Done() {
	if m.parts.Add(-1) != 0 {
		return
	}
	m.counted = m.t.finish(m.offset)
	if m.t.onFinish != nil {
		m.t.onFinish(m)
	}
}

// finish marks the message at offset done and reports whether that counted.
func (t *Tracker) finish(offset int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.withdrawn.Load() {
		return false // frozen: see Withdraw
	}
	live := t.entries[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i].offset >= offset })
	if i == len(live) || live[i].offset != offset {
		return false // not tracked: a bug upstream, but never worth a panic here
	}
	live[i].done = true
	t.finished++
	for t.head < len(t.entries) && t.entries[t.head].done {
		t.head++
	}
	if t.below != nil && len(t.entries)-t.head < t.belowN {
		close(t.below)
		t.below = nil
	}
	if t.head == len(t.entries) {
		t.entries = t.entries[:0]
		t.head = 0
	}
	return true
}

// Withdraw freezes the tracker: what it reports from now on (Committable,
// Finished, Pending) stays as it is, whatever finishes later. It is for a
// partition this worker gives up with messages still unfinished: its final
// commit is taken from the frozen state, the partition's next owner reads
// those messages again, and the delivery path may drop any of them it has
// not sent yet (see Message.Withdrawn) instead of sending a second copy.
// Done must still be called for every part, withdrawn or not: onFinish
// runs as before, so memory reserved for a message is released.
//
// Withdrawing happens under the tracker's lock, so a Done racing with it
// either finished its message first or changes nothing: a message dropped
// because it was withdrawn is never reported finished.
func (t *Tracker) Withdraw() {
	t.mu.Lock()
	t.withdrawn.Store(true)
	t.mu.Unlock()
}

// Withdrawn reports whether m's tracker was withdrawn: m will be read again
// by the partition's next owner, so sending it now would only make a copy.
// A message already in a call cannot be taken back; one not yet sent may be
// dropped by calling Done without sending it.
func (m *Message) Withdrawn() bool { return m.t.withdrawn.Load() }

// Committable returns the offset to commit (the next offset a consumer should
// read) and whether there is anything to commit at all.
func (t *Tracker) Committable() (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next < 0 {
		return 0, false
	}
	if t.head < len(t.entries) {
		return t.entries[t.head].offset, true
	}
	return t.next, true
}

// Oldest returns the time of the oldest unfinished message (the one the
// committable offset waits for): its Kafka timestamp as given to TrackAt, or,
// for one without (Track), when Oldest first saw it oldest. ok is false when
// nothing is unfinished.
func (t *Tracker) Oldest() (at time.Time, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.head == len(t.entries) {
		return time.Time{}, false
	}
	e := t.entries[t.head]
	if e.at != 0 {
		return time.Unix(0, e.at), true
	}
	if t.headSeenOffset != e.offset {
		t.headSeenOffset, t.headSeenAt = e.offset, time.Now().UnixNano()
	}
	return time.Unix(0, t.headSeenAt), true
}

// LastFinish returns when a message last finished, as first seen by a call
// of LastFinish: callers that read it at an interval (a metric collection)
// get it to within that interval. Before any finish, it is when the tracker
// was created. With Oldest it tells a partition that waits on Firehose
// (pending, nothing finishing) from one with nothing to do.
func (t *Tracker) LastFinish() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished != t.seenFinished {
		t.seenFinished, t.seenFinishAt = t.finished, time.Now().UnixNano()
	}
	return time.Unix(0, t.seenFinishAt)
}

// Range is the tracked offsets First..Last, both included.
type Range struct{ First, Last int64 }

// Finished appends to dst, nearest first and at most n of them, the runs of
// finished messages beyond Committable(): each range spans consecutive
// tracked messages that are all finished, and an unfinished one lies between
// two ranges. Offsets inside a range that were never tracked (a compacted
// topic's gaps) hold no message. Nothing is beyond Committable() when every
// tracked message is finished.
func (t *Tracker) Finished(dst []Range, n int) []Range {
	t.mu.Lock()
	defer t.mu.Unlock()
	in := false
	for _, e := range t.entries[t.head:] {
		switch {
		case !e.done:
			in = false
		case in:
			dst[len(dst)-1].Last = e.offset
		case n == 0:
			return dst
		default:
			dst = append(dst, Range{First: e.offset, Last: e.offset})
			in = true
			n--
		}
	}
	return dst
}

// Next returns the offset after the newest tracked message: where reading
// resumes to go on from this tracker. ok is false before any message.
func (t *Tracker) Next() (offset int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.next, t.next >= 0
}

// Pending returns the number of unfinished messages.
func (t *Tracker) Pending() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries) - t.head
}

// WaitPendingBelow blocks while n or more messages are unfinished, or until
// ctx ends. It bounds how far a partition reads ahead of its oldest
// unfinished message, and with it what a crash can make the next owner read
// again. One goroutine at a time may wait, here or in WaitDrained.
func (t *Tracker) WaitPendingBelow(ctx context.Context, n int) error {
	t.mu.Lock()
	if len(t.entries)-t.head < n {
		t.mu.Unlock()
		return nil
	}
	if t.below == nil {
		t.below = make(chan struct{})
	}
	t.belowN = n
	ch := t.below
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitDrained blocks until every tracked message has finished or ctx ends.
// It is WaitPendingBelow(ctx, 1), and shares its one waiter.
func (t *Tracker) WaitDrained(ctx context.Context) error { return t.WaitPendingBelow(ctx, 1) }
