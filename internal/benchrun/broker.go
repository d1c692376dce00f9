package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
)

// broker is the Kafka cluster the benchmark runs against.
type broker struct {
	// Kind is "apache-kafka <version>" or "kfake".
	Kind string
	Addr string
	// PID is the broker's process, for its CPU time; 0 when unknown.
	PID   int
	stop  func() error
	notes []string
}

// brokerOptions choose and place the broker.
type brokerOptions struct {
	// Mode is auto (Apache Kafka when Java is there, else kfake), kafka or
	// kfake.
	Mode string
	// Root is the repository root (where scripts/kafka.sh lives).
	Root string
	// Port is the client port of the broker.
	Port int
	// Keep leaves the Apache Kafka data directory in place at the end.
	Keep bool
	// Self is this program, started as `benchrun broker` for kfake.
	Self string
	Log  io.Writer
}

// startBroker starts a fresh single-node cluster: the real Apache Kafka of
// scripts/kafka.sh on its own port and data directory when Java is
// available, else a kfake broker in a `benchrun broker` subprocess.
func startBroker(ctx context.Context, opts brokerOptions) (*broker, error) {
	_, javaErr := exec.LookPath("java")
	switch {
	case opts.Mode == "kafka" || (opts.Mode == "auto" && javaErr == nil):
		return startApacheKafka(ctx, opts)
	case opts.Mode == "kfake" || opts.Mode == "auto":
		b, err := startKfake(ctx, opts)
		if err == nil && javaErr != nil {
			b.notes = append(b.notes, "java not found: using franz-go kfake instead of Apache Kafka; its figures are not comparable with a real broker's")
		}
		return b, err
	default:
		return nil, fmt.Errorf("broker mode %q: want auto, kafka or kfake", opts.Mode)
	}
}

func startApacheKafka(ctx context.Context, opts brokerOptions) (*broker, error) {
	script := filepath.Join(opts.Root, "scripts", "kafka.sh")
	dataDir := filepath.Join(opts.Root, ".cache", "kafka", "bench-"+strconv.Itoa(opts.Port))
	env := []string{
		"KAFKA_PORT=" + strconv.Itoa(opts.Port),
		"KAFKA_DATA_DIR=" + dataDir,
		// Full C2 JIT: kafka.sh's C1-only default suits short tests, not a
		// throughput benchmark (its header says so).
		"KAFKA_JVM_FLAGS=",
	}
	run := func(ctx context.Context, args ...string) error {
		cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
		return cmd.Run()
	}
	// A fresh cluster every time: stop a leftover broker on this data dir
	// and drop its data, so the topic holds exactly this run's events.
	_ = run(ctx, "stop")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	if err := run(ctx, "start"); err != nil {
		return nil, fmt.Errorf("scripts/kafka.sh start: %w", err)
	}
	b := &broker{Kind: "apache-kafka " + kafkaVersion(opts.Root), Addr: "127.0.0.1:" + strconv.Itoa(opts.Port)}
	// kafka.sh execs the JVM from the process that wrote the pid file.
	if pid, err := os.ReadFile(filepath.Join(dataDir, "kafka.pid")); err == nil {
		b.PID, _ = strconv.Atoi(strings.TrimSpace(string(pid)))
	}
	b.stop = func() error {
		// Stopping must work after ctx ended (Ctrl-C), hence its own context.
		sctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		err := run(sctx, "stop")
		if !opts.Keep {
			err = errors.Join(err, os.RemoveAll(dataDir))
		}
		return err
	}
	return b, nil
}

// kafkaVersion reads the broker version from the cached jar names.
func kafkaVersion(root string) string {
	jars, _ := filepath.Glob(filepath.Join(root, ".cache", "kafka", "libs-*", "kafka_2.13-*.jar"))
	for _, j := range jars {
		v := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(j), "kafka_2.13-"), ".jar")
		if !strings.Contains(v, "-") { // skip -test and -sources jars
			return v
		}
	}
	return "(version unknown)"
}

func startKfake(ctx context.Context, opts brokerOptions) (*broker, error) {
	addr := "127.0.0.1:" + strconv.Itoa(opts.Port)
	lines := make(chan string, 4)
	p, err := startProc(procOptions{
		Name: "kfake broker", Path: opts.Self, Args: []string{"broker", "--addr", addr},
		Log: opts.Log, Lines: lines,
	})
	if err != nil {
		return nil, err
	}
	select {
	case _, ok := <-lines:
		if !ok {
			p.Stop(time.Second)
			return nil, fmt.Errorf("kfake broker exited: %v", p.Err())
		}
	case <-ctx.Done():
		p.Stop(5 * time.Second)
		return nil, ctx.Err()
	}
	go func() {
		for range lines { // keep its stdout drained
		}
	}()
	return &broker{Kind: "kfake", Addr: addr, PID: p.pid(), stop: func() error {
		p.Stop(10 * time.Second)
		return nil
	}}, nil
}

// cmdBroker serves a single in-memory kfake broker until SIGTERM.
func cmdBroker(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:19392", "listen address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, portText, err := net.SplitHostPort(*addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.Ports(port), kfake.AllowAutoTopicCreation())
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Fprintln(stdout, "ready", *addr)
	<-ctx.Done()
	return nil
}

// createTopic creates topic with the given partitions (an existing one is
// an error: every run starts on a fresh cluster) and waits until every
// partition takes writes. Metadata lists a new topic's partitions, and then
// their leaders, before the leader has opened the partition's log;
// producing then fails with "Not Leader For Partition", the more so the
// more partitions and the busier the machine. ListOffsets is answered by
// the leader from its log, so once it succeeds for every partition the
// topic is ready.
func createTopic(ctx context.Context, addr, topic string, partitions int) error {
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 30 * time.Second}
	resp, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: partitions, ReplicationFactor: 1}},
	})
	if err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	if err := resp.Errors[topic]; err != nil {
		return fmt.Errorf("creating topic %q: %w", topic, err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := topicReady(ctx, client, topic, partitions)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for topic %q: %w", topic, err)
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// topicReady checks that every partition of topic has a leader that
// answers ListOffsets for it.
func topicReady(ctx context.Context, client *kafka.Client, topic string, partitions int) error {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return err
	}
	if len(md.Topics) != 1 || md.Topics[0].Error != nil || len(md.Topics[0].Partitions) != partitions || !allLed(md.Topics[0].Partitions) {
		return errors.New("not every partition has a leader yet")
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return err
	}
	if got := len(resp.Topics[topic]); got != partitions {
		return fmt.Errorf("offsets of %d of %d partitions", got, partitions)
	}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return fmt.Errorf("partition %d: %w", po.Partition, po.Error)
		}
	}
	return nil
}

func allLed(parts []kafka.Partition) bool {
	for _, p := range parts {
		if p.Error != nil || p.Leader.Host == "" {
			return false
		}
	}
	return true
}

// endOffsets returns the sum of the high watermarks of topic's partitions.
func endOffsets(ctx context.Context, addr, topic string, partitions int) (int64, error) {
	client := &kafka.Client{Addr: kafka.TCP(addr), Timeout: 30 * time.Second}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := client.ListOffsets(ctx, req)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return 0, po.Error
		}
		sum += po.LastOffset
	}
	return sum, nil
}
