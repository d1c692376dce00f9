package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/awsclient"
	"github.com/firehose-worker/firehose-worker/internal/delivery"
	"github.com/firehose-worker/firehose-worker/internal/redrive"
)

// streamName is Firehose's rule for delivery stream names.
var streamName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,64}$`)

// redriveFlags are the redrive command's flags, parsed and checked.
type redriveFlags struct {
	config      string
	opts        redrive.Options
	giveUpAfter time.Duration
}

func parseRedriveFlags(args []string, now time.Time, stderr io.Writer) (redriveFlags, bool) {
	var f redriveFlags
	fs := flag.NewFlagSet("redrive", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: firehose-worker redrive --config FILE [flags]

Sends dead letters back to the delivery stream that refused them, once the
cause is fixed (the stream created, the role's policy mended, the KMS key
restored). It reads kafka.dlq_topic as its own consumer group up to the end
the topic has when it starts, sends each letter that names a stream to that
stream through the normal delivery path, prints a summary, and exits non-zero
if any letter could not be delivered. A second run resumes where the first
stopped; letters that fail again are reported, never written back.

`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.config, "config", "config.yaml", "path to the worker's YAML configuration")
	fs.StringVar(&f.opts.Group, "group", "", "consumer group (default: kafka.group_id + \"-redrive\"); use one per filter, since a run reads past the letters it filters out")
	reasons := fs.String("reason", "", "only letters with these dlq.reason codes, comma separated (e.g. firehose_rejected)")
	streams := fs.String("stream", "", "only letters for these delivery streams, comma separated")
	sources := fs.String("source", "", "only letters of these source IDs, comma separated")
	since := fs.String("since", "", "only letters dead-lettered at or after this time: RFC 3339, or a duration ago (e.g. 24h)")
	until := fs.String("until", "", "only letters dead-lettered before this time: RFC 3339, or a duration ago")
	fs.StringVar(&f.opts.ToStream, "to-stream", "", "send letters that name no stream here, when they are valid JSON (default: leave them alone)")
	fs.BoolVar(&f.opts.DryRun, "dry-run", false, "print the letters by reason and stream and send nothing; joins no group, commits nothing")
	fs.DurationVar(&f.giveUpAfter, "give-up-after", 5*time.Minute, "report a batch's records as failed after retrying this long (0: retry until interrupted)")
	if err := fs.Parse(args); err != nil {
		return f, false
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	f.opts.Filter.Reasons, f.opts.Filter.Streams, f.opts.Filter.Sources = list(*reasons), list(*streams), list(*sources)
	for _, s := range f.opts.Filter.Streams {
		if !streamName.MatchString(s) {
			problems = append(problems, fmt.Sprintf("--stream: %q is not a delivery stream name (1-64 of a-z A-Z 0-9 _ . -)", s))
		}
	}
	if s := f.opts.ToStream; s != "" && !streamName.MatchString(s) {
		problems = append(problems, fmt.Sprintf("--to-stream: %q is not a delivery stream name (1-64 of a-z A-Z 0-9 _ . -)", s))
	}
	var err error
	if f.opts.Filter.Since, err = pointInTime(*since, now); err != nil {
		problems = append(problems, "--since: "+err.Error())
	}
	if f.opts.Filter.Until, err = pointInTime(*until, now); err != nil {
		problems = append(problems, "--until: "+err.Error())
	}
	if s, u := f.opts.Filter.Since, f.opts.Filter.Until; !s.IsZero() && !u.IsZero() && !s.Before(u) {
		problems = append(problems, fmt.Sprintf("--since (%s) must be before --until (%s)", s.Format(time.RFC3339), u.Format(time.RFC3339)))
	}
	if f.giveUpAfter < 0 {
		problems = append(problems, "--give-up-after must not be negative")
	}
	if len(problems) > 0 {
		fmt.Fprintf(stderr, "redrive: %s\n", strings.Join(problems, "\nredrive: "))
		return f, false
	}
	f.opts.GiveUpAfter = f.giveUpAfter
	return f, true
}

// list splits a comma-separated flag, dropping empty items.
func list(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// pointInTime reads RFC 3339 or a duration before now; "" is no bound.
func pointInTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-12-01T15:04:05Z) nor a duration ago (24h)", s)
}

func cmdRedrive(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, ok := parseRedriveFlags(args, time.Now(), stderr)
	if !ok {
		return 2
	}
	cfg, err := config.Load(f.config)
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%s\n", f.config, indent(err.Error()))
		return 1
	}
	if cfg.Kafka.DLQTopic == "" {
		fmt.Fprintf(stderr, "redrive: %s: %v\n", f.config, redrive.ErrNoDLQ)
		return 2
	}
	for _, id := range f.opts.Filter.Sources {
		if !hasSource(cfg, id) {
			fmt.Fprintf(stderr, "redrive: --source: %q is not a source of %s\n", id, f.config)
			return 2
		}
	}
	log := newLogger(cfg.Log, stderr)
	kc, err := connectKafka(ctx, cfg, log)
	if err != nil {
		log.Error("redrive stopped", "error", err)
		return 1
	}
	host, _ := os.Hostname()
	factory := awsclient.New(awsclient.Options{WorkerID: fmt.Sprintf("%s-%d-redrive", host, os.Getpid()), MaxConnsPerHost: cfg.Delivery.MaxInFlight * 8})
	o := f.opts
	o.Config = cfg
	o.Dialer, o.Transport, o.Logger = kc.Dialer, kc.Transport, log
	o.Clients = func(ctx context.Context, s config.Source) (delivery.PutRecordBatcher, error) {
		return factory.Firehose(ctx, awsclient.Key{Region: s.Region, RoleARN: s.RoleAddress, ExternalID: s.ExternalID()}, s.ID)
	}
	o.Progress, o.ProgressEvery = stderr, 10*time.Second
	if fd, ok := stderr.(*os.File); ok && term.IsTerminal(int(fd.Fd())) {
		o.Redraw, o.ProgressEvery = true, 500*time.Millisecond
	}
	tally, err := redrive.Run(ctx, o)
	if tally != nil {
		_ = tally.Write(stdout, o.DryRun)
	}
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "redrive: interrupted; letters not finished are read again by the next run")
		return 130
	case err != nil:
		log.Error("redrive stopped", "error", err)
		return 1
	case tally.Total().Failed > 0:
		fmt.Fprintf(stderr, "redrive: %d letter(s) could not be delivered; see the errors above\n", tally.Total().Failed)
		return 1
	}
	return 0
}

func hasSource(cfg *config.Config, id string) bool {
	for _, s := range cfg.Sources {
		if s.ID == id {
			return true
		}
	}
	return false
}
