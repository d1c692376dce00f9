package firehosesim

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

func seq(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestQuotaPerRecord(t *testing.T) {
	t.Parallel()
	type step struct {
		advance    time.Duration
		sizes      []int // record sizes of one call
		wantFailed []int
	}
	tests := []struct {
		name  string
		quota Quota
		steps []step
	}{
		{
			name:  "records per second, refilled by time",
			quota: Quota{RecordsPerSecond: 100},
			steps: []step{
				{sizes: ones(150), wantFailed: seq(100, 150)},
				{sizes: ones(10), wantFailed: seq(0, 10)}, // empty bucket
				{advance: 250 * time.Millisecond, sizes: ones(50), wantFailed: seq(25, 50)},
				{advance: 10 * time.Second, sizes: ones(120), wantFailed: seq(100, 120)}, // capped at one second
			},
		},
		{
			name:  "bytes per second, each record judged on its own",
			quota: Quota{BytesPerSecond: 1000},
			steps: []step{
				{sizes: []int{600, 600, 300, 100, 1}, wantFailed: []int{1, 4}},
				{advance: time.Second, sizes: []int{1001, 1000}, wantFailed: []int{0}},
			},
		},
		{
			name:  "both limits apply",
			quota: Quota{RecordsPerSecond: 3, BytesPerSecond: 100},
			steps: []step{
				{sizes: []int{10, 80, 20, 5, 5}, wantFailed: []int{2, 4}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			sink := NewMemorySink()
			srv, c := start(t, Options{Streams: []string{"s"}, Sink: sink, Clock: clock.Now})
			srv.Faults().SetQuota("s", tt.quota)
			var want [][]byte
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				records := make([][]byte, len(st.sizes))
				for j, n := range st.sizes {
					records[j] = make([]byte, n)
					records[j][0] = byte(i*64 + j) // tells records apart in the sink
				}
				out := mustPutBatch(t, c, "s", records)
				failed := failedIndexes(t, out)
				if !slices.Equal(failed, st.wantFailed) {
					t.Fatalf("step %d failed %v, want %v", i, failed, st.wantFailed)
				}
				for _, j := range failed {
					if *out.RequestResponses[j].ErrorCode != CodeServiceUnavailable || *out.RequestResponses[j].ErrorMessage != "Slow down." {
						t.Fatalf("step %d entry %d: %+v", i, j, out.RequestResponses[j])
					}
				}
				want = append(want, without(records, failed)...)
			}
			equalRecords(t, "sink", sink.Records("s"), want)
		})
	}
}

func TestQuotaPerCall(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	sink := NewMemorySink()
	srv, c := start(t, Options{Streams: []string{"s"}, Sink: sink, Clock: clock.Now})
	srv.Faults().SetQuota("s", Quota{RecordsPerSecond: 100, PerCall: true})

	throttled := func(n int) bool {
		t.Helper()
		_, err := putBatch(t.Context(), c, "s", makeRecords("q", n, 2))
		var sue *types.ServiceUnavailableException
		if err != nil && !errors.As(err, &sue) {
			t.Fatalf("unexpected error: %v", err)
		}
		return err != nil
	}
	if !throttled(150) {
		t.Fatal("150 records passed a 100/s quota")
	}
	if throttled(100) {
		t.Fatal("a throttled call used up tokens")
	}
	if !throttled(1) {
		t.Fatal("the bucket was not empty")
	}
	clock.Advance(10 * time.Millisecond)
	if throttled(1) {
		t.Fatal("10ms at 100/s did not refill one record")
	}
	if n := sink.Count("s"); n != 101 {
		t.Fatalf("sink has %d records, want 101", n)
	}
	if st := srv.Stats(); st.Calls != (CallCounts{OK: 2, Throttled: 2}) {
		t.Fatalf("Calls = %+v", st.Calls)
	}
}

func TestDefaultQuotaIsPerStream(t *testing.T) {
	t.Parallel()
	clock := newFakeClock(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	srv, c := start(t, Options{Streams: []string{"a", "b", "own"}, Clock: clock.Now})
	srv.Faults().SetQuota("", Quota{RecordsPerSecond: 5})
	srv.Faults().SetQuota("own", Quota{RecordsPerSecond: 1})
	for stream, wantFailed := range map[string][]int{"a": {5, 6}, "b": {5, 6}, "own": {1, 2, 3, 4, 5, 6}} {
		if got := failedIndexes(t, mustPutBatch(t, c, stream, makeRecords(stream, 7, 1))); !slices.Equal(got, wantFailed) {
			t.Fatalf("%s failed %v, want %v", stream, got, wantFailed)
		}
	}
	srv.Faults().SetQuota("own", Quota{})
	if got := failedIndexes(t, mustPutBatch(t, c, "own", makeRecords("own", 7, 1))); !slices.Equal(got, []int{5, 6}) {
		t.Fatalf("own after removing its quota failed %v, want the default's [5 6]", got)
	}
}
