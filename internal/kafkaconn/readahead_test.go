package kafkaconn

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// TestReadAheadDialerReadsEveryByte reads several fetch responses larger
// than the read-ahead buffer through the built dialer and checks every
// message byte for byte, so a buffer that dropped or reordered bytes would
// break the Kafka framing or a value.
func TestReadAheadDialerReadsEveryByte(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "big")
	msgs := make([]itest.Msg, 1500)
	for i := range msgs {
		// Values of odd, varying sizes so messages straddle buffer refills.
		msgs[i] = itest.Msg{Value: bytes.Repeat([]byte{byte('a' + i%26)}, 700+i%997)}
		copy(msgs[i].Value, fmt.Sprintf("%06d", i))
	}
	k.Produce(t, "big", msgs)

	c, err := Build(context.Background(), config.Kafka{ClientID: "fhw"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Brokers, Topic: "big", Partition: 0, Dialer: c.Dialer, MaxBytes: 1 << 20})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range msgs {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.Offset != int64(i) || !bytes.Equal(m.Value, msgs[i].Value) {
			t.Fatalf("message %d (offset %d) differs from what was produced", i, m.Offset)
		}
	}
}
