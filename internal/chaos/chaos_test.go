//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

const (
	region  = "us-west-2"
	account = "123456789012" // where moto keeps what test/test keys create
	// dlqPartitions of the dead-letter topic.
	dlqPartitions = 3
	// reportMargin is kept from the test's deadline to write the report.
	reportMargin = 3 * time.Minute
)

// TestChaos is the chaos run; see the package doc.
func TestChaos(t *testing.T) {
	started := time.Now()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Clean(filepath.Join(wd, "..", ".."))
	runID := envOr("CHAOS_RUN_ID", started.UTC().Format("20060102-150405"))
	o, err := loadOptions(root, runID)
	if err != nil {
		t.Fatalf("chaos options: %v", err)
	}
	if err := os.MkdirAll(o.ReportDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// latest points at the newest run's report.
	latest := filepath.Join(o.ReportBase, "latest")
	_ = os.Remove(latest)
	_ = os.Symlink(runID, latest)
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-reportMargin))
		defer cancel()
	}
	names := newRunNames(runID)
	t.Logf("chaos run %s: %d events at %.0f/s over %s, %d kills, %d broker restart(s), %d storm(s); Kafka %s, moto %s; report in %s",
		runID, o.Events, o.Rate, o.Duration, o.Kills, o.BrokerRestarts, o.Storms, o.Kafka, o.AWS, o.ReportDir)

	binary := buildWorker(t, o)
	kcl, err := kgo.NewClient(kgo.SeedBrokers(o.Kafka), kgo.ClientID("chaos-admin"))
	if err != nil {
		t.Fatal(err)
	}
	defer kcl.Close()
	adm := kadm.NewClient(kcl)
	awsCfg := aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(o.AWS),
		HTTPClient:   &http.Client{Timeout: 60 * time.Second},
	}
	fh := firehose.NewFromConfig(awsCfg, func(fo *firehose.Options) { fo.Retryer = aws.NopRetryer{} })
	s3c := s3.NewFromConfig(awsCfg, func(so *s3.Options) { so.UsePathStyle = true })
	setUp(ctx, t, o, adm, fh, s3c, names)

	// The simulated Firehose in front of moto.
	faults := firehosesim.NewFaults(uint64(o.Seed))
	applyBaseline(faults, o)
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	fwd := newForwarder(runCtx, fh, names.Streams[:])
	hashSeed := maphash.MakeSeed()
	attr := newAttributor(hashSeed, names)
	fwd.onResend = attr.forwarderResent
	srv := firehosesim.New(firehosesim.Options{Streams: names.Streams[:], Sink: fwd, Faults: faults, Region: region, AccountID: account,
		Observer: attr.observe})
	ep, err := srv.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	mon, err := newMonitor(adm, names, o.Partitions, started, filepath.Join(o.ReportDir, "lag.csv"))
	if err != nil {
		t.Fatal(err)
	}
	monCtx, stopMon := context.WithCancel(ctx)
	monDone := make(chan struct{})
	go func() { defer close(monDone); mon.run(monCtx) }()
	defer func() { stopMon(); <-monDone }()

	workers, err := newWorkerSet(o, names, binary, ep.URL, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer workers.stopAll(5 * time.Second) // a no-op after the final stop
	for slot := range o.Workers {
		if _, err := workers.start(slot); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mon.waitFor(ctx, 90*time.Second, func(s *sample) bool { return s.complete && len(s.members) == o.Workers }); err != nil {
		t.Fatalf("the %d workers did not form a Stable group owning every partition within 90s (logs in %s): %v", o.Workers, workers.logDir, err)
	}
	t.Logf("%d workers joined; producing", o.Workers)

	led := newLedger(hashSeed)
	prod, err := newProducer(o, led, newSource(o, hashSeed), names.Topic)
	if err != nil {
		t.Fatal(err)
	}
	c := &chaos{o: o, start: time.Now(), workers: workers, mon: mon, faults: faults, attr: attr, logf: t.Logf,
		rng: rand.New(rand.NewPCG(uint64(o.Seed), 0xc4a05))}
	produceErr := make(chan error, 1)
	disruptErr := make(chan error, 1)
	stormErr := make(chan error, 1)
	go func() { produceErr <- prod.run(runCtx) }()
	go func() { disruptErr <- c.disrupt(runCtx) }()
	go func() { stormErr <- c.stormLoop(runCtx) }()
	progressDone := make(chan struct{})
	go func() { progress(runCtx, t, c, prod, srv, fwd, progressDone) }()

	rep := &report{Started: started, Options: o, Names: names, Command: envOr("CHAOS_COMMAND", strings.Join(os.Args, " "))}
	rep.Host, _ = os.Hostname()
	rep.Worker = envOr("CHAOS_WORKER_VERSION", "built from the working tree")
	errProduce := <-produceErr
	rep.ProduceSec = time.Since(c.start).Seconds()
	t.Logf("production done after %.0fs: %d acknowledged, %d failed", rep.ProduceSec, prod.acked.Load(), prod.failed.Load())
	if err := <-disruptErr; err != nil {
		t.Logf("disruptions ended early: %v", err)
	}
	if err := <-stormErr; err != nil {
		t.Logf("storms ended early: %v", err)
	}

	// Drain: every produced offset committed.
	drainStart := time.Now()
	ends := led.endOffsets()
	_, errDrain := mon.waitFor(ctx, o.DrainTimeout, func(s *sample) bool {
		for p, end := range ends {
			if s.committed[p] < end {
				return false
			}
		}
		return true
	})
	rep.DrainSec = time.Since(drainStart).Seconds()
	t.Logf("drained in %.0fs (err %v); stopping the workers", rep.DrainSec, errDrain)
	rep.Workers.FinalStop = workers.stopAll(30 * time.Second)
	// The group's final committed offsets, to tell lost records (committed,
	// never delivered) from ones the group never got to.
	var final map[int32]int64
	if s, err := mon.waitFor(ctx, 30*time.Second, func(*sample) bool { return true }); err == nil {
		final = s.committed
	} else if s := mon.latest(); s != nil {
		final = s.committed
	}
	stopRun()
	<-progressDone
	cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	if err := ep.Close(cctx); err != nil {
		t.Logf("closing the simulated Firehose: %v", err)
	}
	cancel()
	fwd.Close()

	// Verification, from S3 and the dead-letter topic.
	verifyStart := time.Now()
	if err := attr.fromLogs(workers.logDir, c.start, &mon.hist); err != nil {
		t.Errorf("reading the workers' logs for rebalances: %v", err)
	}
	vctx, cancelVerify := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancelVerify()
	for si, stream := range names.Streams {
		res, err := readStream(vctx, s3c, o.Bucket, stream, si, led, c.start, final, attr)
		if err != nil {
			t.Errorf("reading stream %s back: %v", stream, err)
		}
		rep.Streams = append(rep.Streams, res)
	}
	dl, err := readDLQ(vctx, o, adm, names, led, final)
	if err != nil {
		t.Errorf("reading the dead-letter topic: %v", err)
	}
	rep.VerifySec = time.Since(verifyStart).Seconds()

	rep.DeadLetters = dl
	rep.Produced = led.produced()
	rep.Lag = mon.stats()
	c.mu.Lock()
	rep.Disruptions = append([]disruption(nil), c.disruptions...)
	rep.Storms = append([]storm(nil), c.storms...)
	c.mu.Unlock()
	rep.Firehose = srv.Stats()
	rep.Forwarder = fwd.stats()
	rep.Workers.Incarnations = workers.incarnations()
	rep.Workers.UnexpectedExits = workers.unexpected()
	rep.Workers.Logs = workers.logDir
	rep.Finished = time.Now()
	rep.Seconds = rep.Finished.Sub(started).Seconds()
	rep.fill()
	led.mu.Lock()
	dupIDs := led.dupIDs
	led.mu.Unlock()
	rep.judge(errProduce, errDrain, dupIDs)
	md, err := rep.write(o.ReportDir)
	if err != nil {
		t.Errorf("writing the report: %v", err)
	}
	t.Logf("report: %s\n\n%s", filepath.Join(o.ReportDir, "report.md"), md)
	if rep.Result != "PASS" {
		t.Fatalf("chaos run failed:\n- %s", strings.Join(rep.Failures, "\n- "))
	}
	s := rep.Summary
	t.Logf("PASS: produced %d, delivered %d, missing %d, duplicates %d (%.3f%%), dead-lettered %v, max lag %d",
		s.Produced, s.Delivered, s.Missing, s.Duplicates, 100*s.DuplicateShare, s.DeadLettered, s.MaxLag)
}

// buildWorker builds ./worker into a temporary directory, unless
// CHAOS_WORKER_BIN names a binary to use instead.
func buildWorker(t *testing.T, o options) string {
	t.Helper()
	if bin := os.Getenv("CHAOS_WORKER_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	var flags []string
	if o.RaceWorker {
		flags = append(flags, "-race")
	}
	bin, err := itest.BuildWorker(t.TempDir(), flags...)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// setUp checks the services and creates the run's topics, bucket and
// delivery streams.
func setUp(ctx context.Context, t *testing.T, o options, adm *kadm.Client, fh *firehose.Client, s3c *s3.Client, names runNames) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if _, err := adm.ListBrokers(sctx); err != nil {
		t.Fatalf("Kafka does not answer at %s; run through scripts/chaos.sh, or start it with KAFKA_PORT=%s scripts/kafka.sh start: %v", o.Kafka, o.KafkaPort, err)
	}
	for _, tp := range []struct {
		name string
		n    int32
	}{{names.Topic, int32(o.Partitions)}, {names.DLQ, dlqPartitions}} {
		resp, err := adm.CreateTopic(sctx, tp.n, 1, nil, tp.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("creating topic %s: %v", tp.name, err)
		}
	}
	for {
		md, err := adm.Metadata(sctx, names.Topic, names.DLQ)
		ready := err == nil
		for _, name := range []string{names.Topic, names.DLQ} {
			td, ok := md.Topics[name]
			ready = ready && ok && td.Err == nil && len(td.Partitions) > 0
			for _, p := range td.Partitions {
				ready = ready && p.Err == nil && p.Leader >= 0
			}
		}
		if ready {
			break
		}
		if err := sleepUntil(sctx, time.Now().Add(200*time.Millisecond)); err != nil {
			t.Fatalf("topics %s and %s have no leaders: %v", names.Topic, names.DLQ, err)
		}
	}

	_, err := s3c.CreateBucket(sctx, &s3.CreateBucketInput{
		Bucket:                    aws.String(o.Bucket),
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(region)},
	})
	var owned *s3types.BucketAlreadyOwnedByYou
	var exists *s3types.BucketAlreadyExists
	if err != nil && !errors.As(err, &owned) && !errors.As(err, &exists) {
		t.Fatalf("moto does not answer at %s or cannot make bucket %s; run through scripts/chaos.sh, or start it with AWS_EMULATOR_PORT=%s scripts/aws.sh start: %v",
			o.AWS, o.Bucket, strings.TrimPrefix(o.AWS, "http://127.0.0.1:"), err)
	}
	for _, n := range names.Streams {
		_, err := fh.CreateDeliveryStream(sctx, &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String(n),
			DeliveryStreamType: fhtypes.DeliveryStreamTypeDirectPut,
			ExtendedS3DestinationConfiguration: &fhtypes.ExtendedS3DestinationConfiguration{
				BucketARN:      aws.String("arn:aws:s3:::" + o.Bucket),
				RoleARN:        aws.String("arn:aws:iam::" + account + ":role/firehose-delivery"),
				Prefix:         aws.String(n + "/"),
				BufferingHints: &fhtypes.BufferingHints{SizeInMBs: aws.Int32(1), IntervalInSeconds: aws.Int32(60)},
			},
		})
		if err != nil {
			t.Fatalf("creating delivery stream %s in moto: %v", n, err)
		}
	}
}

// progress logs a line every 15 s until ctx ends, then closes done.
func progress(ctx context.Context, t *testing.T, c *chaos, prod *producer, srv *firehosesim.Server, fwd *forwarder, done chan struct{}) {
	defer close(done)
	tk := time.NewTicker(15 * time.Second)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		st := srv.Stats()
		line := fmt.Sprintf("t=%.0fs produced %d/%d (acked %d)", c.since(), prod.handed.Load(), prod.count, prod.acked.Load())
		if s := c.mon.latest(); s != nil {
			line += fmt.Sprintf(", group %s %d members, lag %d", s.state, len(s.members), s.lag)
		}
		line += fmt.Sprintf(", firehose calls %d (throttled %d, partial %d, cut %d), moto calls %d records %d",
			st.Calls.Total(), st.Calls.Throttled, st.Calls.Partial, st.Calls.Dropped, fwd.calls.Load(), fwd.records.Load())
		t.Log(line)
	}
}
