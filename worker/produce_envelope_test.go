package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/firehose-worker/firehose-worker/internal/itest"
	"github.com/firehose-worker/firehose-worker/internal/segment"
)

// TestProduceSendsBatchEnvelopes: with --envelope each Kafka value is a
// /v1/batch body of --envelope-size messages that the worker splits into
// messages it can route; --count counts envelopes.
func TestProduceSendsBatchEnvelopes(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "batches")
	var out, errb bytes.Buffer
	code := cli(context.Background(), []string{"produce", "--brokers", k.Brokers[0], "--topic", "batches", "--count", "4", "--seed", "3", "--envelope", "--envelope-size", "5"}, &out, &errb)
	if code != 0 {
		t.Fatalf("produce --envelope = %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "produced 4 messages") || !strings.Contains(out.String(), "in envelopes of 5") {
		t.Errorf("summary line %q", out.String())
	}
	recs := k.Consume(t, "batches")
	if len(recs) != 4 {
		t.Fatalf("topic holds %d values, want 4", len(recs))
	}
	var s segment.Splitter
	var d segment.Decoder
	for _, r := range recs {
		typed := 0
		env, ok := s.Split(r.Value, &d, func(_ int, it segment.Item) {
			if it.Err == nil && len(it.Msg.Type) > 0 {
				typed++
			}
		})
		if !ok || len(env.Items) != 5 || typed != 5 || len(env.SentAt) == 0 {
			t.Errorf("value is not an envelope of 5 Segment messages (split %v, %d items, %d typed): %.200s", ok, len(env.Items), typed, r.Value)
		}
		if len(r.Key) == 0 {
			t.Errorf("envelope has no key; want its first message's")
		}
	}

	errb.Reset()
	if code := cli(context.Background(), []string{"produce", "--envelope", "--envelope-size", "0"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--envelope-size must be at least 1") {
		t.Errorf("--envelope-size 0 = %d, stderr %q", code, errb.String())
	}
}
