package congestion

import (
	"context"
	"math"
	"time"
)

// Tuning of the pace. Each figure carries its reason; the simulations in
// limiter_test.go (TestPacing*, TestRandomThrottles*, TestOutage*) hold them.
const (
	minRate      = 500.0            // records per second, a full batch a second; never pace slower
	startRate    = 5000.0           // the least a first throttle starts pacing at: ~5 MiB/s of 1 KB events, Firehose's usual quota
	rateCut      = 0.95             // the least a congested sample cuts the rate by
	deepestCut   = 0.5              // the most one sample cuts it by
	cutAim       = 0.85             // a cut aims this far under the quota the throttled share implies
	tookShare    = 0.6              // nor goes under this share of what the stream had accepted over the last second or two
	rateGain     = 0.03             // increase per second of calls that are not congested, as a share of the rate, right after a cut, with no ceiling
	cubicGain    = 0.00025          // growth towards and past the ceiling: ceiling*(1+cubicGain*t³), t seconds from reaching it
	maxGain      = 0.5              // nor faster than this share of the rate per second
	probeBeyond  = 1.1              // past this share of the ceiling without a throttle, growth is exponential again
	gainRamp     = 10 * time.Second // the increase grows by rateGain per gainRamp since the last cut
	burstSeconds = 0.25             // the bucket holds this much of the rate
	measureEvery = time.Second
	forgetAfter  = 30 * time.Second
	// A sample holds at least sampleRecords records sent over at least
	// sampleTime, or whatever measureEvery brings. With many calls in
	// flight, which one meets the quota's bucket empty is chance: one call
	// is far too noisy a sample.
	sampleRecords = 500
	sampleTime    = 250 * time.Millisecond
)

// Judging a sample. Congested means a throttled share above
// baseline + congestedMargin*(1-baseline) + noiseSigmas standard deviations of
// the baseline share over the sample's records: with no baseline, 2% of
// records throttled; with one, 2% of the records that would have passed
// failing on top, beyond what chance explains.
const (
	congestedMargin = 0.02
	noiseSigmas     = 3.0
	// afterCutWeight: the first sample after a cut that is not congested,
	// sent while the pace limited the stream, was sent under any quota, so
	// its share is the baseline itself: the baseline moves that far towards
	// it, down, or up once a baseline has been confirmed by experiment (it
	// may still carry leftover quota throttles, and must not make a
	// baseline out of nothing). Other samples are left out: they may carry a
	// little quota throttling (up to the threshold), and letting them lift
	// the baseline let the threshold climb with a growing overrun.
	afterCutWeight = 1.0 / 2
	// maxBaseline: a share that does not fall with the rate and is higher
	// than this is taken for an outage (or nearly one) or a heavy overrun,
	// not a baseline to pace around: nothing is learned and the cuts go on.
	maxBaseline = 0.5
)

