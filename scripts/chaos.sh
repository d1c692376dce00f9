#!/usr/bin/env bash
# Chaos run (internal/chaos, build tag chaos): a fresh Apache Kafka broker
# (scripts/kafka.sh) and moto (scripts/aws.sh) on ports of their own, so the
# run never disturbs another one or the e2e tier, then
#   go test -tags chaos -count=1 -v -run '^TestChaos$' ./internal/chaos/
# and, whatever happened, both services are stopped. The exit status is the
# test's: non-zero when any message is missing (see internal/chaos/doc.go).
#
# Usage:
#   scripts/chaos.sh                                       # CI size: 30,000 events, 4 kills
#   CHAOS_EVENTS=1000000 CHAOS_KILLS=20 scripts/chaos.sh   # the full run (make chaos)
#
# Env knobs (defaults) for the run itself; see internal/chaos/options_test.go:
#   CHAOS_EVENTS=30000 CHAOS_KILLS=4 CHAOS_BROKER_RESTARTS=1 CHAOS_WORKERS=3
#   CHAOS_PARTITIONS=12 CHAOS_DURATION= (production window; default 30 s per
#   disruption, at least 60 s, at most 1,000 events/s) CHAOS_STORMS= (one per
#   4 min of window, at least 1) CHAOS_STORM_DURATION=10s CHAOS_SEED=
#   CHAOS_INVALID_EVERY=2000 CHAOS_OPT_OUT=0.01 CHAOS_THROTTLE=0.02
#   CHAOS_FAIL_RECORDS=0.01 CHAOS_DROP=0.01 CHAOS_LATENCY_MAX=60ms
#   CHAOS_DRAIN_TIMEOUT=5m CHAOS_RECOVERY_TIMEOUT=3m CHAOS_WORKER_DRAIN=4s
#   CHAOS_RACE=0 (1: build the worker with -race) CHAOS_WORKER_BIN= (use this
#   binary instead of building ./worker)
#   CHAOS_REPORT_DIR=.cache/chaos   reports go to CHAOS_REPORT_DIR/<run id>/
#       (report.md, report.json, lag.csv, workers/, test.log); "latest" links
#       to the newest
#   CHAOS_TEST_TIMEOUT=3h           go test -timeout
# and for the services:
#   KAFKA_PORT=19292 AWS_EMULATOR_PORT=14666 AWS_BUCKET=firehose-worker-chaos
#   KAFKA_DATA_DIR=.cache/chaos/kafka-$KAFKA_PORT   emptied before each run
#       (a fresh cluster) and removed after a passing one; CHAOS_KEEP_DATA=1 keeps it
#   KAFKA_HEAP (scripts/kafka.sh's default, -Xms256m -Xmx768m)
# Two runs at once need their own KAFKA_PORT and AWS_EMULATOR_PORT (the
# scripts refuse a port another process holds). Sizes on this 2-core
# machine: the CI size takes ~3.5 min, 1,000,000 events ~20 min.
set -euo pipefail

# The report names the command that produced it: every CHAOS_* knob the
# caller set, taken before this script sets any.
cmdline=
for v in $(compgen -v CHAOS_); do
  [[ $v == CHAOS_COMMAND || $v == CHAOS_WORKER_VERSION || -z ${!v} ]] || cmdline+="$v=${!v} "
done

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
cd "$ROOT"

export KAFKA_PORT=${KAFKA_PORT:-19292}
export AWS_EMULATOR_PORT=${AWS_EMULATOR_PORT:-14666}
export AWS_BUCKET=${AWS_BUCKET:-firehose-worker-chaos}
export KAFKA_DATA_DIR=${KAFKA_DATA_DIR:-$ROOT/.cache/chaos/kafka-$KAFKA_PORT}
# The test creates per-run delivery streams itself; aws.sh's setup makes one
# placeholder so it does not create the e2e tier's streams here.
export FIREHOSE_STREAMS=${FIREHOSE_STREAMS:-chaos-placeholder}
export CHAOS_REPORT_DIR=${CHAOS_REPORT_DIR:-$ROOT/.cache/chaos}
[[ $CHAOS_REPORT_DIR == /* ]] || CHAOS_REPORT_DIR=$ROOT/$CHAOS_REPORT_DIR
CHAOS_TEST_TIMEOUT=${CHAOS_TEST_TIMEOUT:-3h}
export CHAOS_COMMAND="${cmdline}bash scripts/chaos.sh${*:+ $*}"
# ... and the worker it ran (read-only git query; "unknown" outside a clone).
rev=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)
if [[ -n ${CHAOS_WORKER_BIN:-} ]]; then
  CHAOS_WORKER_VERSION="binary $CHAOS_WORKER_BIN (tree at $rev)"
else
  CHAOS_WORKER_VERSION="built from $rev"
fi
export CHAOS_WORKER_VERSION

log() { echo "chaos: $*" >&2; }

rc=0
# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_services() {
  local status=$?
  trap - EXIT INT TERM
  ((rc == 0)) && rc=$status
  log "stopping the services"
  "$SCRIPT_DIR/kafka.sh" stop || true
  # The broker's log goes with the report: group membership (evictions,
  # rebalances) is only visible there.
  if [[ -n ${run_dir:-} && -f $KAFKA_DATA_DIR/logs/server.log ]]; then
    gzip -c "$KAFKA_DATA_DIR/logs/server.log" >"$run_dir/kafka-server.log.gz" || true
  fi
  "$SCRIPT_DIR/aws.sh" stop || true
  if ((rc == 0)) && [[ ${CHAOS_KEEP_DATA:-0} != 1 ]]; then
    rm -rf "$KAFKA_DATA_DIR"
  fi
  exit "$rc"
}
trap stop_services EXIT
trap 'rc=130; exit 130' INT
trap 'rc=143; exit 143' TERM

start=$SECONDS
# A fresh cluster: leftovers of an earlier (aborted) run would only cost
# disk and start time.
"$SCRIPT_DIR/kafka.sh" stop >/dev/null 2>&1 || true
rm -rf "$KAFKA_DATA_DIR"
mkdir -p "$CHAOS_REPORT_DIR"
"$SCRIPT_DIR/kafka.sh" start
"$SCRIPT_DIR/aws.sh" start
log "services up in $((SECONDS - start))s (Kafka 127.0.0.1:$KAFKA_PORT, moto 127.0.0.1:$AWS_EMULATOR_PORT); running the chaos test"

export CHAOS_RUN_ID=${CHAOS_RUN_ID:-$(date -u +%Y%m%d-%H%M%S)}
run_dir=$CHAOS_REPORT_DIR/$CHAOS_RUN_ID
mkdir -p "$run_dir"
go test -tags chaos -count=1 -timeout "$CHAOS_TEST_TIMEOUT" -v -run '^TestChaos$' ./internal/chaos/ "$@" 2>&1 | tee "$run_dir/test.log" || rc=$?
log "chaos test finished with status $rc after $((SECONDS - start))s; report: $run_dir/report.md (and .json), test log: $run_dir/test.log"
exit "$rc"
