package delivery

import (
	"time"

	"github.com/cenkalti/backoff/v4"
)

// BackOffConfig shapes the exponential backoff between attempts of a batch.
type BackOffConfig struct {
	Initial, Max time.Duration
	Multiplier   float64
	Jitter       float64
	// MaxElapsed gives up after this long; 0 never does.
	MaxElapsed time.Duration
}

// NewBackOff returns a constructor of fresh backoffs, one per batch, so one
// batch's bad luck does not slow the next.
func NewBackOff(c BackOffConfig) func() backoff.BackOff {
	return func() backoff.BackOff {
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
	}
}
