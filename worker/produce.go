package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
	"github.com/firehose-worker/firehose-worker/internal/sandbox"
)

// produceFlags are the produce command's flags.
type produceFlags struct {
	brokers    string
	topic      string
	rate       float64
	count      int
	seed       int64
	replay     string
	partitions int
	key        string
	// envelope wraps messages in /v1/batch bodies of envelopeSize each.
	envelope     bool
	envelopeSize int
}

func parseProduceFlags(args []string, stderr io.Writer) (produceFlags, bool) {
	var f produceFlags
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: firehose-worker produce [flags]

Sends realistic Segment messages (all six call types, e-commerce, B2B and
mobile track events, identify and group traits, Personas audiences) to a
Kafka topic, or replays a file of newline-delimited JSON. Messages are keyed
by userId (anonymousId when there is none), as Segment partitions them.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.brokers, "brokers", "127.0.0.1:9092", "bootstrap brokers, comma separated")
	fs.StringVar(&f.topic, "topic", "segment-events", "topic to send to")
	fs.Float64Var(&f.rate, "rate", 0, "messages per second (0: as fast as the brokers acknowledge)")
	fs.IntVar(&f.count, "count", 0, "messages to send (0: until Ctrl-C, or the end of --replay)")
	fs.Int64Var(&f.seed, "seed", 0, "generator seed; the same seed sends the same messages (0: a new one, printed)")
	fs.StringVar(&f.replay, "replay", "", `send the lines of this NDJSON file instead of generated messages ("-": standard input)`)
	fs.IntVar(&f.partitions, "partitions", 0, "create the topic with this many partitions if it does not exist (0: leave it to the broker)")
	fs.StringVar(&f.key, "key", "user", "message key: user (userId, else anonymousId) or none (spread at random)")
	fs.BoolVar(&f.envelope, "envelope", false, `send the messages in Segment /v1/batch bodies ({"batch":[...],"sentAt":...,"context":...}), as a collector that writes what Segment's libraries POST would; --count and --rate then count envelopes`)
	fs.IntVar(&f.envelopeSize, "envelope-size", 20, "messages per envelope with --envelope")
	if err := fs.Parse(args); err != nil {
		return f, false
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if f.key != "user" && f.key != "none" {
		problems = append(problems, fmt.Sprintf("--key must be user or none, got %q", f.key))
	}
	if f.envelopeSize < 1 {
		problems = append(problems, fmt.Sprintf("--envelope-size must be at least 1, got %d", f.envelopeSize))
	}
	if f.replay != "" && f.seed != 0 {
		problems = append(problems, "--seed has no effect with --replay")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "produce: %s\n", strings.Join(problems, "; "))
		return f, false
	}
	return f, true
}

// cmdProduce sends messages until --count, the end of --replay or ctx, with
// progress on stderr and one summary line on stdout. It fails when the
// brokers did not acknowledge every message it sent, or when it was stopped
// before a --count was reached.
func cmdProduce(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, ok := parseProduceFlags(args, stderr)
	if !ok {
		return 2
	}
	opts := eventgen.ProduceOptions{
		Brokers:    splitList(f.brokers),
		Topic:      f.topic,
		Rate:       f.rate,
		Count:      f.count,
		Partitions: f.partitions,
	}
	if err := opts.Validate(); err != nil {
		fmt.Fprintf(stderr, "produce: %v\n", err)
		return 2
	}
	if f.rate > 0 {
		// Small batches keep a low rate from arriving in bursts.
		opts.BatchSize = max(1, min(1000, int(f.rate/10)))
	}

	var src eventgen.Source
	what := ""
	switch f.replay {
	case "":
		if f.seed == 0 {
			f.seed = time.Now().UnixNano() % 1e9 // short enough to type back in
		}
		g := eventgen.DefaultOptions()
		g.Seed = f.seed
		g.Start = time.Now() // live traffic: event times from now on
		if f.rate > 0 {
			g.Interval = time.Duration(float64(time.Second) / f.rate)
		}
		src = eventgen.New(g)
		what = fmt.Sprintf("generated, seed %d", f.seed)
	case "-":
		src = eventgen.NewReplay(os.Stdin)
		what = "replayed from standard input"
	default:
		file, err := os.Open(f.replay)
		if err != nil {
			fmt.Fprintf(stderr, "produce: %v\n", err)
			return 1
		}
		defer file.Close()
		src = eventgen.NewReplay(file)
		what = "replayed from " + f.replay
	}
	if f.envelope {
		src = eventgen.NewEnvelopes(src, f.envelopeSize)
		what += fmt.Sprintf(", in envelopes of %d", f.envelopeSize)
	}
	if f.key == "none" {
		src = unkeyed{src}
	}

	console := sandbox.NewConsole(stderr, isTerminal(stderr), terminalWidth(stderr))
	interval := 10 * time.Second
	if console.Live() {
		interval = time.Second
	}
	opts.ProgressInterval = interval
	stats, err := eventgen.Produce(ctx, opts, src, func(st eventgen.Stats) {
		console.Status(progressLine(st))
	})
	console.EndStatus()
	fmt.Fprintf(stdout, "produced %d messages (%s) to %s in %s, %.1f/s; %s\n",
		stats.Sent, sandbox.ByteSize(stats.Bytes), f.topic, stats.Elapsed.Round(time.Millisecond), stats.PerSecond(), what)
	if err != nil {
		fmt.Fprintf(stderr, "produce: %v\n", err)
		return 1
	}
	return 0
}

func progressLine(st eventgen.Stats) string {
	line := fmt.Sprintf("sent %d (%.0f/s)", st.Sent, st.PerSecond())
	if st.Errors > 0 {
		line += fmt.Sprintf(", %d not acknowledged", st.Errors)
	}
	return line
}

// unkeyed sends its Source's messages without keys, so the writer spreads
// them over the partitions at random.
type unkeyed struct{ eventgen.Source }

func (u unkeyed) NextMessage(dst []byte) ([]byte, []byte, eventgen.Info, error) {
	value, _, info, err := u.Source.NextMessage(dst)
	return value, nil, info, err
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
