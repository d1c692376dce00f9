package congestion

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// quotaSim is a stream whose capacity is quota concurrent calls: calls beyond
// it are throttled. It stands for Firehose's per-stream quota, with call
// latency fixed, so the right concurrency is exactly quota.
type quotaSim struct {
	mu       sync.Mutex
	quota    int
	inflight int
}

// drive runs rounds of calls through l against q with a fake clock and
// returns the throttled share and the average limit over the last rounds.
func drive(l *Limiter, q *quotaSim, rounds int) (throttled float64, avgLimit float64) {
	now := time.Unix(0, 0)
	l.now = func() time.Time { return now }
	var calls, congested int
	var limitSum float64
	for r := range rounds {
		n := l.Limit()
		sigs := make([]Signal, n)
		for range n {
			_ = l.Acquire(context.Background())
		}
		// All n calls are in flight together, as under load.
		q.mu.Lock()
		q.inflight = 0
		q.mu.Unlock()
		for i := range n {
			q.mu.Lock()
			q.inflight++
			over := q.inflight > q.quota
			q.mu.Unlock()
			sigs[i] = Clean
			if over {
				sigs[i] = Congested
			}
		}
		now = now.Add(100 * time.Millisecond)
		for _, s := range sigs {
			l.Release(Outcome{Signal: s, Latency: 100 * time.Millisecond, Sent: 0, Accepted: 0})
			if r >= rounds/2 {
				calls++
				if s == Congested {
					congested++
				}
			}
		}
		if r >= rounds/2 {
			limitSum += float64(l.Limit())
		}
	}
	return float64(congested) / float64(calls), limitSum / float64(rounds-rounds/2)
}

func TestAdaptiveLimiterConvergesUnderAQuota(t *testing.T) {
	t.Parallel()
	q := &quotaSim{quota: 6}
	l := NewLimiter(true, 1, 64)
	throttled, avg := drive(l, q, 400)
	if throttled > 0.10 {
		t.Errorf("%.1f%% of calls throttled in steady state, want <= 10%%", 100*throttled)
	}
	if avg < 0.6*6 || avg > 6.5 {
		t.Errorf("average limit %.2f, want close below the quota of 6", avg)
	}
	fixed := NewLimiter(false, 16, 16)
	fixedThrottled, _ := drive(fixed, q, 400)
	if fixedThrottled < 0.5 {
		t.Errorf("a fixed concurrency of 16 against a quota of 6 throttled only %.0f%%", 100*fixedThrottled)
	}
	t.Logf("quota 6: adaptive throttled %.1f%% at average limit %.1f; fixed 16 throttled %.1f%%", 100*throttled, avg, 100*fixedThrottled)
}

func TestAdaptiveLimiterRecoversWhenTheQuotaRises(t *testing.T) {
	t.Parallel()
	q := &quotaSim{quota: 2}
	l := NewLimiter(true, 8, 32)
	drive(l, q, 200)
	if got := l.Limit(); got > 3 {
		t.Fatalf("limit %d under a quota of 2", got)
	}
	q.quota = 20
	_, avg := drive(l, q, 400)
	if avg < 12 {
		t.Errorf("average limit %.1f after the quota rose to 20, want it to climb back", avg)
	}
}

func TestLimiterCutsOncePerRoundTrip(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 16, 16)
	now := time.Unix(100, 0)
	l.now = func() time.Time { return now }
	for range 16 {
		_ = l.Acquire(context.Background())
	}
	for range 16 {
		l.Release(Outcome{Signal: Congested, Latency: 50 * time.Millisecond, Sent: 0, Accepted: 0})
	}
	if got := l.Limit(); got != 8 {
		t.Errorf("16 throttles in one round trip cut the limit to %d, want one halving to 8", got)
	}
}

// TestLimiterLatency: a rise of 2.5x and 100 ms halves the limit; jitter
// of fast calls, however many times their usual latency, does not.
func TestLimiterLatency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		usual, seen time.Duration
		wantCut     bool
	}{
		{"ten times the usual latency", 100 * time.Millisecond, time.Second, true},
		{"ten times, but 36 ms", 4 * time.Millisecond, 40 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := NewLimiter(true, 10, 10)
			now := time.Unix(100, 0)
			l.now = func() time.Time { return now }
			for range 50 {
				_ = l.Acquire(context.Background())
				l.Release(Outcome{Signal: Clean, Latency: tt.usual, Sent: 0, Accepted: 0})
			}
			for range 5 {
				now = now.Add(time.Second)
				_ = l.Acquire(context.Background())
				l.Release(Outcome{Signal: Clean, Latency: tt.seen, Sent: 0, Accepted: 0})
			}
			if cut := l.Limit() < 10; cut != tt.wantCut {
				t.Errorf("limit %d after calls of %s (usually %s); want cut=%v", l.Limit(), tt.seen, tt.usual, tt.wantCut)
			}
		})
	}
}

