#!/usr/bin/env bash
# Runs every native Go fuzz target for a bounded time each: `scripts/fuzz.sh 20s`.
# Go runs one fuzz target per invocation, so targets are listed and run in turn.
set -euo pipefail
cd "$(dirname "$0")/.."
time_per_target="${1:-20s}"
status=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz: $pkg $target for $time_per_target"
    # -fuzzminimizetime 0: Go minimizes every input that widens coverage,
    # not only crashers, and a long input can take tens of seconds, during
    # which no input is run; when the run's time ends meanwhile, Go reports
    # "context deadline exceeded" as a failure. A crasher is still saved
    # as found, unminimized.
    if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$time_per_target" -fuzzminimizetime 0 "$pkg"; then
      status=1
    fi
  done
done
exit $status
