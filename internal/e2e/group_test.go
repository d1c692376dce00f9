//go:build e2e

package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// rig is one topic, its streams, its group and the ledger of what was
// produced: the setup the group tests share.
type rig struct {
	e          *env
	topic      string
	group      string
	partitions int32
	streams    streamSet
	led        *ledger
	cfg        string
	d          *delivery
}

// newRig creates a topic with partitions partitions, three streams (every
// message, pages, "Product Viewed") and a worker configuration for them.
// The linger is long enough that several workers do not flood the
// emulator with small PutRecordBatch calls.
func (e *env) newRig(short string, partitions int32) *rig {
	e.t.Helper()
	r := &rig{e: e, topic: name(short), group: name(short), partitions: partitions, streams: streamSet{
		All:    name(short, "all"),
		Pages:  name(short, "pages"),
		Orders: name(short, "viewed"),
	}}
	rows := smallRows(r.streams)
	e.createTopic(r.topic, partitions)
	e.createStreams(r.streams.names()...)
	e.deleteGroupOnPass(r.group)
	r.led = newLedger(map[string][]row{r.topic: rows})
	r.cfg = e.writeConfig(workerConfig{
		group:   r.group,
		sources: []sourceConfig{{id: "src_" + runID, topics: []string{r.topic}, rows: rows}},
		linger:  250 * time.Millisecond,
	})
	r.d = e.delivery(r.streams.names()...)
	return r
}

// waitMembers waits until the group is Stable with n members that own every
// partition exactly once.
func (r *rig) waitMembers(n int) assignment {
	r.e.t.Helper()
	a := r.e.waitAssignment(r.group, n, map[string]int32{r.topic: r.partitions}, 90*time.Second)
	r.e.t.Logf("group Stable with %d members: %s", n, a)
	return a
}

// waitProgress waits until the group has committed at least by more
// messages than now: the workers are delivering.
func (r *rig) waitProgress(by int64) {
	r.e.t.Helper()
	ctx := r.e.ctx(2 * time.Minute)
	total := func() int64 {
		c, err := r.e.committed(ctx, r.group)
		if err != nil {
			return -1
		}
		n := int64(0)
		for k, off := range c {
			if k.topic == r.topic {
				n += off
			}
		}
		return n
	}
	from := max(total(), 0)
	eventually(r.e.t, 90*time.Second, 100*time.Millisecond, fmt.Sprintf("%d more committed messages", by), func() (bool, string) {
		n := total()
		return n >= from+by, fmt.Sprintf("%d committed, want %d", n, from+by)
	})
}

// finish waits until everything produced is committed and delivered, and
// fails the test on anything missing or unexpected.
func (r *rig) finish() outcome {
	r.e.t.Helper()
	o := r.e.waitDelivered(r.led, r.d, r.group, 3*time.Minute)
	r.e.check(r.led, r.d, o)
	return o
}

// checkMembers checks that the members of assignment a are exactly
// the processes ws (by the member id each logged last).
func (r *rig) checkMembers(a assignment, ws ...*worker) {
	r.e.t.Helper()
	var logged []string
	for _, w := range ws {
		// The broker may report the group Stable a moment before a worker
		// has logged the generation it joined: wait for the line.
		var m string
		eventually(r.e.t, 20*time.Second, 50*time.Millisecond, "worker "+w.name+" logs a member id the group lists", func() (bool, string) {
			m = w.member()
			_, ok := a.members[m]
			return ok, fmt.Sprintf("logged %q; group: %s", m, a)
		})
		logged = append(logged, m)
		ps, ok := a.members[m]
		if !ok {
			r.e.t.Errorf("worker %s logged member %q, which the group does not list: %s", w.name, m, a)
			continue
		}
		if len(ps) == 0 {
			r.e.t.Errorf("worker %s owns no partition: %s", w.name, a)
		}
	}
	if len(a.members) != len(ws) {
		r.e.t.Errorf("group lists %d members, the running workers logged %v", len(a.members), logged)
	}
}

