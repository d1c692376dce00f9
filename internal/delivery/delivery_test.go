package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/firehose-worker/firehose-worker/internal/batch"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/congestion"
	"github.com/firehose-worker/firehose-worker/internal/retry"
)

// fakeClient answers PutRecordBatch with put, which fails the test when unset.
type fakeClient struct {
	t   *testing.T
	put func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error)

	mu    sync.Mutex
	calls [][]string
}

func (f *fakeClient) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	data := make([]string, len(in.Records))
	for i, r := range in.Records {
		data[i] = string(r.Data)
	}
	f.mu.Lock()
	attempt := len(f.calls)
	f.calls = append(f.calls, data)
	f.mu.Unlock()
	if f.put == nil {
		f.t.Fatal("unexpected PutRecordBatch")
	}
	return f.put(attempt, data)
}

type part struct{ done atomic.Int32 }

func (p *part) Done() { p.done.Add(1) }

func records(n int) ([]batch.Record, []*part) {
	recs := make([]batch.Record, n)
	parts := make([]*part, n)
	for i := range recs {
		parts[i] = &part{}
		recs[i] = batch.Record{Data: fmt.Appendf(nil, "r%d", i), Part: parts[i]}
	}
	return recs, parts
}

func ok(n int) *firehose.PutRecordBatchOutput {
	out := &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0), RequestResponses: make([]types.PutRecordBatchResponseEntry, n)}
	for i := range out.RequestResponses {
		out.RequestResponses[i].RecordId = aws.String(fmt.Sprint(i))
	}
	return out
}

func fastBackOff() backoff.BackOff { return &backoff.ZeroBackOff{} }

func newTestStream(c PutRecordBatcher, reject RejectFunc) *Stream {
	return NewStream(Options{Name: "s", Client: c, Retry: retry.Policy{New: fastBackOff}, RequestTimeout: time.Second, Reject: reject})
}

func TestPartialFailureResendsOnlyFailedRecords(t *testing.T) {
	t.Parallel()
	c := &fakeClient{t: t}
	c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
		out := ok(len(data))
		if attempt == 0 {
			// Fail records 1 and 3, throttled and internal failure.
			out.FailedPutCount = aws.Int32(2)
			out.RequestResponses[1] = types.PutRecordBatchResponseEntry{ErrorCode: aws.String("ServiceUnavailableException"), ErrorMessage: aws.String("Slow down.")}
			out.RequestResponses[3] = types.PutRecordBatchResponseEntry{ErrorCode: aws.String("InternalFailure")}
		}
		return out, nil
	}
	recs, parts := records(5)
	if err := newTestStream(c, nil).Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 2 || !slices.Equal(c.calls[1], []string{"r1", "r3"}) {
		t.Fatalf("calls = %q, want the second to resend only r1 and r3", c.calls)
	}
	for i, p := range parts {
		if p.done.Load() != 1 {
			t.Errorf("record %d finished %d times, want 1", i, p.done.Load())
		}
	}
}

func TestWholeCallFailuresRetryEverything(t *testing.T) {
	t.Parallel()
	errs := []error{
		&types.ServiceUnavailableException{Message: aws.String("Slow down.")},
		&smithy.GenericAPIError{Code: "InternalFailure", Fault: smithy.FaultServer},
		&smithy.OperationError{ServiceID: "Firehose", OperationName: "PutRecordBatch", Err: &net.OpError{Op: "read", Err: errors.New("use of closed network connection")}},
		&smithy.DeserializationError{Err: errors.New("unexpected EOF")},
	}
	c := &fakeClient{t: t}
	c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
		if attempt < len(errs) {
			return nil, errs[attempt]
		}
		return ok(len(data)), nil
	}
	recs, parts := records(3)
	if err := newTestStream(c, nil).Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != len(errs)+1 {
		t.Fatalf("%d calls, want %d", len(c.calls), len(errs)+1)
	}
	for _, call := range c.calls {
		if len(call) != 3 {
			t.Errorf("a retry after a whole-call failure sent %d records, want 3", len(call))
		}
	}
	for i, p := range parts {
		if p.done.Load() != 1 {
			t.Errorf("record %d finished %d times", i, p.done.Load())
		}
	}
}

