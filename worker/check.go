package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/preflight"
)

// cmdCheck validates the file; with --connect it also runs the preflight
// against Kafka and AWS, one line per check, and exits 1 naming every
// problem.
func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "path to the YAML configuration")
	connect := fs.Bool("connect", false, "also dial the brokers, look up the topics, write a probe to the dead-letter topic, assume the roles and describe the streams")
	timeout := fs.Duration("timeout", 15*time.Second, "with --connect: the longest wait of each network check")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "check: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, code := loadConfigFile(*path, stderr)
	if cfg == nil {
		return code
	}
	fmt.Fprintf(stdout, "%s is valid\n%s", *path, cfg.Summary())
	if !*connect {
		return 0
	}
	host, _ := os.Hostname()
	fmt.Fprintln(stdout, "\npreflight:")
	results, err := preflight.Run(ctx, cfg, preflight.Options{
		Timeout:  *timeout,
		WorkerID: fmt.Sprintf("%s-%d", host, os.Getpid()),
		Logger:   newLogger(config.Log{Level: "warn", Format: "text"}, stderr),
	})
	n := 0
	for _, r := range results {
		fmt.Fprintln(stdout, r)
		if r.Status == preflight.Failed {
			n++
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %d problem(s) found:\n%s\n", *path, n, indent(err.Error()))
		return 1
	}
	fmt.Fprintf(stdout, "%s: every check passed\n", *path)
	return 0
}

// loadConfig parses the --config flag of cmd and loads the file. On failure
// it reports every problem, one "key: reason" per line, and returns a nil
// config with the exit code to use.
func loadConfig(cmd string, args []string, stderr io.Writer) (*config.Config, string, int) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "path to the YAML configuration")
	if err := fs.Parse(args); err != nil {
		return nil, "", 2
	}
	cfg, code := loadConfigFile(*path, stderr)
	return cfg, *path, code
}

// loadConfigFile loads path, reporting every problem on stderr.
func loadConfigFile(path string, stderr io.Writer) (*config.Config, int) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%s\n", path, indent(err.Error()))
		return nil, 1
	}
	return cfg, 0
}

// indent indents every line of s by two spaces.
func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
