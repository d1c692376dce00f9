// Command firehose-worker consumes Segment events from Kafka and delivers
// them to Amazon Kinesis Data Firehose, committing offsets only after
// Firehose has acknowledged every record behind them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: firehose-worker <command> [flags]

commands:
  run      --config FILE   consume, deliver to Firehose, commit after acknowledgement
  check    --config FILE   validate a config and print a summary
           [--connect]     and check Kafka, the topics, the roles and the streams
  sandbox  [flags]         run the worker on an embedded Kafka and Firehose
  produce  [flags]         send generated or replayed Segment events to a topic
  redrive  --config FILE   send dead letters back to the stream that refused them
  version                  print the version
`

// cli runs one command and returns the process exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "check":
		return cmdCheck(ctx, rest, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "firehose-worker", buildVersion())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		if extra, ok := extraCommands[cmd]; ok {
			return extra(ctx, rest, stdout, stderr)
		}
		fmt.Fprintf(stderr, "firehose-worker: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
}

// extraCommands are registered by the files that implement them.
var extraCommands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) int{}
