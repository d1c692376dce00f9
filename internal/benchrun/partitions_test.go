package main

import (
	"strings"
	"testing"
)

func TestPartitionScalingTargets(t *testing.T) {
	t.Parallel()
	ps := &PartitionScaling{Counts: []int{12, 192}, Rows: []PartitionRow{
		{Design: "worker", Mapping: "consume_only", Partitions: 12, CPUPerMillion: 2, SteadyCPUPerMillion: 1.1, SteadyLessScrapesPerMillion: 1, EventsPerSec: 100, Idle: &IdleCost{CPUPct: 0.5, OpenFDs: 14, BrokerCPUPct: 1}},
		{Design: "worker", Mapping: "consume_only", Partitions: 192, CPUPerMillion: 2.2, SteadyCPUPerMillion: 1.6, SteadyLessScrapesPerMillion: 1.4, EventsPerSec: 90, Idle: &IdleCost{CPUPct: 0.6, OpenFDs: 15, BrokerCPUPct: 1.2}},
		{Design: "batch_consume", Mapping: "none", Partitions: 12, CPUPerMillion: 1, Idle: &IdleCost{CPUPct: 0.4, OpenFDs: 20, BrokerCPUPct: -1}},
		{Design: "batch_consume", Mapping: "none", Partitions: 192, CPUPerMillion: 1.1, Idle: &IdleCost{CPUPct: 4, OpenFDs: 200, BrokerCPUPct: -1}},
		{Design: "worker", Mapping: "fan_out", Partitions: 12, CPUPerMillion: 10},
		{Design: "worker", Mapping: "fan_out", Partitions: 192, Error: "no progress"},
	}}
	want := map[string]string{
		"worker CPU per event, 192 vs 12 partitions (consume_only, first to last event)": "FAIL", // 1.4x; 1.1x over the whole process
		"worker idle CPU, 192 vs 12 partitions":                                          "PASS", // 1.2x
		"worker open descriptors, 192 vs 12 partitions":                                  "PASS", // +1
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
