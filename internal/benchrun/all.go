package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

// allOptions are the knobs of `benchrun all`; each flag defaults to a
// BENCH_* environment variable so scripts/bench.sh and `make bench` can
// pass them through.
type allOptions struct {
	Events         int64
	Partitions     int
	BrokerMode     string
	KafkaPort      int
	WorkerBin      string
	OutDir         string
	ReportBase     string
	WorkDir        string
	LatencyRate    float64
	LatencySeconds int
	LatencyWarmup  int
	Linger         time.Duration
	QuotaRecords   float64
	QuotaBytes     float64
	QuotaSeconds   int
	QuotaWarmup    int
	FailFraction   float64
	ProfileSeconds int
	// ConsumeProfile is how long a CPU profile of the consume-only run
	// lasts; off by default, since profiling costs the run it measures.
	ConsumeProfile int
	Phases         string
	Keep           bool
	// The partitions phase: the counts compared, the events on each
	// count's topic, the idle window, and whether the worker also runs the
	// fan-out mapping there. 600,000 events: with 200,000 a 192-partition
	// topic held about a thousand events a partition, its backlog lasted
	// two seconds, and the 192/12 ratio of the same code ranged from 1.12x
	// to 1.57x between runs; with 600,000, 0.83x and 0.90x.
	PartitionCounts []int
	PartitionEvents int64
	IdleSeconds     int
	// PartitionRuns is how many times the consume-only worker reads each
	// partition count's backlog; the counts take turns, and the target is
	// judged on the medians.
	PartitionRuns   int
	PartitionFanOut bool
}

func parseAllOptions(args []string) (allOptions, error) {
	var o allOptions
	fs := flag.NewFlagSet("all", flag.ContinueOnError)
	fs.Int64Var(&o.Events, "events", envInt("BENCH_EVENTS", 1_000_000), "events in the dataset (BENCH_EVENTS)")
	fs.IntVar(&o.Partitions, "partitions", int(envInt("BENCH_PARTITIONS", 12)), "partitions of the topic")
	fs.StringVar(&o.BrokerMode, "broker", envString("BENCH_BROKER", "auto"), "auto | kafka | kfake (BENCH_BROKER)")
	fs.IntVar(&o.KafkaPort, "kafka-port", int(envInt("BENCH_KAFKA_PORT", 19392)), "broker port (BENCH_KAFKA_PORT)")
	fs.StringVar(&o.WorkerBin, "worker-bin", envString("BENCH_WORKER_BIN", ""), "worker binary; empty builds ./worker")
	fs.StringVar(&o.OutDir, "out-dir", "scripts", "where bench-report-<date>.{md,json} go")
	fs.StringVar(&o.ReportBase, "report", "", "report path without .md/.json; overrides --out-dir")
	fs.StringVar(&o.WorkDir, "work-dir", ".cache/bench", "logs, configs, profiles and S3 objects of the run")
	fs.Float64Var(&o.LatencyRate, "latency-rate", float64(envInt("BENCH_LATENCY_RATE", 5000)), "events/s of the latency phase")
	fs.IntVar(&o.LatencySeconds, "latency-seconds", int(envInt("BENCH_LATENCY_SECONDS", 20)), "length of the measured latency phase")
	fs.IntVar(&o.LatencyWarmup, "latency-warmup", int(envInt("BENCH_LATENCY_WARMUP", 10)), "seconds produced at the same rate before measuring (new topic, producer and broker warm-up)")
	fs.DurationVar(&o.Linger, "linger", 200*time.Millisecond, "the worker's batch.linger (its default), for the latency target")
	fs.Float64Var(&o.QuotaRecords, "quota-records", float64(envInt("BENCH_QUOTA_RECORDS", 10_000)), "per-stream quota, records/s")
	fs.Float64Var(&o.QuotaBytes, "quota-bytes", float64(envInt("BENCH_QUOTA_BYTES", 10<<20)), "per-stream quota, bytes/s")
	fs.IntVar(&o.QuotaSeconds, "quota-seconds", int(envInt("BENCH_QUOTA_SECONDS", 30)), "length of each quota run after the first ack")
	fs.IntVar(&o.QuotaWarmup, "quota-warmup", 5, "seconds after the first ack left out of goodput (the bucket's 1 s burst, ramp-up)")
	fs.Float64Var(&o.FailFraction, "fail-fraction", 0.3, "share of records throttled one by one in the fault run")
	fs.IntVar(&o.ProfileSeconds, "profile-seconds", int(envInt("BENCH_PROFILE_SECONDS", 20)), "CPU profile of the worker during the end-to-end run; 0 turns it off")
	fs.IntVar(&o.ConsumeProfile, "consume-only-profile", int(envInt("BENCH_CONSUME_ONLY_PROFILE", 0)), "seconds of CPU profile of the consume-only run (it then measures a profiled worker); 0 turns it off")
	fs.StringVar(&o.Phases, "phases", envString("BENCH_PHASES", "consume,batchref,consumeonly,sdk,worker,latency,quota,aggregate,partitions"), "phases to run (BENCH_PHASES)")
	counts := fs.String("partition-counts", envString("BENCH_PARTITION_COUNTS", "12,192"), "partition counts compared by the partitions phase (BENCH_PARTITION_COUNTS)")
	fs.Int64Var(&o.PartitionEvents, "partition-events", envInt("BENCH_PARTITION_EVENTS", 600_000), "events on each topic of the partitions phase (BENCH_PARTITION_EVENTS)")
	fs.IntVar(&o.PartitionRuns, "partition-runs", int(envInt("BENCH_PARTITION_RUNS", 3)), "backlog runs of the consume-only worker per partition count, taking turns; the scaling target uses their medians (BENCH_PARTITION_RUNS)")
	fs.IntVar(&o.IdleSeconds, "idle-seconds", int(envInt("BENCH_IDLE_SECONDS", 20)), "idle window of the partitions phase (BENCH_IDLE_SECONDS)")
	fs.BoolVar(&o.PartitionFanOut, "partition-fanout", os.Getenv("BENCH_PARTITION_FANOUT") != "0", "the partitions phase also runs the worker with the fan-out mapping (BENCH_PARTITION_FANOUT=0 skips it)")
	fs.BoolVar(&o.Keep, "keep", os.Getenv("BENCH_KEEP") == "1", "keep the Kafka data and S3 objects (BENCH_KEEP=1)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.Events <= 0 || o.Partitions <= 0 || o.PartitionEvents <= 0 || o.IdleSeconds <= 0 || o.PartitionRuns <= 0 {
		return o, errors.New("events, partitions, partition events, partition runs and idle seconds must be positive")
	}
	var err error
	if o.PartitionCounts, err = parseCounts(*counts); err != nil {
		return o, err
	}
	return o, nil
}

