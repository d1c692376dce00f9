package pipeline

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
)

// keepClient accepts every record and keeps a copy of each.
type keepClient struct {
	mu    sync.Mutex
	recs  []string
	added chan struct{} // signalled after each call
}

func (c *keepClient) PutRecordBatch(_ context.Context, in *firehose.PutRecordBatchInput, _ ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	c.mu.Lock()
	for _, r := range in.Records {
		c.recs = append(c.recs, string(r.Data))
	}
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
	return &firehose.PutRecordBatchOutput{FailedPutCount: aws.Int32(0), RequestResponses: make([]types.PutRecordBatchResponseEntry, len(in.Records))}, nil
}

func (c *keepClient) records() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.recs)
}

// The consumer reuses a message's key and value memory once Handle returns
// (consume.Handler). Every value here is overwritten right after Handle,
// as the next response would: what reaches Firehose must still be the
// message as it was, whether it was compact (its own record), needed
// compacting, or was an envelope's item.
func TestKeptMessagesSurviveTheConsumerReusingTheirMemory(t *testing.T) {
	t.Parallel()
	client := &keepClient{added: make(chan struct{}, 1)}
	// No "*" row: the consumer reuses these values' memory (see
	// consume.Options.KeepsAll), so the pipeline must keep them (Claim.Keep).
	// An hour's linger: nothing is sent before the overwrite.
	p, cl := claimHandler(t, client, time.Hour, []config.Mapping{{Event: "track", Stream: "everything"}, {Event: "page", Stream: "everything"},
		{Event: "identify", Stream: "everything"}, {Event: "screen", Stream: "everything"}})

	values := []string{
		`{"type":"track","event":"Signed In","userId":"u1","messageId":"m-1"}`,
		`{ "type": "page", "name": "Home", "messageId": "m-2" }`,
		`{"batch":[{"type":"identify","userId":"u2","messageId":"m-3"},{"type":"screen","name":"S","messageId":"m-4"}],"sentAt":"2026-12-02T10:00:00Z"}`,
	}
	want := []string{
		`{"type":"track","event":"Signed In","userId":"u1","messageId":"m-1"}`,
		`{"type":"page","name":"Home","messageId":"m-2"}`,
		`{"type":"identify","userId":"u2","messageId":"m-3"}`,
		`{"type":"screen","name":"S","messageId":"m-4"}`,
	}
	for i, v := range values {
		mem := []byte("key-" + v)
		m := &kafka.Message{Topic: "t", Offset: int64(i), Key: mem[:4:4], Value: mem[4:]}
		if err := p.Handle(t.Context(), cl, m); err != nil {
			t.Fatal(err)
		}
		copy(mem, bytes.Repeat([]byte{0xff}, len(mem)))
	}
	p.Flush()
	timeout := time.After(10 * time.Second)
	for len(client.records()) < len(want) {
		select {
		case <-client.added:
		case <-timeout:
			t.Fatalf("%d of %d records delivered in 10 s", len(client.records()), len(want))
		}
	}
	got := client.records()
	for i := range got {
		got[i] = strings.TrimSuffix(got[i], "\n")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered after the consumer reused the memory:\n got %q\nwant %q", got, want)
	}
}