func TestPermanentErrorsGoToRejectWhenSet(t *testing.T) {
	t.Parallel()
	c := &fakeClient{t: t}
	c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
		out := ok(len(data))
		out.FailedPutCount = aws.Int32(1)
		out.RequestResponses[0] = types.PutRecordBatchResponseEntry{ErrorCode: aws.String("KMS.AccessDeniedException"), ErrorMessage: aws.String("denied")}
		return out, nil
	}
	var got []Rejected
	reject := func(_ context.Context, stream string, recs []Rejected) error {
		got = append(got, recs...)
		for _, r := range recs {
			r.Record.Part.Done()
		}
		return nil
	}
	recs, parts := records(2)
	if err := newTestStream(c, reject).Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 1 {
		t.Errorf("%d calls, want 1: a permanent record failure is not retried", len(c.calls))
	}
	if len(got) != 1 || got[0].Code != "KMS.AccessDeniedException" || string(got[0].Record.Data) != "r0" {
		t.Errorf("rejected = %+v", got)
	}
	if parts[0].done.Load() != 1 || parts[1].done.Load() != 1 {
		t.Errorf("parts finished %d, %d", parts[0].done.Load(), parts[1].done.Load())
	}
}

func TestPermanentErrorsWithoutRejectKeepRetrying(t *testing.T) {
	t.Parallel()
	c := &fakeClient{t: t}
	c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
		if attempt < 5 {
			return nil, &types.ResourceNotFoundException{Message: aws.String("no stream")}
		}
		return ok(len(data)), nil
	}
	recs, parts := records(2)
	if err := newTestStream(c, nil).Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 6 || parts[0].done.Load() != 1 {
		t.Errorf("%d calls, part done %d; want 6 calls and delivery once the stream exists", len(c.calls), parts[0].done.Load())
	}
}

func TestMismatchedAnswerResendsAll(t *testing.T) {
	t.Parallel()
	c := &fakeClient{t: t}
	c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
		if attempt == 0 {
			return ok(len(data) - 1), nil
		}
		return ok(len(data)), nil
	}
	recs, parts := records(3)
	if err := newTestStream(c, nil).Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 2 || len(c.calls[1]) != 3 {
		t.Errorf("calls = %q", c.calls)
	}
	for i, p := range parts {
		if p.done.Load() != 1 {
			t.Errorf("record %d finished %d times", i, p.done.Load())
		}
	}
}

func TestCancelLeavesRecordsUnfinished(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	c := &fakeClient{t: t}
	c.put = func(int, []string) (*firehose.PutRecordBatchOutput, error) {
		cancel()
		return nil, &types.ServiceUnavailableException{}
	}
	recs, parts := records(2)
	s := NewStream(Options{Name: "s", Client: c, Retry: retry.Policy{New: func() backoff.BackOff { return backoff.NewConstantBackOff(time.Hour) }}, RequestTimeout: time.Second})
	if err := s.Deliver(ctx, &batch.Batch{Records: recs}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver = %v, want context.Canceled", err)
	}
	if parts[0].done.Load() != 0 {
		t.Error("a record was finished without an acknowledgement")
	}
}

