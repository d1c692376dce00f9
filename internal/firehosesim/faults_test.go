package firehosesim

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptrace"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/smithy-go"
)

func TestThrottleNextCalls(t *testing.T) {
	t.Parallel()
	sink := NewMemorySink()
	srv, c := start(t, Options{Streams: []string{"s"}, Sink: sink})
	srv.Faults().ThrottleNextCalls(2)

	for i := range 2 {
		_, err := putBatch(t.Context(), c, "s", makeRecords("t", 3, 10))
		var sue *types.ServiceUnavailableException
		if !errors.As(err, &sue) || sue.ErrorMessage() != "Slow down." {
			t.Fatalf("call %d: %v, want ServiceUnavailableException \"Slow down.\"", i, err)
		}
		if _, status := apiCode(t, err); status != 503 {
			t.Fatalf("call %d: HTTP %d, want 503", i, status)
		}
	}
	third := makeRecords("ok", 3, 10)
	mustPutBatch(t, c, "s", third)
	equalRecords(t, "sink", sink.Records("s"), third)
	st := srv.Stats()
	if st.Calls != (CallCounts{OK: 1, Throttled: 2}) || st.Streams["s"].RecordsRejected != 6 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestInvalidCallsDoNotUseUpThrottleCount(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"s"}})
	srv.Faults().ThrottleNextCalls(1)
	if _, err := putBatch(t.Context(), c, "unknown", makeRecords("a", 1, 1)); err == nil {
		t.Fatal("unknown stream accepted")
	}
	_, err := putBatch(t.Context(), c, "s", makeRecords("a", 1, 1))
	var sue *types.ServiceUnavailableException
	if !errors.As(err, &sue) {
		t.Fatalf("first valid call: %v, want it throttled", err)
	}
}

func TestBlockThrottlesEveryOperationUntilUnblocked(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"s"}})
	srv.Faults().Block()
	ctx := t.Context()
	calls := map[string]func() error{
		"PutRecordBatch": func() error { _, err := putBatch(ctx, c, "s", makeRecords("b", 1, 1)); return err },
		"PutRecord": func() error {
			_, err := c.PutRecord(ctx, &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: []byte("x")}})
			return err
		},
		"Describe": func() error {
			_, err := c.DescribeDeliveryStream(ctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: aws.String("s")})
			return err
		},
		"List": func() error { _, err := c.ListDeliveryStreams(ctx, &firehose.ListDeliveryStreamsInput{}); return err },
	}
	for name, call := range calls {
		var sue *types.ServiceUnavailableException
		if err := call(); !errors.As(err, &sue) {
			t.Fatalf("%s while blocked: %v, want ServiceUnavailableException", name, err)
		}
	}
	srv.Faults().Unblock()
	for name, call := range calls {
		if err := call(); err != nil {
			t.Fatalf("%s after Unblock: %v", name, err)
		}
	}
}

func TestRecordFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		faults     []RecordFault
		batches    []int   // records per call, all to stream "s"
		wantFailed [][]int // failed indexes per call
		wantCode   string
		wantMsg    string
	}{
		{name: "every third record", faults: []RecordFault{{Every: 3}},
			batches: []int{10}, wantFailed: [][]int{{2, 5, 8}}, wantCode: CodeServiceUnavailable, wantMsg: "Slow down."},
		{name: "every-th counts across calls", faults: []RecordFault{{Every: 4}},
			batches: []int{3, 3, 3}, wantFailed: [][]int{nil, {0}, {1}}, wantCode: CodeServiceUnavailable, wantMsg: "Slow down."},
		{name: "first N across calls", faults: []RecordFault{{First: 4, Code: CodeInternalFailure}},
			batches: []int{3, 3}, wantFailed: [][]int{{0, 1, 2}, {0}}, wantCode: CodeInternalFailure, wantMsg: "Internal service failure."},
		{name: "every record", faults: []RecordFault{{Every: 1, Message: "custom"}},
			batches: []int{4}, wantFailed: [][]int{{0, 1, 2, 3}}, wantCode: CodeServiceUnavailable, wantMsg: "custom"},
		{name: "other stream's fault does not apply", faults: []RecordFault{{Stream: "other", Every: 1}},
			batches: []int{5}, wantFailed: [][]int{nil}},
		{name: "faults combine, first one names the code",
			faults:  []RecordFault{{First: 1, Code: CodeInternalFailure}, {Every: 2}},
			batches: []int{4}, wantFailed: [][]int{{0, 1, 3}}, wantCode: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := NewMemorySink()
			srv, c := start(t, Options{Streams: []string{"s", "other"}, Sink: sink})
			for _, f := range tt.faults {
				srv.Faults().FailRecords(f)
			}
			var want [][]byte
			totalFailed := 0
			for i, n := range tt.batches {
				records := makeRecords("b"+string(rune('0'+i)), n, 12)
				out := mustPutBatch(t, c, "s", records)
				failed := failedIndexes(t, out)
				if !slices.Equal(failed, tt.wantFailed[i]) {
					t.Fatalf("call %d failed %v, want %v", i, failed, tt.wantFailed[i])
				}
				for _, j := range failed {
					e := out.RequestResponses[j]
					if tt.wantCode != "" && (*e.ErrorCode != tt.wantCode || *e.ErrorMessage != tt.wantMsg) {
						t.Fatalf("entry %d: %s %q, want %s %q", j, *e.ErrorCode, *e.ErrorMessage, tt.wantCode, tt.wantMsg)
					}
				}
				want = append(want, without(records, failed)...)
				totalFailed += len(failed)
			}
			equalRecords(t, "sink", sink.Records("s"), want)
			if got := srv.Stats().Streams["s"]; got.RecordsFailed != int64(totalFailed) || got.RecordsAccepted != int64(len(want)) {
				t.Fatalf("Streams[s] = %+v, want %d failed and %d accepted", got, totalFailed, len(want))
			}
		})
	}
}

func TestFirstFaultNamesTheCode(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"s"}})
	srv.Faults().FailRecords(RecordFault{First: 1, Code: CodeInternalFailure})
	srv.Faults().FailRecords(RecordFault{Every: 1})
	out := mustPutBatch(t, c, "s", makeRecords("a", 2, 5))
	codes := []string{*out.RequestResponses[0].ErrorCode, *out.RequestResponses[1].ErrorCode}
	if !slices.Equal(codes, []string{CodeInternalFailure, CodeServiceUnavailable}) {
		t.Fatalf("codes %v", codes)
	}
}

func TestFractionIsRepeatableForASeed(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []int {
		srv, c := start(t, Options{Streams: []string{"s"}, Faults: NewFaults(seed)})
		srv.Faults().FailRecords(RecordFault{Fraction: 0.3})
		return failedIndexes(t, mustPutBatch(t, c, "s", makeRecords("f", 500, 4)))
	}
	a, b, other := run(7), run(7), run(8)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed failed different records")
	}
	if slices.Equal(a, other) {
		t.Fatal("different seeds failed the same records")
	}
	// 500 draws at p=0.3: 150 expected, σ≈10; ±60 is never hit by chance.
	if len(a) < 90 || len(a) > 210 {
		t.Fatalf("%d of 500 failed at fraction 0.3", len(a))
	}
}

func TestThrottleProbability(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"s"}, Faults: NewFaults(3)})
	srv.Faults().SetThrottleProbability(1)
	var sue *types.ServiceUnavailableException
	if _, err := putBatch(t.Context(), c, "s", makeRecords("a", 1, 1)); !errors.As(err, &sue) {
		t.Fatalf("p=1: %v, want throttled", err)
	}
	srv.Faults().SetThrottleProbability(0)
	mustPutBatch(t, c, "s", makeRecords("a", 1, 1))
}

func TestLatencyDelaysTheAnswer(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"s"}})
	const delay = 50 * time.Millisecond
	srv.Faults().SetLatency(delay, delay)
	began := time.Now()
	mustPutBatch(t, c, "s", makeRecords("a", 1, 1))
	if took := time.Since(began); took < delay {
		t.Fatalf("call took %v, want at least %v", took, delay)
	}
}