func TestFixedLimiterBlocksAtItsBound(t *testing.T) {
	t.Parallel()
	l := NewLimiter(false, 0, 2)
	_ = l.Acquire(context.Background())
	_ = l.Acquire(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := l.Acquire(ctx); err == nil {
		t.Fatal("a third call got a slot with a bound of 2")
	}
	done := make(chan error)
	go func() { done <- l.Acquire(context.Background()) }()
	l.Release(Outcome{Signal: Congested, Latency: time.Millisecond, Sent: 0, Accepted: 0})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Limit() != 2 {
		t.Errorf("a fixed limiter moved to %d", l.Limit())
	}
}

// quotaStream is a simulated Firehose stream for simulateQuota.
type quotaStream struct {
	// quota is the stream's quota in records per second at a time. Like
	// Firehose's it is a token bucket holding one second, full at the start.
	quota func(time.Time) float64
	// fail is the share of records throttled at random, whatever the rate.
	// As in firehosesim, a record failed this way takes no quota token.
	fail float64
	// outage, when set and true, fails every record.
	outage func(time.Time) bool
}

// fixedQuota is a quotaStream with a constant quota and nothing else.
func fixedQuota(q float64) quotaStream {
	return quotaStream{quota: func(time.Time) float64 { return q }}
}

// simulateQuota runs l for the given simulated time against s, one call of
// 500 records at a time with a round trip of 10 ms; like Firehose the stream
// answers at once and fails the records over the quota one by one. The call's
// signal comes from signal(), as in delivery. observe sees each call's time,
// accepted and failed records and signal. Random decisions come from a fixed
// seed, so every run is the same.
func simulateQuota(l *Limiter, s quotaStream, until time.Duration, observe func(now time.Time, ok, failed int, sig Signal)) {
	const batch, rtt = 500, 10 * time.Millisecond
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	bucket, filled, end := s.quota(now), now, now.Add(until)
	for now.Before(end) {
		l.mu.Lock()
		_, wait := l.reserveLocked(batch)
		l.mu.Unlock()
		now = now.Add(wait)
		_ = l.Acquire(context.Background())
		q := s.quota(now)
		bucket = min(q, bucket+now.Sub(filled).Seconds()*q)
		filled = now
		down := s.outage != nil && s.outage(now)
		ok := 0
		for range batch {
			if down || (s.fail > 0 && rng.Float64() < s.fail) {
				continue
			}
			if bucket >= 1 {
				bucket--
				ok++
			}
		}
		now = now.Add(rtt)
		sig := signalOf(batch - ok)
		l.Release(Outcome{Signal: sig, Latency: rtt, Sent: batch, Accepted: ok})
		observe(now, ok, batch-ok, sig)
	}
}

// signalOf is the signal delivery reads from a call with throttled of its
// records throttled.
func signalOf(throttled int) Signal {
	if throttled > 0 {
		return Congested
	}
	return Clean
}

// resendAtOnce is delivery's rule for the records a call left throttled:
// at once while the stream is paced and the call made progress, at most
// maxQuickResends times per batch.
func resendAtOnce(l *Limiter, progress bool, quick int) bool {
	const maxQuickResends = 16
	return progress && quick < maxQuickResends && l.Paced()
}

// quotaFigures sums a simulation's calls from a time on.
type quotaFigures struct {
	from                       time.Time
	calls, throttled, accepted int
}

func (f *quotaFigures) observe(now time.Time, ok, failed int, _ Signal) {
	if now.Before(f.from) {
		return
	}
	f.calls++
	f.accepted += ok
	if failed > 0 {
		f.throttled++
	}
}

// goodput is the accepted records per second over seconds, as a share of quota.
func (f *quotaFigures) goodput(seconds, quota float64) float64 {
	return float64(f.accepted) / seconds / quota
}

// throttledShare is the share of calls with a failed record, as the
// benchmark counts them.
func (f *quotaFigures) throttledShare() float64 {
	return float64(f.throttled) / float64(max(f.calls, 1))
}

// TestPacingConvergesToARecordQuota simulates, with a fake clock, a stream
// whose quota is records per second and which, like Firehose, answers at once
// and fails the records over the quota one by one. Latency says nothing here,
// so only pacing can keep the offered rate near the quota.
func TestPacingConvergesToARecordQuota(t *testing.T) {
	t.Parallel()
	for _, quota := range []float64{2000, 10000, 40000} {
		l := NewLimiter(true, 2, 16)
		f := quotaFigures{from: time.Unix(1000, 0).Add(20 * time.Second)} // after convergence
		simulateQuota(l, fixedQuota(quota), 80*time.Second, f.observe)
		goodput, share := f.goodput(60, quota), f.throttledShare()
		t.Logf("quota %.0f records/s: goodput %.1f%% of quota, %.1f%% of calls throttled, rate %.0f", quota, 100*goodput, 100*share, l.Rate())
		if goodput < 0.9 || share > 0.10 {
			t.Errorf("quota %.0f: goodput %.1f%%, throttled calls %.1f%%; want >= 90%% and <= 10%%", quota, 100*goodput, 100*share)
		}
		if b := l.Baseline(); b > 0.02 {
			t.Errorf("quota %.0f: learned a baseline of %.0f%% random throttles where there are none", quota, 100*b)
		}
	}
}

// TestPacingFollowsARisingQuota starts under a quota of 5,000 records/s and
// raises it to 15,000 after 40 s: the pace must have found the first, and
// find the second within 20 s.
func TestPacingFollowsARisingQuota(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	raised := start.Add(40 * time.Second)
	s := quotaStream{quota: func(now time.Time) float64 {
		if now.Before(raised) {
			return 5000
		}
		return 15000
	}}
	l := NewLimiter(true, 2, 16)
	perSecond := map[int]int{}
	simulateQuota(l, s, 80*time.Second, func(now time.Time, ok, _ int, _ Signal) {
		perSecond[int(now.Sub(start).Seconds())] += ok
	})
	sum := func(from, to int) (n int) {
		for s := from; s < to; s++ {
			n += perSecond[s]
		}
		return n
	}
	if got := float64(sum(20, 40)) / 20 / 5000; got < 0.9 {
		t.Errorf("goodput %.0f%% of the first quota over seconds 20-40, want >= 90%%", 100*got)
	}
	if got := float64(sum(60, 80)) / 20 / 15000; got < 0.9 {
		t.Errorf("goodput %.0f%% of the raised quota 20-40 s after the raise, want >= 90%%", 100*got)
	}
	for s := 40; s < 60; s++ {
		if float64(perSecond[s]) >= 0.9*15000 {
			t.Logf("90%% of the raised quota reached %d s after the raise", s-40)
			return
		}
	}
}

// TestPacingRecoversQuicklyAfterAnOutage throttles every call for 30
// simulated seconds, then restores the quota: from the 15th second on,
// goodput must average 90% of it and never fall under 75% in any second.
func TestPacingRecoversQuicklyAfterAnOutage(t *testing.T) {
	t.Parallel()
	const quota = 10000.0
	l := NewLimiter(true, 2, 16)
	outageFrom, outageTo := time.Unix(1000, 0).Add(20*time.Second), time.Unix(1000, 0).Add(50*time.Second)
	perSecond := map[int]int{}
	s := fixedQuota(quota)
	s.outage = func(now time.Time) bool { return now.After(outageFrom) && now.Before(outageTo) }
	var before float64
	simulateQuota(l, s, 80*time.Second, func(now time.Time, ok, _ int, _ Signal) {
		if now.Before(outageFrom) {
			before = l.pace.rate
		}
		if now.After(outageFrom.Add(5*time.Second)) && now.Before(outageTo) && l.pace.rate < 0.5*before {
			t.Fatalf("the outage cut the rate from %.0f to %.0f", before, l.pace.rate)
		}
		perSecond[int(now.Sub(outageTo).Seconds())] += ok
	})
	total := 0
	for s := 15; s < 30; s++ {
		total += perSecond[s]
		if got := float64(perSecond[s]) / quota; got < 0.75 {
			t.Errorf("second %d after the outage: goodput %.0f%% of the quota", s, 100*got)
		}
	}
	if got := float64(total) / 15 / quota; got < 0.9 {
		t.Errorf("goodput %.0f%% of the quota over seconds 15-30 after the outage, want >= 90%%", 100*got)
	}
}

// TestRandomThrottlesOnTopOfAQuota fails 30% of records at random, whatever
// the rate, on top of a quota (the benchmark's quota_faults30). Those failures
// take no quota tokens, so the quota is reached by offering 1/0.7 of it; the
// pace must learn that 30% is the stream's baseline instead of cutting to its
// floor, and still reach 90% of the quota.
func TestRandomThrottlesOnTopOfAQuota(t *testing.T) {
	t.Parallel()
	// Not 40,000: one call at a time offers at most 50,000 records/s, and
	// 70% of that is under it.
	for _, quota := range []float64{2000, 10000, 20000} {
		l := NewLimiter(true, 2, 16)
		s := fixedQuota(quota)
		s.fail = 0.3
		f := quotaFigures{from: time.Unix(1000, 0).Add(10 * time.Second)}
		simulateQuota(l, s, 70*time.Second, f.observe)
		goodput := f.goodput(60, quota)
		t.Logf("quota %.0f records/s, 30%% random throttles: goodput %.1f%% of quota, rate %.0f, baseline %.1f%%, limit %d",
			quota, 100*goodput, l.Rate(), 100*l.Baseline(), l.Limit())
		if goodput < 0.9 {
			t.Errorf("quota %.0f with 30%% random throttles: goodput %.1f%% of the quota, want >= 90%%", quota, 100*goodput)
		}
		if b := l.Baseline(); b < 0.25 || b > 0.4 {
			t.Errorf("quota %.0f: learned baseline %.1f%%, want about 30%%", quota, 100*b)
		}
	}
}

// TestRandomThrottlesAloneDoNotSlowAStream fails 30% of records at random
// with no quota to speak of: nothing the pace does changes that share, so it
// must not pace the stream below what it sent before.
func TestRandomThrottlesAloneDoNotSlowAStream(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 2, 16)
	s := fixedQuota(1e9)
	s.fail = 0.3
	f := quotaFigures{from: time.Unix(1000, 0).Add(10 * time.Second)}
	simulateQuota(l, s, 40*time.Second, f.observe)
	// One call of 500 every 10 ms unpaced: 50,000 records/s, 35,000 accepted.
	if got := float64(f.accepted) / 30; got < 0.9*35000 {
		t.Errorf("%.0f records/s accepted, want about 35,000 (rate %.0f, baseline %.2f)", got, l.Rate(), l.Baseline())
	}
}

