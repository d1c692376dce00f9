//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// disruption is one kill or broker restart and how the group recovered.
type disruption struct {
	N          int     `json:"n"`
	Kind       string  `json:"kind"` // kill | broker_restart
	AtSec      float64 `json:"at_s"` // since the run started
	Worker     string  `json:"worker,omitempty"`
	PID        int     `json:"pid,omitempty"`
	Uptime     float64 `json:"victim_uptime_s,omitempty"`
	Partitions []int32 `json:"partitions,omitempty"` // the victim owned
	// RestartAfter is when the killed worker was started again.
	RestartAfter float64 `json:"restart_after_s,omitempty"`
	// BrokerRestart is how long scripts/kafka.sh restart took (the broker
	// was down for most of it).
	BrokerRestart float64 `json:"broker_restart_s,omitempty"`
	// Recovered: see the package doc; -1 when it did not happen in time.
	Recovered float64 `json:"recovered_s"`
	// FullStrength: until the group was Stable with every worker again.
	FullStrength float64 `json:"full_strength_s"`
	LagBefore    int64   `json:"lag_before"`
	MaxLag       int64   `json:"max_lag_until_recovered"`
	DuringStorm  bool    `json:"during_storm"` // a storm ran between the kill and the recovery
	Note         string  `json:"note,omitempty"`
}

// storm is one throttle storm.
type storm struct {
	AtSec  float64 `json:"at_s"`
	Length float64 `json:"duration_s"`
}

// applyBaseline sets the faults the simulated Firehose injects throughout:
// whole calls throttled, single records failed (mostly "Slow down.", some
// InternalFailure), latency, and answers cut after the records landed.
func applyBaseline(f *firehosesim.Faults, o options) {
	f.SetThrottleProbability(o.ThrottleProb)
	f.ClearRecordFaults()
	if o.FailRecords > 0 {
		f.FailRecords(firehosesim.RecordFault{Fraction: o.FailRecords * 0.8})
		f.FailRecords(firehosesim.RecordFault{Fraction: o.FailRecords * 0.2, Code: firehosesim.CodeInternalFailure})
	}
	f.SetLatency(2*time.Millisecond, max(o.LatencyMax, 2*time.Millisecond))
	f.SetDropProbability(o.DropProb)
}

// applyStorm throttles 90% of calls as a whole and half the records of
// the others, on top of the dropped answers and latency.
func applyStorm(f *firehosesim.Faults) {
	f.SetThrottleProbability(0.9)
	f.ClearRecordFaults()
	f.FailRecords(firehosesim.RecordFault{Fraction: 0.5})
}

// chaos drives the disruptions of one run.
type chaos struct {
	o       options
	start   time.Time
	workers *workerSet
	mon     *monitor
	faults  *firehosesim.Faults
	attr    *attributor
	logf    func(format string, args ...any)

	mu          sync.Mutex
	rng         *rand.Rand
	disruptions []disruption
	storms      []storm
	inStorm     bool
}

func (c *chaos) random() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Float64()
}

func (c *chaos) intn(n int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.IntN(n)
}

func (c *chaos) since() float64 { return time.Since(c.start).Seconds() }

