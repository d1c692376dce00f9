//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

// Firehose limits of one PutRecordBatch call, which one forwarded batch
// keeps to.
// https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
const (
	maxRecordsPerCall = 500
	maxBytesPerCall   = 4 << 20
)

// putRecordBatcher is the one call of the Firehose client the forwarder
// needs.
type putRecordBatcher interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// forwarder is the firehosesim.Sink of the chaos run: it puts the records
// the simulated Firehose accepted into the real emulator (moto), whose
// delivery streams write them to S3, and returns only once moto has taken
// every one of them. The simulator answers the worker after Write returns,
// so a record the worker sees acknowledged is in S3.
//
// Records of concurrent calls to one stream are sent together (group commit:
// whatever queued up while the previous batch was on its way goes in the
// next, up to one call's 500 records and 4 MiB), because moto spends ~10 ms
// per call whatever its size and the worker's calls are small. One goroutine
// per stream sends, since moto serves one request at a time anyway.
//
// A Write whose caller gives up (the worker was killed, or timed out) returns
// at once, but its records, copied, are still forwarded: Firehose may land a
// call whose client went away, and the worker must cope with either outcome.
type forwarder struct {
	fh    putRecordBatcher
	ctx   context.Context // the run's: ends the retries
	lanes map[string]*lane
	wg    sync.WaitGroup

	calls, records, bytes, failures, resent, abandoned atomic.Int64
	maxCallNanos, maxWaitNanos, gaveUp                 atomic.Int64
	// onResend, when set, is told the records of a moto call that failed
	// before they are sent again.
	onResend func(stream string, recs [][]byte)
}

// lane is the queue of one stream.
type lane struct {
	stream string
	mu     sync.Mutex
	queue  []*job
	closed bool
	wake   chan struct{} // capacity 1: "the queue changed"
}

// job is the records of one Write.
type job struct {
	records [][]byte
	size    int
	queued  time.Time
	done    chan struct{}
	err     error // set before done closes
}

// newForwarder starts one sending goroutine per stream; they run until
// Close. ctx bounds the retries: a forwarder whose ctx ended gives up on
// what it holds and reports it in its stats.
func newForwarder(ctx context.Context, fh putRecordBatcher, streams []string) *forwarder {
	f := &forwarder{fh: fh, ctx: ctx, lanes: map[string]*lane{}}
	for _, s := range streams {
		l := &lane{stream: s, wake: make(chan struct{}, 1)}
		f.lanes[s] = l
		// Returns when Close has closed the lane and its queue is empty.
		f.wg.Go(func() { f.run(l) })
	}
	return f
}

// Write implements firehosesim.Sink.
func (f *forwarder) Write(ctx context.Context, stream string, records [][]byte) error {
	l := f.lanes[stream]
	if l == nil {
		return fmt.Errorf("forwarder: no lane for stream %q", stream)
	}
	j := &job{records: make([][]byte, len(records)), queued: time.Now(), done: make(chan struct{})}
	for _, r := range records {
		j.size += len(r)
	}
	// One allocation for the copies: the Server reuses the records' memory
	// once Write returns.
	buf := make([]byte, 0, j.size)
	for i, r := range records {
		buf = append(buf, r...)
		j.records[i] = buf[len(buf)-len(r) : len(buf) : len(buf)]
	}
	if err := l.push(j); err != nil {
		return err
	}
	select {
	case <-j.done:
		if d := time.Since(j.queued).Nanoseconds(); d > f.maxWaitNanos.Load() {
			f.maxWaitNanos.Store(d) // a racy maximum is fine for a report
		}
		return j.err
	case <-ctx.Done():
		f.gaveUp.Add(1)
		return ctx.Err()
	}
}