// TestScaleOut runs three workers in one group on a 12-partition topic: the
// group's own description must show every partition owned by exactly one of
// them, each worker owning some; then every event produced is delivered
// exactly once, and each worker's final log line shows it consumed some.
func TestScaleOut(t *testing.T) {
	e := newEnv(t, "out", true, false)
	r := e.newRig("out", 12)
	ws := []*worker{e.startWorker("w1", r.cfg), e.startWorker("w2", r.cfg), e.startWorker("w3", r.cfg)}
	a := r.waitMembers(3)
	r.checkMembers(a, ws...)
	for id, ps := range a.members {
		if len(ps) != 4 {
			t.Logf("note: member %s owns %d partitions (12 over 3 would be 4 each)", id, len(ps))
		}
	}

	const events = 3000
	r.e.produce(r.led, r.topic, newSource(2, false), events)
	o := r.finish()
	dups := r.led.duplicates(r.d, nil)
	e.judgeDuplicates(dups, ws...)
	// The group must not have moved while the events were delivered.
	after := r.waitMembers(3)
	if after.String() != a.String() {
		t.Errorf("assignment changed during delivery:\nbefore %s\nafter  %s", a, after)
	}

	var consumed []int64
	total := int64(0)
	for _, w := range ws {
		e.signal(w, syscall.SIGTERM)
	}
	for _, w := range ws {
		if err := e.waitExit(w, 30*time.Second); err != nil {
			t.Errorf("worker %s: exit %v after SIGTERM, want 0", w.name, err)
		}
		ls := w.lines("firehose-worker stopped")
		if len(ls) != 1 {
			t.Errorf("worker %s did not log its stop", w.name)
			continue
		}
		consumed = append(consumed, ls[0].Consumed)
		total += ls[0].Consumed
		if ls[0].Consumed == 0 {
			t.Errorf("worker %s consumed nothing", w.name)
		}
		if p := w.problems(); len(p) > 0 {
			t.Errorf("worker %s logged problems: %v", w.name, p)
		}
	}
	if total != events {
		t.Errorf("workers consumed %v = %d messages in all, want %d (each once)", consumed, total, events)
	}
	t.Logf("%s; consumed per worker %v", o, consumed)
	e.report(map[string]any{"outcome": o, "duplicates": dups, "consumed_per_worker": consumed, "assignment": a.String()})
}

