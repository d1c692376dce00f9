//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// outageSample is one second of TestLongOutage, seen from outside.
type outageSample struct {
	At        float64 `json:"t_s"` // since the outage began (negative before)
	RSSMiB    float64 `json:"rss_mib"`
	Ready     bool    `json:"ready"`
	Probe     string  `json:"probe"`         // the /readyz status, or the error of a probe that got none
	Delivered int64   `json:"delivered_all"` // records the "*" stream accepted so far
}

// rssMiB is the resident set of process pid, from /proc; -1 when unknown.
func rssMiB(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return kb / 1024
			}
		}
	}
	return -1
}

// TestLongOutage: Firehose refuses every call (503 ServiceUnavailable) for
// FHW_E2E_OUTAGE (5m in scripts/outage.sh) while 2,000 events/s keep
// arriving. The worker's RSS must stay under 100 MiB (the memory cap's
// promise with the default memory settings) and flat, /readyz must turn
// unready (after http.stuck_after, 2m by default) and ready again, nothing
// may be lost, and delivery must be back at the rate it had before the
// outage within 30 s after it ends. It runs only when FHW_E2E_OUTAGE is set:
// it takes minutes, so make e2e and CI skip it.
func TestLongOutage(t *testing.T) {
	spec := os.Getenv("FHW_E2E_OUTAGE")
	if spec == "" {
		t.Skip("FHW_E2E_OUTAGE is not set (scripts/outage.sh runs this test)")
	}
	outage, err := time.ParseDuration(spec)
	if err != nil {
		t.Fatalf("FHW_E2E_OUTAGE: %v", err)
	}
	e := newEnv(t, "outage", false, true)
	streams := streamSet{All: name("outage", "all"), Pages: name("outage", "pages")}
	rows := []row{{"page", streams.Pages}, {"*", streams.All}}
	r, sim := e.newSimRig("outage", 12, streams, rows, workerConfig{linger: 200 * time.Millisecond, defaultGroupTimings: true})
	r.d.bodies = nil // ~1 GB of objects otherwise: resends are judged by counts
	editConfig(t, r.cfg, "http:\n  address: \"\"\n", "http:\n  address: \"127.0.0.1:0\"\n")
	w := e.startWorkerWithEnv("w1", r.cfg, sim.workerEnv())
	r.checkMembers(r.waitMembers(1), w)
	ready := "http://" + httpAddress(t, w) + "/readyz"

	const rate = 2000
	p := e.startProducer(r.led, r.topic, newSource(17, false), rate)
	r.waitProgress(20000)

	var mu sync.Mutex
	var samples []outageSample
	var begin time.Time // zero until the outage starts
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		hc := http.Client{Timeout: 900 * time.Millisecond}
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			s := outageSample{RSSMiB: rssMiB(w.cmd.Process.Pid), Delivered: sim.acceptedRecords(streams.All)}
			if resp, err := hc.Get(ready); err == nil {
				s.Ready = resp.StatusCode == http.StatusOK
				s.Probe = resp.Status
				resp.Body.Close()
			} else {
				s.Probe = err.Error()
			}
			mu.Lock()
			if begin.IsZero() {
				s.At = -time.Since(start).Seconds()
			} else {
				s.At = time.Since(begin).Seconds()
			}
			samples = append(samples, s)
			mu.Unlock()
		}
	}()

	// Ten seconds of the rate before the outage.
	before0 := sim.acceptedRecords(streams.All)
	time.Sleep(10 * time.Second) // the scenario's own length, not a wait for a condition
	fullRate := float64(sim.acceptedRecords(streams.All)-before0) / 10
	mu.Lock()
	begin = time.Now()
	mu.Unlock()
	callsBefore := sim.srv.Stats().Calls.Total()
	sim.srv.Faults().Block()
	t.Logf("Firehose refuses every call for %s; %.0f records/s to the \"*\" stream before", outage, fullRate)
	time.Sleep(outage)
	sim.srv.Faults().Unblock()
	refusedCalls := sim.srv.Stats().Calls.Total() - callsBefore
	end := time.Since(begin).Seconds()

	// Catch up: the backlog drains while the producer goes on for a minute.
	time.Sleep(60 * time.Second)
	if err := p.Stop(60 * time.Second); err != nil {
		t.Fatalf("producer: %v", err)
	}
	o := r.e.waitDelivered(r.led, r.d, r.group, 10*time.Minute)
	close(stop)
	<-sampled
	r.e.check(r.led, r.d, o)

	mu.Lock()
	defer mu.Unlock()
	var maxRSS, early, late float64
	unreadyAt, readyAgainAt, backAt := -1.0, -1.0, -1.0
	for i, s := range samples {
		maxRSS = max(maxRSS, s.RSSMiB)
		switch {
		case s.At < 0:
		case s.At < 60:
			early = max(early, s.RSSMiB)
		case s.At < end:
			late = max(late, s.RSSMiB)
		}
		if s.At >= 0 && s.At < end && s.Probe == "503 Service Unavailable" && unreadyAt < 0 {
			unreadyAt = s.At
		}
		if s.At >= end && s.Ready && unreadyAt >= 0 && readyAgainAt < 0 {
			readyAgainAt = s.At
		}
		// Back at full rate: a second delivering at least the rate before.
		if s.At >= end && backAt < 0 && i > 0 && float64(s.Delivered-samples[i-1].Delivered) >= fullRate {
			backAt = s.At
		}
	}
	t.Logf("long outage: %s; max RSS %.1f MiB (first minute of the outage %.1f, rest %.1f); /readyz unready at %+.0f s, ready at %+.0f s; full rate again %.0f s after the outage",
		o, maxRSS, early, late, unreadyAt, readyAgainAt, backAt-end)
	if maxRSS >= 100 {
		t.Errorf("RSS reached %.1f MiB, want under 100", maxRSS)
	}
	if late > early*1.15 {
		t.Errorf("RSS grew during the outage: %.1f MiB in its first minute, %.1f after", early, late)
	}
	if unreadyAt < 0 {
		t.Error("/readyz never turned unready during the outage")
	}
	if readyAgainAt < 0 {
		t.Error("/readyz did not turn ready again after the outage")
	}
	// Each stream is held while its calls fail whole: one probe per
	// backoff interval, not one call per queued batch per backoff (21,972
	// calls in 5 minutes before the hold, 58/s to one stream). The e2e
	// configuration's backoff tops out at 500 ms with the default jitter of
	// 0.5, so a probe at least every 250 ms per stream, plus the calls out
	// when the outage began (max_in_flight of each stream).
	const streamCount, shortestInterval, inFlightAtStart = 2, 250 * time.Millisecond, 2 * 16
	t.Logf("PutRecordBatch calls during the outage: %d (%.2f/s over %d streams)", refusedCalls, float64(refusedCalls)/outage.Seconds(), streamCount)
	if limit := int64(streamCount*outage/shortestInterval) + inFlightAtStart; refusedCalls > limit {
		t.Errorf("%d calls during the outage, want at most %d: the streams were not held", refusedCalls, limit)
	}
	if backAt < 0 || backAt-end > 30 {
		t.Errorf("delivery not back at %.0f records/s within 30 s after the outage (at %.0f s)", fullRate, backAt-end)
	}
	if o.Duplicates > 0 {
		t.Logf("%d duplicate records", o.Duplicates)
	}
	e.report(map[string]any{"outcome": o, "outage_seconds": outage.Seconds(), "rate": rate, "full_rate_before": fullRate,
		"max_rss_mib": maxRSS, "rss_first_minute_mib": early, "rss_rest_of_outage_mib": late,
		"unready_at_s": unreadyAt, "ready_again_at_s": readyAgainAt, "full_rate_after_s": backAt - end, "outage_end_s": end, "calls_during_outage": refusedCalls,
		"samples": samples})
}
