// Package preflight checks, before a worker is deployed, that the world its
// configuration describes exists and lets the worker in: the brokers answer
// with the configured TLS and SASL, every source topic and the dead-letter
// topic exist, the dead-letter topic accepts a write, every role can be
// assumed with its External ID, and every mapped delivery stream exists and
// is ACTIVE in its source's region.
//
// Callers may rely on: every check yields exactly one Result, in a stable
// order (Kafka, topics, dead-letter topic, then per source its AWS identity
// and its streams); a check that depends on a failed one is reported as
// skipped, not as a second problem; no Result, error or log line carries a
// secret (SASL password, secret ID, AWS keys). The connections are the
// worker's own (internal/kafkaconn, internal/awsclient), so what passes here
// is what the worker will use.
//
// The dead-letter check writes one probe record, so that "accepts writes" is
// proven rather than guessed from ACLs; it carries the header
// dlq.reason=preflight_probe so that readers of the dead-letter topic can
// tell it from a real dead letter and skip it.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/segmentio/kafka-go"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/awsclient"
	"github.com/firehose-worker/firehose-worker/internal/deadletter"
	"github.com/firehose-worker/firehose-worker/internal/kafkaconn"
)

// ProbeReason is the dlq.reason header of the probe record the dead-letter
// check writes.
const ProbeReason = deadletter.ReasonPreflightProbe

// Status is the outcome of one check.
type Status string

const (
	OK      Status = "ok"
	Failed  Status = "FAIL"
	Skipped Status = "skip"
)

// Result is one check: what was checked and what was found.
type Result struct {
	Status Status
	// Check names what was checked: "kafka", "topic events (source s1)".
	Check string
	// Detail is what was found, or the problem and where to look.
	Detail string
}

func (r Result) String() string { return fmt.Sprintf("%-4s  %s: %s", r.Status, r.Check, r.Detail) }

// Options tune Run. The zero value is usable.
type Options struct {
	// Timeout bounds each network check; 0 means 15s.
	Timeout time.Duration
	// WorkerID names the role sessions (CloudTrail) and the probe record.
	WorkerID string
	// Logger receives the connection's security warnings; nil discards them.
	Logger *slog.Logger
}

// Run performs every check and returns their results; err is nil only when
// every check passed, else it joins one error per failed check. The SASL
// password and the secret IDs that the configuration takes from the
// environment or files are read here, the secret IDs into cfg
// (Config.ResolveSecretID), as the worker reads them at start.
func Run(ctx context.Context, cfg *config.Config, opts Options) ([]Result, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 15 * time.Second
	}
	if opts.WorkerID == "" {
		opts.WorkerID = "preflight"
	}
	r := &runner{opts: opts, cfg: cfg}
	r.kafka(ctx)
	r.aws(ctx)
	var problems []error
	for _, res := range r.results {
		if res.Status == Failed {
			problems = append(problems, fmt.Errorf("%s: %s", res.Check, res.Detail))
		}
	}
	return r.results, errors.Join(problems...)
}

type runner struct {
	opts    Options
	cfg     *config.Config
	results []Result
}

func (r *runner) add(s Status, check, format string, args ...any) {
	r.results = append(r.results, Result{Status: s, Check: check, Detail: fmt.Sprintf(format, args...)})
}

func (r *runner) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.opts.Timeout)
}

