#!/usr/bin/env bash
# Runs every native Go fuzz target for a bounded budget each:
# `scripts/fuzz.sh 500000x` (inputs per target) or `scripts/fuzz.sh 20s`.
# Go runs one fuzz target per invocation, so targets are listed and run in turn.
#
# Prefer a count (`Nx`): with a duration, Go 1.26's fuzz coordinator can
# report its own end-of-time deadline as a failure, "context deadline
# exceeded" with no crasher written (golang/go#75804, fixed in Go 1.27 only).
# A count has no deadline to race, so a failure here is always a real input.
set -euo pipefail
cd "$(dirname "$0")/.."
time_per_target="${1:-500000x}"
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
