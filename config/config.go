// Package config holds the worker's configuration: its YAML shape, defaults,
// strict loading and validation.
//
// The keys under kafka (brokers, group_id, dlq_topic) and sources (id, topics,
// region, role_address, secret_id, mapped_streams) are a public contract that
// users and tests rely on; everything else has a default documented in
// example.yaml.
package config

import (
	"fmt"
	"strings"
	"time"
)

// Routing modes for a source.
const (
	// RoutingAll sends a message to every distinct stream whose row matches it.
	RoutingAll = "all"
	// RoutingFirstMatch sends a message to the streams of the most specific
	// matching rows only: event name first, then type, then "*".
	RoutingFirstMatch = "first_match"
)

// What to do with records a stream refuses for lack of access.
const (
	AccessWait       = "wait"
	AccessDeadLetter = "dead_letter"
)

// How a source reads values shaped as Segment's /v1/batch bodies.
const (
	// EnvelopeAuto splits a value that is an object with a top-level
	// "batch" array and no "type" into its messages.
	EnvelopeAuto = "auto"
	// EnvelopeNone reads every value as one message.
	EnvelopeNone = "none"
)

// DefaultTypes are the types default_type may name: Segment's six calls.
var DefaultTypes = []string{"track", "page", "identify", "group", "screen", "alias"}

// Start offsets for partitions that have no committed offset yet.
const (
	StartEarliest = "earliest"
	StartLatest   = "latest"
)

// Config is the whole worker configuration.
type Config struct {
	Kafka    Kafka    `yaml:"kafka"`
	Sources  []Source `yaml:"sources"`
	Batch    Batch    `yaml:"batch"`
	Delivery Delivery `yaml:"delivery"`
	Memory   Memory   `yaml:"memory"`
	Log      Log      `yaml:"log"`
	HTTP     HTTP     `yaml:"http"`
	// ShutdownTimeout bounds how long SIGTERM waits for in-flight records to be
	// acknowledged before the final commit.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
}

// Kafka configures the consumer group and the dead-letter producer.
type Kafka struct {
	Brokers  []string `yaml:"brokers"`
	GroupID  string   `yaml:"group_id"`
	DLQTopic string   `yaml:"dlq_topic"`
	ClientID string   `yaml:"client_id"`
	// StartOffset applies to partitions the group has never committed.
	StartOffset string `yaml:"start_offset"`
	// CommitInterval is how often acknowledged offsets are committed; commits
	// also happen when partitions are revoked and at shutdown.
	CommitInterval    Duration `yaml:"commit_interval"`
	SessionTimeout    Duration `yaml:"session_timeout"`
	RebalanceTimeout  Duration `yaml:"rebalance_timeout"`
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// DrainTimeout bounds how long a revoked partition waits for its in-flight
	// records before its acknowledged offset is committed and it is released.
	// It must stay below RebalanceTimeout or the broker evicts the worker.
	DrainTimeout Duration `yaml:"drain_timeout"`
	FetchMaxWait Duration `yaml:"fetch_max_wait"`
	// FetchMinBytes is how much a fetch waits for (up to FetchMaxWait)
	// before the broker answers. Each fetch has a fixed cost (a response
	// read in as many pieces as the broker sends, a hand-over per
	// partition) that dominates at the rates one Firehose stream takes:
	// at 5,000 events/s of ~1 KB on 12 partitions, 64 KiB cost 25.4 CPU-s
	// per million events, 256 KiB 16.9 and 512 KiB 15.1, p99 latency
	// 215, 249 and 300 ms (benchrun's latency phase). Latency stays bounded
	// by FetchMaxWait whatever this is: a light stream waits that long.
	FetchMinBytes ByteSize `yaml:"fetch_min_bytes"`
	// MaxPendingPerPartition bounds how far a partition reads ahead of its
	// oldest unacknowledged message. A crashed worker's next owner reads
	// that window again, so the bound is also the most a crash can
	// duplicate per partition.
	MaxPendingPerPartition int `yaml:"max_pending_per_partition"`
	// FetchMaxBytes bounds the bytes of fetched messages not yet handled
	// (the read-ahead), which live on top of memory.max_buffered_bytes. It
	// is split evenly among the topics the worker reads (at least 1 MiB
	// each), so a source whose deliveries are refused holds only its share.
	// When a stream is at its quota both are full, and with 10 MiB the
	// live heap sat a few MiB under the soft limit's goal: with 30% of
	// records also throttled, 93.75 CPU-s per million events against 37.10
	// with 4 MiB (live heap 51-54 MB against 38 MB), while a backlog reads
	// as fast with 4 MiB as with 10 (benchrun's worker and quota phases).
	FetchMaxBytes ByteSize `yaml:"fetch_max_bytes"`
	// CommitMetadataMaxBytes bounds the metadata written with each
	// partition's offset commit: the offsets beyond the committed one that
	// are already finished, which a next owner skips instead of re-sending.
	// It must not exceed the brokers' offset.metadata.max.bytes (4096 by
	// default), or they refuse the commits. 0 writes plain commits.
	CommitMetadataMaxBytes int `yaml:"commit_metadata_max_bytes"`
	// TLS and SASL secure the consumer's and the dead-letter producer's
	// connections alike; see security.go.
	TLS  TLS  `yaml:"tls"`
	SASL SASL `yaml:"sasl"`
}

