package firehosesim

import (
	"math/rand/v2"
	"sync"
	"time"
)

// Faults are the failures a Server injects. Every method is safe to call from
// any goroutine while the Server runs; a change applies to calls that reach
// the relevant step after it. Counters (ThrottleNextCalls, DropNextResponses,
// RecordFault.First and .Every) make outcomes exact; probabilities draw from
// one random source seeded by NewFaults, so a sequential test sees the same
// outcome on every run.
//
// The data-plane operations (PutRecord, PutRecordBatch) see every fault.
// Control-plane operations (Describe, List, Create) see only Block and
// RejectStream, which is what readiness checks need.
//
// The order in which a data-plane call meets them is: latency, Block,
// request validation, RejectStream, unknown stream, the 4 MiB limit,
// whole-call throttling, a PerCall quota, per-record faults and per-record
// quota, the Sink, and last DropNextResponses.
type Faults struct {
	mu           sync.Mutex
	rng          *rand.Rand
	blocked      bool
	throttleNext int
	throttleProb float64
	dropNext     int
	dropProb     float64
	latencyMin   time.Duration
	latencyMax   time.Duration
	records      []*recordRule
	rejected     map[string]*apiError
	quotas       map[string]Quota       // by stream; "" is the default
	buckets      map[string]*quotaState // by stream, created on first use
}

// NewFaults returns Faults that inject nothing yet, drawing random decisions
// from a source seeded with seed. The zero Faults is usable too and behaves
// like NewFaults(0).
func NewFaults(seed uint64) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Reset removes every fault and quota. The random source keeps its state.
func (f *Faults) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked = false
	f.throttleNext, f.throttleProb = 0, 0
	f.dropNext, f.dropProb = 0, 0
	f.latencyMin, f.latencyMax = 0, 0
	f.records = nil
	f.rejected = nil
	f.quotas = nil
	f.buckets = nil
}

// Block makes every call, of any operation, fail with
// ServiceUnavailableException (HTTP 503) until Unblock. Readiness tests use
// it to hold a dependency "down" for as long as they need.
func (f *Faults) Block() { f.setBlocked(true) }

// Unblock ends Block.
func (f *Faults) Unblock() { f.setBlocked(false) }

func (f *Faults) setBlocked(b bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blocked = b
}

// ThrottleNextCalls makes the next n valid data-plane calls fail as a whole
// with ServiceUnavailableException "Slow down." (HTTP 503). Calls that fail
// validation or name an unknown stream do not use up the count. It replaces
// any count still pending.
func (f *Faults) ThrottleNextCalls(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttleNext = max(n, 0)
}

// SetThrottleProbability throttles each valid data-plane call as a whole with
// probability p (0 turns it off), after ThrottleNextCalls is used up.
func (f *Faults) SetThrottleProbability(p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttleProb = p
}

// DropNextResponses makes the next n data-plane calls that land at least one
// record lose their connection halfway through their answer. Those records
// have already reached the Sink, so the client cannot tell whether
// the call landed: this is the "landed but unacknowledged" case that makes
// duplicates unavoidable. Stats counts such calls as Dropped.
func (f *Faults) DropNextResponses(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropNext = max(n, 0)
}

// SetDropProbability drops the answer of each data-plane call that landed
// records with probability p, after DropNextResponses is used up.
func (f *Faults) SetDropProbability(p float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dropProb = p
}

// SetLatency delays every data-plane call by a duration drawn uniformly from
// [minDelay, maxDelay] (fixed when they are equal; 0, 0 turns it off) before
// the call is processed. A client that gives up during the delay cancels the
// call: nothing reaches the Sink and Stats counts it as Canceled.
func (f *Faults) SetLatency(minDelay, maxDelay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latencyMin, f.latencyMax = minDelay, max(minDelay, maxDelay)
}

// RejectStream makes every call naming stream fail with the given error code
// and message until AllowStream, whether or not the stream exists. Typical
// codes: ResourceNotFoundException, InvalidArgumentException,
// InvalidKMSResourceException, AccessDeniedException. ServiceUnavailableException
// is answered with HTTP 503, InternalFailure with 500, anything else with 400.
func (f *Faults) RejectStream(stream, code, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejected == nil {
		f.rejected = make(map[string]*apiError)
	}
	f.rejected[stream] = newAPIError(code, message)
}

// AllowStream ends RejectStream for stream.
func (f *Faults) AllowStream(stream string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.rejected, stream)
}

// SetQuota limits stream to q; stream "" sets the quota of every stream that
// has none of its own (each stream still gets its own buckets). Setting a
// quota refills its buckets; a zero Quota removes it.
func (f *Faults) SetQuota(stream string, q Quota) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.quotas == nil {
		f.quotas = make(map[string]Quota)
	}
	if q == (Quota{}) {
		delete(f.quotas, stream)
	} else {
		f.quotas[stream] = q
	}
	if stream == "" {
		clear(f.buckets) // default changed: every stream starts afresh
	} else {
		delete(f.buckets, stream)
	}
}