// TestRandomThrottlesDoNotPaceAStreamBelowItsTraffic sends 240 records/s in
// small batches with 2% of calls throttled at random, far under any quota:
// the pacer must not drag the stream below its own traffic.
func TestRandomThrottlesDoNotPaceAStreamBelowItsTraffic(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 2, 16)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	rng := rand.New(rand.NewPCG(7, 8))
	const batch = 12     // 240 records/s in 20 calls a second
	for range 20 * 600 { // ten minutes
		l.mu.Lock()
		_, wait := l.reserveLocked(batch)
		l.mu.Unlock()
		now = now.Add(wait)
		_ = l.Acquire(context.Background())
		sig, ok := Clean, batch
		if rng.Float64() < 0.02 {
			sig, ok = Congested, 0
		}
		now = now.Add(50 * time.Millisecond)
		l.Release(Outcome{Signal: sig, Latency: 5 * time.Millisecond, Sent: batch, Accepted: ok})
	}
	if r := l.Rate(); r != 0 && r < 240 {
		t.Errorf("after ten minutes of 2%% random throttles the stream is paced at %.0f records/s, below its 240", r)
	}
}

// TestPaceIsFairToLargeCalls: a full batch waiting for the pace is not
// starved by small calls that find a few tokens first.
func TestPaceIsFairToLargeCalls(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 2, 16)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	l.pace.rate, l.pace.filled = 500, now
	_, big := l.reserveLocked(500)
	if big != time.Second {
		t.Fatalf("500 records at 500/s from an empty bucket wait %v, want 1s", big)
	}
	_, small := l.reserveLocked(1)
	if small <= big {
		t.Errorf("a record asked for after the batch waits %v, less than the batch's %v", small, big)
	}
}