func (l *lane) push(j *job) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("forwarder: closed")
	}
	l.queue = append(l.queue, j)
	l.signal()
	return nil
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// take waits for queued jobs and removes as many as one call can carry,
// whole jobs only (each fits one call, as the Server enforces the limits).
// A call that is not full waits until its oldest job is forwardLinger old,
// so that moto, which spends ~10 ms per call whatever its size, gets fewer
// and fuller calls (and the read-back fewer objects). It returns nil when
// the lane is closed and empty.
func (l *lane) take() []*job {
	for {
		l.mu.Lock()
		if len(l.queue) > 0 {
			n, recs, size := 0, 0, 0
			full := false
			for _, j := range l.queue {
				if n > 0 && (recs+len(j.records) > maxRecordsPerCall || size+j.size > maxBytesPerCall) {
					full = true
					break
				}
				n++
				recs += len(j.records)
				size += j.size
			}
			wait := forwardLinger - time.Since(l.queue[0].queued)
			if full || wait <= 0 || l.closed {
				jobs := l.queue[:n:n]
				l.queue = l.queue[n:]
				l.mu.Unlock()
				return jobs
			}
			l.mu.Unlock()
			t := time.NewTimer(wait)
			select {
			case <-l.wake:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		closed := l.closed
		l.mu.Unlock()
		if closed {
			return nil
		}
		<-l.wake
	}
}

// forwardLinger is how long a partly filled call to moto waits for more.
const forwardLinger = 50 * time.Millisecond

func (f *forwarder) run(l *lane) {
	for {
		jobs := l.take()
		if jobs == nil {
			return
		}
		var recs []fhtypes.Record
		for _, j := range jobs {
			for _, r := range j.records {
				recs = append(recs, fhtypes.Record{Data: r})
			}
		}
		err := f.send(l.stream, recs)
		for _, j := range jobs {
			j.err = err
			close(j.done)
		}
	}
}

// send puts recs into the stream, resending the records moto refuses, with
// backoff, until all are in or the run ends.
func (f *forwarder) send(stream string, recs []fhtypes.Record) error {
	wait := 50 * time.Millisecond
	for len(recs) > 0 {
		start := time.Now()
		out, err := f.fh.PutRecordBatch(f.ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String(stream), Records: recs})
		f.calls.Add(1)
		if d := time.Since(start); d.Nanoseconds() > f.maxCallNanos.Load() {
			f.maxCallNanos.Store(d.Nanoseconds()) // a racy maximum is fine for a report
		}
		if err == nil {
			failed := recs[:0:0]
			for i, rr := range out.RequestResponses {
				if rr.ErrorCode != nil && i < len(recs) {
					failed = append(failed, recs[i])
				}
			}
			landed := len(recs) - len(failed)
			f.records.Add(int64(landed))
			for i, rr := range out.RequestResponses {
				if rr.ErrorCode == nil && i < len(recs) {
					f.bytes.Add(int64(len(recs[i].Data)))
				}
			}
			if len(failed) == 0 {
				return nil
			}
			f.resent.Add(int64(len(failed)))
			recs = failed
			if landed > 0 {
				wait = 50 * time.Millisecond // moto is taking records: no need to wait long
			}
		} else {
			f.failures.Add(1)
			if f.onResend != nil {
				// The call may have landed although it failed (an answer
				// lost on the way back): copies of these are the
				// harness's own.
				data := make([][]byte, len(recs))
				for i, r := range recs {
					data[i] = r.Data
				}
				f.onResend(stream, data)
			}
		}
		if f.ctx.Err() != nil {
			f.abandoned.Add(int64(len(recs)))
			return fmt.Errorf("forwarder: run ended with %d records not in moto: %w", len(recs), f.ctx.Err())
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-f.ctx.Done():
			t.Stop()
		}
		wait = min(2*wait, 2*time.Second)
	}
	return nil
}

// Close stops taking records, forwards what is queued, and waits for the
// sending goroutines. Call it after the Server's endpoint is closed.
func (f *forwarder) Close() {
	for _, l := range f.lanes {
		l.mu.Lock()
		l.closed = true
		l.signal()
		l.mu.Unlock()
	}
	f.wg.Wait()
}

// forwardStats is what the forwarder did, for the report.
type forwardStats struct {
	Calls          int64   `json:"moto_calls"`
	Records        int64   `json:"records"`
	Bytes          int64   `json:"bytes"`
	FailedCalls    int64   `json:"failed_calls"`
	ResentRecords  int64   `json:"resent_records"`
	Abandoned      int64   `json:"abandoned_records"`
	MaxCallSeconds float64 `json:"max_call_seconds"`
	// MaxWaitSeconds is the longest a simulated call waited for its
	// records to be in moto; GaveUp counts calls whose client left first.
	MaxWaitSeconds float64 `json:"max_wait_seconds"`
	GaveUp         int64   `json:"client_gave_up"`
}

func (f *forwarder) stats() forwardStats {
	return forwardStats{
		Calls: f.calls.Load(), Records: f.records.Load(), Bytes: f.bytes.Load(),
		FailedCalls: f.failures.Load(), ResentRecords: f.resent.Load(), Abandoned: f.abandoned.Load(),
		MaxCallSeconds: time.Duration(f.maxCallNanos.Load()).Seconds(),
		MaxWaitSeconds: time.Duration(f.maxWaitNanos.Load()).Seconds(), GaveUp: f.gaveUp.Load(),
	}
}