// Source is one Segment source: its topics and where its events go.
type Source struct {
	ID          string   `yaml:"id"`
	Topics      []string `yaml:"topics"`
	Region      string   `yaml:"region"`
	RoleAddress string   `yaml:"role_address"`
	// SecretID replaces ID as the External ID when assuming RoleAddress.
	// It may instead come from SecretIDEnv (the name of an environment
	// variable) or SecretIDFile (a file holding only the secret ID, such as
	// a mounted Kubernetes Secret); at most one of the three is set, and
	// ResolveSecrets copies the other two into SecretID at start.
	SecretID      Secret    `yaml:"secret_id"`
	SecretIDEnv   string    `yaml:"secret_id_env"`
	SecretIDFile  string    `yaml:"secret_id_file"`
	MappedStreams []Mapping `yaml:"mapped_streams"`
	Routing       string    `yaml:"routing"`
	// Envelope is auto (the default) or none. With auto, a value shaped as
	// a /v1/batch body is split and each of its messages is routed,
	// framed and delivered on its own; its Kafka offset is committed once
	// every message has been delivered or dead-lettered. An item that is
	// not a deliverable message is dead-lettered alone, with its index in
	// the dlq.batch.index header.
	Envelope string `yaml:"envelope"`
	// EnvelopeMerge writes the envelope's "sentAt" into each of its
	// messages that has none, and its "context" members into each
	// message's context where the message lacks them, as Segment's API
	// does before a destination sees a message. Off (the default), each
	// record is its message exactly as written in the batch.
	EnvelopeMerge bool `yaml:"envelope_merge"`
	// DefaultType is the type assumed for a message without one (or with
	// a null one), for topics fed from one endpoint such as /v1/track;
	// the record then carries it as its last member. Empty (the default)
	// dead-letters such messages as missing_type.
	DefaultType string `yaml:"default_type"`
}

// ExternalID is the External ID sent with AssumeRole: the secret ID when set,
// else the source ID, as Segment's destination does. A secret ID given by
// secret_id_env or secret_id_file counts only once Config.ResolveSecrets has
// read it.
func (s Source) ExternalID() string {
	if s.SecretID != "" {
		return string(s.SecretID)
	}
	return s.ID
}