// pacer is the rate half of a Limiter, guarded by Limiter.mu.
//
// Firehose answers a stream that is over its quota at once, with the records
// failed one by one, so a call's latency says nothing about the quota and a
// bound on concurrency alone does not bound the rate: one call at a time can
// offer many times the quota. The limiter therefore also paces records with a
// token bucket, judged on samples (see sampleRecords) of calls sent since the
// rate last changed; calls sent before the change still describe the old
// rate, so they are not counted.
//
//   - Unpaced until the first congested sample, then set to what the stream
//     actually accepted over the last second or two (at least startRate, so
//     throttles at start-up, before anything was accepted, do not crawl).
//   - A sample is congested when its share of throttled records is clearly
//     above the baseline: the share that fails whatever the rate. Firehose
//     (and the chaos run, and the benchmark's quota_faults30) throttles some
//     records at random; those failures do not fall when the rate falls, and
//     taking them as congestion drove the pace to its floor. Over the
//     baseline the margin is small (congestedMargin): once the quota's
//     bucket is empty every call carries throttled records, however little
//     the pace is over, so a pace allowed 5% over the quota was a pace under
//     which nearly every call was throttled.
//   - A congested sample cuts the rate by the share it implies is over the
//     quota: a quota fails exactly the records over it, so with baseline b and
//     share s the quota is about (1-(s-b)/(1-b)) of the rate; the cut aims at
//     cutAim of that, within [deepestCut, rateCut] and never under tookShare
//     of what the stream has just had accepted. That quota (or what the
//     sample accepted, if more: over a quota the stream gets the quota) is
//     remembered as the ceiling.
//   - The rate then grows along CUBIC's curve (cubicGain): fast back towards
//     the ceiling, flat for several seconds just under and at it, then
//     beyond it ever faster. Under a steady quota the pace thus spends most
//     of its time just under the quota and finds it again only after the
//     quota's bucket has been refilled, so few calls are throttled; past
//     probeBeyond times the ceiling with no throttle the quota has risen,
//     and growth turns exponential (rateGain, faster the longer the last cut
//     is past) to find the new one in seconds. Growth needs the pace to be
//     what holds the stream back.
//   - The baseline is learned only by a confirmed experiment. If the sample
//     after a cut did not fall by at least half of what a quota predicts, and
//     what the stream accepted fell with the rate (over a quota it stays at
//     the quota), the cut is in doubt, and the rate is cut again. If that cut
//     does not lower the share either, the throttling is not about the rate:
//     the median of the shares becomes the baseline and the rate goes back
//     to where it was before the first cut in doubt. One experiment was not
//     enough: the sample right after a cut can still meet the quota's bucket
//     emptied by the calls before it, and the false baselines (8-15% with no
//     random throttles at all) that taught raised the threshold, so the pace
//     overran the quota further before each cut. The first sample after a
//     cut that is not congested was sent under any quota: it lowers the
//     baseline halfway to its share, and raises it only once a baseline has
//     been confirmed.
//   - A sample in which nothing was accepted (an outage, or calls throttled
//     whole) leaves the rate alone, so an outage never walks the rate down;
//     the backoff waits it out.
//
// Goodput stays near the quota even while the pace swings below it, because
// the quota's own bucket (Firehose's holds about a second) saves what the pace
// leaves unused and lets it through when the pace is over. After forgetAfter
// without a cut it stops pacing until the next congested sample, unless the
// stream has a baseline: Deliver resends randomly throttled records without a
// backoff only while the stream is paced (resendAtOnce).

type pacer struct {
	bucket
	window
	sample
	cuts
}

// bucket is the pace's token bucket, counted in records.
type bucket struct {
	rate   float64 // records per second; 0 while unpaced
	issued float64 // records given a place in line, ever
	served float64 // records the bucket has let through, ever; less than issued while callers wait
	filled time.Time
	bound  bool          // a reservation had to wait since the last sample: the pace is what limits the stream
	moved  chan struct{} // closed when the rate changes; see movedLocked
}

// window is the accepted rate over windows of measureEvery, for the start
// rate and to tell an outage.
type window struct {
	first    time.Time // the first call
	winStart time.Time
	winCount float64 // accepted records in the current window
	winSent  float64 // records sent in the current window
	prevSent float64 // records sent in the window before
	prevAcc  float64 // records accepted in the window before
	measured float64 // accepted records per second over the last window
}

// sample is the calls sent since the rate last changed.
type sample struct {
	smpStart     time.Time
	smpSent      float64
	smpThrottled float64
	smpAccepted  float64
}

// cuts is what the pace learned from its cuts: the baseline, the ceiling
// and the experiment in progress.
type cuts struct {
	baseline    float64   // share of records throttled whatever the rate
	afterCut    bool      // no sample judged since the last cut
	ceiling     float64   // the quota the last cut implied, which growth approaches and then probes; 0 when unknown
	cubicK      float64   // seconds after the last cut at which growth reaches the ceiling
	doubted     bool      // the last cut's share did not fall: one more cut that fails to lower it teaches the baseline
	doubtRate   float64   // the rate before the doubted cut, restored if the doubt is confirmed
	doubtAt     float64   // the share that raised the doubt
	cutAccepted float64   // records per second accepted in the sample that caused the last cut
	changed     time.Time // the rate last changed; calls sent before are stale
	lastCut     time.Time
	gained      time.Time
	cutShare    float64 // the share that caused the last cut, while its effect is unknown; -1 for none
	cutFactor   float64 // what the last cut multiplied the rate by (1 for the start of pacing)
}