// sleepUntil waits for t or ctx.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// disrupt runs the kills and broker restarts one after another, spread over
// the production window at random intervals; each waits until the group
// recovered from the one before (or RecoveryTimeout passed).
func (c *chaos) disrupt(ctx context.Context) error {
	n := c.o.Kills + c.o.BrokerRestarts
	broker := map[int]bool{}
	for b := range c.o.BrokerRestarts {
		broker[(b+1)*n/(c.o.BrokerRestarts+1)] = true
	}
	slot := c.o.Duration / time.Duration(n+1)
	for i := range n {
		target := c.start.Add(slot*time.Duration(i+1) + time.Duration((c.random()-0.5)*0.8*float64(slot)))
		if err := sleepUntil(ctx, target); err != nil {
			return err
		}
		// A short random pause after the previous recovery, so a kill
		// sometimes lands right after a rebalance.
		if err := sleepUntil(ctx, time.Now().Add(time.Duration(c.random()*float64(2*time.Second)))); err != nil {
			return err
		}
		var d disruption
		if broker[i] {
			d = c.restartBroker(ctx)
		} else {
			d = c.kill(ctx)
		}
		c.mu.Lock()
		d.N = len(c.disruptions) + 1
		c.disruptions = append(c.disruptions, d)
		c.mu.Unlock()
		c.logf("disruption %d/%d: %s", d.N, n, describe(d))
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

func describe(d disruption) string {
	rec := func(v float64) string {
		if v < 0 {
			return "not in time"
		}
		return fmt.Sprintf("%.1fs", v)
	}
	if d.Kind == "kill" {
		return fmt.Sprintf("SIGKILL %s (pid %d, partitions %v) at %.0fs, restarted after %.1fs; recovered %s, full strength %s %s",
			d.Worker, d.PID, d.Partitions, d.AtSec, d.RestartAfter, rec(d.Recovered), rec(d.FullStrength), d.Note)
	}
	return fmt.Sprintf("broker restart at %.0fs took %.1fs; recovered %s, full strength %s %s",
		d.AtSec, d.BrokerRestart, rec(d.Recovered), rec(d.FullStrength), d.Note)
}

// kill SIGKILLs a random worker, starts it again after 0.2-8 s, and
// measures the recovery (see the package doc for the definitions).
func (c *chaos) kill(ctx context.Context) disruption {
	d := disruption{Kind: "kill", Recovered: -1, FullStrength: -1}
	live := c.workers.running()
	if len(live) == 0 {
		d.Note = "no worker running"
		return d
	}
	slot := live[c.intn(len(live))]
	pre, err := c.mon.next(ctx)
	if err != nil {
		d.Note = err.Error()
		return d
	}
	owned, dead := pre.owned(clientID(slot))
	d.Worker, d.Partitions, d.LagBefore = clientID(slot), owned, pre.lag
	c.mu.Lock()
	d.DuringStorm = c.inStorm
	c.mu.Unlock()

	t0 := time.Now()
	d.AtSec = t0.Sub(c.start).Seconds()
	p, err := c.workers.kill(slot)
	if p != nil {
		d.PID = p.cmd.Process.Pid
		d.Uptime = t0.Sub(p.started).Seconds()
	}
	if err != nil {
		d.Note = err.Error()
		return d
	}
	restartDelay := 200*time.Millisecond + time.Duration(c.random()*float64(7800*time.Millisecond))
	restarted := make(chan error, 1)
	time.AfterFunc(restartDelay, func() {
		_, err := c.workers.start(slot)
		restarted <- err
	})
	d.RestartAfter = restartDelay.Seconds()

	// The victim can no longer commit: the first sample after the kill is
	// the baseline its partitions must move past.
	post, err := c.mon.next(ctx)
	if err != nil {
		d.Note = err.Error()
		return d
	}
	// The killed worker had read at most to the ends after the kill, from
	// the offsets committed before it.
	c.attr.window(causeKill, d.AtSec, owned, pre, post)
	base := post.committed
	recovered := func(s *sample) bool {
		if !s.complete || s.hasMember(dead) {
			return false
		}
		for _, p := range owned {
			if s.committed[p] <= base[p] && s.committed[p] < s.ends[p] {
				return false
			}
		}
		return true
	}
	full := func(s *sample) bool { return recovered(s) && len(s.members) == c.o.Workers }
	c.measure(ctx, &d, t0, recovered, full)
	// The restart fires within 8 s of the kill whatever happened since.
	if err := <-restarted; err != nil {
		d.Note += " restart: " + err.Error()
	}
	return d
}

// measure waits for recovered and then full to hold, filling the times.
func (c *chaos) measure(ctx context.Context, d *disruption, t0 time.Time, recovered, full func(*sample) bool) {
	deadline := t0.Add(c.o.RecoveryTimeout)
	for d.Recovered < 0 || d.FullStrength < 0 {
		wctx, cancel := context.WithDeadline(ctx, deadline)
		s, err := c.mon.next(wctx)
		cancel()
		if err != nil {
			d.Note += fmt.Sprintf(" no recovery within %s", c.o.RecoveryTimeout)
			return
		}
		d.MaxLag = max(d.MaxLag, s.lag)
		c.mu.Lock()
		d.DuringStorm = d.DuringStorm || c.inStorm
		c.mu.Unlock()
		if d.Recovered < 0 && recovered(s) {
			d.Recovered = s.at.Sub(t0).Seconds()
		}
		if d.FullStrength < 0 && full(s) {
			d.FullStrength = s.at.Sub(t0).Seconds()
		}
	}
}

// restartBroker runs scripts/kafka.sh restart on the run's broker and
// measures until commits move again with every worker in the group.
func (c *chaos) restartBroker(ctx context.Context) disruption {
	d := disruption{Kind: "broker_restart", Recovered: -1, FullStrength: -1}
	pre, err := c.mon.next(ctx)
	if err != nil {
		d.Note = err.Error()
		return d
	}
	d.LagBefore = pre.lag
	c.mu.Lock()
	d.DuringStorm = c.inStorm
	c.mu.Unlock()
	before := pre.committedTotal()
	t0 := time.Now()
	d.AtSec = t0.Sub(c.start).Seconds()
	out, err := kafkaScript(ctx, c.o, "restart")
	d.BrokerRestart = time.Since(t0).Seconds()
	if err != nil {
		d.Note = fmt.Sprintf("scripts/kafka.sh restart: %v: %s", err, tail(out, 2000))
		// Try to bring it back, or nothing else can go on.
		if out, err := kafkaScript(ctx, c.o, "start"); err != nil {
			d.Note += fmt.Sprintf("; start: %v: %s", err, tail(out, 2000))
			return d
		}
	}
	recovered := func(s *sample) bool {
		return s.complete && (s.committedTotal() > before || s.lag == 0)
	}
	full := func(s *sample) bool { return recovered(s) && len(s.members) == c.o.Workers }
	c.measure(ctx, &d, t0, recovered, full)
	// Commits could not land while the broker was away: any partition may
	// be read again from where it was committed before, up to where it had
	// been read by the time commits moved again.
	all := make([]int32, c.o.Partitions)
	for i := range all {
		all[i] = int32(i)
	}
	c.attr.window(causeBroker, d.AtSec, all, pre, c.mon.latest())
	return d
}

// kafkaScript runs scripts/kafka.sh with the run's broker settings.
func kafkaScript(ctx context.Context, o options, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{filepath.Join(o.RepoRoot, "scripts", "kafka.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "KAFKA_PORT="+o.KafkaPort)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// stormLoop runs the throttle storms, spread over the production window.
func (c *chaos) stormLoop(ctx context.Context) error {
	n := c.o.Storms
	if n == 0 {
		return nil
	}
	slot := c.o.Duration / time.Duration(n)
	for i := range n {
		target := c.start.Add(slot*time.Duration(i) + slot/2 + time.Duration((c.random()-0.5)*0.5*float64(slot)) - c.o.StormDuration/2)
		if err := sleepUntil(ctx, target); err != nil {
			return err
		}
		s := storm{AtSec: c.since(), Length: c.o.StormDuration.Seconds()}
		c.mu.Lock()
		c.inStorm = true
		c.mu.Unlock()
		applyStorm(c.faults)
		c.logf("throttle storm %d/%d for %s", i+1, n, c.o.StormDuration)
		err := sleepUntil(ctx, time.Now().Add(c.o.StormDuration))
		applyBaseline(c.faults, c.o)
		c.mu.Lock()
		c.inStorm = false
		c.storms = append(c.storms, s)
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// recoveryStats summarises the kills' recovery times.
type recoveryStats struct {
	Kills           int     `json:"kills"`
	NotRecovered    int     `json:"not_recovered"`
	RecoveredMedian float64 `json:"recovered_median_s"`
	RecoveredMax    float64 `json:"recovered_max_s"`
	FullStrengthMed float64 `json:"full_strength_median_s"`
	FullStrengthMax float64 `json:"full_strength_max_s"`
}

func summarizeKills(ds []disruption) recoveryStats {
	var rs recoveryStats
	var rec, full []float64
	for _, d := range ds {
		if d.Kind != "kill" {
			continue
		}
		rs.Kills++
		if d.Recovered < 0 {
			rs.NotRecovered++
		} else {
			rec = append(rec, d.Recovered)
		}
		if d.FullStrength >= 0 {
			full = append(full, d.FullStrength)
		}
	}
	rs.RecoveredMedian, rs.RecoveredMax = medianMax(rec)
	rs.FullStrengthMed, rs.FullStrengthMax = medianMax(full)
	return rs
}

func medianMax(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	slices.Sort(v)
	return v[len(v)/2], v[len(v)-1]
}