func TestLatencyHonoursCancellation(t *testing.T) {
	t.Parallel()
	sink := NewMemorySink()
	done := make(chan CallInfo, 1)
	srv, c := start(t, Options{Streams: []string{"s"}, Sink: sink, Observer: func(ci CallInfo) { done <- ci }})
	srv.Faults().SetLatency(time.Hour, time.Hour)

	// Give up as soon as the whole request is on the wire, so the server is
	// certainly holding the call in its delay when the client leaves.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { cancel() },
	})
	if _, err := putBatch(ctx, c, "s", makeRecords("a", 3, 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want canceled", err)
	}
	// The server notices the client left and gives up the hour-long wait.
	select {
	case ci := <-done:
		if ci.Outcome != OutcomeCanceled {
			t.Fatalf("outcome %q, want canceled", ci.Outcome)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server kept waiting after the client left")
	}
	if n := sink.Count("s"); n != 0 {
		t.Fatalf("a canceled call delivered %d records", n)
	}
	if st := srv.Stats(); st.Calls != (CallCounts{Canceled: 1}) {
		t.Fatalf("Calls = %+v", st.Calls)
	}
}

func TestLatencyRangeStaysInBounds(t *testing.T) {
	t.Parallel()
	f := NewFaults(11)
	f.SetLatency(10*time.Millisecond, 20*time.Millisecond)
	seen := make(map[time.Duration]bool)
	for range 200 {
		d := f.latency()
		if d < 10*time.Millisecond || d > 20*time.Millisecond {
			t.Fatalf("latency %v outside [10ms, 20ms]", d)
		}
		seen[d] = true
	}
	if len(seen) < 100 {
		t.Fatalf("only %d distinct delays in 200 draws", len(seen))
	}
	f.SetLatency(0, 0)
	if d := f.latency(); d != 0 {
		t.Fatalf("latency %v after turning it off", d)
	}
}

func TestDroppedAnswerLandsButIsNotAcknowledged(t *testing.T) {
	t.Parallel()
	sink := NewMemorySink()
	var mu sync.Mutex
	var cut [][]byte // what the observer says landed in dropped calls
	srv, c := start(t, Options{Streams: []string{"s"}, Sink: sink, Observer: func(ci CallInfo) {
		if ci.Outcome == OutcomeDropped {
			mu.Lock()
			for _, r := range ci.Landed {
				cut = append(cut, bytes.Clone(r))
			}
			mu.Unlock()
		}
	}})
	srv.Faults().DropNextResponses(1)

	first := makeRecords("landed", 4, 10)
	_, err := putBatch(t.Context(), c, "s", first)
	if err == nil {
		t.Fatal("the dropped call succeeded")
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		t.Fatalf("a dropped connection looks like an API error: %v", err)
	}
	// The client could not know, but the records are there.
	equalRecords(t, "sink after drop", sink.Records("s"), first)
	mu.Lock()
	equalRecords(t, "observer's landed records of the dropped call", cut, first)
	mu.Unlock()

	second := makeRecords("next", 2, 10)
	mustPutBatch(t, c, "s", second)
	equalRecords(t, "sink", sink.Records("s"), append(first, second...))

	st := srv.Stats()
	want := StreamStats{RecordsAccepted: 6, BytesAccepted: 60, RecordsUnacknowledged: 4}
	if st.Calls != (CallCounts{OK: 1, Dropped: 1}) || st.Streams["s"] != want {
		t.Fatalf("Stats = %+v, want 1 ok, 1 dropped, %+v", st, want)
	}
}

func TestDropSkipsCallsThatLandNothing(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"s"}})
	srv.Faults().DropNextResponses(1)
	srv.Faults().FailRecords(RecordFault{First: 2})
	out := mustPutBatch(t, c, "s", makeRecords("a", 2, 1)) // all fail: nothing landed, answer kept
	if n := len(failedIndexes(t, out)); n != 2 {
		t.Fatalf("%d failed, want 2", n)
	}
	if _, err := putBatch(t.Context(), c, "s", makeRecords("b", 1, 1)); err == nil {
		t.Fatal("the first call that landed records was not dropped")
	}
}