// kafka checks the connection, then the topics and the dead-letter topic
// through one metadata request.
func (r *runner) kafka(ctx context.Context) {
	k := r.cfg.Kafka
	topics := r.cfg.Topics()
	skipRest := func(why string) {
		for _, s := range r.cfg.Sources {
			for _, t := range s.Topics {
				r.add(Skipped, topicCheck(t, s.ID), "not checked: %s", why)
			}
		}
		if k.DLQTopic != "" {
			r.add(Skipped, dlqCheck(k.DLQTopic), "not checked: %s", why)
		}
	}
	kc, err := kafkaconn.Build(ctx, k, r.opts.Logger)
	if err != nil {
		r.add(Failed, "kafka", "%v", err)
		skipRest("the Kafka connection could not be configured")
		return
	}
	security := fmt.Sprintf("tls=%s sasl=%s", onOff(kc.Dialer.TLS != nil), orOff(kc.Mechanism))
	cctx, cancel := r.bounded(ctx)
	err = kafkaconn.Check(cctx, k.Brokers, kc)
	cancel()
	if err != nil {
		r.add(Failed, "kafka", "%v (%s)", err, security)
		skipRest("no broker answered")
		return
	}
	client := &kafka.Client{Addr: kafka.TCP(k.Brokers...), Transport: kc.Transport, Timeout: r.opts.Timeout}
	want := topics
	if k.DLQTopic != "" {
		want = append(append([]string(nil), topics...), k.DLQTopic)
	}
	mctx, cancel := r.bounded(ctx)
	meta, err := client.Metadata(mctx, &kafka.MetadataRequest{Topics: want})
	cancel()
	if err != nil {
		r.add(Failed, "kafka", "connected, but the metadata request failed: %v (%s)", err, security)
		skipRest("the metadata request failed")
		return
	}
	r.add(OK, "kafka", "connected to %s, %d brokers in cluster %s (%s)", strings.Join(k.Brokers, ","), len(meta.Brokers), orUnknown(meta.ClusterID), security)
	found := map[string]kafka.Topic{}
	for _, t := range meta.Topics {
		found[t.Name] = t
	}
	for _, s := range r.cfg.Sources {
		for _, t := range s.Topics {
			if ok, detail := topicState(found, t); ok {
				r.add(OK, topicCheck(t, s.ID), "%s", detail)
			} else {
				r.add(Failed, topicCheck(t, s.ID), "%s", detail)
			}
		}
	}
	if k.DLQTopic != "" {
		r.dlq(ctx, client, found)
	}
}

func (r *runner) dlq(ctx context.Context, client *kafka.Client, found map[string]kafka.Topic) {
	name := r.cfg.Kafka.DLQTopic
	ok, detail := topicState(found, name)
	if !ok {
		r.add(Failed, dlqCheck(name), "%s (kafka.dlq_topic)", detail)
		return
	}
	pctx, cancel := r.bounded(ctx)
	defer cancel()
	now := time.Now().UTC()
	res, err := client.Produce(pctx, &kafka.ProduceRequest{
		Topic:        name,
		Partition:    found[name].Partitions[0].ID,
		RequiredAcks: kafka.RequireAll,
		Records: kafka.NewRecordReader(kafka.Record{
			Time:  now,
			Key:   kafka.NewBytes([]byte("firehose-worker-preflight")),
			Value: kafka.NewBytes(fmt.Appendf(nil, `{"preflight":%q,"time":%q}`, r.opts.WorkerID, now.Format(time.RFC3339))),
			Headers: []kafka.Header{
				{Key: deadletter.HeaderReason, Value: []byte(ProbeReason)},
				{Key: deadletter.HeaderMessage, Value: []byte("written by firehose-worker check --connect to prove the topic accepts writes; not a dead letter")},
				{Key: deadletter.HeaderTime, Value: []byte(now.Format(time.RFC3339))},
			},
		}),
	})
	if err == nil && res.Error != nil {
		err = res.Error
	}
	if err != nil {
		r.add(Failed, dlqCheck(name), "%s, but writing a probe record failed: %v (the worker needs WRITE on it)", detail, err)
		return
	}
	r.add(OK, dlqCheck(name), "%s; accepted a probe record (partition %d, offset %d, header %s=%s)",
		detail, found[name].Partitions[0].ID, res.BaseOffset, deadletter.HeaderReason, ProbeReason)
}

func topicState(found map[string]kafka.Topic, name string) (bool, string) {
	t, ok := found[name]
	switch {
	case !ok, errors.Is(t.Error, kafka.UnknownTopicOrPartition):
		return false, "does not exist"
	case t.Error != nil:
		return false, t.Error.Error()
	case len(t.Partitions) == 0:
		return false, "has no partitions"
	}
	return true, fmt.Sprintf("exists, %d partitions", len(t.Partitions))
}

