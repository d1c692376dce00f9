package delivery

import (
	"context"
	"time"
)

// Firehose answers a stream that is over its quota at once, with the records
// failed one by one, so a call's latency says nothing about the quota and a
// bound on concurrency alone does not bound the rate: one call at a time can
// offer many times the quota. The limiter therefore also paces records with a
// token bucket whose rate follows AIMD: unpaced until the first throttle, then
// set to what the stream actually accepted over the last second (at least
// startRate, so throttles at start-up, before anything was accepted, do not
// crawl), cut by a quarter on each later throttle (once per round trip), and
// raised by 10% per second while calls go through clean, whatever their
// number. Throttles while nothing at all is accepted (an outage) leave the
// rate alone. It settles just under the quota with few throttled calls, and
// after forgetAfter without a throttle it stops pacing until the next one.

const (
	minRate      = 500.0  // records per second, a full batch a second; never pace slower
	startRate    = 5000.0 // the least a first throttle starts pacing at: ~5 MiB/s of 1 KB events, Firehose's usual quota
	rateCut      = 0.75   // multiplicative decrease
	rateGain     = 0.10   // increase per second of clean calls, as a share of the rate
	burstSeconds = 0.25   // the bucket holds this much of the rate
	measureEvery = time.Second
	forgetAfter  = 30 * time.Second
)

// pacer is the rate half of a Limiter; its fields are guarded by Limiter.mu.
type pacer struct {
	rate     float64 // records per second; 0 until the first throttle
	tokens   float64
	filled   time.Time
	winStart time.Time
	winCount float64 // accepted records in the current window
	winSent  float64 // records sent in the current window
	prevAcc  float64 // the same, for the window before
	prevSent float64
	measured float64 // accepted records per second over the last window
	gained   time.Time
	lastCut  time.Time
}

// Pace waits until n records may be sent, or ctx ends. Fixed limiters and
// adaptive ones that have not been throttled yet never wait.
func (l *Limiter) Pace(ctx context.Context, n int) error {
	for {
		l.mu.Lock()
		wait := l.takeLocked(float64(n))
		l.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// takeLocked takes n tokens if it can and returns 0, or returns how long to
// wait for them.
func (l *Limiter) takeLocked(n float64) time.Duration {
	p := &l.pace
	if !l.adaptive || p.rate == 0 {
		return 0
	}
	now := l.now()
	capacity := max(p.rate*burstSeconds, n)
	p.tokens = min(capacity, p.tokens+now.Sub(p.filled).Seconds()*p.rate)
	p.filled = now
	if p.tokens >= n {
		p.tokens -= n
		return 0
	}
	return time.Duration((n - p.tokens) / p.rate * float64(time.Second))
}

// bindingShare: the rate is cut only while the stream sends at least this
// share of it. A throttle while the stream sends far less than its pace is
// noise (the odd failed call), not the pace being too high, and cutting for
// it would in time pace the stream below its own traffic.
const bindingShare = 0.5

// account records a call's records and adjusts the rate.
func (l *Limiter) account(sig Signal, sent, accepted int, cut bool) {
	p := &l.pace
	now := l.now()
	if p.winStart.IsZero() {
		p.winStart = now
	}
	p.winCount += float64(accepted)
	p.winSent += float64(sent)
	if el := now.Sub(p.winStart); el >= measureEvery {
		p.measured = p.winCount / el.Seconds()
		p.prevAcc, p.prevSent = p.winCount, p.winSent
		p.winStart, p.winCount, p.winSent = now, 0, 0
	}
	if sig == Congested && p.rate > 0 {
		span := measureEvery.Seconds() + now.Sub(p.winStart).Seconds()
		if (p.prevSent+p.winSent)/span < bindingShare*p.rate {
			return
		}
	}
	// Throttles while nothing at all is accepted are an outage, not a rate
	// that is a little too high: the backoff waits them out, and the rate
	// stays where it was so delivery resumes at full speed afterwards.
	outage := accepted == 0 && p.winCount == 0 && p.measured == 0
	switch {
	case sig == Congested && cut && outage && p.rate > 0:
	case sig == Congested && cut:
		if p.rate == 0 {
			// First throttle: start from what the stream took.
			p.rate = max(p.measured, p.winCount/max(now.Sub(p.winStart).Seconds(), 0.001), startRate)
			p.tokens, p.filled, p.gained, p.lastCut = 0, now, now, now
			return
		}
		p.rate = max(p.rate*rateCut, minRate)
		p.gained, p.lastCut = now, now
	case sig == Clean && p.rate > 0 && now.Sub(p.lastCut) > forgetAfter:
		p.rate = 0
	case sig == Clean && p.rate > 0:
		dt := min(now.Sub(p.gained).Seconds(), 1)
		p.rate += p.rate * rateGain * dt
		p.gained = now
	}
}

// Rate is the current pacing rate in records per second; 0 means unpaced.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pace.rate
}
