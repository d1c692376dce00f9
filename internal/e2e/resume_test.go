//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// newSimRig is newRig with Firehose served by an in-process simFirehose
// instead of moto, for the tests that need a rate or a fault moto cannot
// give. rows maps to streams of the set.
func (e *env) newSimRig(short string, partitions int32, streams streamSet, rows []row, c workerConfig) (*rig, *simFirehose) {
	e.t.Helper()
	r := &rig{e: e, topic: name(short), group: name(short), partitions: partitions, streams: streams}
	e.createTopic(r.topic, partitions)
	e.deleteGroupOnPass(r.group)
	r.led = newLedger(map[string][]row{r.topic: rows})
	c.group = r.group
	c.sources = []sourceConfig{{id: "src_" + runID, topics: []string{r.topic}, rows: rows}}
	r.cfg = e.writeConfig(c)
	sim, d := e.startSim(streams.names()...)
	r.d = d
	return r, sim
}

// finishedIn returns the messages of window whose records had all reached
// their streams in d: finished in every stream, as far as anyone outside
// the worker can tell.
func (l *ledger) finishedIn(window map[tp][2]int64, d *delivery) map[at]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[at]bool{}
	for k, w := range window {
		for _, m := range l.byTP[k] {
			if m.offset < w[0] || m.offset >= w[1] || len(m.ex.streams) == 0 {
				continue
			}
			done := true
			for _, s := range m.ex.streams {
				done = done && d.got[s][m.ex.record] > 0
			}
			if done {
				out[at{k, m.offset}] = true
			}
		}
	}
	return out
}

// resentOf counts the messages of set that d holds more records of than
// expected in some stream.
func (l *ledger) resentOf(set map[at]bool, d *delivery) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for k, ms := range l.byTP {
		for _, m := range ms {
			if !set[at{k, m.offset}] {
				continue
			}
			for _, s := range m.ex.streams {
				if d.got[s][m.ex.record] > l.want[s][m.ex.record] {
					n++
					break
				}
			}
		}
	}
	return n
}