// RecordFault fails single records of PutRecordBatch calls inside an
// otherwise successful answer (HTTP 200 with FailedPutCount), which is how
// Firehose reports per-record throttling. A record fails when any of First,
// Every or Fraction says so. Counting starts when the fault is added and
// covers only records of Stream that passed the whole-call checks. For
// PutRecord, whose answer has no per-record part, a failed record fails the
// call with the same code (HTTP 503 for ServiceUnavailableException, 500
// for InternalFailure, else 400).
type RecordFault struct {
	// Stream limits the fault to one stream; "" means every stream.
	Stream string
	// Code is the ErrorCode to report; default ServiceUnavailableException.
	// Firehose documents ServiceUnavailableException and InternalFailure.
	Code string
	// Message is the ErrorMessage; default "Slow down." for
	// ServiceUnavailableException and "Internal service failure." otherwise.
	Message string
	// First fails the first First records the fault sees.
	First int
	// Every fails every Every-th record the fault sees (the Every-th, the
	// 2*Every-th, ...); 1 fails all of them.
	Every int
	// Fraction fails each record with this probability.
	Fraction float64
}

// recordRule is a RecordFault with its counter.
type recordRule struct {
	fault   RecordFault
	failure recordFailure
	seen    int
}

// FailRecords adds a per-record fault. Faults added earlier are asked first;
// every fault counts every record it sees, and the first that fails a record
// names its ErrorCode.
func (f *Faults) FailRecords(rf RecordFault) {
	code, msg := rf.Code, rf.Message
	if code == "" {
		code = CodeServiceUnavailable
	}
	if msg == "" {
		msg = msgInternalFailure
		if code == CodeServiceUnavailable {
			msg = msgSlowDown
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = append(f.records, &recordRule{fault: rf, failure: recordFailure{code: code, message: msg}})
}

// ClearRecordFaults removes every per-record fault.
func (f *Faults) ClearRecordFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records = nil
}

// recordFailure is the ErrorCode and ErrorMessage of one failed record; the
// zero value means the record was accepted.
type recordFailure struct {
	code    string
	message string
}

var errSlowDown = recordFailure{code: CodeServiceUnavailable, message: msgSlowDown}

// latency draws the delay for one data-plane call.
func (f *Faults) latency() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latencyMax <= 0 {
		return 0
	}
	if f.latencyMax == f.latencyMin {
		return f.latencyMin
	}
	return f.latencyMin + time.Duration(f.random().Int64N(int64(f.latencyMax-f.latencyMin)+1))
}

func (f *Faults) isBlocked() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked
}

// rejection returns the injected error for stream, or nil. It takes the
// name as bytes so the lookup does not allocate.
func (f *Faults) rejection(stream []byte) *apiError {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rejected[string(stream)]
}

// decide applies the call-level and record-level faults to a valid
// data-plane call, in that order, under one lock so concurrent calls see a
// consistent sequence. It fills fail[i] for each record that fails, or
// returns a whole-call error (records untouched, no tokens taken).
func (f *Faults) decide(now time.Time, stream string, records [][]byte, size int, fail []recordFailure) *apiError {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.throttleNext > 0 {
		f.throttleNext--
		return newAPIError(CodeServiceUnavailable, msgSlowDown)
	}
	if f.throttleProb > 0 && f.random().Float64() < f.throttleProb {
		return newAPIError(CodeServiceUnavailable, msgSlowDown)
	}
	quota := f.quotaFor(now, stream)
	if quota != nil && quota.quota.PerCall {
		if !quota.fits(now, len(records), size) {
			return newAPIError(CodeServiceUnavailable, msgSlowDown)
		}
	}
	if len(f.records) == 0 && quota == nil {
		return nil // the common case: keep the lock short
	}
	for i, r := range records {
		for _, rule := range f.records {
			if rule.fault.Stream != "" && rule.fault.Stream != stream {
				continue
			}
			if rule.fails(f.random()) && fail[i].code == "" {
				fail[i] = rule.failure
			}
		}
		if fail[i].code != "" || quota == nil {
			continue
		}
		if quota.quota.PerCall || quota.fits(now, 1, len(r)) {
			quota.take(1, len(r))
		} else {
			fail[i] = errSlowDown
		}
	}
	return nil
}

// shouldDrop decides whether to drop the answer of a call that has landed
// records in the Sink.
func (f *Faults) shouldDrop() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dropNext > 0 {
		f.dropNext--
		return true
	}
	return f.dropProb > 0 && f.random().Float64() < f.dropProb
}

// random returns the seeded source, creating one with seed 0 for a zero
// Faults. Call with f.mu held.
func (f *Faults) random() *rand.Rand {
	if f.rng == nil {
		f.rng = NewFaults(0).rng
	}
	return f.rng
}

// fails advances the rule's counter and reports whether this record fails.
func (r *recordRule) fails(rng *rand.Rand) bool {
	n := r.seen
	r.seen++
	fail := r.fault.First > 0 && n < r.fault.First
	if r.fault.Every > 0 && (n+1)%r.fault.Every == 0 {
		fail = true
	}
	if r.fault.Fraction > 0 && rng.Float64() < r.fault.Fraction {
		fail = true
	}
	return fail
}

// quotaFor returns the quota state of stream, creating its buckets on first
// use; nil when neither the stream nor the default has a quota.
func (f *Faults) quotaFor(now time.Time, stream string) *quotaState {
	if len(f.quotas) == 0 {
		return nil
	}
	if q, ok := f.buckets[stream]; ok {
		return q
	}
	q, ok := f.quotas[stream]
	if !ok {
		if q, ok = f.quotas[""]; !ok {
			return nil
		}
	}
	if f.buckets == nil {
		f.buckets = make(map[string]*quotaState)
	}
	st := newQuotaState(q, now)
	f.buckets[stream] = st
	return st
}