// TestAFewFailedRecordsAreNotCongestion: delivery reports any throttled
// record (its TestSignalReportsAnyThrottledRecord), and the limiter decides
// what is congestion. A steady 1% of records
// throttled at random (as in the chaos run) must neither halve the
// concurrency nor hold the pace under a quota it could reach.
func TestAFewFailedRecordsAreNotCongestion(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 2, 16)
	if l.pace.callCongested(Congested, 500, 495) {
		t.Error("a call with 1% of its records throttled counts as congestion")
	}
	if !l.pace.callCongested(Congested, 500, 440) {
		t.Error("a call with 12% of its records throttled does not count as congestion")
	}
	s := fixedQuota(10000)
	s.fail = 0.01
	f := quotaFigures{from: time.Unix(1000, 0).Add(20 * time.Second)}
	simulateQuota(l, s, 80*time.Second, f.observe)
	if got := f.goodput(60, 10000); got < 0.9 {
		t.Errorf("1%% random throttles under a quota: goodput %.1f%% of it, want >= 90%%", 100*got)
	}
}

// flowSim runs l against s the way the worker does: callers goroutines
// (batches being delivered at once) each send batches of 500 records through
// the pace and the concurrency limit, with a latency of 10-40 ms per call
// during which other calls go out, and resend the failed records as Deliver
// does (at once when resendAtOnce allows it, else after an exponential
// backoff from 100 ms, doubling, jitter 0.5, at most 10 s). The stream takes
// each call's records when the call arrives. Everything runs on a fake clock
// with a fixed seed, so every run is the same. observe sees each call as in
// simulateQuota.
func flowSim(l *Limiter, s quotaStream, callers int, until time.Duration, observe func(now time.Time, ok, failed int, sig Signal)) {
	const batch = 500
	rng := rand.New(rand.NewPCG(3, 4))
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	bucket, filled, end := s.quota(now), now, now.Add(until)
	type caller struct {
		at       time.Time
		state    int // 0 start, 1 pacing, 2 waiting for a slot, 3 in flight
		n, ok    int
		ticket   float64
		latency  time.Duration
		backoffs int
		quick    int
	}
	cs := make([]*caller, callers)
	for i := range cs {
		cs[i] = &caller{at: now, n: batch}
	}
	for {
		var c *caller
		for _, x := range cs {
			if x.state != 2 && (c == nil || x.at.Before(c.at)) {
				c = x
			}
		}
		now = c.at
		if !now.Before(end) {
			return
		}
		switch c.state {
		case 0:
			l.mu.Lock()
			t, wait := l.reserveLocked(float64(c.n))
			l.mu.Unlock()
			c.ticket, c.state, c.at = t, 1, now.Add(wait)
		case 1:
			l.mu.Lock()
			wait := l.pace.waitLocked(now, c.ticket, float64(c.n))
			got := wait == 0 && l.inflight < int(l.limit)
			if got {
				l.inflight++
			}
			l.mu.Unlock()
			switch {
			case wait > 0:
				c.at = now.Add(wait)
			case !got:
				c.state = 2
			default:
				q := s.quota(now)
				bucket = min(q, bucket+now.Sub(filled).Seconds()*q)
				filled = now
				down := s.outage != nil && s.outage(now)
				c.ok = 0
				for range c.n {
					if down || (s.fail > 0 && rng.Float64() < s.fail) {
						continue
					}
					if bucket >= 1 {
						bucket--
						c.ok++
					}
				}
				c.latency = time.Duration(10+rng.IntN(31)) * time.Millisecond
				c.state, c.at = 3, now.Add(c.latency)
			}
		case 3:
			failed := c.n - c.ok
			sig := signalOf(failed)
			rate := l.Rate()
			l.Release(Outcome{Signal: sig, Latency: c.latency, Sent: c.n, Accepted: c.ok})
			for _, x := range cs {
				// A freed slot wakes the callers waiting for one, and a
				// change of the rate those waiting for the pace.
				if x.state == 2 || (x.state == 1 && l.Rate() != rate) {
					x.state, x.at = 1, now
				}
			}
			observe(now, c.ok, failed, sig)
			c.state = 0
			switch {
			case failed == 0:
				c.n, c.backoffs, c.quick = batch, 0, 0
			case resendAtOnce(l, c.ok > 0, c.quick):
				c.n, c.quick = failed, c.quick+1
			default:
				d := min(100*time.Millisecond<<c.backoffs, 10*time.Second)
				c.at = now.Add(time.Duration(float64(d) * (0.5 + rng.Float64())))
				c.n, c.backoffs = failed, c.backoffs+1
			}
		}
	}
}

