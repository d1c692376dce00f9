package kafkaconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/checkpoint"
	"github.com/firehose-worker/firehose-worker/internal/consume"
)

// countingHandler finishes every message and closes done at the n-th.
type countingHandler struct {
	mu   sync.Mutex
	seen map[string]bool
	n    int
	done chan struct{}
}

func (h *countingHandler) Handle(_ context.Context, c *consume.Claim, m *kafka.Message) error {
	c.Tracker.Track(m.Offset, 1, 0).Done()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen[string(m.Value)] = true
	if len(h.seen) == h.n {
		close(h.done)
	}
	return nil
}

func (h *countingHandler) Flush() {}

// TestConsumerFetchesOverTLSAndSCRAM runs the consumer group, its fetches
// and its commits through the dialer Build makes, against a broker that
// only speaks TLS with SCRAM-SHA-512: the fetch transport must carry the
// dialer's TLS configuration and SASL mechanism.
func TestConsumerFetchesOverTLSAndSCRAM(t *testing.T) {
	t.Parallel()
	p := newPKI(t)
	const password = "correct-horse-battery"
	broker := cluster(t, p, password)
	k := config.Kafka{
		TLS:  config.TLS{Enabled: true, CAFile: p.caFile},
		SASL: config.SASL{Mechanism: config.SASLScramSHA512, Username: "alice", PasswordFile: writeFile(t, password+"\n")},
	}
	conn, err := Build(context.Background(), k, nil)
	if err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DialTLSConfig(&tls.Config{RootCAs: poolOf(p.ca), MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: "alice", Pass: password}.AsSha512Mechanism()), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, err := kadm.NewClient(prod).CreateTopic(context.Background(), 3, 1, nil, "events"); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for i := range n {
		if err := prod.ProduceSync(context.Background(), &kgo.Record{Value: fmt.Appendf(nil, "m%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	h := &countingHandler{seen: map[string]bool{}, n: n, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- consume.New(consume.Options{
			Brokers: []string{broker}, GroupID: "g", Topics: []string{"events"}, Dialer: conn.Dialer, Transport: conn.Transport,
			StartOffset: kafka.FirstOffset, CommitInterval: 100 * time.Millisecond, SessionTimeout: 10 * time.Second,
			RebalanceTimeout: 10 * time.Second, HeartbeatInterval: time.Second, DrainTimeout: time.Second, ShutdownTimeout: time.Second,
			FetchMaxWait: 100 * time.Millisecond, FetchMaxBytes: 1 << 20,
			OnFinish: func(string) func(*checkpoint.Message) { return nil },
		}, h).Run(ctx)
	}()
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("read %d of %d messages over TLS + SCRAM", len(h.seen), n)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
