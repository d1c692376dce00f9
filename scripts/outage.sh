#!/usr/bin/env bash
# A long Firehose outage (internal/e2e TestLongOutage): for OUTAGE (default
# 5m) every Firehose call is refused while 2,000 events/s arrive; then the
# worker must catch up. Checks RSS (< 100 MiB, flat), /readyz (unready, then
# ready again), nothing lost, full rate again within 30 s. Takes OUTAGE plus
# about 3 minutes, so CI (.ci/run) does not run it; `make outage` does.
#
# Starts and stops Kafka and moto through scripts/e2e.sh (same port knobs:
# KAFKA_PORT, AWS_EMULATOR_PORT). The test's JSON report, with one sample a
# second (RSS, readiness, delivered records), and the worker's log go to
# OUTAGE_REPORT_DIR (default .cache/outage/<UTC time>).
set -euo pipefail
SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
export FHW_E2E_OUTAGE=${OUTAGE:-5m}
export E2E_REPORT_DIR=${OUTAGE_REPORT_DIR:-$ROOT/.cache/outage/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$E2E_REPORT_DIR"
echo "outage: Firehose down for $FHW_E2E_OUTAGE; report in $E2E_REPORT_DIR" >&2
exec "$SCRIPT_DIR/e2e.sh" -run '^TestLongOutage$' "$@"
