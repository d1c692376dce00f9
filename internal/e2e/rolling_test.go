//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stallMonitor watches, from outside, how long each partition of a topic
// goes without its committed offset moving while messages wait beyond it.
type stallMonitor struct {
	mu      sync.Mutex
	longest time.Duration
	where   string
	stop    chan struct{}
	done    chan struct{}
}

// watchStalls polls the group's committed offsets and the topic's end
// offsets every 100 ms until stop.
func (r *rig) watchStalls() *stallMonitor {
	m := &stallMonitor{stop: make(chan struct{}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(m.done)
		defer cancel()
		last := map[tp]int64{}
		since := map[tp]time.Time{}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
			}
			committed, err := r.e.committed(ctx, r.group)
			if err != nil {
				continue
			}
			ends, err := r.e.admin.ListEndOffsets(ctx, r.topic)
			if err != nil {
				continue
			}
			now := time.Now()
			m.mu.Lock()
			for p := range r.partitions {
				k := tp{r.topic, p}
				end, _ := ends.Lookup(r.topic, p)
				c := committed[k]
				if s, ok := since[k]; !ok || c != last[k] || c >= end.Offset {
					since[k], last[k] = now, c // progress, or nothing to do
				} else if d := now.Sub(s); d > m.longest {
					m.longest, m.where = d, fmt.Sprintf("%s at offset %d, end %d", k, c, end.Offset)
				}
			}
			m.mu.Unlock()
		}
	}()
	return m
}

func (m *stallMonitor) Stop() (time.Duration, string) {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.longest, m.where
}

// TestRollingRestart does what a Kubernetes rolling update of a fleet does:
// six workers in one group on 48 partitions under 2,000 events/s, each in
// turn SIGTERMed and replaced by a new one once it has exited, the next step
// starting when the group is whole again. The workers keep the default
// group timings (heartbeat, session and rebalance timeouts), as users run
// them. Nothing may be missing and nothing duplicated: every hand-over is a
// drained, committed one. The longest time any partition's committed offset
// stood still with messages waiting is reported (the target is 3 s; speed
// is measured here, not asserted).
func TestRollingRestart(t *testing.T) {
	e := newEnv(t, "roll", false, true)
	streams := streamSet{All: name("roll", "all"), Pages: name("roll", "pages")}
	rows := []row{{"page", streams.Pages}, {"*", streams.All}}
	r, sim := e.newSimRig("roll", 48, streams, rows, workerConfig{linger: 200 * time.Millisecond, defaultGroupTimings: true})

	const workers = 6
	ws := make([]*worker, workers)
	for i := range ws {
		ws[i] = e.startWorkerWithEnv(fmt.Sprintf("w%d", i+1), r.cfg, sim.workerEnv())
	}
	r.checkMembers(r.waitMembers(workers), ws...)
	p := e.startProducer(r.led, r.topic, newSource(13, false), 2000)
	r.waitProgress(6000)

	mon := r.watchStalls()
	start := time.Now()
	var steps []float64
	all := append([]*worker(nil), ws...)
	for i := range ws {
		stepStart := time.Now()
		e.signal(ws[i], syscall.SIGTERM)
		if err := e.waitExit(ws[i], 60*time.Second); err != nil {
			t.Errorf("%s: exit %v after SIGTERM, want 0", ws[i].name, err)
		}
		ws[i] = e.startWorkerWithEnv(fmt.Sprintf("w%d'", i+1), r.cfg, sim.workerEnv())
		all = append(all, ws[i])
		eventually(t, 60*time.Second, 50*time.Millisecond, ws[i].name+" to join a generation", func() (bool, string) { return ws[i].member() != "", "" })
		r.checkMembers(r.waitMembers(workers), ws...)
		steps = append(steps, time.Since(stepStart).Round(100*time.Millisecond).Seconds())
	}
	took := time.Since(start)
	r.waitProgress(4000)
	stall, where := mon.Stop()
	if err := p.Stop(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	o := r.finish()
	dups := r.led.duplicates(r.d, nil)
	e.judgeDuplicates(dups, all...)
	if o.Duplicates > 0 {
		t.Errorf("%d duplicate records in a rolling restart, want 0", o.Duplicates)
	}
	for _, w := range ws {
		if w.exited() {
			t.Errorf("worker %s exited: %v", w.name, w.err)
		}
	}
	t.Logf("rolling restart of %d workers: %s; %s for the %d steps %v s; longest stall %s (%s)",
		workers, o, took.Round(100*time.Millisecond), workers, steps, stall.Round(10*time.Millisecond), where)
	e.report(map[string]any{"outcome": o, "duplicates": dups, "steps_seconds": steps, "restart_seconds": took.Seconds(),
		"longest_stall_seconds": stall.Seconds(), "longest_stall_at": where})
}
