#!/usr/bin/env bash
# End-to-end tests (internal/e2e, build tag e2e): starts a real Apache Kafka
# broker (scripts/kafka.sh) and the moto AWS emulator (scripts/aws.sh), runs
#   go test -tags e2e -count=1 -timeout 20m -v ./internal/e2e/ [ARGS...]
# against them, and stops both when it exits, whether the tests passed,
# failed or were interrupted. The exit status is the tests'.
#
# Usage:
#   scripts/e2e.sh                       # every test
#   scripts/e2e.sh -run 'TestDelivery'   # extra arguments go to go test
#
# Env knobs (defaults):
#   KAFKA_PORT=19092 AWS_EMULATOR_PORT=14566   where the services listen; the
#       tests are pointed there through FHW_E2E_KAFKA and FHW_E2E_AWS
#   AWS_BUCKET=firehose-worker-e2e   bucket the tests' delivery streams write to
#   E2E_REPORT_DIR=                  when set, one JSON report per test (events,
#       records, duplicates, seconds) and every worker's log are written there
#   FHW_E2E_RACE=0                   1 builds the worker with the race detector
#   AWS_AUTH_EMULATOR_PORT=AWS_EMULATOR_PORT+1   where TestRefusedRole starts
#       its own moto (IAM enforcement is server-wide, so it cannot share the
#       other tests' emulator), passed as FHW_E2E_AWS_AUTH_PORT; the test
#       stops it, and this script stops that port too on exit in case the
#       test could not (killed, timed out)
#
# TestBrokerRestart restarts the broker on KAFKA_PORT; do not share that
# broker with anything else while the tests run. moto keeps everything in
# memory, so stopping it discards the test objects.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
cd "$ROOT"

export KAFKA_PORT=${KAFKA_PORT:-19092}
export AWS_EMULATOR_PORT=${AWS_EMULATOR_PORT:-14566}
export AWS_BUCKET=${AWS_BUCKET:-firehose-worker-e2e}
export FHW_E2E_KAFKA=127.0.0.1:$KAFKA_PORT
export FHW_E2E_AWS=http://127.0.0.1:$AWS_EMULATOR_PORT
export FHW_E2E_BUCKET=$AWS_BUCKET
export AWS_AUTH_EMULATOR_PORT=${AWS_AUTH_EMULATOR_PORT:-$((AWS_EMULATOR_PORT + 1))}
export FHW_E2E_AWS_AUTH_PORT=$AWS_AUTH_EMULATOR_PORT

log() { echo "e2e: $*" >&2; }

# shellcheck disable=SC2317  # invoked by the EXIT trap
stop_services() {
  local rc=$?
  trap - EXIT INT TERM
  log "stopping the services"
  "$SCRIPT_DIR/kafka.sh" stop || true
  "$SCRIPT_DIR/aws.sh" stop || true
  # Normally stopped by its test already; quiet unless something was left.
  AWS_EMULATOR_PORT=$AWS_AUTH_EMULATOR_PORT "$SCRIPT_DIR/aws.sh" stop | grep -v 'not running' || true
  exit "$rc"
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start=$SECONDS
"$SCRIPT_DIR/kafka.sh" start
"$SCRIPT_DIR/aws.sh" start
log "services up in $((SECONDS - start))s; running the tests"

rc=0
go test -tags e2e -count=1 -timeout 20m -v ./internal/e2e/ "$@" || rc=$?
log "tests finished with status $rc after $((SECONDS - start))s in all"
exit "$rc"