// TestKilledWhileAStreamIsSlow: one worker delivers to a stream that flows
// and to one whose calls Firehose answers 3 s late, so each partition's
// committed offset trails the messages finished in both streams. It is
// SIGKILLed once every partition was committed again half a second after a
// snapshot of what had been delivered. The new owner must re-send at most
// 5% of the messages that were finished in every stream at the snapshot,
// so before the last commit: the commits carried them in their metadata. Nothing may be missing, and
// every duplicate must come from the killed worker's window.
func TestKilledWhileAStreamIsSlow(t *testing.T) {
	e := newEnv(t, "slow", true, false)
	streams := streamSet{All: name("slow", "all"), Pages: name("slow", "pages")}
	rows := []row{{"page", streams.Pages}, {"*", streams.All}}
	// FHW_E2E_COMMIT_INTERVAL measures the window that commit_interval
	// leaves (the commits carry only what finished before them).
	var interval time.Duration
	if v := os.Getenv("FHW_E2E_COMMIT_INTERVAL"); v != "" {
		var err error
		if interval, err = time.ParseDuration(v); err != nil {
			t.Fatalf("FHW_E2E_COMMIT_INTERVAL: %v", err)
		}
	}
	r, sim := e.newSimRig("slow", 4, streams, rows, workerConfig{linger: 100 * time.Millisecond, commitInterval: interval})
	// 3 s keeps the committed offsets at least ~1,500 messages behind, so
	// what a commit interval leaves unrecorded stays a small share of it.
	sim.setSlow(streams.Pages, 3*time.Second)

	w1 := e.startWorkerWithEnv("w1", r.cfg, sim.workerEnv())
	r.checkMembers(r.waitMembers(1), w1)
	p := e.startProducer(r.led, r.topic, newSource(11, false), 500)
	r.waitProgress(1500)

	// What was finished at t0, judged from outside; then the kill comes
	// after every partition was committed again at least half a second
	// later, so the last commit had every chance to record all of it
	// (acknowledgements take a moment to reach the tracker on a busy
	// machine).
	e.refreshOnce(r.d)
	t0 := time.Now()
	everything := map[tp][2]int64{}
	for i := range r.partitions {
		everything[tp{r.topic, i}] = [2]int64{0, math.MaxInt64}
	}
	finishedAtT0 := r.led.finishedIn(everything, r.d)
	var base map[int32]string
	eventually(t, 30*time.Second, 50*time.Millisecond, "every partition committed again 0.5 s after the snapshot", func() (bool, string) {
		s := r.commitState()
		if time.Since(t0) < 500*time.Millisecond {
			return false, "not yet"
		}
		if base == nil {
			base = s
			return false, "the state to move past"
		}
		for p := range r.partitions {
			if s[p] == base[p] {
				return false, fmt.Sprintf("partition %d not committed again", p)
			}
		}
		return true, ""
	})
	cpu := cpuSeconds(w1)
	e.signal(w1, syscall.SIGKILL)
	_ = e.waitExit(w1, 10*time.Second)
	all := make([]tp, r.partitions)
	for i := range all {
		all[i] = tp{r.topic, int32(i)}
	}
	window := r.window(all)
	finished := map[at]bool{}
	for m := range finishedAtT0 {
		if w, ok := window[m.tp]; ok && m.offset >= w[0] && m.offset < w[1] {
			finished[m] = true
		}
	}
	t.Logf("SIGKILLed w1: %d messages between the committed offsets and the ends, %d of them finished in every stream",
		windowSize(window), len(finished))

	w2 := e.startWorkerWithEnv("w2", r.cfg, sim.workerEnv())
	// Until the session timeout drops w1, the group still lists it.
	eventually(t, 60*time.Second, 50*time.Millisecond, "w2 to join a generation", func() (bool, string) { return w2.member() != "", "" })
	r.checkMembers(r.waitMembers(1), w2)
	r.waitProgress(1000)
	if err := p.Stop(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	o := r.finish()
	dups := r.led.duplicates(r.d, window)
	e.judgeDuplicates(dups, w1, w2)
	resent := r.led.resentOf(finished, r.d)
	pct := 100 * float64(resent) / float64(max(len(finished), 1))
	t.Logf("%s; of the %d messages finished before the kill, the next owner re-sent %d (%.1f%%); %d duplicate records in the window in all",
		o, len(finished), resent, pct, dups.InWindow)
	if len(finished) < 100 {
		t.Errorf("only %d messages were finished beyond the committed offsets at the kill: the slow stream did not hold the commits back, so the test proves nothing", len(finished))
	}
	if pct > 5 {
		t.Errorf("the next owner re-sent %d of the %d messages finished before the kill (%.1f%%), want at most 5%%", resent, len(finished), pct)
	}
	if n := len(w2.lines("the previous owner finished messages past the committed offset; skipping them")); n == 0 {
		t.Error("the new owner did not log skipping what the previous owner finished")
	}
	e.report(map[string]any{"outcome": o, "duplicates": dups, "window_messages": windowSize(window),
		"finished_before_kill": len(finished), "resent_of_finished": resent, "resent_percent": pct,
		"commit_interval": interval.String(), "w1_cpu_seconds": cpu})
}

// commitState returns each partition's committed offset and metadata as
// one string, "" where nothing is committed.
func (r *rig) commitState() map[int32]string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := map[int32]string{}
	resp, err := r.e.admin.FetchOffsets(ctx, r.group)
	if err != nil {
		return out
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic == r.topic && o.Err == nil {
			out[o.Partition] = fmt.Sprintf("%d %s", o.At, o.Metadata)
		}
	})
	return out
}

// cpuSeconds is the CPU time w has used so far (user + system, from
// /proc/<pid>/stat), or -1 where that cannot be read.
func cpuSeconds(w *worker) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", w.cmd.Process.Pid))
	if err != nil {
		return -1
	}
	// The command name, in parentheses, may hold spaces: count from after it.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return -1
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100 // USER_HZ is 100 on Linux
}
