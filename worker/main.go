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
	"slices"
	"strings"
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

// command is one subcommand.
type command struct {
	name    string
	aliases []string
	args    string    // shown in usage
	help    string    // one line, shown in usage; "" hides the command
	more    [2]string // an optional second usage line: args and help
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands is every subcommand, in the order usage lists them. A new
// subcommand is one more line here.
func commands() []command {
	return []command{
		{name: "run", args: "--config FILE", help: "consume, deliver to Firehose, commit after acknowledgement", run: cmdRun},
		{name: "check", args: "--config FILE", help: "validate a config and print a summary", run: cmdCheck,
			more: [2]string{"[--connect]", "and check Kafka, the topics, the roles and the streams"}},
		{name: "sandbox", args: "[flags]", help: "run the worker on an embedded Kafka and Firehose", run: cmdSandbox},
		{name: "produce", args: "[flags]", help: "send generated or replayed Segment events to a topic", run: cmdProduce},
		{name: "redrive", args: "--config FILE", help: "send dead letters back to the stream that refused them", run: cmdRedrive},
		{name: "version", aliases: []string{"--version", "-v"}, help: "print the version", run: cmdVersion},
		{name: "help", aliases: []string{"-h", "--help"}, run: cmdHelp},
	}
}

func cmdVersion(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprintln(stdout, "firehose-worker", buildVersion())
	return 0
}

func cmdHelp(_ context.Context, _ []string, stdout, _ io.Writer) int {
	fmt.Fprint(stdout, usage())
	return 0
}

// usage lists the commands of the table.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: firehose-worker <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		if c.help != "" {
			fmt.Fprintf(&b, "  %-8s %-15s %s\n", c.name, c.args, c.help)
		}
		if c.more[0] != "" {
			fmt.Fprintf(&b, "  %-8s %-15s %s\n", "", c.more[0], c.more[1])
		}
	}
	return b.String()
}

// cli runs one command and returns the process exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return 2
	}
	name, rest := args[0], args[1:]
	for _, c := range commands() {
		if c.name == name || slices.Contains(c.aliases, name) {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "firehose-worker: unknown command %q\n\n%s", name, usage())
	return 2
}
