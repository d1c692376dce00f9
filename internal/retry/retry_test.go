package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
)

func TestExhaustion(t *testing.T) {
	t.Parallel()
	three := func() backoff.BackOff { return backoff.WithMaxRetries(backoff.NewConstantBackOff(time.Millisecond), 3) }
	tests := []struct {
		name     string
		then     Exhausted
		wantStop bool
	}{
		{"give up after the backoff runs out", GiveUp, true},
		{"forever starts the backoff again", Forever, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Policy{New: three, Then: tt.then}.Start()
			var err error
			for range 10 {
				var d time.Duration
				if d, err = r.Next(); err != nil {
					break
				}
				if d != time.Millisecond {
					t.Fatalf("wait %v, want the backoff's 1ms", d)
				}
			}
			if stopped := errors.Is(err, ErrExhausted); stopped != tt.wantStop {
				t.Errorf("after %d attempts: err %v, want exhausted=%v", r.Attempts(), err, tt.wantStop)
			}
			if tt.wantStop && r.Attempts() != 4 {
				t.Errorf("gave up at the %dth Next, want the 4th (three retries)", r.Attempts())
			}
		})
	}
}

func TestNewFollowsTheConfig(t *testing.T) {
	t.Parallel()
	r := New(Config{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2}, GiveUp).Start()
	var got []time.Duration
	for range 4 {
		d, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, d)
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("waits %v, want %v", got, want)
		}
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Wait(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait on an ended context: %v", err)
	}
	if err := Wait(ctx, 0); err != nil {
		t.Fatalf("a wait of 0 returned %v, want nil: a resend at once does not wait", err)
	}
	if err := Wait(context.Background(), time.Microsecond); err != nil {
		t.Fatal(err)
	}
}