// TestPacingKeepsThrottledCallsFewWithCallsInFlight is the benchmark's
// quota_adaptive and quota_fixed16 in the flow simulation: many batches at
// once, calls in flight while the pace changes. Adaptive, at most 10% of
// calls may carry a throttle, at 90% of the quota or more; a fixed 16 calls
// at a time must be throttled far more.
func TestPacingKeepsThrottledCallsFewWithCallsInFlight(t *testing.T) {
	t.Parallel()
	for _, quota := range []float64{5000, 10000, 20000} {
		l := NewLimiter(true, 2, 16)
		f := quotaFigures{from: time.Unix(1000, 0).Add(10 * time.Second)}
		flowSim(l, fixedQuota(quota), 48, 130*time.Second, f.observe)
		goodput, share := f.goodput(120, quota), f.throttledShare()
		t.Logf("quota %.0f: goodput %.1f%% of quota, %.1f%% of calls throttled, rate %.0f, baseline %.3f, limit %d",
			quota, 100*goodput, 100*share, l.Rate(), l.Baseline(), l.Limit())
		if goodput < 0.9 || share > 0.10 {
			t.Errorf("quota %.0f: goodput %.1f%%, throttled calls %.1f%%; want >= 90%% and <= 10%%", quota, 100*goodput, 100*share)
		}
		if b := l.Baseline(); b > 0.02 {
			t.Errorf("quota %.0f: learned a baseline of %.1f%% random throttles where there are none", quota, 100*b)
		}
	}
	fixed := NewLimiter(false, 16, 16)
	f := quotaFigures{from: time.Unix(1000, 0).Add(10 * time.Second)}
	flowSim(fixed, fixedQuota(10000), 48, 70*time.Second, f.observe)
	t.Logf("fixed 16: goodput %.1f%% of quota, %.1f%% of calls throttled", 100*f.goodput(60, 10000), 100*f.throttledShare())
	if f.throttledShare() < 0.5 {
		t.Errorf("a fixed 16 calls at a time were throttled only %.1f%% of the time", 100*f.throttledShare())
	}
}

