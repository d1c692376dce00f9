package delivery

import (
	"context"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
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
			l.Release(s, 100*time.Millisecond, 0, 0)
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
		l.Release(Congested, 50*time.Millisecond, 0, 0)
	}
	if got := l.Limit(); got != 8 {
		t.Errorf("16 throttles in one round trip cut the limit to %d, want one halving to 8", got)
	}
}

func TestLimiterLatencyRiseCounts(t *testing.T) {
	t.Parallel()
	l := NewLimiter(true, 10, 10)
	now := time.Unix(100, 0)
	l.now = func() time.Time { return now }
	for range 50 {
		_ = l.Acquire(context.Background())
		l.Release(Clean, 100*time.Millisecond, 0, 0)
	}
	before := l.Limit()
	now = now.Add(time.Second)
	_ = l.Acquire(context.Background())
	l.Release(Clean, time.Second, 0, 0) // ten times the usual latency
	if got := l.Limit(); got >= before {
		t.Errorf("limit %d after a latency spike, want below %d", got, before)
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
	l.Release(Congested, time.Millisecond, 0, 0)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if l.Limit() != 2 {
		t.Errorf("a fixed limiter moved to %d", l.Limit())
	}
}

// simulateQuota runs l for the given simulated time against a stream whose quota
// is quota records per second, held in a token bucket of one second; like
// Firehose it answers at once and fails the records over the quota one by
// one. outage, when it returns true, fails every record. observe sees each
// call's time, accepted records and signal.
func simulateQuota(l *Limiter, quota float64, until time.Duration, outage func(time.Time) bool, observe func(now time.Time, ok int, sig Signal)) {
	const batch, rtt = 500, 10 * time.Millisecond
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	bucket, filled, end := quota, now, now.Add(until)
	for now.Before(end) {
		l.mu.Lock()
		wait := l.takeLocked(batch)
		l.mu.Unlock()
		if wait > 0 {
			now = now.Add(wait)
			continue
		}
		_ = l.Acquire(context.Background())
		bucket = min(quota, bucket+now.Sub(filled).Seconds()*quota)
		filled = now
		ok := min(batch, int(bucket))
		if outage != nil && outage(now) {
			ok = 0
		}
		bucket -= float64(ok)
		now = now.Add(rtt)
		sig := Clean
		if ok < batch {
			sig = Congested
		}
		l.Release(sig, rtt, batch, ok)
		observe(now, ok, sig)
	}
}

// TestPacingConvergesToARecordQuota simulates, with a fake clock, a stream
// whose quota is records per second and which, like Firehose, answers at once
// and fails the records over the quota one by one. Latency says nothing here,
// so only pacing can keep the offered rate near the quota.
func TestPacingConvergesToARecordQuota(t *testing.T) {
	t.Parallel()
	for _, quota := range []float64{2000, 10000, 40000} {
		l := NewLimiter(true, 2, 16)
		var calls, throttled, accepted int
		measureFrom := time.Unix(1000, 0).Add(20 * time.Second) // after convergence
		simulateQuota(l, quota, 80*time.Second, nil, func(now time.Time, ok int, sig Signal) {
			if now.After(measureFrom) {
				calls++
				accepted += ok
				if sig == Congested {
					throttled++
				}
			}
		})
		goodput := float64(accepted) / 60 / quota
		share := float64(throttled) / float64(calls)
		t.Logf("quota %.0f records/s: goodput %.1f%% of quota, %.1f%% of calls throttled, rate %.0f", quota, 100*goodput, 100*share, l.Rate())
		if goodput < 0.9 || share > 0.10 {
			t.Errorf("quota %.0f: goodput %.1f%%, throttled calls %.1f%%; want >= 90%% and <= 10%%", quota, 100*goodput, 100*share)
		}
	}
}

// TestPacingRecoversQuicklyAfterAnOutage throttles every call for 30
// simulated seconds, which cuts the rate to its floor, then restores the
// quota: from the 15th second on, goodput must average 90% of it and never
// fall under 75% in any second.
func TestPacingRecoversQuicklyAfterAnOutage(t *testing.T) {
	t.Parallel()
	const quota = 10000.0
	l := NewLimiter(true, 2, 16)
	outageFrom, outageTo := time.Unix(1000, 0).Add(20*time.Second), time.Unix(1000, 0).Add(50*time.Second)
	perSecond := map[int]int{}
	inOutage := func(now time.Time) bool { return now.After(outageFrom) && now.Before(outageTo) }
	simulateQuota(l, quota, 80*time.Second, inOutage, func(now time.Time, ok int, _ Signal) {
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
		wait := l.takeLocked(batch)
		l.mu.Unlock()
		if wait > 0 {
			now = now.Add(wait)
		}
		_ = l.Acquire(context.Background())
		sig, ok := Clean, batch
		if rng.Float64() < 0.02 {
			sig, ok = Congested, 0
		}
		now = now.Add(50 * time.Millisecond)
		l.Release(sig, 5*time.Millisecond, batch, ok)
	}
	if r := l.Rate(); r != 0 && r < 240 {
		t.Errorf("after ten minutes of 2%% random throttles the stream is paced at %.0f records/s, below its 240", r)
	}
}

func TestAFewFailedRecordsAreNotCongestion(t *testing.T) {
	t.Parallel()
	out := func(throttled int) *firehose.PutRecordBatchOutput {
		o := &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(int32(throttled)), RequestResponses: make([]types.PutRecordBatchResponseEntry, 500)}
		for i := range throttled {
			o.RequestResponses[i].ErrorCode = aws.String("ServiceUnavailableException")
		}
		return o
	}
	if got := signal(out(0), nil); got != Clean {
		t.Errorf("no failures: %v", got)
	}
	if got := signal(out(5), nil); got != Neutral {
		t.Errorf("1%% of records throttled (noise): %v, want Neutral", got)
	}
	if got := signal(out(60), nil); got != Congested {
		t.Errorf("12%% of records throttled (over a quota): %v, want Congested", got)
	}
}