// Mapping is one row "event -> stream".
type Mapping struct {
	Event  string `yaml:"event"`
	Stream string `yaml:"stream"`
	// Aggregate packs several newline-terminated events into each Firehose
	// record (up to 1,000 KiB), which cuts Firehose's per-record billing
	// (5 KB steps) several times for small events. Only for destinations
	// that split records on newlines (S3, and what reads S3); every row of
	// the same stream must agree.
	Aggregate bool `yaml:"aggregate"`
}

// Batch bounds each PutRecordBatch call.
type Batch struct {
	MaxRecords int      `yaml:"max_records"`
	MaxBytes   ByteSize `yaml:"max_bytes"`
	// Linger is how long a partly filled batch waits for more records.
	Linger Duration `yaml:"linger"`
}

// Delivery tunes PutRecordBatch calls and their retries.
type Delivery struct {
	// MaxInFlight is the most concurrent PutRecordBatch calls per stream.
	MaxInFlight int `yaml:"max_in_flight"`
	// AdaptiveConcurrency moves each stream's concurrency between 1 and
	// MaxInFlight: up while calls go through, halved on throttling or a
	// latency spike, so it settles just under the stream's quota.
	AdaptiveConcurrency bool `yaml:"adaptive_concurrency"`
	// OnAccessDenied is what happens to the records of a stream the worker
	// may not write to (the role cannot be assumed, the stream denies
	// access): "wait" keeps them, retried with backoff, so only that
	// source's partitions stop while the others flow; "dead_letter" sends
	// them to kafka.dlq_topic.
	OnAccessDenied string   `yaml:"on_access_denied"`
	RequestTimeout Duration `yaml:"request_timeout"`
	Backoff        Backoff  `yaml:"backoff"`
}

// Backoff is the exponential backoff between attempts of one batch.
type Backoff struct {
	Initial    Duration `yaml:"initial"`
	Max        Duration `yaml:"max"`
	Multiplier float64  `yaml:"multiplier"`
	// Jitter is the randomization factor: each wait is drawn from
	// [interval*(1-jitter), interval*(1+jitter)].
	Jitter float64 `yaml:"jitter"`
	// MaxElapsed gives up on a batch after this long; 0 never gives up, which
	// is the default because giving up would drop data.
	MaxElapsed Duration `yaml:"max_elapsed"`
}