func TestMaxElapsedRejectsWhenDLQSet(t *testing.T) {
	t.Parallel()
	c := &fakeClient{t: t}
	c.put = func(int, []string) (*firehose.PutRecordBatchOutput, error) {
		return nil, &types.ServiceUnavailableException{}
	}
	var codes []string
	reject := func(_ context.Context, _ string, recs []Rejected) error {
		for _, r := range recs {
			codes = append(codes, r.Code)
			r.Record.Part.Done()
		}
		return nil
	}
	s := NewStream(Options{Name: "s", Client: c, RequestTimeout: time.Second, Reject: reject,
		Retry: retry.Policy{New: func() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 3) }}})
	recs, _ := records(2)
	if err := s.Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 4 || !slices.Equal(codes, []string{"RetriesExhausted", "RetriesExhausted"}) {
		t.Errorf("calls %d, codes %v", len(c.calls), codes)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want Class
		code string
	}{
		{&types.ServiceUnavailableException{}, Throttled, "ServiceUnavailableException"},
		{&types.ResourceNotFoundException{}, Permanent, "ResourceNotFoundException"},
		{&types.InvalidArgumentException{}, Permanent, "InvalidArgumentException"},
		{&types.InvalidKMSResourceException{}, Permanent, "InvalidKMSResourceException"},
		{&smithy.GenericAPIError{Code: "ValidationException"}, Permanent, "ValidationException"},
		{&smithy.GenericAPIError{Code: "AccessDeniedException"}, Denied, "AccessDeniedException"},
		{&smithy.GenericAPIError{Code: "InternalFailure", Fault: smithy.FaultServer}, Transient, "InternalFailure"},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, Throttled, "ThrottlingException"},
		{&smithy.GenericAPIError{Code: "ExpiredTokenException"}, Transient, "ExpiredTokenException"},
		{&smithy.DeserializationError{Err: errors.New("x")}, Unknown, "UnreadableResponse"},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), Unknown, "Timeout"},
		{&smithy.OperationError{Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, Transient, "ConnectFailed"},
		{&smithy.OperationError{Err: errors.New("failed to refresh cached credentials, operation error STS: AssumeRole, AccessDenied")}, Denied, "CredentialsUnavailable"},
		{&smithy.OperationError{Err: &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}}, Unknown, "ConnectionLost"},
	}
	for _, tt := range tests {
		got, code := Classify(tt.err)
		if got != tt.want || code != tt.code {
			t.Errorf("Classify(%v) = %v %q, want %v %q", tt.err, got, code, tt.want, tt.code)
		}
	}
	if ClassifyCode("KMS.DisabledException") != Permanent || ClassifyCode("ServiceUnavailableException") != Throttled || ClassifyCode("InternalFailure") != Transient {
		t.Error("ClassifyCode misclassifies record error codes")
	}
}

func TestDeniedWaitsUnlessConfiguredToDeadLetter(t *testing.T) {
	t.Parallel()
	for _, deadLetter := range []bool{false, true} {
		c := &fakeClient{t: t}
		c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
			if attempt < 3 {
				return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}
			}
			return ok(len(data)), nil
		}
		var rejected int
		reject := func(_ context.Context, _ string, recs []Rejected) error {
			rejected += len(recs)
			for _, r := range recs {
				r.Record.Part.Done()
			}
			return nil
		}
		s := NewStream(Options{Name: "s", Client: c, Retry: retry.Policy{New: fastBackOff}, RequestTimeout: time.Second, Reject: reject, DeadLetterDenied: deadLetter})
		recs, _ := records(2)
		if err := s.Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
			t.Fatal(err)
		}
		switch {
		case deadLetter && (rejected != 2 || len(c.calls) != 1):
			t.Errorf("dead_letter: %d rejected after %d calls, want 2 after 1", rejected, len(c.calls))
		case !deadLetter && (rejected != 0 || len(c.calls) != 4):
			t.Errorf("wait: %d rejected after %d calls, want 0 after 4 (waited for access)", rejected, len(c.calls))
		}
	}
}

// countingBackOff never waits and counts how often it was asked to.
type countingBackOff struct{ n atomic.Int32 }

func (b *countingBackOff) NextBackOff() time.Duration { b.n.Add(1); return 0 }
func (b *countingBackOff) Reset()                     {}

// countingCongestion admits every call at once and counts admissions and
// releases; paced is what Paced reports.
type countingCongestion struct {
	paced              bool
	admitted, released atomic.Int32
}

func (c *countingCongestion) Admit(context.Context, int) error { c.admitted.Add(1); return nil }
func (c *countingCongestion) Release(congestion.Outcome)       { c.released.Add(1) }
func (c *countingCongestion) Paced() bool                      { return c.paced }