// TestScaleInAndCrash keeps a producer running at a steady rate while one
// of three workers is SIGKILLed, a second is SIGTERMed, and a new one is
// started. Nothing may be missing. Duplicates are allowed only for what the
// killed worker had read but not committed: every duplicated message must
// lie in a partition it owned, between the offset committed when it died
// and the partition's end at that moment.
func TestScaleInAndCrash(t *testing.T) {
	e := newEnv(t, "crash", true, false)
	r := e.newRig("crash", 12)
	w1, w2, w3 := e.startWorker("w1", r.cfg), e.startWorker("w2", r.cfg), e.startWorker("w3", r.cfg)
	a := r.waitMembers(3)
	r.checkMembers(a, w1, w2, w3)

	p := e.startProducer(r.led, r.topic, newSource(3, false), 150)
	r.waitProgress(600)

	// SIGKILL w1 and note its window: what it may have read but not
	// committed. Its partitions are read from the group as it is now, not
	// as it was before production, in case it rebalanced since.
	a = r.waitMembers(3)
	r.checkMembers(a, w1, w2, w3)
	killed := a.members[w1.member()]
	e.signal(w1, syscall.SIGKILL)
	_ = e.waitExit(w1, 10*time.Second)
	window := r.window(killed)
	t.Logf("SIGKILLed w1 owning %d partitions; its uncommitted window is %d messages", len(killed), windowSize(window))

	a = r.waitMembers(2)
	r.checkMembers(a, w2, w3)
	r.waitProgress(600)

	e.signal(w2, syscall.SIGTERM)
	if err := e.waitExit(w2, 30*time.Second); err != nil {
		t.Errorf("w2: exit %v after SIGTERM, want 0", err)
	}
	a = r.waitMembers(1)
	r.checkMembers(a, w3)
	r.waitProgress(600)

	w4 := e.startWorker("w4", r.cfg)
	a = r.waitMembers(2)
	r.checkMembers(a, w3, w4)
	r.waitProgress(600)

	if err := p.Stop(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	o := r.finish()
	dups := r.led.duplicates(r.d, window)
	e.judgeDuplicates(dups, w1, w2, w3, w4)
	pct := 100 * float64(o.Duplicates) / float64(max(o.Expected, 1))
	t.Logf("SIGKILL + SIGTERM + start: %s; %d duplicate records (%.2f%%): %d from the killed worker's window of %d messages, %d resent after unknown outcomes, %d other",
		o, o.Duplicates, pct, dups.InWindow, windowSize(window), dups.Resent, dups.Other)
	for _, w := range []*worker{w3, w4} {
		if w.exited() {
			t.Errorf("worker %s exited: %v", w.name, w.err)
		}
	}
	e.report(map[string]any{"outcome": o, "duplicates": dups, "duplicate_records": o.Duplicates, "duplicate_percent": pct,
		"killed_window_messages": windowSize(window)})
}

// window returns, for the partitions a just-killed worker owned, the range
// of offsets it may have read but not committed: from the group's committed
// offset to the partition's end offset on the broker.
func (r *rig) window(owned []tp) map[tp][2]int64 {
	r.e.t.Helper()
	ctx := r.e.ctx(30 * time.Second)
	c, err := r.e.committed(ctx, r.group)
	if err != nil {
		r.e.t.Fatal(err)
	}
	ends, err := r.e.admin.ListEndOffsets(ctx, r.topic)
	if err != nil {
		r.e.t.Fatal(err)
	}
	out := map[tp][2]int64{}
	for _, k := range owned {
		end, _ := ends.Lookup(k.topic, k.partition)
		out[k] = [2]int64{c[k], end.Offset}
	}
	return out
}

func windowSize(w map[tp][2]int64) int64 {
	n := int64(0)
	for _, r := range w {
		n += r[1] - r[0]
	}
	return n
}

// TestScaleInGracefully is TestScaleInAndCrash without the kill: with only
// SIGTERMs and a new worker joining, the drained, committed hand-overs must
// deliver no duplicate at all.
func TestScaleInGracefully(t *testing.T) {
	e := newEnv(t, "term", true, false)
	r := e.newRig("term", 12)
	w1, w2, w3 := e.startWorker("w1", r.cfg), e.startWorker("w2", r.cfg), e.startWorker("w3", r.cfg)
	r.checkMembers(r.waitMembers(3), w1, w2, w3)

	p := e.startProducer(r.led, r.topic, newSource(4, false), 150)
	r.waitProgress(600)

	e.signal(w1, syscall.SIGTERM)
	if err := e.waitExit(w1, 30*time.Second); err != nil {
		t.Errorf("w1: exit %v after SIGTERM, want 0", err)
	}
	r.checkMembers(r.waitMembers(2), w2, w3)
	r.waitProgress(600)

	w4 := e.startWorker("w4", r.cfg)
	r.checkMembers(r.waitMembers(3), w2, w3, w4)
	r.waitProgress(600)

	e.signal(w2, syscall.SIGTERM)
	if err := e.waitExit(w2, 30*time.Second); err != nil {
		t.Errorf("w2: exit %v after SIGTERM, want 0", err)
	}
	r.checkMembers(r.waitMembers(2), w3, w4)
	r.waitProgress(600)

	if err := p.Stop(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	o := r.finish()
	// No worker was killed: every duplicate must be a resend after an
	// unknown outcome, which judgeDuplicates reports separately.
	dups := r.led.duplicates(r.d, nil)
	e.judgeDuplicates(dups, w1, w2, w3, w4)
	for _, w := range []*worker{w1, w2, w3, w4} {
		if p := w.problems(); len(p) > 0 {
			t.Errorf("worker %s logged problems: %v", w.name, p)
		}
	}
	t.Logf("SIGTERM + start + SIGTERM: %s; duplicates caused by the hand-overs: %d", o, dups.Other)
	e.report(map[string]any{"outcome": o, "duplicates": dups, "duplicate_records": o.Duplicates})
}
