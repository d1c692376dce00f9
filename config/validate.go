package config

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Validate reports every problem in c, each as "key: reason".
func (c *Config) Validate() error {
	v := &validator{}
	v.kafka(&c.Kafka)
	v.kafkaSecurity(&c.Kafka)
	v.sources(c.Sources)
	v.batch(&c.Batch)
	v.delivery(&c.Delivery)
	switch c.Delivery.OnAccessDenied {
	case AccessWait:
	case AccessDeadLetter:
		if c.Kafka.DLQTopic == "" {
			v.add("delivery.on_access_denied", "dead_letter needs kafka.dlq_topic")
		}
	default:
		v.add("delivery.on_access_denied", "must be %s or %s, got %q", AccessWait, AccessDeadLetter, c.Delivery.OnAccessDenied)
	}
	if c.Delivery.Backoff.MaxElapsed > 0 && c.Kafka.DLQTopic == "" {
		v.add("delivery.backoff.max_elapsed", "giving up on a batch needs kafka.dlq_topic to put it in; without one, leave it 0 so nothing is dropped")
	}
	if c.Memory.MaxBufferedBytes < MaxRecordBytes*2 {
		v.add("memory.max_buffered_bytes", "must be at least %d (two records of the largest size)", MaxRecordBytes*2)
	}
	if c.Memory.SoftLimit != 0 && c.Memory.SoftLimit < 2*c.Memory.MaxBufferedBytes {
		v.add("memory.soft_limit", "must be 0 (automatic) or at least twice memory.max_buffered_bytes (%d bytes): records, request bodies and the collector's room all live under it", 2*int64(c.Memory.MaxBufferedBytes))
	}
	if g := c.Memory.GCPercent; g != -1 && g < 10 {
		v.add("memory.gc_percent", "must be -1 (collections only near the soft limit) or at least 10, got %d", g)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		v.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "text":
	default:
		v.add("log.format", "must be auto, json or text, got %q", c.Log.Format)
	}
	if c.ShutdownTimeout <= 0 {
		v.add("shutdown_timeout", "must be positive")
	}

	return errors.Join(v.problems...)
}

type validator struct{ problems []error }

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// Bounds of kafka.commit_metadata_max_bytes: below the minimum not one range
// of finished offsets fits (commitmeta.MinBudget); above the maximum every
// commit of a partition grows to a size no broker default accepts.
const (
	minCommitMetadata = 16
	maxCommitMetadata = 1 << 20
)

func (v *validator) kafka(k *Kafka) {
	if len(k.Brokers) == 0 {
		v.add("kafka.brokers", "at least one broker address is required")
	}
	for i, b := range k.Brokers {
		if host, port, ok := strings.Cut(b, ":"); !ok || host == "" || port == "" {
			v.add(fmt.Sprintf("kafka.brokers[%d]", i), "want host:port, got %q", b)
		}
	}
	if k.GroupID == "" {
		v.add("kafka.group_id", "is required")
	}
	if k.DLQTopic != "" && !validTopic(k.DLQTopic) {
		v.add("kafka.dlq_topic", "%q is not a valid Kafka topic name", k.DLQTopic)
	}
	if k.StartOffset != StartEarliest && k.StartOffset != StartLatest {
		v.add("kafka.start_offset", "must be %s or %s, got %q", StartEarliest, StartLatest, k.StartOffset)
	}
	positive := map[string]Duration{
		"kafka.commit_interval":    k.CommitInterval,
		"kafka.session_timeout":    k.SessionTimeout,
		"kafka.rebalance_timeout":  k.RebalanceTimeout,
		"kafka.heartbeat_interval": k.HeartbeatInterval,
		"kafka.drain_timeout":      k.DrainTimeout,
		"kafka.fetch_max_wait":     k.FetchMaxWait,
	}
	for _, key := range slices.Sorted(maps.Keys(positive)) {
		if positive[key] <= 0 {
			v.add(key, "must be positive")
		}
	}
	if k.DrainTimeout >= k.SessionTimeout && k.SessionTimeout > 0 {
		v.add("kafka.drain_timeout", "must be shorter than kafka.session_timeout (%s): heartbeats stop while a revoked partition drains, and past the session timeout the broker drops the worker", k.SessionTimeout)
	}
	if k.DrainTimeout >= k.RebalanceTimeout && k.RebalanceTimeout > 0 {
		v.add("kafka.drain_timeout", "must be shorter than kafka.rebalance_timeout (%s), or the broker evicts the worker while it drains", k.RebalanceTimeout)
	}
	if k.HeartbeatInterval >= k.SessionTimeout && k.SessionTimeout > 0 {
		v.add("kafka.heartbeat_interval", "must be shorter than kafka.session_timeout (%s)", k.SessionTimeout)
	}
	if k.MaxPendingPerPartition < 1 {
		v.add("kafka.max_pending_per_partition", "must be at least 1, got %d", k.MaxPendingPerPartition)
	}
	if k.FetchMinBytes < 1 || k.FetchMinBytes > k.FetchMaxBytes {
		v.add("kafka.fetch_min_bytes", "must be at least 1 and at most kafka.fetch_max_bytes")
	}
	if m := k.CommitMetadataMaxBytes; m != 0 && (m < minCommitMetadata || m > maxCommitMetadata) {
		v.add("kafka.commit_metadata_max_bytes", "must be 0 (plain commits) or between %d and %d (the brokers' offset.metadata.max.bytes, 4096 by default), got %d", minCommitMetadata, maxCommitMetadata, m)
	}
	if k.FetchMaxBytes < 1<<20 {
		v.add("kafka.fetch_max_bytes", "must be at least 1MiB so the largest Kafka message fits")
	}
}

