package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/eventgen"
	"github.com/firehose-worker/firehose-worker/internal/pipeline"
	"github.com/firehose-worker/firehose-worker/internal/sandbox"
)

// sandboxFlags are the sandbox command's flags.
type sandboxFlags struct {
	config       string
	dataDir      string
	kafkaAddr    string
	firehoseAddr string
	httpAddr     string
	httpSet      bool
	generate     float64
	seed         int64
	partitions   int
	flush        time.Duration
	throttle     float64
}

func parseSandboxFlags(args []string, stderr io.Writer) (sandboxFlags, bool) {
	var f sandboxFlags
	fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: firehose-worker sandbox [flags]

Runs the worker, the same code as "run", against an embedded Kafka broker and
an embedded Firehose endpoint that writes what it receives under --data-dir
the way Firehose writes to S3. Ctrl-C stops everything and prints a summary.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.config, "config", "", "worker configuration; its kafka.brokers is replaced by --kafka-addr (default: the built-in config/sandbox.yaml)")
	fs.StringVar(&f.dataDir, "data-dir", "./sandbox-data", "where delivered records are written, one folder per stream")
	fs.Float64Var(&f.generate, "generate", 0, "generate this many Segment events per second into the first topic (0: none)")
	fs.Int64Var(&f.seed, "seed", 0, "generator seed (0: a new one each run)")
	fs.StringVar(&f.kafkaAddr, "kafka-addr", sandbox.DefaultKafkaAddr, "where the embedded Kafka broker listens (port 0: any free port)")
	fs.StringVar(&f.firehoseAddr, "firehose-addr", sandbox.DefaultFirehoseAddr, "where the embedded Firehose endpoint listens (port 0: any free port)")
	fs.StringVar(&f.httpAddr, "http-addr", "", `the worker's /metrics and health listener (default: the config's http.address; "" turns it off)`)
	fs.IntVar(&f.partitions, "partitions", sandbox.DefaultPartitions, "partitions of each topic")
	fs.DurationVar(&f.flush, "flush", sandbox.DefaultFlushInterval, "longest a record waits before its file is written (Firehose's buffer interval)")
	fs.Float64Var(&f.throttle, "throttle", 0, `share of Firehose calls to throttle ("Slow down."), 0 to 1, to watch the worker retry`)
	if err := fs.Parse(args); err != nil {
		return f, false
	}
	fs.Visit(func(fl *flag.Flag) { f.httpSet = f.httpSet || fl.Name == "http-addr" })
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if f.generate < 0 {
		problems = append(problems, "--generate must be 0 or more")
	}
	if f.partitions < 1 || f.partitions > 1000 {
		problems = append(problems, "--partitions must be between 1 and 1000")
	}
	if f.flush <= 0 {
		problems = append(problems, "--flush must be positive")
	}
	if f.throttle < 0 || f.throttle >= 1 {
		problems = append(problems, "--throttle must be at least 0 and below 1")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "sandbox: %s\n", strings.Join(problems, "; "))
		return f, false
	}
	return f, true
}

// loadSandboxConfig loads path, or the configuration built into the binary
// when path is empty, and returns the name to report it by.
func loadSandboxConfig(path string) (*config.Config, string, error) {
	if path == "" {
		cfg, err := config.Parse(config.Sandbox)
		return cfg, config.SandboxName, err
	}
	cfg, err := config.Load(path)
	return cfg, path, err
}