// aws checks, per source, its identity (the role assumed with its External
// ID, or the default credentials), then each of its streams through that
// identity in its region. Sources sharing a region, role and External ID
// share one client, as in the worker, and are checked once.
func (r *runner) aws(ctx context.Context) {
	f := awsclient.New(awsclient.Options{WorkerID: r.opts.WorkerID})
	type identity struct {
		client *firehose.Client
		err    error
	}
	identities := map[awsclient.Key]*identity{}
	streams := map[string]bool{}
	for i := range r.cfg.Sources {
		err := r.cfg.ResolveSecretID(i)
		s := r.cfg.Sources[i] // after resolving: ExternalID needs the secret
		who := identityCheck(s)
		if err != nil {
			r.add(Failed, who, "%v", err)
			r.skipStreams(s, "the secret ID could not be read")
			continue
		}
		key := awsclient.Key{Region: s.Region, RoleARN: s.RoleAddress, ExternalID: s.ExternalID()}
		id, seen := identities[key]
		switch {
		case !seen:
			id = &identity{}
			identities[key] = id
			if id.client, id.err = f.Firehose(ctx, key, s.ID); id.err != nil {
				r.add(Failed, who, "%v", id.err)
			} else {
				id.err = r.identity(ctx, id.client, s, who)
			}
		case id.err != nil:
			r.add(Skipped, who, "not checked again: an earlier source with the same region, role and External ID failed")
		default:
			r.add(OK, who, "as checked for an earlier source with the same region, role and External ID")
		}
		if id.err != nil {
			r.skipStreams(s, "no AWS credentials for this source")
			continue
		}
		client := id.client
		for _, m := range s.MappedStreams {
			k := key.String() + "\x00" + m.Stream
			if streams[k] {
				continue
			}
			streams[k] = true
			r.stream(ctx, client, s, m.Stream)
		}
	}
}

func (r *runner) identity(ctx context.Context, client *firehose.Client, s config.Source, who string) error {
	cctx, cancel := r.bounded(ctx)
	defer cancel()
	creds, err := client.Options().Credentials.Retrieve(cctx)
	if err != nil {
		err = fmt.Errorf("%w%s", err, identityHint(s))
		r.add(Failed, who, "%v", err)
		return err
	}
	if s.RoleAddress == "" {
		r.add(OK, who, "default credentials (%s), no role", orUnknown(creds.Source))
		return nil
	}
	r.add(OK, who, "assumed with External ID from %s", externalIDFrom(s))
	return nil
}

func (r *runner) stream(ctx context.Context, client *firehose.Client, s config.Source, name string) {
	check := streamCheck(name, s)
	cctx, cancel := r.bounded(ctx)
	defer cancel()
	out, err := client.DescribeDeliveryStream(cctx, &firehose.DescribeDeliveryStreamInput{DeliveryStreamName: &name})
	var notFound *fhtypes.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		r.add(Failed, check, "does not exist in %s (a typo in mapped_streams, or another region or account?)", s.Region)
		return
	case err != nil:
		r.add(Failed, check, "DescribeDeliveryStream failed: %v", err)
		return
	}
	d := out.DeliveryStreamDescription
	if d.DeliveryStreamStatus != fhtypes.DeliveryStreamStatusActive {
		r.add(Failed, check, "is %s, not ACTIVE: PutRecordBatch is refused until it is", d.DeliveryStreamStatus)
		return
	}
	r.add(OK, check, "ACTIVE (%s)", d.DeliveryStreamType)
}

func (r *runner) skipStreams(s config.Source, why string) {
	seen := map[string]bool{}
	for _, m := range s.MappedStreams {
		if !seen[m.Stream] {
			seen[m.Stream] = true
			r.add(Skipped, streamCheck(m.Stream, s), "not checked: %s", why)
		}
	}
}

// identityHint points at the usual causes of a refused AssumeRole.
func identityHint(s config.Source) string {
	if s.RoleAddress == "" {
		return " (the worker's own AWS credentials: environment, web identity (IRSA), Pod Identity, ECS or EC2 role)"
	}
	return fmt.Sprintf(" (the role's trust policy must allow the worker's identity to call sts:AssumeRole with sts:ExternalId = the External ID from %s)", externalIDFrom(s))
}

// externalIDFrom says where the External ID comes from, never its value.
func externalIDFrom(s config.Source) string {
	if from := s.ExternalIDSource(); from != "source id" {
		return from
	}
	return "the source id " + s.ID
}

func topicCheck(topic, source string) string {
	return fmt.Sprintf("topic %s (source %s)", topic, source)
}
func dlqCheck(topic string) string { return "dead-letter topic " + topic }
func identityCheck(s config.Source) string {
	if s.RoleAddress == "" {
		return fmt.Sprintf("aws identity (source %s, %s)", s.ID, s.Region)
	}
	return fmt.Sprintf("role %s (source %s, %s)", s.RoleAddress, s.ID, s.Region)
}
func streamCheck(stream string, s config.Source) string {
	return fmt.Sprintf("stream %s (source %s, %s)", stream, s.ID, s.Region)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func orOff(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