// Memory caps the bytes held by records that are buffered or in flight,
// and sets the Go runtime's soft memory limit.
type Memory struct {
	MaxBufferedBytes ByteSize `yaml:"max_buffered_bytes"`
	// SoftLimit is the runtime's soft limit (GOMEMLIMIT); 0 chooses one:
	// GOMEMLIMIT when set, else 90% of the cgroup's memory limit, else 2.25
	// times MaxBufferedBytes.
	SoftLimit ByteSize `yaml:"soft_limit"`
	// GCPercent is the collector's target percentage (GOGC, which wins
	// when set); -1 leaves collections to the soft limit alone.
	GCPercent int `yaml:"gc_percent"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// HTTP configures the listener for /healthz, /readyz and /metrics.
type HTTP struct {
	// Address to listen on; empty turns the listener off.
	Address string `yaml:"address"`
	Pprof   bool   `yaml:"pprof"`
	// StuckAfter turns /readyz unready when batches are in flight and no
	// message has finished for this long (Firehose refusing or throttling
	// everything). 0 disables the check.
	StuckAfter Duration `yaml:"stuck_after"`
}

// Default returns the configuration every loaded file starts from.
func Default() Config {
	return Config{
		Kafka: Kafka{
			GroupID:                "firehose-worker",
			ClientID:               "firehose-worker",
			StartOffset:            StartEarliest,
			CommitInterval:         Duration(250 * time.Millisecond),
			SessionTimeout:         Duration(30 * time.Second),
			RebalanceTimeout:       Duration(30 * time.Second),
			HeartbeatInterval:      Duration(500 * time.Millisecond),
			DrainTimeout:           Duration(20 * time.Second),
			FetchMaxWait:           Duration(250 * time.Millisecond),
			FetchMaxBytes:          4 << 20,
			FetchMinBytes:          512 << 10,
			MaxPendingPerPartition: 2000,
			CommitMetadataMaxBytes: 4096,
		},
		Batch: Batch{
			MaxRecords: MaxRecordsPerBatch,
			MaxBytes:   MaxBytesPerBatch,
			Linger:     Duration(200 * time.Millisecond),
		},
		Delivery: Delivery{
			MaxInFlight:         16,
			AdaptiveConcurrency: true,
			OnAccessDenied:      AccessWait,
			RequestTimeout:      Duration(30 * time.Second),
			Backoff: Backoff{
				Initial:    Duration(100 * time.Millisecond),
				Max:        Duration(10 * time.Second),
				Multiplier: 2,
				Jitter:     0.5,
			},
		},
		Memory:          Memory{MaxBufferedBytes: 32 << 20, GCPercent: 300},
		Log:             Log{Level: "info", Format: "auto"},
		HTTP:            HTTP{Address: "127.0.0.1:9464", StuckAfter: Duration(2 * time.Minute)},
		ShutdownTimeout: Duration(20 * time.Second),
	}
}

// Firehose service limits.
// https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html
const (
	MaxRecordsPerBatch = 500
	MaxBytesPerBatch   = 4 << 20
	// MaxRecordBytes is 1,000 KiB, the largest record Firehose accepts.
	MaxRecordBytes = 1000 * 1024
)

// Topics lists every topic of every source, in configuration order.
func (c *Config) Topics() []string {
	var out []string
	for _, s := range c.Sources {
		out = append(out, s.Topics...)
	}
	return out
}

// Summary describes the configuration in a few lines for `check` and the
// start log, with secrets masked.
func (c *Config) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kafka: brokers=%s group=%s", strings.Join(c.Kafka.Brokers, ","), c.Kafka.GroupID)
	if c.Kafka.DLQTopic != "" {
		fmt.Fprintf(&b, " dlq=%s", c.Kafka.DLQTopic)
	}
	b.WriteString(c.Kafka.securitySummary())
	b.WriteByte('\n')
	for _, s := range c.Sources {
		fmt.Fprintf(&b, "source %s: topics=%s region=%s routing=%s", s.ID, strings.Join(s.Topics, ","), s.Region, s.Routing)
		if s.RoleAddress != "" {
			fmt.Fprintf(&b, " role=%s external_id=%s", s.RoleAddress, maskedExternalID(s))
		}
		b.WriteString(s.inputSummary())
		b.WriteByte('\n')
		for _, m := range s.MappedStreams {
			fmt.Fprintf(&b, "  %q -> %s\n", m.Event, m.Stream)
		}
	}
	return b.String()
}

// ExternalIDSource says where the External ID comes from, never what it is:
// "secret_id_env NAME", "secret_id_file PATH", "secret_id" or "source id".
func (s Source) ExternalIDSource() string {
	switch {
	case s.SecretIDEnv != "":
		return "secret_id_env " + s.SecretIDEnv
	case s.SecretIDFile != "":
		return "secret_id_file " + s.SecretIDFile
	case s.SecretID != "":
		return "secret_id"
	}
	return "source id"
}

// maskedExternalID is the External ID for Summary: masked when written in
// the file, else where it comes from.
func maskedExternalID(s Source) string {
	if s.SecretIDEnv == "" && s.SecretIDFile == "" && s.SecretID != "" {
		return s.SecretID.String()
	}
	return s.ExternalIDSource()
}

// inputSummary names the input settings that differ from the defaults.
func (s Source) inputSummary() string {
	var out string
	if s.Envelope == EnvelopeNone {
		out += " envelope=none"
	}
	if s.EnvelopeMerge {
		out += " envelope_merge=true"
	}
	if s.DefaultType != "" {
		out += " default_type=" + s.DefaultType
	}
	return out
}