// cmdSandbox starts the embedded broker and endpoint, runs the worker against
// them through runWorker (what "run" runs) until ctx ends, then stops in the
// order data flows and prints a summary of what was written.
func cmdSandbox(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, ok := parseSandboxFlags(args, stderr)
	if !ok {
		return 2
	}
	cfg, name, err := loadSandboxConfig(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%s\n", name, indent(err.Error()))
		return 1
	}
	if err := sandboxable(cfg); err != nil {
		fmt.Fprintf(stderr, "sandbox: %s: %v\n", name, err)
		return 1
	}
	if f.httpSet {
		cfg.HTTP.Address = f.httpAddr
	}
	console := sandbox.NewConsole(stdout, isTerminal(stdout), terminalWidth(stdout))
	if cfg.Log.Format == "auto" {
		cfg.Log.Format = "text" // the sandbox is read by people
	}
	log := newLogger(cfg.Log, console.Above(stderr))

	sb, err := sandbox.Start(sandbox.Options{
		KafkaAddr:     f.kafkaAddr,
		FirehoseAddr:  f.firehoseAddr,
		DataDir:       f.dataDir,
		FlushInterval: f.flush,
		Topics:        cfg.Topics(),
		Partitions:    int32(f.partitions),
		Group:         cfg.Kafka.GroupID,
	})
	if err != nil {
		fmt.Fprintf(stderr, "%v\n(another sandbox running? --kafka-addr and --firehose-addr choose other ports; port 0 picks a free one)\n", err)
		return 1
	}
	cfg.Kafka.Brokers = sb.Brokers()
	sb.Faults().SetThrottleProbability(f.throttle)
	restore := setEnv(sandboxAWSEnv(sb.FirehoseURL()), log)
	defer restore()

	s := &sandboxRun{flags: f, cfg: cfg, sb: sb, console: console, log: log, start: time.Now()}
	return s.run(ctx, stderr)
}

// sandboxable reports what the sandbox cannot emulate.
func sandboxable(cfg *config.Config) error {
	var errs []error
	if cfg.Kafka.TLS.Enabled || cfg.Kafka.SASL.Mechanism != "" {
		errs = append(errs, errors.New("the embedded broker speaks plaintext only: turn kafka.tls and kafka.sasl off"))
	}
	for _, s := range cfg.Sources {
		if s.RoleAddress != "" {
			errs = append(errs, fmt.Errorf("source %s assumes a role, and the sandbox has no STS: leave role_address empty", s.ID))
		}
	}
	return errors.Join(errs...)
}

// sandboxRun is one run of the sandbox command.
type sandboxRun struct {
	flags   sandboxFlags
	cfg     *config.Config
	sb      *sandbox.Sandbox
	console *sandbox.Console
	log     *slog.Logger
	start   time.Time

	pipe      *pipeline.Pipeline
	generated atomic.Int64 // acknowledged by the broker; -1 with no generator
}