func TestRejectStream(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code       string
		wantStatus int
		typed      func(error) bool
	}{
		{CodeResourceNotFound, 400, func(err error) bool { var e *types.ResourceNotFoundException; return errors.As(err, &e) }},
		{CodeInvalidArgument, 400, func(err error) bool { var e *types.InvalidArgumentException; return errors.As(err, &e) }},
		{CodeInvalidKMSResource, 400, func(err error) bool { var e *types.InvalidKMSResourceException; return errors.As(err, &e) }},
		{CodeServiceUnavailable, 503, func(err error) bool { var e *types.ServiceUnavailableException; return errors.As(err, &e) }},
		{CodeAccessDenied, 400, func(err error) bool { var e *smithy.GenericAPIError; return errors.As(err, &e) }},
		{"KMS.DisabledException", 400, func(err error) bool { var e *smithy.GenericAPIError; return errors.As(err, &e) }},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			t.Parallel()
			sink := NewMemorySink()
			srv, c := start(t, Options{Streams: []string{"s", "fine"}, Sink: sink})
			srv.Faults().RejectStream("s", tt.code, "rejected on purpose")

			_, err := putBatch(t.Context(), c, "s", makeRecords("a", 2, 3))
			if err == nil || !tt.typed(err) {
				t.Fatalf("err = %v (%T), want a %s of the right type", err, err, tt.code)
			}
			if code, status := apiCode(t, err); code != tt.code || status != tt.wantStatus {
				t.Fatalf("got %s/%d, want %s/%d", code, status, tt.code, tt.wantStatus)
			}
			mustPutBatch(t, c, "fine", makeRecords("b", 1, 3)) // other streams unaffected
			if n := sink.Count("s"); n != 0 {
				t.Fatalf("rejected stream received %d records", n)
			}
			srv.Faults().AllowStream("s")
			mustPutBatch(t, c, "s", makeRecords("c", 1, 3))
		})
	}
}

func TestSinkFailureFailsTheRecords(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	seen := make(chan CallInfo, 2)
	srv, c := start(t, Options{Streams: []string{"s"}, Observer: func(ci CallInfo) { seen <- ci },
		Sink: SinkFunc(func(context.Context, string, [][]byte) error { return boom })})
	out := mustPutBatch(t, c, "s", makeRecords("a", 3, 3))
	if ci := <-seen; !errors.Is(ci.SinkError, boom) || ci.Outcome != OutcomePartial || ci.Failed != 3 {
		t.Fatalf("observed %+v, want the sink's error and 3 failed", ci)
	}
	if failed := failedIndexes(t, out); len(failed) != 3 || *out.RequestResponses[0].ErrorCode != CodeInternalFailure {
		t.Fatalf("failed %v code %s, want all 3 InternalFailure", failed, aws.ToString(out.RequestResponses[0].ErrorCode))
	}
	_, err := c.PutRecord(t.Context(), &firehose.PutRecordInput{DeliveryStreamName: aws.String("s"), Record: &types.Record{Data: []byte("x")}})
	if code, status := apiCode(t, err); code != CodeInternalFailure || status != 500 {
		t.Fatalf("PutRecord: %s/%d, want InternalFailure/500", code, status)
	}
	if got := srv.Stats().Streams["s"]; got.RecordsAccepted != 0 || got.RecordsFailed != 3 {
		t.Fatalf("Streams[s] = %+v", got)
	}
}

func TestResetRemovesFaults(t *testing.T) {
	t.Parallel()
	srv, c := start(t, Options{Streams: []string{"s"}})
	f := srv.Faults()
	f.Block()
	f.ThrottleNextCalls(5)
	f.FailRecords(RecordFault{Every: 1})
	f.RejectStream("s", CodeResourceNotFound, "x")
	f.SetQuota("", Quota{RecordsPerSecond: 0.001})
	f.DropNextResponses(3)
	f.Reset()
	out := mustPutBatch(t, c, "s", makeRecords("a", 5, 5))
	if failed := failedIndexes(t, out); len(failed) != 0 {
		t.Fatalf("failed %v after Reset", failed)
	}
}
