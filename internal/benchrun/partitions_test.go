package main

import (
	"strings"
	"testing"
)

func TestPartitionScalingTargets(t *testing.T) {
	t.Parallel()
	ps := &PartitionScaling{Counts: []int{12, 192}, Rows: []PartitionRow{
		{Design: "worker", Mapping: "consume_only", Partitions: 12, CPUPerMillion: 2, SteadyCPUPerMillion: 1.1, SteadyLessScrapesPerMillion: 1.3, Runs: []float64{1.3, 0.9, 1}, EventsPerSec: 100, Idle: &IdleCost{CPUPct: 0.5, OpenFDs: 14, BrokerCPUPct: 1}},
		{Design: "worker", Mapping: "consume_only", Partitions: 192, CPUPerMillion: 2.2, SteadyCPUPerMillion: 1.6, SteadyLessScrapesPerMillion: 1.2, Runs: []float64{1.2, 1.4, 1.5}, EventsPerSec: 90, Idle: &IdleCost{CPUPct: 0.6, OpenFDs: 15, BrokerCPUPct: 1.2}},
		{Design: "batch_consume", Mapping: "none", Partitions: 12, CPUPerMillion: 1, Idle: &IdleCost{CPUPct: 0.4, OpenFDs: 20, BrokerCPUPct: -1}},
		{Design: "batch_consume", Mapping: "none", Partitions: 192, CPUPerMillion: 1.1, Idle: &IdleCost{CPUPct: 4, OpenFDs: 200, BrokerCPUPct: -1}},
		{Design: "worker", Mapping: "fan_out", Partitions: 12, CPUPerMillion: 10},
		{Design: "worker", Mapping: "fan_out", Partitions: 192, Error: "no progress"},
	}}
	want := map[string]string{
		// Medians 1 and 1.4: 1.4x, though the first runs alone give 0.92x.
		"worker CPU per event, 192 vs 12 partitions (consume_only, first to last event, median of the runs)": "FAIL",
		"worker idle CPU, 192 vs 12 partitions":         "PASS", // 1.2x
		"worker open descriptors, 192 vs 12 partitions": "PASS", // +1
	}
	got := map[string]string{}
	for _, tg := range ps.targets() {
		got[strings.TrimPrefix(tg.Name, "partition scaling: ")] = passText(tg.Pass)
	}
	for name, res := range want {
		if got[name] != res {
			t.Errorf("target %q: %s, want %s (all: %v)", name, got[name], res, got)
		}
	}
	if _, ok := got["worker CPU per event, 192 vs 12 partitions (fan_out, whole process)"]; ok {
		t.Errorf("a fan-out target without its 192-partition row: %v", got)
	}

	lines := map[string][]string{}
	for _, l := range ps.table() {
		lines[l[0]+"/"+l[1]+"/"+l[2]] = l[3:]
	}
	if l := lines["worker/consume_only/"+medianMeasure]; strings.Join(l, " ") != "1.00 1.40 1.40x" {
		t.Errorf("consume-only medians: %q", l)
	}
	if got, want := ps.runsText(), "12 partitions 1.30, 0.90, 1.00 (median 1.00); 192 partitions 1.20, 1.40, 1.50 (median 1.40)"; got != want {
		t.Errorf("runsText() = %q, want %q", got, want)
	}
	if l := lines["batch_consume/none/idle open descriptors"]; strings.Join(l, " ") != "20 200 10.00x" {
		t.Errorf("batch_consume descriptors: %q", l)
	}
	if _, ok := lines["batch_consume/none/broker CPU while idle, % of a core"]; ok {
		t.Errorf("a broker line without a known broker: %v", lines)
	}
	if l := lines["worker/fan_out/backlog CPU-s per M events, whole process"]; strings.Join(l, " ") != "10.00 n/a n/a" {
		t.Errorf("fan-out line with a failed row: %q", l)
	}
}

func TestParseCounts(t *testing.T) {
	t.Parallel()
	if got, err := parseCounts("12, 192"); err != nil || len(got) != 2 || got[0] != 12 || got[1] != 192 {
		t.Errorf("parseCounts(12, 192) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "12,", "0", "x"} {
		if _, err := parseCounts(bad); err == nil {
			t.Errorf("parseCounts(%q) took it", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	vs := []float64{3, 1, 2}
	if got := median(vs); got != 2 {
		t.Errorf("median(3, 1, 2) = %v", got)
	}
	if vs[0] != 3 {
		t.Errorf("median sorted its argument: %v", vs)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median(4, 1, 3, 2) = %v", got)
	}
}