// TestSignalReportsAnyThrottledRecord: signal reports a call with any
// throttled record as congested, and leaves the limiter to judge the share
// (congestion's TestAFewFailedRecordsAreNotCongestion).
func TestSignalReportsAnyThrottledRecord(t *testing.T) {
	t.Parallel()
	if got := signal(ok(500), nil); got != congestion.Clean {
		t.Errorf("no failures: %v", got)
	}
	if got := signal(throttleFirst(make([]string, 500), 5), nil); got != congestion.Congested {
		t.Errorf("1%% of records throttled: %v, want Congested (the limiter judges the share)", got)
	}
}

// throttleFirst answers with the first k records of data throttled.
func throttleFirst(data []string, k int) *firehose.PutRecordBatchOutput {
	out := ok(len(data))
	out.FailedPutCount = aws.Int32(int32(k))
	for i := range k {
		out.RequestResponses[i] = types.PutRecordBatchResponseEntry{ErrorCode: aws.String("ServiceUnavailableException"), ErrorMessage: aws.String("Slow down.")}
	}
	return out
}

// TestPacedStreamResendsThrottledRecordsWithoutBackoff: records throttled one
// by one in an answered call go again at once when the stream is paced (the
// pace bounds them), and after a backoff otherwise; whole-call failures, a
// call that accepts nothing and a batch past maxQuickResends back off.
func TestPacedStreamResendsThrottledRecordsWithoutBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		paced   bool
		records int
		put     func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error)
		calls   int
		backoff int
	}{
		{
			name: "paced: a third throttled each time, no backoff", paced: true, records: 9, calls: 3, backoff: 0,
			put: func(_ int, data []string) (*firehose.PutRecordBatchOutput, error) {
				return throttleFirst(data, len(data)/3), nil
			},
		},
		{
			name: "not paced: the same answers back off", paced: false, records: 9, calls: 3, backoff: 2,
			put: func(_ int, data []string) (*firehose.PutRecordBatchOutput, error) {
				return throttleFirst(data, len(data)/3), nil
			},
		},
		{
			name: "paced: one record throttled again and again backs off once alone", paced: true, records: 4, calls: 5, backoff: 3,
			put: func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
				if attempt < 4 {
					return throttleFirst(data, 1), nil
				}
				return ok(len(data)), nil
			},
		},
		{
			name: "paced: whole-call throttles back off", paced: true, records: 3, calls: 3, backoff: 2,
			put: func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
				if attempt < 2 {
					return nil, &types.ServiceUnavailableException{Message: aws.String("Slow down.")}
				}
				return ok(len(data)), nil
			},
		},
		{
			name: "paced: an outage (every record throttled) backs off", paced: true, records: 3, calls: 4, backoff: 3,
			put: func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
				if attempt < 3 {
					return throttleFirst(data, len(data)), nil
				}
				return ok(len(data)), nil
			},
		},
		{
			name: "paced: one record accepted per call backs off after maxQuickResends", paced: true, records: maxQuickResends + 5, calls: maxQuickResends + 5, backoff: 4,
			put: func(_ int, data []string) (*firehose.PutRecordBatchOutput, error) {
				return throttleFirst(data, len(data)-1), nil
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := &fakeClient{t: t, put: tc.put}
			l := &countingCongestion{paced: tc.paced}
			// The first backoff made is the batch's; a later one is the
			// stream's hold (see hold), not counted here.
			var made []*countingBackOff
			newBackOff := func() backoff.BackOff {
				b := &countingBackOff{}
				made = append(made, b)
				return b
			}
			s := NewStream(Options{Name: "s", Client: c, Retry: retry.Policy{New: newBackOff}, RequestTimeout: time.Second, Congestion: l})
			recs, parts := records(tc.records)
			if err := s.Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
				t.Fatal(err)
			}
			bo := made[0]
			if len(c.calls) != tc.calls || int(bo.n.Load()) != tc.backoff {
				t.Errorf("%d calls and %d backoffs, want %d and %d", len(c.calls), bo.n.Load(), tc.calls, tc.backoff)
			}
			if a, r := l.admitted.Load(), l.released.Load(); a != int32(tc.calls) || r != a {
				t.Errorf("%d calls admitted and %d released, want %d of each", a, r, tc.calls)
			}
			for i, p := range parts {
				if p.done.Load() != 1 {
					t.Errorf("record %d finished %d times, want 1", i, p.done.Load())
				}
			}
		})
	}
}

