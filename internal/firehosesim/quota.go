package firehosesim

import "time"

// Quota limits the rate at which one stream accepts data, like the Direct PUT
// quotas of a real Firehose stream (records/s and bytes/s per stream). Each
// limit is a token bucket that holds one second of its rate and starts full,
// so a stream can absorb a one-second burst and then only its rate.
//
// Time comes from the Server's Clock, so tests that drive a fake clock get
// exact, repeatable numbers.
type Quota struct {
	// RecordsPerSecond is the record rate; 0 means unlimited.
	RecordsPerSecond float64
	// BytesPerSecond is the rate of record data, before base64; 0 means
	// unlimited.
	BytesPerSecond float64
	// PerCall makes a call that does not fit fail as a whole with
	// ServiceUnavailableException (HTTP 503) and take no tokens. Without it
	// the records that fit are accepted in order and each one that does not
	// fails on its own with ServiceUnavailableException "Slow down.", which is
	// how real Firehose answers a stream over its limits.
	PerCall bool
}

// quotaState is a Quota with its buckets for one stream.
type quotaState struct {
	quota   Quota
	records tokenBucket
	bytes   tokenBucket
}

func newQuotaState(q Quota, now time.Time) *quotaState {
	return &quotaState{
		quota:   q,
		records: newTokenBucket(q.RecordsPerSecond, now),
		bytes:   newTokenBucket(q.BytesPerSecond, now),
	}
}

// fits reports whether n records of size bytes can pass now, without taking.
func (q *quotaState) fits(now time.Time, n, size int) bool {
	q.records.refill(now)
	q.bytes.refill(now)
	return q.records.has(float64(n)) && q.bytes.has(float64(size))
}

// take removes the tokens for n records of size bytes; call after fits.
func (q *quotaState) take(n, size int) {
	q.records.take(float64(n))
	q.bytes.take(float64(size))
}

// tokenBucket is a classic token bucket; rate 0 makes it unlimited.
type tokenBucket struct {
	rate   float64 // tokens per second
	tokens float64
	last   time.Time
}

func newTokenBucket(rate float64, now time.Time) tokenBucket {
	return tokenBucket{rate: rate, tokens: rate, last: now}
}

func (b *tokenBucket) refill(now time.Time) {
	if b.rate <= 0 {
		return
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.rate, b.tokens+elapsed.Seconds()*b.rate)
		b.last = now
	}
}

func (b *tokenBucket) has(n float64) bool { return b.rate <= 0 || b.tokens >= n }

func (b *tokenBucket) take(n float64) {
	if b.rate > 0 {
		b.tokens -= n
	}
}
