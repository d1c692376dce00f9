package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// Options configure a Sandbox. DataDir, Topics and Group are required.
type Options struct {
	// KafkaAddr is where the broker listens, host:port; port 0 picks a
	// free one. The broker advertises this address to clients, so it must
	// be one they can dial. Default 127.0.0.1:9092.
	KafkaAddr string
	// FirehoseAddr is where the Firehose endpoint listens; port 0 picks a
	// free one. Default 127.0.0.1:4573.
	FirehoseAddr string
	// DataDir receives <stream>/YYYY/MM/DD/HH/<stream>-1-<time>-<uuid>
	// files of newline-terminated records.
	DataDir string
	// FlushInterval is the longest a record waits before its file is
	// written (Firehose's buffer interval). Default 1s.
	FlushInterval time.Duration
	// Topics are created at start with Partitions partitions each; topics
	// a client asks for later are created on first use with as many.
	Topics     []string
	Partitions int32
	// Group is the worker's consumer group, whose lag Observe reports.
	Group string
}

// Defaults of Options.
const (
	DefaultKafkaAddr     = "127.0.0.1:9092"
	DefaultFirehoseAddr  = "127.0.0.1:4573"
	DefaultFlushInterval = time.Second
	DefaultPartitions    = 4
)

// Sandbox is a running broker and Firehose endpoint. Build it with Start and
// stop it with Close, after the worker that uses it has stopped.
type Sandbox struct {
	opts     Options
	cluster  *kfake.Cluster
	brokers  []string
	client   *kgo.Client
	admin    *kadm.Client
	sim      *firehosesim.Server
	sink     *firehosesim.DirSink
	endpoint *firehosesim.Endpoint
}

// Start starts the broker and the endpoint. On error nothing is left
// running.
func Start(opts Options) (_ *Sandbox, err error) {
	opts.KafkaAddr = cmp.Or(opts.KafkaAddr, DefaultKafkaAddr)
	opts.FirehoseAddr = cmp.Or(opts.FirehoseAddr, DefaultFirehoseAddr)
	opts.FlushInterval = cmp.Or(opts.FlushInterval, DefaultFlushInterval)
	opts.Partitions = cmp.Or(opts.Partitions, DefaultPartitions)
	switch {
	case opts.DataDir == "":
		return nil, errors.New("sandbox: no data directory")
	case len(opts.Topics) == 0:
		return nil, errors.New("sandbox: no topics")
	case opts.Group == "":
		return nil, errors.New("sandbox: no consumer group")
	}

	s := &Sandbox{opts: opts}
	defer func() {
		if err != nil {
			s.abandon()
		}
	}()
	if s.cluster, err = startBroker(opts.KafkaAddr, opts.Partitions, opts.Topics); err != nil {
		return nil, err
	}
	s.brokers = s.cluster.ListenAddrs()
	if s.client, err = kgo.NewClient(kgo.SeedBrokers(s.brokers...)); err != nil {
		return nil, fmt.Errorf("sandbox: admin client: %w", err)
	}
	s.admin = kadm.NewClient(s.client)

	s.sink, err = firehosesim.NewDirSink(firehosesim.DirOptions{Dir: opts.DataDir, BufferInterval: opts.FlushInterval})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// AutoCreate: the worker's streams come from its config, which the
	// sandbox does not want to repeat; any valid name exists on first use.
	s.sim = firehosesim.New(firehosesim.Options{AutoCreate: true, Sink: s.sink})
	if s.endpoint, err = s.sim.Start(opts.FirehoseAddr); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return s, nil
}

// Brokers are the broker's addresses, for the worker and for producers.
func (s *Sandbox) Brokers() []string { return s.brokers }

// FirehoseURL is the endpoint's base URL, for AWS_ENDPOINT_URL_FIREHOSE.
func (s *Sandbox) FirehoseURL() string { return s.endpoint.URL }

// DataDir is where records land.
func (s *Sandbox) DataDir() string { return s.opts.DataDir }

// FlushInterval is the longest a record waits before it is in a file.
func (s *Sandbox) FlushInterval() time.Duration { return s.opts.FlushInterval }

// Partitions is the partition count of the sandbox's topics.
func (s *Sandbox) Partitions() int32 { return s.opts.Partitions }

// Faults are the endpoint's injected failures (none by default), for
// watching the worker retry.
func (s *Sandbox) Faults() *firehosesim.Faults { return s.sim.Faults() }

// Final is what a Sandbox did, read as it closes.
type Final struct {
	// Streams are the files written, by stream name.
	Streams map[string]firehosesim.DirTotals
	// Kafka is the state of the topics when the broker stopped: messages
	// the group had not consumed are lost with the in-memory broker.
	Kafka KafkaState
}

// Close stops the endpoint (waiting for calls in progress), writes every
// buffered record to its file, reads the final lag and stops the broker.
// Call it after the worker has stopped, so every acknowledged record is in
// a file when Close returns. The error reports what could not be flushed.
func (s *Sandbox) Close(ctx context.Context) (Final, error) {
	var errs []error
	if err := s.endpoint.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.sink.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	final := Final{Streams: s.sink.Totals()}
	kctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	final.Kafka = s.Kafka(kctx)
	cancel()
	s.client.Close()
	s.cluster.Close()
	return final, errors.Join(errs...)
}

// abandon releases what a failed Start had built.
func (s *Sandbox) abandon() {
	if s.endpoint != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = s.endpoint.Close(ctx)
		cancel()
	}
	if s.sink != nil {
		_ = s.sink.Close(context.Background())
	}
	if s.client != nil {
		s.client.Close()
	}
	if s.cluster != nil {
		s.cluster.Close()
	}
}
