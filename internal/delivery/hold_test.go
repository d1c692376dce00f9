package delivery

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/smithy-go"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/retry"
)

// TestOutageHoldsTheStream: 40 batches of one stream meet an outage (every
// call fails whole). Once a call has failed, the stream makes one probe at a
// time, each at least the backoff after the previous answer, instead of 40
// batches retrying on their own; when the outage ends, every record goes.
func TestOutageHoldsTheStream(t *testing.T) {
	t.Parallel()
	const (
		batches = 40
		probes  = 8
		backoff = 20 * time.Millisecond
	)
	type span struct {
		start, end time.Time
		down       bool
	}
	var (
		mu        sync.Mutex
		calls     []span
		firstFail time.Time // end of the first failed call
		outage    atomic.Bool
	)
	outage.Store(true)
	c := &fakeClient{t: t}
	c.put = func(_ int, data []string) (*firehose.PutRecordBatchOutput, error) {
		start := time.Now()
		time.Sleep(time.Millisecond) // a call takes time, so overlaps would show
		down := outage.Load()
		mu.Lock()
		end := time.Now()
		calls = append(calls, span{start, end, down})
		if down && firstFail.IsZero() {
			firstFail = end
		}
		if down && len(calls) >= batches+probes {
			outage.Store(false) // the next probe finds Firehose back
		}
		mu.Unlock()
		if down {
			return nil, &smithy.GenericAPIError{Code: "ServiceUnavailableException", Message: "Service unavailable"}
		}
		return ok(len(data)), nil
	}
	policy := retry.New(retry.Config{Initial: backoff, Max: backoff, Multiplier: 1}, retry.Forever)
	s := NewStream(Options{Name: "s", Client: c, Retry: policy, RequestTimeout: time.Second})

	var wg sync.WaitGroup
	var parts []*part
	for b := range batches {
		recs, ps := records(3)
		for i := range recs {
			recs[i].Data = fmt.Appendf(nil, "b%d-%d", b, i)
		}
		parts = append(parts, ps...)
		wg.Go(func() {
			if err := s.Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
				t.Errorf("batch %d: %v", b, err)
			}
		})
	}
	wg.Wait()

	for i, p := range parts {
		if p.done.Load() != 1 {
			t.Fatalf("record %d finished %d times, want 1", i, p.done.Load())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// Calls that started after the first failure ended are the hold's
	// probes, up to the one that found Firehose back (then the rest go at
	// once): one at a time, each a backoff after the previous answer.
	var held []span
	for _, sp := range calls {
		if sp.start.After(firstFail) {
			held = append(held, sp)
		}
	}
	slices.SortFunc(held, func(a, b span) int { return a.start.Compare(b.start) })
	prev, failedProbes := firstFail, 0
	for i, sp := range held {
		if gap := sp.start.Sub(prev); gap < backoff {
			t.Errorf("held call %d of %d started %v after the previous answer, want >= %v", i, len(held), gap, backoff)
		}
		if !sp.down {
			break
		}
		prev = sp.end
		failedProbes++
	}
	if failedProbes == 0 {
		t.Fatal("no failed call after the first failure: the outage did not last")
	}
	t.Logf("%d calls in all; %d failed probes after the first failure", len(calls), failedProbes)
}