// TestBodiesBoundWhatIsInFlight gives three streams one body budget that
// holds one of their bodies at a time: their calls must go one after the
// other, and every batch must still be delivered.
func TestBodiesBoundWhatIsInFlight(t *testing.T) {
	t.Parallel()
	var inCall, most atomic.Int32
	c := &fakeClient{t: t, put: func(_ int, data []string) (*firehose.PutRecordBatchOutput, error) {
		n := inCall.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // hold the call so others would overlap
		inCall.Add(-1)
		return ok(len(data)), nil
	}}
	recs, parts := records(100)
	one := bodySize(&firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("s"), Records: make([]types.Record, 100)})
	bodies := NewBodies(one + one/2) // room for one body, not two
	var wg sync.WaitGroup
	for range 3 {
		s := NewStream(Options{Name: "s", Client: c, Retry: retry.Policy{New: fastBackOff}, RequestTimeout: time.Second, Bodies: bodies})
		wg.Go(func() {
			if err := s.Deliver(t.Context(), &batch.Batch{Records: recs}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Errorf("%d calls at once; the body budget holds one", most.Load())
	}
	for i, p := range parts {
		if p.done.Load() != 3 {
			t.Fatalf("record %d finished %d times, want 3", i, p.done.Load())
		}
	}
}

// TestWithdrawnRecordsAreNotSent: records of two partitions share a batch.
// Partition a is released unfinished before the first call, partition b
// after a call throttled all of it: neither's records are sent once
// withdrawn (the next owner sends them), each is finished so its memory is
// released, and neither tracker reports them finished.
func TestWithdrawnRecordsAreNotSent(t *testing.T) {
	t.Parallel()
	var released atomic.Int32
	onFinish := func(*checkpoint.Message) { released.Add(1) }
	a, b := checkpoint.NewTracker(onFinish), checkpoint.NewTracker(onFinish)
	var recs []batch.Record
	for off := range int64(3) {
		recs = append(recs,
			batch.Record{Data: fmt.Appendf(nil, "a%d", off), Part: a.Track(off, 1, 0)},
			batch.Record{Data: fmt.Appendf(nil, "b%d", off), Part: b.Track(off, 1, 0)})
	}
	a.Withdraw()
	c := &fakeClient{t: t}
	c.put = func(attempt int, data []string) (*firehose.PutRecordBatchOutput, error) {
		if attempt > 0 {
			t.Errorf("call %d sent %q: every record left was withdrawn", attempt, data)
			return ok(len(data)), nil
		}
		b.Withdraw() // released while the call was out
		return nil, &smithy.GenericAPIError{Code: "ServiceUnavailableException", Message: "Slow down."}
	}
	if err := newTestStream(c, nil).Deliver(context.Background(), &batch.Batch{Records: recs}); err != nil {
		t.Fatal(err)
	}
	if len(c.calls) != 1 || !slices.Equal(c.calls[0], []string{"b0", "b1", "b2"}) {
		t.Fatalf("calls = %q, want one call of b0..b2 (a was withdrawn before it)", c.calls)
	}
	if got := released.Load(); got != 6 {
		t.Errorf("%d messages released, want all 6", got)
	}
	for name, tr := range map[string]*checkpoint.Tracker{"a": a, "b": b} {
		if off, _ := tr.Committable(); off != 0 {
			t.Errorf("partition %s commits %d, want 0: nothing of it was acknowledged", name, off)
		}
	}
}