// run supervises the sandbox's parts: the worker, then the generator and the
// status report. It stops them in the order data flows: no new events, then
// the worker drains and commits what it has, then the endpoint writes its
// last files.
func (s *sandboxRun) run(ctx context.Context, stderr io.Writer) int {
	var metricsAddr string
	started := make(chan *pipeline.Pipeline, 1)
	// The worker's context is not ctx: it is stopped only after the
	// generator has stopped, so that it drains what was produced up to then.
	worker := startTask(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return runWorker(ctx, s.cfg, s.log, workerHooks{
			HTTPReady: func(addr string) { metricsAddr = addr }, // written before Started, read after it
			Started:   func(p *pipeline.Pipeline) { started <- p },
		})
	})
	defer worker.stop()
	select {
	case s.pipe = <-started:
	case <-worker.done:
		_, _ = s.closeSandbox()
		err := worker.stop()
		fmt.Fprintf(stderr, "sandbox: the worker did not start: %v\n", err)
		if errors.Is(err, syscall.EADDRINUSE) {
			fmt.Fprintln(stderr, "(is another worker using its metrics address? --http-addr 127.0.0.1:0 picks a free port)")
		}
		return 1
	case <-ctx.Done(): // Ctrl-C while the worker was still starting
		err := worker.stop()
		_, _ = s.closeSandbox()
		if err != nil {
			fmt.Fprintf(stderr, "sandbox: the worker stopped while starting: %v\n", err)
			return 1
		}
		return 0
	}

	s.generated.Store(-1)
	seed := s.flags.seed
	if seed == 0 {
		seed = time.Now().UnixNano() % 1e9 // short enough to type back in with --seed
	}
	s.console.Print(s.banner(metricsAddr, seed).String() + "\n")
	if s.flags.generate > 0 {
		s.generated.Store(0)
	}
	gen := startTask(ctx, func(ctx context.Context) error {
		if s.flags.generate <= 0 {
			return nil
		}
		return s.generate(ctx, seed)
	})
	interval := 10 * time.Second
	if s.console.Live() {
		interval = time.Second
	}
	report := startTask(context.Background(), func(ctx context.Context) error {
		sandbox.Report(ctx, s.console, interval, s.status)
		return nil
	})

	select {
	case <-ctx.Done():
	case <-worker.done:
	}
	genErr := gen.stop()
	if !worker.finished() {
		s.awaitCaughtUp(catchUpTimeout)
	}
	workerErr := worker.stop()
	_ = report.stop() // Report returns nothing
	s.console.EndStatus()
	final, closeErr := s.closeSandbox()

	st := s.pipe.Stats()
	s.console.Print("\n" + sandbox.Summary{
		Elapsed:   time.Since(s.start),
		Generated: s.generated.Load(),
		Consumed:  st.Consumed,
		Dropped:   st.Dropped,
		Kafka:     final.Kafka,
		Streams:   final.Streams,
		Order:     s.streamOrder(),
		DataDir:   s.sb.DataDir(),
	}.String())

	code := 0
	for _, f := range []struct {
		what string
		err  error
	}{{"the worker", workerErr}, {"the generator", genErr}, {"writing files", closeErr}} {
		if f.err != nil {
			fmt.Fprintf(stderr, "sandbox: %s failed: %v\n", f.what, f.err)
			code = 1
		}
	}
	return code
}

// catchUpTimeout bounds how long Ctrl-C waits for the worker to consume
// and commit what is already in Kafka before it stops the worker.
const catchUpTimeout = 3 * time.Second

