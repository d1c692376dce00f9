// Package retry is the worker's one retry policy: exponential backoff
// (cenkalti/backoff/v4), a fresh one per unit of work so one batch's bad luck
// does not slow the next, waits that end with their context, and an explicit
// choice of what happens once the backoff runs out (its MaxElapsed passes or
// a test's backoff says Stop): give up, or start again from the first
// interval and never give up.
//
// What callers may rely on: Next never returns a wait for a Policy that
// never gives up, only ErrExhausted for one that may; Wait returns with
// ctx's error as soon as ctx ends, and never later than the wait.
package retry

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Config shapes the exponential backoff between attempts.
type Config struct {
	Initial, Max time.Duration
	Multiplier   float64
	Jitter       float64
	// MaxElapsed is how long a unit of work retries before the backoff
	// runs out; 0 never runs out.
	MaxElapsed time.Duration
}

// Exhausted says what a Policy does once its backoff runs out.
type Exhausted int

const (
	// GiveUp: Next returns ErrExhausted, and the caller settles the work
	// some other way (delivery hands the records to the dead-letter topic).
	GiveUp Exhausted = iota
	// Forever: the backoff starts again from its first interval. For work
	// with nowhere else to go, so nothing is ever dropped.
	Forever
)

// ErrExhausted is Next's answer once a GiveUp policy's backoff has run out.
var ErrExhausted = errors.New("retries exhausted")

// Policy makes the retries of each unit of work.
type Policy struct {
	// New returns a fresh backoff; nil retries at once.
	New  func() backoff.BackOff
	Then Exhausted
}

// New returns the policy of c with the given choice once it runs out.
func New(c Config, then Exhausted) Policy {
	return Policy{Then: then, New: func() backoff.BackOff {
		b := &backoff.ExponentialBackOff{
			InitialInterval:     c.Initial,
			RandomizationFactor: c.Jitter,
			Multiplier:          c.Multiplier,
			MaxInterval:         c.Max,
			MaxElapsedTime:      c.MaxElapsed,
			Stop:                backoff.Stop,
			Clock:               backoff.SystemClock,
		}
		b.Reset()
		return b
	}}
}

// With returns p with then as its choice once the backoff runs out.
func (p Policy) With(then Exhausted) Policy {
	p.Then = then
	return p
}

// Retries is the retries of one unit of work. It is not safe for concurrent
// use.
type Retries struct {
	bo      backoff.BackOff
	forever bool
	n       int
}

// Start returns the retries of a new unit of work.
func (p Policy) Start() *Retries {
	bo := backoff.BackOff(&backoff.ZeroBackOff{})
	if p.New != nil {
		bo = p.New()
	}
	return &Retries{bo: bo, forever: p.Then == Forever}
}

// Next is how long to wait before the next attempt, or ErrExhausted.
func (r *Retries) Next() (time.Duration, error) {
	r.n++
	d := r.bo.NextBackOff()
	if d != backoff.Stop {
		return d, nil
	}
	if !r.forever {
		return 0, ErrExhausted
	}
	r.bo.Reset()
	if d = r.bo.NextBackOff(); d == backoff.Stop {
		// A backoff that stops at once even when reset: keep trying,
		// at its own pace of nothing.
		d = 0
	}
	return d, nil
}

// Attempts is how many times Next was called.
func (r *Retries) Attempts() int { return r.n }

// Wait waits for d or until ctx ends. A wait of 0 (a resend at once)
// returns nil at once.
func Wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
