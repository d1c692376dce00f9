// Command benchrun is the end-to-end benchmark harness behind `make bench`
// (scripts/bench.sh). Every measured party runs as its own OS process, so
// CPU time and peak RSS are those of that process alone (getrusage of the
// child: user+system time, ru_maxrss), and RSS over time is sampled from
// /proc/<pid>/status once a second.
//
//	benchrun all          orchestrate everything below and write the report
//	benchrun broker       an in-process franz-go kfake broker (fallback when
//	                      Java is missing; real Apache Kafka is preferred)
//	benchrun endpoint     a Firehose-compatible endpoint (firehosesim) that
//	                      acknowledges at once and counts what it accepted
//	benchrun refconsume   reference 1: a bare kafka-go consumer group that
//	                      reads the topic through kafka.Reader and discards it
//	benchrun batchref     reference 1b: the same group reading each partition
//	                      through kafka-go's batch API (Conn.ReadBatchWith,
//	                      Batch.Read), the client's floor
//	benchrun batchdecode  reference 1c: batchref decoding every value with
//	                      the worker's decoder, the consume-only floor
//	benchrun refsdk       reference 2: the straightforward pipeline with the
//	                      SDK at its defaults (encoding/json, 500 per call)
//	benchrun micro        turn `go test -bench` output into report sections
//
// The figures that matter are ratios taken within one run on the same data:
// the machine this runs on is shared and noisy, absolute numbers are not
// comparable between runs.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: benchrun <command> [flags]

commands:
  all         run the whole benchmark and write scripts/bench-report-<date>.{md,json}
  broker      serve an in-process Kafka (kfake) until SIGTERM
  endpoint    serve a counting Firehose-compatible endpoint until SIGTERM
  refconsume  bare kafka-go consumer group reference (kafka.Reader)
  batchref    bare consumer group on kafka-go's batch API (Conn.ReadBatchWith)
  batchdecode batchref that also decodes every value with the worker's decoder
  refsdk      straightforward SDK-defaults pipeline reference
  micro       append parsed 'go test -bench' output to a report
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// cli runs one command and returns the process exit code.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	commands := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"all":         cmdAll,
		"broker":      cmdBroker,
		"endpoint":    cmdEndpoint,
		"refconsume":  cmdRefConsume,
		"batchref":    cmdBatchRef,
		"batchdecode": cmdBatchDecode,
		"refsdk":      cmdRefSDK,
		"micro":       cmdMicro,
	}
	run, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "benchrun: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err := run(ctx, args[1:], stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "benchrun %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