// TestRandomThrottlesWithCallsInFlight is the benchmark's quota_faults30 in
// the flow simulation: 30% of records throttled at random on top of the
// quota, resends and all.
func TestRandomThrottlesWithCallsInFlight(t *testing.T) {
	t.Parallel()
	for _, quota := range []float64{5000, 10000} {
		l := NewLimiter(true, 2, 16)
		s := fixedQuota(quota)
		s.fail = 0.3
		f := quotaFigures{from: time.Unix(1000, 0).Add(10 * time.Second)}
		flowSim(l, s, 48, 70*time.Second, f.observe)
		goodput := f.goodput(60, quota)
		t.Logf("quota %.0f, 30%% random throttles: goodput %.1f%% of quota, %.1f%% of calls throttled, rate %.0f, baseline %.3f, limit %d",
			quota, 100*goodput, 100*f.throttledShare(), l.Rate(), l.Baseline(), l.Limit())
		if goodput < 0.9 {
			t.Errorf("quota %.0f with 30%% random throttles: goodput %.1f%% of the quota, want >= 90%%", quota, 100*goodput)
		}
	}
}

// TestOutageWithCallsInFlightKeepsThePace fails every record for 30 s in the
// flow simulation, batches backing off and waiting in the pace's line: the
// pace must not be walked down, and goodput must be back at the quota soon
// after. (That a call accepting nothing backs off instead of going again at
// once is TestPacedStreamResendsThrottledRecordsWithoutBackoff's.)
func TestOutageWithCallsInFlightKeepsThePace(t *testing.T) {
	t.Parallel()
	const quota = 10000.0
	start := time.Unix(1000, 0)
	from, to := start.Add(20*time.Second), start.Add(50*time.Second)
	s := fixedQuota(quota)
	s.outage = func(now time.Time) bool { return !now.Before(from) && now.Before(to) }
	l := NewLimiter(true, 2, 16)
	var before float64
	accepted := 0
	flowSim(l, s, 48, 80*time.Second, func(now time.Time, ok, _ int, _ Signal) {
		if now.Before(from) {
			before = l.Rate()
		}
		if !now.Before(from.Add(time.Second)) && now.Before(to) && l.Rate() < 0.5*before {
			t.Fatalf("the outage cut the rate from %.0f to %.0f", before, l.Rate())
		}
		if !now.Before(to.Add(15 * time.Second)) {
			accepted += ok
		}
	})
	if got := float64(accepted) / 15 / quota; got < 0.9 {
		t.Errorf("goodput %.0f%% of the quota 15-30 s after the outage, want >= 90%%", 100*got)
	}
}
