package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
)

// gateClient holds every PutRecordBatch until open is closed, then
// acknowledges it; started receives one value per call.
type gateClient struct {
	started chan struct{}
	open    chan struct{}
}

func (g gateClient) PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	g.started <- struct{}{}
	select {
	case <-g.open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return ackClient{}.PutRecordBatch(ctx, in)
}

// TestWithdrawnMessagesAreNotCountedFinished: a message of a partition this
// worker gave up is read again by the next owner, so acknowledging it after
// the Withdraw (it was in a call) or dropping it (it was not) frees its
// memory but does not count it finished: the stopped line's "finished" and
// the end-to-end latency are this worker's deliveries only.
func TestWithdrawnMessagesAreNotCountedFinished(t *testing.T) {
	t.Parallel()
	g := gateClient{started: make(chan struct{}, 64), open: make(chan struct{})}
	p, cl := claimHandler(t, g, time.Millisecond, []config.Mapping{{Event: "*", Stream: "all"}})
	const before, after = 3, 5
	// The claim's tracker as claimHandler makes it, telling the test of
	// each message done, so the test waits for all of them, not for time.
	release, done := p.releaser("t"), make(chan struct{}, before+after)
	cl.Tracker = checkpoint.NewTracker(func(m *checkpoint.Message) {
		release(m)
		done <- struct{}{}
	})
	m := &kafka.Message{Topic: "t"}
	handle := func(off int) {
		m.Offset, m.Value = int64(off), fmt.Appendf(nil, `{"type":"track","event":"e","messageId":"m-%d"}`, off)
		if err := p.Handle(t.Context(), cl, m); err != nil {
			t.Fatal(err)
		}
	}
	for off := range before {
		handle(off)
	}
	<-g.started // the first call holds some of them; the rest wait behind it
	cl.Tracker.Withdraw()
	for off := before; off < before+after; off++ {
		handle(off)
	}
	close(g.open)
	deadline := time.After(10 * time.Second)
	for i := range before + after {
		select {
		case <-done:
		case <-deadline:
			t.Fatalf("%d of %d messages done 10s after the calls were let through", i, before+after)
		}
	}
	if n := p.inflightBytes.Load(); n != 0 {
		t.Errorf("%d bytes still held once every message was done", n)
	}
	if st := p.Stats(); st.Consumed != before+after || st.Finished != 0 {
		t.Errorf("consumed %d, finished %d; want %d consumed and 0 finished: every message was withdrawn before it was done",
			st.Consumed, st.Finished, before+after)
	}
}