// Pace waits until n records may be sent, or ctx ends. Fixed limiters and
// adaptive ones that are not pacing never wait.
func (l *Limiter) Pace(ctx context.Context, n int) error {
	l.mu.Lock()
	ticket, wait := l.reserveLocked(float64(n))
	moved := l.pace.movedLocked()
	l.mu.Unlock()
	for wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-moved:
			t.Stop()
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		l.mu.Lock()
		wait = l.pace.waitLocked(l.now(), ticket, float64(n))
		moved = l.pace.movedLocked()
		l.mu.Unlock()
	}
	return nil
}

// movedLocked returns a channel closed when the rate next changes. A wait is
// computed at the rate of the moment, and callers that slept it out after
// the rate rose found the bucket long past their place and went at once, all
// together, in a bunch that met the quota's bucket empty, cut or no cut: so
// a change of the rate wakes every waiting caller to look again.
func (p *pacer) movedLocked() <-chan struct{} {
	if p.moved == nil {
		p.moved = make(chan struct{})
	}
	return p.moved
}

// rateMoved wakes the callers waiting for the pace after a change of the rate.
func (p *pacer) rateMoved() {
	if p.moved != nil {
		close(p.moved)
		p.moved = nil
	}
}

// reserveLocked takes a place in line for n records and returns it with how
// long to wait before sending. Places are counted in records: a caller may go
// once the bucket has let through everything reserved before it, at whatever
// the rate is by then. Taking a place (rather than waiting for tokens and
// trying again) keeps the order fair: a full batch is not starved by the
// small resends of throttled records that slip in whenever a few tokens are
// there, which once held a stream to a few records a second. Counting in
// records rather than fixing each caller's time keeps a cut effective at
// once even with many callers in line.
func (l *Limiter) reserveLocked(n float64) (ticket float64, wait time.Duration) {
	p := &l.pace
	if !l.adaptive || p.rate == 0 {
		return 0, 0
	}
	now := l.now()
	p.refill(now, n)
	p.issued += n
	ticket = p.issued
	wait = p.waitLocked(now, ticket, n)
	if wait > 0 {
		p.bound = true
	}
	return ticket, wait
}

// waitLocked is how long the holder of ticket still has to wait.
func (p *pacer) waitLocked(now time.Time, ticket, n float64) time.Duration {
	if p.rate == 0 {
		return 0
	}
	p.refill(now, n)
	if p.served >= ticket {
		return 0
	}
	return time.Duration((ticket - p.served) / p.rate * float64(time.Second))
}

// refill lets the bucket through at the rate since it was last filled; with
// no one in line, at most a burst of burstSeconds (or one call) builds up.
func (p *pacer) refill(now time.Time, n float64) {
	if el := now.Sub(p.filled); el > 0 {
		p.served = min(p.served+el.Seconds()*p.rate, p.issued+max(p.rate*burstSeconds, n))
	}
	p.filled = now
}

// bindingShare: the rate is cut only while the stream sends at least this
// share of it. A throttle while the stream sends far less than its pace is
// noise (the odd failed call), not the pace being too high, and cutting for
// it would in time pace the stream below its own traffic.
const bindingShare = 0.5

// congestedAbove is the throttled share over which n records are taken as
// congestion, given the baseline.
func (p *pacer) congestedAbove(n float64) float64 {
	b := p.baseline
	return b + congestedMargin*(1-b) + noiseSigmas*math.Sqrt(b*(1-b)/max(n, 1))
}

// callCongested reports whether one call's outcome is congestion for the
// concurrency limit: a whole-call throttle, or a throttled share above the
// baseline's threshold.
func (p *pacer) callCongested(sig Signal, sent, accepted int) bool {
	if sig != Congested {
		return false
	}
	if sent <= 0 {
		return true
	}
	return float64(sent-accepted)/float64(sent) > p.congestedAbove(float64(sent))
}

