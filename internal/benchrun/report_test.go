package main

import (
	"strings"
	"testing"
)

// The consume-only target prints both of its references, the batch-API
// reader and that reader decoding every value (the row's floor), and is
// judged on the worker's own figure.
func TestConsumeOnlyTargetShowsItsFloors(t *testing.T) {
	t.Parallel()
	rep := &Report{Runs: []*RunResult{
		{Name: "batch_consume", CPUPerMillion: 0.8, EventsPerSec: 1000},
		{Name: "batch_decode", CPUPerMillion: 1.7, EventsPerSec: 600},
		{Name: "worker_consume_only", CPUPerMillion: 2.1, EventsPerSec: 300},
	}}
	rep.evaluate()
	var got *Target
	for i := range rep.Targets {
		if strings.HasPrefix(rep.Targets[i].Name, "consume-only CPU-seconds") {
			got = &rep.Targets[i]
		}
	}
	if got == nil {
		t.Fatalf("no consume-only target in %+v", rep.Targets)
	}
	want := "2.10 (2.62x the batch-API consumer's 0.80); the batch-API consumer that also decodes, its floor: 1.70"
	if got.Got != want {
		t.Errorf("got %q\nwant %q", got.Got, want)
	}
	if got.Pass == nil || *got.Pass {
		t.Errorf("2.10 against 1.5 must fail, got %v", got.Pass)
	}
}

// The latency phase is judged on its CPU per event as well as its p99.
func TestLatencyPhaseCPUIsATarget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cpu  float64
		pass bool
	}{{9.6, true}, {15.67, false}} {
		rep := &Report{Runs: []*RunResult{{Name: "latency", CPUPerMillion: tc.cpu, Latency: &Latency{P50Ms: 100, P99Ms: 300}}}}
		rep.evaluate()
		var got *Target
		for i := range rep.Targets {
			if rep.Targets[i].Name == "CPU-seconds per million events at 5,000 events/s" {
				got = &rep.Targets[i]
			}
		}
		if got == nil {
			t.Fatalf("no CPU target for the latency phase in %+v", rep.Targets)
		}
		if got.Pass == nil || *got.Pass != tc.pass {
			t.Errorf("%.2f CPU-s per million against 15: pass = %v, want %v", tc.cpu, got.Pass, tc.pass)
		}
	}
}