// awaitCaughtUp waits, at most timeout, until the group has committed past
// every message in the topics: the broker keeps them in memory only, so
// what the worker leaves behind is gone. A few seconds covers the fetch,
// linger, flush and commit intervals of a healthy worker; a stuck one is
// not worth waiting for, and the summary says what was left.
func (s *sandboxRun) awaitCaughtUp(timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.sb.Kafka(ctx).Lag == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// generate produces generated events into the first topic until ctx ends.
// Event times start now and advance at the rate, like live traffic.
func (s *sandboxRun) generate(ctx context.Context, seed int64) error {
	rate := s.flags.generate
	opts := eventgen.DefaultOptions()
	opts.Seed = seed
	opts.Start = time.Now()
	opts.Interval = time.Duration(float64(time.Second) / rate)
	stats, err := eventgen.Produce(ctx, eventgen.ProduceOptions{
		Brokers: s.sb.Brokers(),
		Topic:   s.cfg.Topics()[0],
		Rate:    rate,
		// Small batches keep a low rate from arriving in bursts.
		BatchSize:        max(1, min(1000, int(rate/10))),
		ProgressInterval: 100 * time.Millisecond,
	}, eventgen.New(opts), func(st eventgen.Stats) { s.generated.Store(st.Sent) })
	s.generated.Store(stats.Sent)
	if err != nil {
		s.log.Error("the generator stopped", "error", err)
	}
	return err
}

// status reads the sandbox, the worker and the generator for the status
// line. It must return promptly: it bounds the broker queries itself.
func (s *sandboxRun) status(ctx context.Context) sandbox.Status {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	obs := s.sb.Observe(ctx)
	st := s.pipe.Stats()
	out := sandbox.Status{
		Elapsed:   time.Since(s.start),
		Generated: s.generated.Load(),
		InKafka:   obs.Kafka.Messages,
		Consumed:  st.Consumed,
		Dropped:   st.Dropped,
		Streams:   sandbox.OrderStreams(s.streamOrder(), obs.Streams),
		Throttled: obs.ThrottledCalls,
		Lag:       obs.Kafka.Lag,
	}
	for _, ss := range obs.Streams {
		out.Retries += ss.Refused
	}
	return out
}

func (s *sandboxRun) closeSandbox() (sandbox.Final, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.sb.Close(ctx)
}

// streamOrder lists the configured streams in the order of the mapping rows.
func (s *sandboxRun) streamOrder() []string {
	var out []string
	for _, src := range s.cfg.Sources {
		for _, m := range src.MappedStreams {
			out = append(out, m.Stream)
		}
	}
	return out
}

func (s *sandboxRun) banner(metricsAddr string, seed int64) sandbox.Banner {
	b := sandbox.Banner{
		Version:       buildVersion(),
		Brokers:       s.sb.Brokers(),
		Topics:        s.cfg.Topics(),
		Partitions:    s.sb.Partitions(),
		FirehoseURL:   s.sb.FirehoseURL(),
		DataDir:       s.sb.DataDir(),
		FlushInterval: s.sb.FlushInterval(),
		Group:         s.cfg.Kafka.GroupID,
		MetricsAddr:   metricsAddr,
		GenerateRate:  s.flags.generate,
		GenerateSeed:  seed,
		Throttle:      s.flags.throttle,
		Command:       selfCommand(),
	}
	for _, src := range s.cfg.Sources {
		for _, m := range src.MappedStreams {
			b.Routes = append(b.Routes, sandbox.Route{Event: m.Event, Stream: m.Stream})
		}
	}
	return b
}

// selfCommand is how the user started this binary, for the banner's
// examples: "./firehose-worker" after make run, else the name on PATH.
func selfCommand() string {
	if len(os.Args) > 0 && strings.ContainsRune(os.Args[0], filepath.Separator) {
		return os.Args[0]
	}
	return "firehose-worker"
}

// sandboxAWSEnv is the AWS environment the embedded worker runs with. The
// worker finds its endpoint and credentials where it always does, in the
// SDK's standard environment, so the sandbox exercises that path instead of
// injecting a client. The values always win over the user's: a sandbox that
// honoured an AWS_ENDPOINT_URL_FIREHOSE or real credentials from the shell
// would send its test events to real Firehose, or real credentials to a
// local process. An empty value means unset.
func sandboxAWSEnv(endpoint string) map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_FIREHOSE":           endpoint,
		"AWS_ACCESS_KEY_ID":                   "sandbox",
		"AWS_SECRET_ACCESS_KEY":               "sandbox",
		"AWS_SESSION_TOKEN":                   "",
		"AWS_PROFILE":                         "",
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "",
		"AWS_EC2_METADATA_DISABLED":           "true",
	}
}

// setEnv applies vars to the process environment and returns a function
// that puts back what was there. The sandbox command owns its process, and
// the worker it runs reads the environment only while building its clients;
// restoring keeps a caller of cli (a test) from seeing the change afterwards.
// Values of the user's that are replaced are named in the log, never shown.
func setEnv(vars map[string]string, log *slog.Logger) (restore func()) {
	type old struct {
		value string
		set   bool
	}
	saved := map[string]old{}
	var replaced []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		v, set := os.LookupEnv(k)
		saved[k] = old{v, set}
		if set && v != vars[k] {
			replaced = append(replaced, k)
		}
		if vars[k] == "" {
			_ = os.Unsetenv(k)
		} else {
			_ = os.Setenv(k, vars[k])
		}
	}
	if len(replaced) > 0 {
		log.Info("the sandbox worker ignores these AWS settings from your environment and uses the embedded endpoint", "variables", strings.Join(replaced, ","))
	}
	return func() {
		for k, o := range saved {
			if o.set {
				_ = os.Setenv(k, o.value)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminalWidth returns a function telling w's width, read each time so a
// resized window is followed; 0 when unknown.
func terminalWidth(w io.Writer) func() int {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	return func() int {
		width, _, err := term.GetSize(int(f.Fd()))
		if err != nil {
			return 0
		}
		return width
	}
}