// account records a call's records and, once a sample is complete, adjusts
// the rate. Congested calls' failed records count as throttled; Neutral calls
// (errors that say nothing about load) are left out of the sample.
func (l *Limiter) account(sig Signal, sent, accepted int, latency time.Duration) {
	p := &l.pace
	now := l.now()
	if p.winStart.IsZero() {
		p.first, p.winStart, p.smpStart, p.cutShare = now.Add(-latency), now, now, -1
	}
	p.winCount += float64(accepted)
	p.winSent += float64(sent)
	if el := now.Sub(p.winStart); el >= measureEvery {
		p.measured = p.winCount / el.Seconds()
		p.prevSent, p.prevAcc = p.winSent, p.winCount
		p.winStart, p.winCount, p.winSent = now, 0, 0
	}
	if sig == Neutral || sent <= 0 || now.Add(-latency).Before(p.changed) {
		return
	}
	if p.smpSent == 0 {
		p.smpStart = now.Add(-latency)
	}
	p.smpSent += float64(sent)
	p.smpAccepted += float64(accepted)
	if sig == Congested {
		p.smpThrottled += float64(sent - accepted)
	}
	if el := now.Sub(p.smpStart); (p.smpSent < sampleRecords || el < sampleTime) && el < measureEvery {
		return
	}
	share, n, acc, bound := p.smpThrottled/p.smpSent, p.smpSent, p.smpAccepted, p.bound
	accRate := acc / max(now.Sub(p.smpStart).Seconds(), 0.001)
	p.smpSent, p.smpThrottled, p.smpAccepted, p.bound = 0, 0, 0, false
	if share <= p.congestedAbove(n) {
		p.relieved(now, share, bound)
		return
	}
	p.congested(now, share, accRate, bound)
}

// relieved handles a sample that is not congested: the baseline moves
// towards its share if that is lower, the pending cut is judged a success,
// and the rate rises, or pacing stops after forgetAfter without a cut.
func (p *pacer) relieved(now time.Time, share float64, bound bool) {
	if bound && p.afterCut && (share < p.baseline || p.baseline > 0) {
		p.baseline += (share - p.baseline) * afterCutWeight
	}
	p.afterCut, p.doubted = false, false
	p.cutShare = -1
	switch {
	case p.rate == 0:
	case now.Sub(p.lastCut) > forgetAfter && p.baseline == 0:
		// Forget the pace, unless the stream loses records at random:
		// the pace is what lets Deliver resend those without a backoff
		// (resendAtOnce), and without it the backoffs held the stream so
		// far under its quota that it never met it again.
		p.rate = 0
	case !bound:
		// The stream sends less than its pace: raising the pace would
		// change nothing now and leave it far too high when traffic grows.
		p.gained = now
	case p.ceiling > 0 && p.rate < probeBeyond*p.ceiling:
		// CUBIC's curve: fast towards the ceiling, flat around it, then
		// probing beyond it ever faster.
		dt := min(now.Sub(p.gained).Seconds(), 1)
		t := now.Sub(p.lastCut).Seconds() - p.cubicK
		target := p.ceiling * (1 + cubicGain*t*t*t)
		p.rate = max(p.rate, min(target, p.rate*(1+maxGain*dt)))
		p.gained = now
	default:
		// No ceiling, or well past it without a throttle: the quota rose.
		dt := min(now.Sub(p.gained).Seconds(), 1)
		since := now.Sub(p.lastCut).Seconds() / gainRamp.Seconds()
		p.rate += p.rate * rateGain * (1 + since) * dt
		p.gained = now
	}
}

// congested handles a congested sample: start pacing, or judge the last cut
// (and learn the baseline and undo the cuts in doubt if it is confirmed that
// they did not lower the share), or cut.
func (p *pacer) congested(now time.Time, share, accRate float64, bound bool) {
	if p.rate == 0 {
		p.startPacing(now)
		return
	}
	// A sample in which nothing at all was accepted is an outage (or calls
	// throttled whole), not a rate that is a little too high, and it says
	// nothing about how far over a quota the rate would be: the backoff waits
	// it out, and the rate stays where it was so delivery resumes at full
	// speed afterwards.
	if accRate == 0 {
		return
	}
	// A cut is judged only if the pace then limited the stream: a cut to a
	// rate the stream does not even reach changes nothing, so the share not
	// falling would prove nothing. Such a cut is followed by another.
	if p.cutShare >= 0 && bound && p.judgeCut(now, share, accRate) {
		return
	}
	p.cut(now, share, accRate)
}

// startPacing starts pacing at the first congested sample, from what the
// stream took.
func (p *pacer) startPacing(now time.Time) {
	span := min(measureEvery+now.Sub(p.winStart), now.Sub(p.first)).Seconds()
	p.rate = max((p.prevAcc+p.winCount)/max(span, 0.001), startRate)
	p.served, p.filled = p.issued, now
	p.setChanged(now, -1, 1, true) // an unknown cut: nothing to judge it by
}

