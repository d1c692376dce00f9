#!/usr/bin/env bash
# End-to-end test of Kafka connection security: SCRAM-SHA-512 over TLS
# against a real Apache Kafka broker (internal/e2esec). The test starts and
# stops its own broker with scripts/kafka.sh on FHW_E2ESEC_KAFKA_PORT
# (default 19192; it also uses the next two ports), so it leaves the broker
# of the other end-to-end tests alone.
#
# Usage: scripts/e2e-sec.sh [go test flags, e.g. -run Wrong]
# Needs: go, java 17+ (and mvn once, to fetch the Kafka jars), openssl.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
for tool in go java openssl; do
  command -v "$tool" >/dev/null || { echo "e2e-sec: $tool not found" >&2; exit 1; }
done
cd "$ROOT"
exec go test -tags e2e -count=1 -timeout 10m -v ./internal/e2esec/ "$@"
