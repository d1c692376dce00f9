package firehosesim

import (
	"sync"
	"testing"
)

// TestConcurrentMaxSizeBatchesHaveNoTransportErrors sends full 4 MiB
// batches from many goroutines through the real SDK over real TCP. A server
// that answered before reading the whole body, and then closed, would make
// some clients see "connection reset" or "use of closed network connection"
// after a 200; here every call must succeed.
func TestConcurrentMaxSizeBatchesHaveNoTransportErrors(t *testing.T) {
	t.Parallel()
	workers, calls := 16, 4
	if raceEnabled { // the SDK's base64 of 4 MiB is ~15x slower under -race
		workers, calls = 8, 2
	}
	srv := New(Options{Streams: []string{"big"}})
	ep, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ep.Close(t.Context()) }()
	c := newClient(ep.URL, workers)

	// Two shapes of exactly 4 MiB: few huge records, and 500 small ones.
	huge := sizes(MaxRecordBytes, MaxRecordBytes, MaxRecordBytes, MaxRecordBytes, MaxBatchBytes-4*MaxRecordBytes)
	small := make([][]byte, MaxBatchRecords)
	for i := range small {
		small[i] = make([]byte, MaxBatchBytes/MaxBatchRecords)
	}
	small[0] = make([]byte, MaxBatchBytes-(MaxBatchRecords-1)*(MaxBatchBytes/MaxBatchRecords))

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for w := range workers {
		wg.Go(func() {
			records := huge
			if w%2 == 1 {
				records = small
			}
			for range calls {
				out, err := putBatch(t.Context(), c, "big", records)
				if err == nil && out.FailedPutCount != nil && *out.FailedPutCount != 0 {
					t.Errorf("FailedPutCount %d", *out.FailedPutCount)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("call failed: %v", err)
	}
	st := srv.Stats()
	wantRecords := int64(workers / 2 * calls * (len(huge) + len(small)))
	if st.Calls != (CallCounts{OK: int64(workers * calls)}) ||
		st.Streams["big"].RecordsAccepted != wantRecords ||
		st.Streams["big"].BytesAccepted != int64(workers*calls*MaxBatchBytes) {
		t.Fatalf("Stats = %+v, want %d ok calls, %d records, %d bytes", st, workers*calls, wantRecords, workers*calls*MaxBatchBytes)
	}
}