func (v *validator) sources(sources []Source) {
	if len(sources) == 0 {
		v.add("sources", "at least one source is required")
	}
	ids := map[string]int{}
	topics := map[string]string{}
	for i, s := range sources {
		p := fmt.Sprintf("sources[%d]", i)
		if s.ID == "" {
			v.add(p+".id", "is required (the Segment source ID)")
		} else if j, dup := ids[s.ID]; dup {
			v.add(p+".id", "%q is also the id of sources[%d]", s.ID, j)
		} else {
			ids[s.ID] = i
		}
		if len(s.Topics) == 0 {
			v.add(p+".topics", "at least one topic is required")
		}
		for j, t := range s.Topics {
			tp := fmt.Sprintf("%s.topics[%d]", p, j)
			switch {
			case !validTopic(t):
				v.add(tp, "%q is not a valid Kafka topic name", t)
			case topics[t] != "":
				v.add(tp, "topic %q is already read by %s; a topic belongs to one source", t, topics[t])
			default:
				topics[t] = p
			}
		}
		if s.Region == "" {
			v.add(p+".region", "is required")
		} else if !regionRE.MatchString(s.Region) {
			v.add(p+".region", "%q is not an AWS region name such as us-west-2", s.Region)
		}
		if s.RoleAddress != "" && !roleARNRE.MatchString(s.RoleAddress) {
			v.add(p+".role_address", "%q is not an IAM role ARN such as arn:aws:iam::123456789012:role/name", s.RoleAddress)
		}
		v.secretID(p, s)
		if s.Routing != RoutingAll && s.Routing != RoutingFirstMatch {
			v.add(p+".routing", "must be %s or %s, got %q", RoutingAll, RoutingFirstMatch, s.Routing)
		}
		v.sourceInputs(p, s)
		if len(s.MappedStreams) == 0 {
			v.add(p+".mapped_streams", "at least one event -> stream row is required")
		}
		aggregate := map[string]bool{}
		for j, m := range s.MappedStreams {
			mp := fmt.Sprintf("%s.mapped_streams[%d]", p, j)
			if prev, seen := aggregate[m.Stream]; seen && prev != m.Aggregate {
				v.add(mp+".aggregate", "rows of stream %q disagree on aggregate; set it the same on each", m.Stream)
			}
			aggregate[m.Stream] = m.Aggregate
			if strings.TrimSpace(m.Event) == "" {
				v.add(mp+".event", "is required (an event name, a type such as page, or *)")
			}
			if !streamRE.MatchString(m.Stream) {
				v.add(mp+".stream", "%q is not a Firehose delivery stream name (1-64 of a-z A-Z 0-9 _ . -)", m.Stream)
			}
		}
	}
}

