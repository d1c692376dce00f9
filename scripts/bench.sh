#!/usr/bin/env bash
# Benchmark harness behind `make bench`: the end-to-end run of
# internal/benchrun (`benchrun all`), then the Go micro-benchmarks with
# allocation counts, both written to scripts/bench-report-<YYYY-MM-DD>.{md,json}
# (BENCH_REPORT=path/without-extension to name it otherwise) and printed as
# tables.
#
# End to end: a fresh single-node Apache Kafka (scripts/kafka.sh on its own
# port and data dir; franz-go kfake in a subprocess if Java is missing), a
# dataset of BENCH_EVENTS generated Segment events on a 12-partition topic,
# and, one after the other on the same data, each its own OS process:
#   bare kafka-go consumer group on kafka.Reader (reference 1) and on
#   kafka-go's batch API (reference 1b, the client's floor), the worker with
#   a mapping that matches nothing (consume-only), the straightforward SDK
#   pipeline (reference 2), the worker (with a CPU profile), the worker at
#   5,000 events/s for latency, the worker against a per-stream quota
#   (adaptive, fixed 16, and with 30% of records throttled), the worker
#   with aggregation (S3 objects read back and compared), and partition
#   scaling: on a topic of 12 and one of 192 partitions (BENCH_PARTITION_EVENTS
#   each), the worker and the batch-API reader on the backlog, then idle.
# Ratios within one run are what count: the machine is shared and noisy.
#
# Usage: scripts/bench.sh            (make bench; ~8-12 minutes at 1,000,000 events)
#        BENCH_EVENTS=100000 scripts/bench.sh        quick check
#
# Env knobs (defaults):
#   BENCH_EVENTS=1000000          events in the dataset
#   BENCH_BROKER=auto             auto | kafka | kfake
#   BENCH_KAFKA_PORT=19392        broker port (controller port +1); data in .cache/kafka/bench-<port>
#   BENCH_LATENCY_RATE=5000       events/s of the latency phase
#   BENCH_LATENCY_SECONDS=20      its length
#   BENCH_QUOTA_RECORDS=10000     per-stream quota, records/s
#   BENCH_QUOTA_BYTES=10485760    per-stream quota, bytes/s
#   BENCH_QUOTA_SECONDS=30        length of each quota run after its first acknowledgement
#   BENCH_PROFILE_SECONDS=20      worker CPU profile during the end-to-end run (0: off)
#   BENCH_PHASES=consume,batchref,consumeonly,sdk,worker,latency,quota,aggregate,partitions
#   BENCH_PARTITION_COUNTS=12,192 partition counts the partitions phase compares
#   BENCH_PARTITION_EVENTS=600000 events on each of its topics
#   BENCH_PARTITION_RUNS=3        consume-only backlog runs per count, taking turns
#                                 (the 192/12 target is judged on their medians)
#   BENCH_IDLE_SECONDS=20         its idle window (CPU, descriptors, broker CPU)
#   BENCH_PARTITION_FANOUT=1      0 skips its worker runs with the fan-out mapping
#   BENCH_MICRO=1                 0 skips the micro-benchmarks
#   BENCH_BENCHTIME=1s            -benchtime of the micro-benchmarks
#   BENCH_KEEP=0                  1 keeps the Kafka data dir and the S3 objects
#   BENCH_WORK_DIR=.cache/bench   logs, generated configs, profile, binaries
#   BENCH_WORKER_YAML=            appended to every worker config, for experiments
#                                 (top-level sections it lacks: memory:, batch:)
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

WORK=${BENCH_WORK_DIR:-.cache/bench}
BENCHTIME=${BENCH_BENCHTIME:-1s}
REPORT=${BENCH_REPORT:-scripts/bench-report-$(date +%F)}
MICRO_PKGS=(./internal/kafkawire ./internal/segment ./internal/route ./internal/batch ./internal/delivery
  ./internal/firehosesim ./internal/eventgen ./internal/benchrun)
mkdir -p "$WORK"

echo "bench: building benchrun and the worker" >&2
go build -o "$WORK/benchrun" ./internal/benchrun
CGO_ENABLED=0 go build -trimpath -o "$WORK/firehose-worker" ./worker

rc=0
BENCH_WORKER_BIN=$WORK/firehose-worker "$WORK/benchrun" all \
  --work-dir "$WORK" --report "$REPORT" || rc=$?

if [[ ${BENCH_MICRO:-1} == 1 ]]; then
  cmd="go test -run '^\$' -bench . -benchmem -count 1 -benchtime $BENCHTIME ${MICRO_PKGS[*]}"
  echo "bench: $cmd" >&2
  # A package that does not build (work in progress elsewhere) is reported,
  # not fatal: the other packages' figures still count.
  go test -run '^$' -bench . -benchmem -count 1 -benchtime "$BENCHTIME" "${MICRO_PKGS[@]}" \
    >"$WORK/micro.txt" 2>&1 || echo "bench: some micro-benchmarks failed; see the report" >&2
  grep -E '^(pkg:|Benchmark|FAIL|ok|---)' "$WORK/micro.txt" || true
  "$WORK/benchrun" micro --in "$WORK/micro.txt" --report "$REPORT" --command "$cmd" || rc=$?
fi

echo "bench: report in $REPORT.md and $REPORT.json" >&2
exit "$rc"