func envInt(key string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(key), 10, 64); err == nil {
		return v
	}
	return def
}

func envString(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Topics of the run. The cluster is fresh each time, so the names are fixed.
const (
	datasetTopic = "bench-events"
	latencyTopic = "bench-latency"
)

// bench is one `benchrun all` run.
type bench struct {
	opts      allOptions
	root      string
	work      string
	self      string
	workerBin string
	log       io.Writer
	broker    *broker
	http      *http.Client
	seed      maphash.Seed
	report    *Report

	expectFan, expectSingle, expectAgg *expectation
}

// cmdAll runs every phase and writes the report. A phase that fails is
// recorded with its error and the others still run.
func cmdAll(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	opts, err := parseAllOptions(args)
	if err != nil {
		return err
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	work, err := filepath.Abs(opts.WorkDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	b := &bench{
		opts: opts, root: root, work: work, self: self, log: stderr,
		http: &http.Client{Timeout: 30 * time.Second},
		seed: maphash.MakeSeed(),
		report: &Report{
			Date:    time.Now().Format("2006-01-02"),
			Started: time.Now().UTC().Format(time.RFC3339),
			Command: commandLine(),
			Machine: machineInfo(),
		},
	}
	b.report.Setup = Setup{
		Events: opts.Events, Partitions: opts.Partitions, Topic: datasetTopic,
		LatencyRate: opts.LatencyRate, LatencySeconds: opts.LatencySeconds, LatencyWarmup: opts.LatencyWarmup, LingerMs: float64(opts.Linger.Milliseconds()),
		QuotaRecords: opts.QuotaRecords, QuotaBytes: opts.QuotaBytes, QuotaSeconds: opts.QuotaSeconds,
		QuotaWarmup: opts.QuotaWarmup, FailFraction: opts.FailFraction, Phases: opts.Phases,
		BillingUnitBytes: billingUnit,
	}

	b.report.Setup.WorkerRevision = revision(ctx, root)
	b.workerBin = opts.WorkerBin
	if b.workerBin == "" {
		b.workerBin = filepath.Join(work, "firehose-worker")
		b.logf("building the worker into %s", b.workerBin)
		if err := buildWorker(ctx, root, b.workerBin, stderr); err != nil {
			return err
		}
	}

	b.logf("starting the broker (%s, port %d)", opts.BrokerMode, opts.KafkaPort)
	b.broker, err = startBroker(ctx, brokerOptions{
		Mode: opts.BrokerMode, Root: root, Port: opts.KafkaPort, Keep: opts.Keep, Self: self, Log: b.fileLog("broker"),
	})
	if err != nil {
		return err
	}
	b.report.Setup.Broker = b.broker.Kind
	b.report.Notes = append(b.report.Notes, b.broker.notes...)
	defer func() {
		b.logf("stopping the broker")
		if err := b.broker.stop(); err != nil {
			b.logf("stopping the broker: %v", err)
		}
	}()

	if err := b.produceDataset(ctx); err != nil {
		return err
	}
	phases := map[string]bool{}
	for p := range strings.SplitSeq(opts.Phases, ",") {
		phases[strings.TrimSpace(p)] = true
	}
	steps := []struct {
		phase string
		run   func(context.Context) *RunResult
	}{
		{"consume", b.runRefConsume},
		{"batchref", b.runBatchRef},
		{"batchref", b.runBatchDecode},
		{"consumeonly", b.runConsumeOnly},
		{"sdk", b.runRefSDK},
		{"worker", b.runWorkerMain},
		{"latency", b.runLatency},
		{"quota", b.runQuotaAdaptive},
		{"quota", b.runQuotaFixed},
		{"quota", b.runQuotaFaults},
		{"aggregate", b.runAggregate},
		{"partitions", b.runPartitions},
	}
	for _, s := range steps {
		if !phases[s.phase] || ctx.Err() != nil {
			continue
		}
		load := loadAvg()
		busy0, total0 := cpuJiffies()
		r := s.run(ctx)
		busy1, total1 := cpuJiffies()
		r.LoadAvg = load
		if total1 > total0 {
			r.MachineBusyPct = float64(busy1-busy0) / float64(total1-total0) * 100
		}
		b.logf("  %s done: machine CPU busy %.0f%% (load at start %s)", r.Name, r.MachineBusyPct, load)
		if r.Error != "" {
			b.logf("%s: FAILED: %s", r.Name, r.Error)
		}
		b.report.Runs = append(b.report.Runs, r)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	b.report.Finished = time.Now().UTC().Format(time.RFC3339)
	b.report.Machine.LoadAvgEnd = loadAvg()
	b.report.evaluate()
	b.report.printTable(stdout)
	base := opts.ReportBase
	if base == "" {
		base = filepath.Join(opts.OutDir, "bench-report-"+b.report.Date)
	}
	if err := b.report.write(base); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nreport: %s.md and %s.json\n", base, base)
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s benchrun: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// fileLog returns the log file of one party, under the work directory.
func (b *bench) fileLog(name string) io.Writer {
	f, err := os.Create(filepath.Join(b.work, name+".log"))
	if err != nil {
		return io.Discard
	}
	return f // closed at exit; a handful per run
}

// produceAttempts is how often the producer tries a batch. A new topic's
// partitions have leaders in the metadata a moment before the broker takes
// writes for them ("Not Leader For Partition"), longer on a loaded machine
// than eventgen's default of 3 attempts covers.
const produceAttempts = 10

// produceDataset creates the topic and produces the events once; every
// phase reads the same data.
func (b *bench) produceDataset(ctx context.Context) error {
	addr := b.broker.Addr
	if err := createTopic(ctx, addr, datasetTopic, b.opts.Partitions); err != nil {
		return err
	}
	b.expectFan = newExpectation(fanOutRows)
	b.expectSingle = newExpectation(singleRows)
	b.expectAgg = newExpectation(aggregateRows)
	src := newDatasetSource(b.expectFan, b.expectSingle, b.expectAgg)
	b.logf("producing %d events to %s (%d partitions)", b.opts.Events, datasetTopic, b.opts.Partitions)
	st, err := eventgen.Produce(ctx, eventgen.ProduceOptions{
		Brokers: []string{addr}, Topic: datasetTopic, Count: int(b.opts.Events), ProgressInterval: 5 * time.Second,
		MaxAttempts: produceAttempts,
	}, src, func(s eventgen.Stats) {
		b.logf("produced %d (%.0f/s)", s.Sent, s.PerSecond())
	})
	if err != nil {
		return err
	}
	end, err := endOffsets(ctx, addr, datasetTopic, b.opts.Partitions)
	if err != nil {
		return err
	}
	if end != b.opts.Events || st.Sent != b.opts.Events {
		return fmt.Errorf("the topic holds %d messages, %d acknowledged, want exactly %d", end, st.Sent, b.opts.Events)
	}
	perStream := b.expectFan.PerStream()
	var fan int64
	for _, n := range perStream {
		fan += n
	}
	b.report.Dataset = Dataset{
		Events: st.Sent, Bytes: st.Bytes, AvgBytes: float64(st.Bytes) / float64(st.Sent),
		ProduceSeconds: st.Elapsed.Seconds(), ProducePerSec: st.PerSecond(),
		PerStream: perStream, RecordsPerEvent: float64(fan) / float64(st.Sent),
	}
	b.logf("dataset: %d events, %.0f B on average, %.2f records per event with the fan-out mapping",
		st.Sent, b.report.Dataset.AvgBytes, b.report.Dataset.RecordsPerEvent)
	return nil
}

// startEndpoint starts `benchrun endpoint` with extra flags.
func (b *bench) startEndpoint(ctx context.Context, name string, extra ...string) (*proc, *endpointClient, error) {
	lines := make(chan string, 4)
	p, err := startProc(procOptions{
		Name: name + " endpoint", Path: b.self, Args: append([]string{"endpoint"}, extra...),
		Log: b.fileLog(name + "-endpoint"), Lines: lines,
	})
	if err != nil {
		return nil, nil, err
	}
	var ready endpointReady
	select {
	case line, ok := <-lines:
		if !ok || json.Unmarshal([]byte(line), &ready) != nil {
			p.Stop(5 * time.Second)
			return nil, nil, fmt.Errorf("endpoint did not start (%q): %v", line, p.Err())
		}
	case <-ctx.Done():
		p.Stop(5 * time.Second)
		return nil, nil, ctx.Err()
	}
	go func() {
		for range lines { // keep its stdout drained
		}
	}()
	return p, &endpointClient{URL: ready.URL, control: ready.Control, http: b.http}, nil
}

// deliveryTimeout bounds how long one backlog run may take.
func (b *bench) deliveryTimeout() time.Duration {
	return 3*time.Minute + time.Duration(b.opts.Events/1000)*time.Second
}

// waitDelivered polls the endpoint until every stream has accepted at
// least its expected lines. onFirst, if set, is called once when the first
// line arrives. It fails when p exits, when nothing new arrives for 90 s, or
// after timeout.
func (b *bench) waitDelivered(ctx context.Context, ep *endpointClient, p *proc, expect map[string]int64, timeout time.Duration, onFirst func()) (EndpointStats, error) {
	deadline := time.Now().Add(timeout)
	var lastTotal int64
	lastProgress := time.Now()
	lastLog := time.Now()
	for {
		st, err := ep.progress(ctx)
		if err != nil {
			return st, err
		}
		var total int64
		done := true
		for name, want := range expect {
			got := st.Streams[name].Lines
			total += got
			done = done && got >= want
		}
		if total > 0 && onFirst != nil {
			onFirst()
			onFirst = nil
		}
		if done {
			return st, nil
		}
		now := time.Now()
		if total != lastTotal {
			lastTotal, lastProgress = total, now
		}
		if now.Sub(lastLog) >= 10*time.Second {
			b.logf("  %s: %d lines accepted so far", p.name, total)
			lastLog = now
		}
		switch {
		case now.Sub(lastProgress) > 90*time.Second:
			return st, fmt.Errorf("no progress for 90s (%d lines accepted)", total)
		case now.After(deadline):
			return st, fmt.Errorf("not delivered within %s (%d lines accepted)", timeout, total)
		}
		select {
		case <-p.Exited():
			return st, fmt.Errorf("%s exited early: %v", p.name, p.Err())
		default:
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return st, ctx.Err()
		}
	}
}

// runRefConsume is reference 1, the bare consumer.
func (b *bench) runRefConsume(ctx context.Context) *RunResult {
	r := &RunResult{Name: "bare_consume", Kind: "backlog", Description: "reference 1: kafka-go consumer group, one kafka.Reader per partition (FetchMessage), reading every partition to the end, discarding"}
	return b.runRef(ctx, r, "refconsume", "bench-refconsume")
}

// runBatchRef is reference 1b, the bare consumer on kafka-go's batch API.
func (b *bench) runBatchRef(ctx context.Context) *RunResult {
	r := &RunResult{Name: "batch_consume", Kind: "backlog", Description: "reference 1b: the same consumer group, then per partition Dialer.DialLeader + Conn.ReadBatchWith + Batch.Read into one reused buffer (values only), discarding: kafka-go's own floor"}
	return b.runRef(ctx, r, "batchref", "bench-batchref")
}

// runBatchDecode is reference 1c: reference 1b decoding every value with
// the worker's decoder, the floor of the worker's consume-only row.
func (b *bench) runBatchDecode(ctx context.Context) *RunResult {
	r := &RunResult{Name: "batch_decode", Kind: "backlog", Description: "reference 1c: reference 1b that also runs the worker's decoder (segment.Decoder.Decode: validation and routing fields) on every value: fetch and decode with no tracking, commits or copies, the floor of the worker's consume-only row"}
	return b.runRef(ctx, r, "batchdecode", "bench-batchdecode")
}

func (b *bench) runRef(ctx context.Context, r *RunResult, command, group string) *RunResult {
	rr, err := b.startRefReader(ctx, r.Name, command, datasetTopic, group, b.opts.Events)
	if err != nil {
		return r.fail(err)
	}
	rr.finish(r)
	if rr.done.Invalid > 0 {
		return r.fail(fmt.Errorf("the decoder refused %d values of the generated dataset", rr.done.Invalid))
	}
	return r
}

// refRun is a reference reader (`benchrun refconsume` or `batchref`) that
// has read the messages it was asked for and still runs, polling.
type refRun struct {
	p    *proc
	done consumeDone
	// cpu and hwm are its CPU time and peak RSS when it reported.
	cpu, hwm float64
}

// startRefReader starts `benchrun <command>` on topic and waits until it
// reports having read events messages. On error the process is stopped.
func (b *bench) startRefReader(ctx context.Context, name, command, topic, group string, events int64) (*refRun, error) {
	b.logf("run %s", name)
	lines := make(chan string, 4)
	p, err := startProc(procOptions{
		Name: name, Path: b.self, Log: b.fileLog(name), Lines: lines,
		Args: []string{command, "--brokers", b.broker.Addr, "--topic", topic, "--group", group,
			"--events", strconv.FormatInt(events, 10)},
	})
	if err != nil {
		return nil, err
	}
	t := time.NewTimer(b.deliveryTimeout())
	defer t.Stop()
	rr := &refRun{p: p}
	select {
	case line, ok := <-lines:
		if !ok || json.Unmarshal([]byte(line), &rr.done) != nil {
			err = fmt.Errorf("%s ended without a result: %v", command, p.Err())
		}
	case <-t.C:
		err = fmt.Errorf("%s timed out", command)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		p.Stop(30 * time.Second)
		return nil, err
	}
	go func() {
		for range lines {
		}
	}()
	rr.cpu, _ = procCPU(p.pid())
	_, rr.hwm, _ = procRSS(p.pid())
	return rr, nil
}

// finish stops the reader and fills r with its figures.
func (rr *refRun) finish(r *RunResult) {
	u := rr.p.Stop(30 * time.Second)
	r.measure(rr.done.Count, rr.done.First, rr.done.Last, rr.cpu, rr.hwm, u, rr.p.Samples(), rr.p.start)
	r.SteadyCPUPerMillion = rr.done.Steady.perMillion()
}

// rowsFlag renders rows for `benchrun refsdk --rows`.
func rowsFlag(rows []mapping) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = r.Event + "=" + r.Stream
	}
	return strings.Join(parts, ",")
}

// runRefSDK is reference 2, the straightforward SDK pipeline.
func (b *bench) runRefSDK(ctx context.Context) *RunResult {
	r := &RunResult{Name: "sdk_defaults", Kind: "backlog", Description: "reference 2: encoding/json into map[string]any, same mapping, PutRecordBatch of 500 through the stock SDK client"}
	b.logf("run %s", r.Name)
	ep, epc, err := b.startEndpoint(ctx, r.Name)
	if err != nil {
		return r.fail(err)
	}
	defer ep.Stop(30 * time.Second)
	p, err := startProc(procOptions{
		Name: r.Name, Path: b.self, Log: b.fileLog(r.Name), Env: awsEnv(epc.URL),
		Args: []string{"refsdk", "--brokers", b.broker.Addr, "--topic", datasetTopic, "--group", "bench-refsdk", "--rows", rowsFlag(fanOutRows)},
	})
	if err != nil {
		return r.fail(err)
	}
	defer p.Stop(30 * time.Second)
	return b.finishBacklogRun(ctx, r, p, ep, epc, b.opts.Events, b.expectFan.PerStream(), nil, nil)
}

// finishBacklogRun waits until the endpoint has every expected line, then
// measures p, stops it and records what the endpoint saw after it exited.
// afterDone, if set, runs between the measurement and SIGTERM.
func (b *bench) finishBacklogRun(ctx context.Context, r *RunResult, p, epProc *proc, ep *endpointClient, events int64, expect map[string]int64, onFirst, afterDone func()) *RunResult {
	st, err := b.waitDelivered(ctx, ep, p, expect, b.deliveryTimeout(), onFirst)
	if err != nil {
		if final, ferr := ep.stats(ctx, false); ferr == nil {
			st = final // a failed run still shows its duplicates
		}
		r.Streams = st.Streams
		return r.fail(err)
	}
	cpu, _ := procCPU(p.pid())
	// The endpoint shares the machine's cores: what it takes, the
	// measured party cannot have.
	r.EndpointCPUSeconds, _ = procCPU(epProc.pid())
	_, hwm, _ := procRSS(p.pid())
	if afterDone != nil {
		afterDone()
	}
	u := p.Stop(60 * time.Second)
	final, err := ep.stats(ctx, false)
	if err != nil {
		return r.fail(err)
	}
	first, last := ackSpan(st.Streams, expect)
	r.measure(events, first, last, cpu, hwm, u, p.Samples(), p.start)
	r.Streams = final.Streams
	r.Calls = &final.Calls
	for name := range expect {
		r.Duplicates += final.Streams[name].Duplicates
	}
	return r
}

// ackSpan is the first and the last acknowledgement over the streams.
func ackSpan(streams map[string]StreamCounts, expect map[string]int64) (first, last int64) {
	for name := range expect {
		s := streams[name]
		if first == 0 || (s.FirstAck != 0 && s.FirstAck < first) {
			first = s.FirstAck
		}
		last = max(last, s.LastAck)
	}
	return first, last
}

// runWorkerMain is the end-to-end run of the worker on the backlog, with a
// CPU profile taken while it works.
func (b *bench) runWorkerMain(ctx context.Context) *RunResult {
	r := &RunResult{Name: "worker", Kind: "backlog", Description: "firehose-worker, default config, fan-out mapping (4 rows), 1 process"}
	b.logf("run %s", r.Name)
	ep, epc, err := b.startEndpoint(ctx, r.Name)
	if err != nil {
		return r.fail(err)
	}
	defer ep.Stop(30 * time.Second)
	cfg := workerConfig{Brokers: b.broker.Addr, Group: "bench-worker", Topics: []string{datasetTopic}, Rows: fanOutRows, Adaptive: true, Pprof: b.opts.ProfileSeconds > 0}
	b.report.Setup.WorkerConfig = cfg.yaml()
	w, err := startWorker(b.workerBin, b.work, r.Name, cfg, epc.URL, b.fileLog(r.Name))
	if err != nil {
		return r.fail(err)
	}
	defer w.Stop(60 * time.Second)

	profiled := make(chan error, 1)
	heaped := make(chan error, 1)
	var onFirst, afterDone func()
	if b.opts.ProfileSeconds > 0 {
		path := filepath.Join(b.work, "worker.cpu.pprof")
		heapPath := filepath.Join(b.work, "worker.heap.pprof")
		onFirst = func() {
			go func() { profiled <- w.profile(ctx, b.opts.ProfileSeconds, path) }()
			go func() {
				sleepCtx(ctx, 5*time.Second)
				heaped <- w.heapProfile(ctx, heapPath)
			}()
		}
		afterDone = func() {
			// The profiles must finish before SIGTERM closes the listener;
			// CPU and RSS were read already, so waiting does not count.
			heapErr := <-heaped
			b.addHeapProfile("end-to-end run, heap 5 s after the first acknowledgement",
				"Allocated since start (alloc_space) and in use (inuse_space) while working through the backlog, taken 5 s after the first acknowledgement.",
				heapPath, heapErr, "-sample_index=alloc_space", "-sample_index=inuse_space")
			if err := <-profiled; err != nil {
				b.report.ProfileError = err.Error()
				return
			}
			top, err := pprofTop(ctx, b.workerBin, path, 40)
			b.report.Profile = top
			if err != nil {
				b.report.ProfileError = err.Error()
			}
			b.report.ProfileSeconds = b.opts.ProfileSeconds
		}
	}
	return b.finishBacklogRun(ctx, r, w.proc, ep, epc, b.opts.Events, b.expectFan.PerStream(), onFirst, afterDone)
}

// addCPUProfile renders a CPU profile's top nodes; fetchErr is how
// fetching it ended.
func (b *bench) addCPUProfile(ctx context.Context, name, description, path string, fetchErr error, nodes int) {
	pt := ProfileText{Name: name, Description: description}
	if fetchErr != nil {
		pt.Error = fetchErr.Error()
	} else {
		top, err := pprofTop(ctx, b.workerBin, path, nodes)
		pt.Text = top
		if err != nil {
			pt.Error = err.Error()
		}
	}
	b.report.Profiles = append(b.report.Profiles, pt)
}

// addHeapProfile renders a heap profile once per sample index.
func (b *bench) addHeapProfile(name, description, path string, fetchErr error, indexes ...string) {
	pt := ProfileText{Name: name, Description: description}
	if fetchErr != nil {
		pt.Error = fetchErr.Error()
	} else {
		for _, idx := range indexes {
			top, err := pprofTop(context.Background(), b.workerBin, path, 25, idx)
			pt.Text += "# " + idx + "\n" + top
			if err != nil {
				pt.Error = err.Error()
			}
		}
	}
	b.report.Profiles = append(b.report.Profiles, pt)
}

// runLatency measures produce-to-ack latency at a fixed moderate rate with
// the worker caught up (it reads a topic of its own that starts empty).
func (b *bench) runLatency(ctx context.Context) *RunResult {
	r := &RunResult{Name: "latency", Kind: "latency", Description: fmt.Sprintf("worker caught up, %.0f events/s for %ds after %ds of warm-up, fan-out mapping; produce time stamped in each event", b.opts.LatencyRate, b.opts.LatencySeconds, b.opts.LatencyWarmup)}
	b.logf("run %s", r.Name)
	if err := createTopic(ctx, b.broker.Addr, latencyTopic, b.opts.Partitions); err != nil {
		return r.fail(err)
	}
	ep, epc, err := b.startEndpoint(ctx, r.Name)
	if err != nil {
		return r.fail(err)
	}
	defer ep.Stop(30 * time.Second)
	cfg := workerConfig{Brokers: b.broker.Addr, Group: "bench-latency", Topics: []string{latencyTopic}, Rows: fanOutRows, Adaptive: true, Pprof: b.opts.ProfileSeconds > 0}
	w, err := startWorker(b.workerBin, b.work, r.Name, cfg, epc.URL, b.fileLog(r.Name))
	if err != nil {
		return r.fail(err)
	}
	defer w.Stop(60 * time.Second)
	if err := w.waitReady(ctx, b.http); err != nil {
		return r.fail(err)
	}
	sleepCtx(ctx, 2*time.Second) // let every partition's fetcher start
	cpu0, _ := procCPU(w.pid())

	expect := newExpectation(fanOutRows)
	count := int(b.opts.LatencyRate * float64(b.opts.LatencySeconds+b.opts.LatencyWarmup))
	measureFrom := time.Now().Add(time.Duration(b.opts.LatencyWarmup) * time.Second)
	// A CPU profile of the measured part shows the cost of a moderate,
	// steady rate (fixed per-second overheads weigh more than at full speed).
	profiled := make(chan error, 1)
	cpuPath := filepath.Join(b.work, "latency.cpu.pprof")
	profSeconds := max(b.opts.LatencySeconds-2, 1)
	if b.opts.ProfileSeconds > 0 {
		go func() {
			sleepCtx(ctx, time.Until(measureFrom))
			profiled <- w.profile(ctx, profSeconds, cpuPath)
		}()
	}
	// The broker's acknowledgement of each stamped message separates the
	// producer's and broker's share of the latency from the worker's.
	var kafkaAck []int64
	kafkaAckAt := map[string]int64{} // messageId -> broker acknowledgement
	var kafkaMu sync.Mutex
	st, err := eventgen.Produce(ctx, eventgen.ProduceOptions{
		Brokers: []string{b.broker.Addr}, Topic: latencyTopic, Count: count, Rate: b.opts.LatencyRate,
		Record: func(rec eventgen.Record) {
			now := time.Now().UnixNano()
			if produced, ok := stampOf(rec.Value); ok {
				kafkaMu.Lock()
				kafkaAck = append(kafkaAck, now-produced)
				kafkaAckAt[string(rec.Info.MessageID)] = now
				kafkaMu.Unlock()
			}
		},
	}, newStampSource(expect, measureFrom), nil)
	if err != nil {
		return r.fail(err)
	}
	b.logf("  produced %d events at %.0f/s", st.Sent, st.PerSecond())
	stats, err := b.waitDelivered(ctx, epc, w.proc, expect.PerStream(), 2*time.Minute, nil)
	if err != nil {
		return r.fail(err)
	}
	cpu1, _ := procCPU(w.pid())
	_, hwm, _ := procRSS(w.pid())
	if b.opts.ProfileSeconds > 0 {
		b.addCPUProfile(ctx, fmt.Sprintf("CPU at %.0f events/s", b.opts.LatencyRate),
			fmt.Sprintf("CPU profile of the worker for %d s of the measured latency phase (fan-out mapping, caught up).", profSeconds),
			cpuPath, <-profiled, 30)
	}
	lat, err := epc.latency(ctx)
	if err != nil {
		return r.fail(err)
	}
	u := w.Stop(60 * time.Second)
	first, last := ackSpan(stats.Streams, expect.PerStream())
	r.measure(expect.Events, first, last, cpu1-cpu0, hwm, u, w.Samples(), w.start)
	final, err := epc.stats(ctx, false) // duplicates are counted only here
	if err != nil {
		return r.fail(err)
	}
	r.Streams = final.Streams
	r.Latency = &lat
	ka := summarize(kafkaAck)
	r.KafkaAckLatency = &ka
	// The worker's own share: from the broker's acknowledgement (the
	// message is readable) to the endpoint's, line by line.
	acks, err := epc.acks(ctx)
	if err != nil {
		return r.fail(err)
	}
	var share []int64
	for _, a := range acks {
		if k, ok := kafkaAckAt[a.MessageID]; ok {
			share = append(share, a.At-k)
		}
	}
	wl := summarize(share)
	r.WorkerLatency = &wl
	r.ProducedPerSec = st.PerSecond()
	return r
}

// quotaRun describes one run against a per-stream quota.
type quotaRun struct {
	name, description string
	adaptive          bool
	failFraction      float64
}

func (b *bench) runQuotaAdaptive(ctx context.Context) *RunResult {
	return b.runQuota(ctx, quotaRun{name: "quota_adaptive", adaptive: true,
		description: "default config (adaptive_concurrency: true, max_in_flight: 16) against a per-stream quota"})
}

func (b *bench) runQuotaFixed(ctx context.Context) *RunResult {
	return b.runQuota(ctx, quotaRun{name: "quota_fixed16", adaptive: false,
		description: "adaptive_concurrency: false, max_in_flight: 16 against the same quota"})
}

func (b *bench) runQuotaFaults(ctx context.Context) *RunResult {
	return b.runQuota(ctx, quotaRun{name: "quota_faults30", adaptive: true, failFraction: b.opts.FailFraction,
		description: fmt.Sprintf("default config, same quota, and %.0f%% of records throttled one by one (ServiceUnavailableException)", b.opts.FailFraction*100)})
}

// runQuota runs the worker on the backlog for QuotaSeconds after its first
// acknowledgement against an endpoint that enforces a per-stream quota the
// way Firehose does (records beyond it fail one by one with
// ServiceUnavailableException "Slow down."), then stops it (SIGTERM, drain)
// and reads goodput and throttling from the endpoint's per-second series.
func (b *bench) runQuota(ctx context.Context, q quotaRun) *RunResult {
	r := &RunResult{Name: q.name, Kind: "quota", Description: q.description}
	b.logf("run %s", r.Name)
	const stream = "everything"
	args := []string{"--quota-stream", stream,
		"--quota-records", strconv.FormatFloat(b.opts.QuotaRecords, 'f', -1, 64),
		"--quota-bytes", strconv.FormatFloat(b.opts.QuotaBytes, 'f', -1, 64)}
	if q.failFraction > 0 {
		args = append(args, "--fail-fraction", strconv.FormatFloat(q.failFraction, 'f', -1, 64))
	}
	ep, epc, err := b.startEndpoint(ctx, r.Name, args...)
	if err != nil {
		return r.fail(err)
	}
	defer ep.Stop(30 * time.Second)
	cfg := workerConfig{Brokers: b.broker.Addr, Group: "bench-" + q.name, Topics: []string{datasetTopic}, Rows: singleRows, Adaptive: q.adaptive, Pprof: b.opts.ProfileSeconds > 0}
	w, err := startWorker(b.workerBin, b.work, r.Name, cfg, epc.URL, b.fileLog(r.Name))
	if err != nil {
		return r.fail(err)
	}
	defer w.Stop(60 * time.Second)

	// Wait for the first acknowledgement, then let it run.
	expect := map[string]int64{stream: 1}
	if _, err := b.waitDelivered(ctx, epc, w.proc, expect, 2*time.Minute, nil); err != nil {
		return r.fail(err)
	}
	cpu0, _ := procCPU(w.pid())
	// A CPU profile of the adaptive run shows where a worker whose stream
	// is at its quota, with a backlog waiting, spends its time: an
	// everyday state whose cost per event is several times the backlog's.
	profile := b.opts.ProfileSeconds > 0 && q.name == "quota_adaptive"
	profSeconds := min(b.opts.ProfileSeconds, b.opts.QuotaSeconds-2)
	profiled := make(chan error, 1)
	cpuPath := filepath.Join(b.work, q.name+".cpu.pprof")
	if profile && profSeconds > 0 {
		go func() { profiled <- w.profile(ctx, profSeconds, cpuPath) }()
	}
	if !sleepCtx(ctx, time.Duration(b.opts.QuotaSeconds)*time.Second) {
		return r.fail(ctx.Err())
	}
	stopAt := time.Now()
	cpu1, _ := procCPU(w.pid())
	_, hwm, _ := procRSS(w.pid())
	if profile && profSeconds > 0 {
		b.addCPUProfile(ctx, "CPU under the quota (quota_adaptive)",
			fmt.Sprintf("CPU profile of the worker for the first %d s of the quota run, from its first acknowledgement.", profSeconds),
			cpuPath, <-profiled, 30)
	}
	if profile {
		path := filepath.Join(b.work, q.name+".heap.pprof")
		err := w.heapProfile(ctx, path)
		b.addHeapProfile("heap under the quota (quota_adaptive)",
			fmt.Sprintf("In use (inuse_space) at the end of the %d s quota run, where RSS far exceeds memory.max_buffered_bytes (%d MiB, the default).", b.opts.QuotaSeconds, config.Default().Memory.MaxBufferedBytes>>20),
			path, err, "-sample_index=inuse_space")
	}
	u := w.Stop(60 * time.Second)
	st, err := epc.stats(ctx, true)
	if err != nil {
		return r.fail(err)
	}
	s := st.Streams[stream]
	r.Streams = st.Streams
	r.Calls = &st.Calls
	r.Duplicates = s.Duplicates
	r.Quota = quotaResult(st.Series[stream], time.Unix(0, s.FirstAck), stopAt, b.opts)
	// Throughput here is the goodput in the window; CPU covers the window
	// from first ack to stop.
	r.measure(r.Quota.WindowLines, 0, 0, cpu1-cpu0, hwm, u, w.Samples(), w.start)
	r.EventsPerSec = r.Quota.GoodputLinesPerSec
	r.Seconds = float64(r.Quota.WindowSeconds)
	r.Events = s.Lines
	return r
}

// quotaResult sums the whole seconds from warmup after the first ack to
// the second before the stop.
func quotaResult(series []Second, first, stop time.Time, o allOptions) *QuotaResult {
	from := first.Unix() + int64(o.QuotaWarmup)
	to := stop.Unix() // exclusive: the second of the stop is partial
	q := &QuotaResult{RecordsPerSec: o.QuotaRecords, BytesPerSec: o.QuotaBytes, WindowSeconds: int(max(to-from, 0))}
	for _, s := range series {
		if s.Unix < from || s.Unix >= to {
			continue
		}
		q.WindowLines += s.AcceptedLines
		q.WindowBytes += s.AcceptedBytes
		q.Calls += s.Calls
		q.ThrottledCalls += s.ThrottledCalls + s.PartialCalls
		q.WholeCallThrottles += s.ThrottledCalls
		q.RecordsSent += s.RecordsSent
		q.RecordsFailed += s.RecordsFailed
	}
	if q.WindowSeconds > 0 {
		q.GoodputLinesPerSec = float64(q.WindowLines) / float64(q.WindowSeconds)
		q.GoodputBytesPerSec = float64(q.WindowBytes) / float64(q.WindowSeconds)
	}
	if o.QuotaRecords > 0 {
		q.Utilization = q.GoodputLinesPerSec / o.QuotaRecords
	}
	if o.QuotaBytes > 0 {
		q.Utilization = max(q.Utilization, q.GoodputBytesPerSec/o.QuotaBytes)
	}
	if q.Calls > 0 {
		q.ThrottledShare = float64(q.ThrottledCalls) / float64(q.Calls)
	}
	if q.RecordsSent > 0 {
		q.RecordsFailedShare = float64(q.RecordsFailed) / float64(q.RecordsSent)
	}
	return q
}

// runAggregate delivers the backlog with aggregate: true into a directory
// laid out like S3, then reads every object back and compares its lines
// with what was produced.
func (b *bench) runAggregate(ctx context.Context) *RunResult {
	r := &RunResult{Name: "aggregate", Kind: "backlog", Description: "worker, one row \"*\" -> archive with aggregate: true; S3 objects read back"}
	b.logf("run %s", r.Name)
	dir := filepath.Join(b.work, "s3")
	if err := os.RemoveAll(dir); err != nil {
		return r.fail(err)
	}
	ep, epc, err := b.startEndpoint(ctx, r.Name, "--dir", dir)
	if err != nil {
		return r.fail(err)
	}
	defer ep.Stop(30 * time.Second)
	cfg := workerConfig{Brokers: b.broker.Addr, Group: "bench-aggregate", Topics: []string{datasetTopic}, Rows: aggregateRows, Adaptive: true}
	w, err := startWorker(b.workerBin, b.work, r.Name, cfg, epc.URL, b.fileLog(r.Name))
	if err != nil {
		return r.fail(err)
	}
	defer w.Stop(60 * time.Second)
	b.finishBacklogRun(ctx, r, w.proc, ep, epc, b.opts.Events, b.expectAgg.PerStream(), nil, nil)
	if r.Error != "" {
		return r
	}
	// The endpoint flushes its objects when it stops.
	if u := ep.Stop(60 * time.Second); u.ExitCode != 0 {
		return r.fail(fmt.Errorf("endpoint exited with %d", u.ExitCode))
	}
	b.logf("  reading the S3 objects back")
	rb, err := readBack(filepath.Join(dir, "archive"), b.seed)
	if err != nil {
		return r.fail(err)
	}
	want, err := lineHashes(b.seed, b.opts.Events)
	if err != nil {
		return r.fail(err)
	}
	rb.Missing, rb.Extra = compareHashes(want, rb.hashes)
	rb.Expected = int64(len(want))
	rb.Match = rb.Missing == 0 && rb.Extra == 0
	rb.hashes = nil
	r.ReadBack = rb
	if !b.opts.Keep {
		_ = os.RemoveAll(dir)
	}
	return r
}

// revision describes the source the worker is built from: the commit and
// whether the tree has uncommitted changes (read-only git queries).
func revision(ctx context.Context, root string) string {
	out, err := exec.CommandContext(ctx, "git", "-C", root, "describe", "--always", "--dirty", "--abbrev=12").Output()
	if err != nil {
		return "unknown (git describe failed)"
	}
	rev := strings.TrimSpace(string(out))
	if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		if n := strings.Count(string(st), "\n"); n > 0 {
			rev += fmt.Sprintf(" (%d tracked files modified: other work in progress is included)", n)
		}
	}
	return rev
}

func commandLine() string {
	return strings.Join(os.Args, " ")
}