// secretID checks the three sources of a source's secret ID: at most one,
// and only with a role to send it to. Like the SASL password, a file is
// checked for readability and an environment variable only for its name.
func (v *validator) secretID(p string, s Source) {
	var set []string
	for _, f := range []struct {
		key string
		on  bool
	}{{"secret_id", s.SecretID != ""}, {"secret_id_env", s.SecretIDEnv != ""}, {"secret_id_file", s.SecretIDFile != ""}} {
		if f.on {
			set = append(set, f.key)
		}
	}
	if len(set) == 0 {
		return
	}
	if s.RoleAddress == "" {
		for _, key := range set {
			v.add(p+"."+key, "is only used as the External ID of role_address, which is empty")
		}
		return
	}
	if len(set) > 1 {
		v.add(p+".secret_id", "the secret ID is given %d ways (%s); keep exactly one", len(set), strings.Join(set, ", "))
	}
	if s.SecretIDEnv != "" && !envNameRE.MatchString(s.SecretIDEnv) {
		// The value is not echoed: it may be the secret ID itself.
		v.add(p+".secret_id_env", "is not an environment variable name (letters, digits and _): it names the variable that holds the secret ID, not the secret ID")
	}
	v.readable(p+".secret_id_file", s.SecretIDFile)
}

// sourceInputs checks how a source reads its values. An empty envelope is
// auto, for configs built in code rather than loaded.
func (v *validator) sourceInputs(p string, s Source) {
	switch s.Envelope {
	case "", EnvelopeAuto:
	case EnvelopeNone:
		if s.EnvelopeMerge {
			v.add(p+".envelope_merge", "merges the fields of batch envelopes, which envelope: none does not split; set envelope: auto or drop envelope_merge")
		}
	default:
		v.add(p+".envelope", "must be %s or %s, got %q", EnvelopeAuto, EnvelopeNone, s.Envelope)
	}
	if s.DefaultType != "" && !slices.Contains(DefaultTypes, s.DefaultType) {
		v.add(p+".default_type", "must be empty or one of %s (lower case), got %q", strings.Join(DefaultTypes, ", "), s.DefaultType)
	}
}

func (v *validator) batch(b *Batch) {
	if b.MaxRecords < 1 || b.MaxRecords > MaxRecordsPerBatch {
		v.add("batch.max_records", "must be between 1 and %d, got %d", MaxRecordsPerBatch, b.MaxRecords)
	}
	if b.MaxBytes < MaxRecordBytes || b.MaxBytes > MaxBytesPerBatch {
		v.add("batch.max_bytes", "must be between %d and %d, got %d", MaxRecordBytes, MaxBytesPerBatch, b.MaxBytes)
	}
	if b.Linger <= 0 {
		v.add("batch.linger", "must be positive")
	}
}

func (v *validator) delivery(d *Delivery) {
	if d.MaxInFlight < 1 || d.MaxInFlight > 256 {
		v.add("delivery.max_in_flight", "must be between 1 and 256, got %d", d.MaxInFlight)
	}
	if d.RequestTimeout <= 0 {
		v.add("delivery.request_timeout", "must be positive")
	}
	b := d.Backoff
	if b.Initial <= 0 {
		v.add("delivery.backoff.initial", "must be positive")
	}
	if b.Max < b.Initial {
		v.add("delivery.backoff.max", "must be at least delivery.backoff.initial (%s)", b.Initial)
	}
	if b.Multiplier < 1 {
		v.add("delivery.backoff.multiplier", "must be at least 1, got %g", b.Multiplier)
	}
	if b.Jitter < 0 || b.Jitter > 1 {
		v.add("delivery.backoff.jitter", "must be between 0 and 1, got %g", b.Jitter)
	}
	if b.MaxElapsed < 0 {
		v.add("delivery.backoff.max_elapsed", "must be 0 (retry forever) or positive")
	}
}

var (
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d+$`)
	roleARNRE = regexp.MustCompile(`^arn:aws(-cn|-us-gov|-iso|-iso-b)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}$`)
	streamRE  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)
	topicRE   = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)
)

func validTopic(t string) bool {
	return utf8.ValidString(t) && topicRE.MatchString(t) && t != "." && t != ".."
}