// judgeCut judges the last cut by the congested sample after it. It reports
// whether it changed the rate itself (a confirmed doubt: the baseline is
// learned and the cuts in doubt are undone); otherwise the caller cuts.
func (p *pacer) judgeCut(now time.Time, share, accRate float64) bool {
	// Had a quota caused cutShare, the share accepted after the cut would
	// have grown by 1/cutFactor (up to 1-baseline). The share must fall by
	// at least half of what that predicts.
	a := 1 - p.cutShare
	want := (min(1-p.baseline, a/p.cutFactor) - a) / 2
	fell := p.cutShare-share >= want
	// Over a quota, what the stream accepted stays at the quota when the
	// rate falls, while random throttles fail the same share of any rate.
	held := accRate >= p.cutAccepted*(1+p.cutFactor)/2
	switch {
	case fell || held:
	case p.doubted:
		// Twice the share did not fall with the rate: not congestion. Once
		// is not enough: the sample after a cut can still meet the quota's
		// bucket emptied by the calls before it, and a baseline learned
		// from that raised the threshold of congestion, so the pace overran
		// the quota further.
		p.doubted = false
		if learned := median(share, p.cutShare, p.doubtAt); learned < maxBaseline {
			p.baseline = max(p.baseline, learned)
			p.rate, p.ceiling = p.doubtRate, 0
			p.setChanged(now, -1, 1, false)
			return true
		}
	default:
		// Doubt, and cut again to see. The doubt lasts until a sample is
		// not congested, so the rate it restores is the one before the
		// first cut in doubt.
		p.doubted, p.doubtRate, p.doubtAt = true, p.rate/p.cutFactor, min(share, p.cutShare)
	}
	return false
}

// cut lowers the rate for a congested sample, unless the stream sends too
// little of its pace for the pace to be what is too high.
func (p *pacer) cut(now time.Time, share, accRate float64) {
	span := max(min(measureEvery+now.Sub(p.winStart), now.Sub(p.first)).Seconds(), 0.001)
	if (p.prevSent+p.winSent)/span < bindingShare*p.rate {
		return
	}
	// Over a quota, the records beyond the baseline that fail are the share
	// of the rate over the quota: cut by that, aiming a little under it.
	// Whatever one sample says, a quota lets through at least what the
	// stream has just had accepted, so a cut never goes under tookShare
	// of that: calls bunched onto an empty bucket can fail far more records
	// than the rate is over, and a cut to the floor then took the pace
	// half a minute to climb back.
	excess := (share - p.baseline) / (1 - p.baseline)
	factor := min(max((1-excess)*cutAim, deepestCut), rateCut)
	old := p.rate
	took := (p.prevAcc + p.winCount) / span
	p.rate = max(p.rate*factor, min(tookShare*took, p.rate*rateCut), minRate)
	// The quota is about what the rate implies, or what the stream
	// accepted, which over a quota is the quota itself.
	p.ceiling = min(max(old*(1-excess), accRate), old)
	p.cubicK = math.Cbrt(max(1-p.rate/p.ceiling, 0) / cubicGain)
	p.setChanged(now, share, p.rate/old, true)
	p.afterCut, p.cutAccepted = true, accRate
}

// setChanged notes a change of the rate: a cut (or the start of pacing), or
// an undone cut; cutShare is the share that caused it, -1 if none.
func (p *pacer) setChanged(now time.Time, cutShare, factor float64, cut bool) {
	p.changed, p.gained, p.bound, p.afterCut = now, now, false, false
	if cut {
		p.lastCut = now
	}
	p.cutShare, p.cutFactor = cutShare, factor
	p.smpSent, p.smpThrottled, p.smpAccepted = 0, 0, 0
}

// Rate is the current pacing rate in records per second; 0 means unpaced.
func (l *Limiter) Rate() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pace.rate
}

// Baseline is the learned share of records throttled whatever the rate.
func (l *Limiter) Baseline() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pace.baseline
}

// median is the middle one of three.
func median(a, b, c float64) float64 {
	return max(min(a, b), min(max(a, b), c))
}
