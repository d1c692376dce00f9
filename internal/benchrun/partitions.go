package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
)

// The partition scaling phase: how the cost of reading grows with the
// partition count, for the worker (one multi-partition fetch per broker)
// and for the batch-API reader (one connection and fetch loop per
// partition, the other design). Each partition count has a topic of its
// own with the same number of events, so only the partition count differs.

// PartitionScaling is the result of the partitions phase.
type PartitionScaling struct {
	Counts []int `json:"partition_counts"`
	// Events is what each count's topic holds.
	Events      int64 `json:"events"`
	IdleSeconds int   `json:"idle_seconds"`
	// BrokerBaselinePct is the broker's CPU (% of one core) over an idle
	// window with no client attached, measured once before the rows; the
	// rows' broker figures include it.
	BrokerBaselinePct float64        `json:"broker_baseline_cpu_pct"`
	Rows              []PartitionRow `json:"rows"`
}

// PartitionRow is one design with one mapping on one partition count.
type PartitionRow struct {
	// Design is "worker" or "batch_consume"; Mapping "consume_only" or
	// "fan_out" (the worker's), "none" for the reader.
	Design     string `json:"design"`
	Mapping    string `json:"mapping"`
	Partitions int    `json:"partitions"`
	// Backlog figures: the whole topic read from the start.
	Events        int64   `json:"events"`
	Seconds       float64 `json:"seconds"`
	EventsPerSec  float64 `json:"events_per_s"`
	CPUSeconds    float64 `json:"cpu_s"`
	CPUPerMillion float64 `json:"cpu_s_per_million"`
	// SteadyCPUPerMillion is from the first events read to the last,
	// without start-up and group join (which grow with partitions too, but
	// not with events); 0 for the fan-out rows.
	SteadyCPUPerMillion float64 `json:"steady_cpu_s_per_million,omitempty"`
	// For the consume-only worker: what one of the harness's /metrics
	// scrapes costs it (measured caught up), how many fell between its first
	// and last event, and the steady figure without them.
	ScrapeCPUMs                 float64 `json:"scrape_cpu_ms,omitempty"`
	Scrapes                     int     `json:"scrapes,omitempty"`
	SteadyLessScrapesPerMillion float64 `json:"steady_cpu_s_per_million_less_scrapes,omitempty"`
	// Runs holds that figure for every backlog run of the consume-only
	// worker on this count, this row's first (see PartitionRuns).
	Runs       []float64 `json:"steady_cpu_s_per_million_less_scrapes_runs,omitempty"`
	PeakRSSMiB float64   `json:"peak_rss_mib"`
	// Idle figures, caught up with nothing to read, over IdleSeconds
	// (absent for rows measured on the backlog only).
	Idle  *IdleCost `json:"idle,omitempty"`
	Error string    `json:"error,omitempty"`
}

// IdleCost is what a caught-up reader costs with nothing to read.
type IdleCost struct {
	// CPUPct is the process's CPU over the window, % of one core.
	CPUPct float64 `json:"cpu_pct"`
	// OpenFDs counts /proc/<pid>/fd at the end of the window.
	OpenFDs int `json:"open_fds"`
	// BrokerCPUPct is the broker's CPU in the same window, % of one core;
	// -1 when the broker's process is not known.
	BrokerCPUPct float64 `json:"broker_cpu_pct"`
}

// partitionSettle is how long a caught-up reader is left before its idle
// window: the last commit, the end of the backlog's garbage collection.
const partitionSettle = 3 * time.Second

// scrapeCostSeconds is how long the caught-up consume-only worker is
// scraped to measure what a scrape costs it.
const scrapeCostSeconds = 5

func partitionTopic(n int) string { return "bench-parts-" + strconv.Itoa(n) }

// runPartitions measures, for each partition count, the worker
// (consume-only on the backlog, then idle; fan-out on the backlog) and the
// batch-API reader (backlog, then idle).
func (b *bench) runPartitions(ctx context.Context) *RunResult {
	r := &RunResult{Name: "partitions", Kind: "partitions", Description: "partition scaling"}
	ps := &PartitionScaling{Counts: b.opts.PartitionCounts, Events: b.opts.PartitionEvents, IdleSeconds: b.opts.IdleSeconds}
	b.report.Partitions = ps
	expect := map[int]*expectation{}
	for _, n := range ps.Counts {
		e, err := b.producePartitionTopic(ctx, n)
		if err != nil {
			return r.fail(err)
		}
		expect[n] = e
	}
	b.logf("  broker baseline: %d s with no client", b.opts.IdleSeconds)
	ps.BrokerBaselinePct = -1
	if cost, err := b.idleWindow(ctx, 0); err == nil {
		ps.BrokerBaselinePct = cost.BrokerCPUPct
	} else if ctx.Err() != nil {
		return r.fail(err)
	}
	only := map[int]int{} // count -> index of its consume-only row
	for _, n := range ps.Counts {
		only[n] = len(ps.Rows)
		ps.Rows = append(ps.Rows, b.partitionWorkerConsumeOnly(ctx, n))
		ps.Rows = append(ps.Rows, b.partitionBatchRef(ctx, n))
		if b.opts.PartitionFanOut {
			ps.Rows = append(ps.Rows, b.partitionWorkerFanOut(ctx, n, expect[n]))
		}
		if ctx.Err() != nil {
			return r.fail(ctx.Err())
		}
	}
	// One backlog run per count moves with whatever else the machine and
	// the broker are doing at that moment: single runs of the same binary
	// gave 192/12 ratios from 1.0x to 2.1x. More runs, the counts taking
	// turns so that a slow stretch hits both, judged on the medians.
	for run := 2; run <= b.opts.PartitionRuns; run++ {
		for _, n := range ps.Counts {
			row := &ps.Rows[only[n]]
			if row.Error != "" {
				continue
			}
			v, err := b.partitionBacklogRun(ctx, n, run, row.ScrapeCPUMs/1000)
			if err != nil {
				row.Error = fmt.Sprintf("run %d: %v", run, err)
				continue
			}
			row.Runs = append(row.Runs, v)
		}
		if ctx.Err() != nil {
			return r.fail(ctx.Err())
		}
	}
	var failed []string
	for _, row := range ps.Rows {
		if row.Error != "" {
			failed = append(failed, fmt.Sprintf("%s/%s/%d: %s", row.Design, row.Mapping, row.Partitions, row.Error))
		}
	}
	if len(failed) > 0 {
		return r.fail(errors.New(strings.Join(failed, "; ")))
	}
	return r
}

// producePartitionTopic creates the topic of partition count n and
// produces the phase's events to it, counted for the fan-out mapping.
func (b *bench) producePartitionTopic(ctx context.Context, n int) (*expectation, error) {
	topic := partitionTopic(n)
	if err := createTopic(ctx, b.broker.Addr, topic, n); err != nil {
		return nil, err
	}
	e := newExpectation(fanOutRows)
	b.logf("  producing %d events to %s (%d partitions)", b.opts.PartitionEvents, topic, n)
	st, err := eventgen.Produce(ctx, eventgen.ProduceOptions{
		Brokers: []string{b.broker.Addr}, Topic: topic, Count: int(b.opts.PartitionEvents), MaxAttempts: produceAttempts,
	}, newDatasetSource(e), nil)
	if err != nil {
		return nil, err
	}
	end, err := endOffsets(ctx, b.broker.Addr, topic, n)
	if err != nil {
		return nil, err
	}
	if end != b.opts.PartitionEvents || st.Sent != b.opts.PartitionEvents {
		return nil, fmt.Errorf("%s holds %d messages, %d acknowledged, want exactly %d", topic, end, st.Sent, b.opts.PartitionEvents)
	}
	return e, nil
}

// idleWindow waits partitionSettle, then measures pid (0: none) and the
// broker over the idle window.
func (b *bench) idleWindow(ctx context.Context, pid int) (*IdleCost, error) {
	if !sleepCtx(ctx, partitionSettle) {
		return nil, ctx.Err()
	}
	cost := &IdleCost{BrokerCPUPct: -1}
	var cpu0, broker0 float64
	var err error
	if pid != 0 {
		if cpu0, err = procCPU(pid); err != nil {
			return nil, err
		}
	}
	brokerErr := errors.New("broker process unknown")
	if b.broker.PID != 0 {
		broker0, brokerErr = procCPU(b.broker.PID)
	}
	start := time.Now()
	if !sleepCtx(ctx, time.Duration(b.opts.IdleSeconds)*time.Second) {
		return nil, ctx.Err()
	}
	secs := time.Since(start).Seconds()
	if pid != 0 {
		cpu1, err := procCPU(pid)
		if err != nil {
			return nil, err
		}
		cost.CPUPct = (cpu1 - cpu0) / secs * 100
		fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
		if err != nil {
			return nil, fmt.Errorf("counting open descriptors: %w", err)
		}
		cost.OpenFDs = len(fds)
	}
	if brokerErr == nil {
		if broker1, err := procCPU(b.broker.PID); err == nil {
			cost.BrokerCPUPct = (broker1 - broker0) / secs * 100
		}
	}
	return cost, nil
}

// fromRun copies a measured backlog run into a row.
func (row *PartitionRow) fromRun(r *RunResult) {
	row.Events, row.Seconds, row.EventsPerSec = r.Events, r.Seconds, r.EventsPerSec
	row.CPUSeconds, row.CPUPerMillion, row.PeakRSSMiB = r.CPUSeconds, r.CPUPerMillion, r.PeakRSSMiB
	row.SteadyCPUPerMillion = r.SteadyCPUPerMillion
	row.Error = r.Error
}

func (b *bench) partitionWorkerConsumeOnly(ctx context.Context, n int) PartitionRow {
	row := PartitionRow{Design: "worker", Mapping: "consume_only", Partitions: n}
	name := fmt.Sprintf("parts%d_worker_consume_only", n)
	w, ep, c, stop, err := b.readPartitionBacklog(ctx, n, name)
	defer stop()
	if err != nil {
		row.Error = err.Error()
		return row
	}
	b.logf("  %s: caught up; idle for %d s", name, b.opts.IdleSeconds)
	if row.Idle, err = b.idleWindow(ctx, w.pid()); err != nil {
		row.Error = err.Error()
		return row
	}
	cost, err := b.scrapeCost(ctx, w, row.Idle.CPUPct, scrapeCostSeconds)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	r := &RunResult{}
	c.finish(ctx, r, w, ep)
	row.fromRun(r)
	row.ScrapeCPUMs, row.Scrapes = cost*1000, c.scrapes
	row.SteadyLessScrapesPerMillion = c.lessScrapes(cost)
	row.Runs = []float64{row.SteadyLessScrapesPerMillion}
	return row
}

// readPartitionBacklog starts a consume-only worker of a group of its own
// (named for name) on the topic of n partitions and waits until it has read
// and committed all of it. stop stops the worker and its endpoint; it is
// never nil, so the caller defers it before looking at err.
func (b *bench) readPartitionBacklog(ctx context.Context, n int, name string) (w *workerProc, ep *endpointProc, c *consumed, stop func(), err error) {
	topic, group := partitionTopic(n), "bench-"+name
	w, ep, err = b.startConsumeOnly(ctx, name, topic, group)
	if err != nil {
		return nil, nil, nil, func() {}, err
	}
	stop = func() {
		w.Stop(60 * time.Second)
		ep.proc.Stop(30 * time.Second)
	}
	c, err = b.awaitConsumed(ctx, w, topic, n, group, b.opts.PartitionEvents)
	return w, ep, c, stop, err
}

// partitionBacklogRun reads the backlog of n partitions once more with a
// consume-only worker of a group of its own, and returns its CPU per
// million events from the first event to the last, less scrapes of cost
// CPU-s each (measured on the count's first run).
func (b *bench) partitionBacklogRun(ctx context.Context, n, run int, cost float64) (float64, error) {
	name := fmt.Sprintf("parts%d_worker_consume_only_run%d", n, run)
	_, _, c, stop, err := b.readPartitionBacklog(ctx, n, name)
	defer stop()
	if err != nil {
		return 0, err
	}
	v := c.lessScrapes(cost)
	if v <= 0 {
		return 0, errors.New("no CPU measured between the first and the last event")
	}
	b.logf("  %s: %.2f CPU-s per M events, first to last event, less scrapes", name, v)
	return v, nil
}

func (b *bench) partitionBatchRef(ctx context.Context, n int) PartitionRow {
	row := PartitionRow{Design: "batch_consume", Mapping: "none", Partitions: n}
	name := fmt.Sprintf("parts%d_batch_consume", n)
	rr, err := b.startRefReader(ctx, name, "batchref", partitionTopic(n), "bench-"+name, b.opts.PartitionEvents)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	b.logf("  %s: caught up; idle for %d s", name, b.opts.IdleSeconds)
	row.Idle, err = b.idleWindow(ctx, rr.p.pid())
	r := &RunResult{}
	rr.finish(r)
	row.fromRun(r)
	if err != nil {
		row.Error = err.Error()
	}
	return row
}

func (b *bench) partitionWorkerFanOut(ctx context.Context, n int, expect *expectation) PartitionRow {
	row := PartitionRow{Design: "worker", Mapping: "fan_out", Partitions: n}
	name := fmt.Sprintf("parts%d_worker_fan_out", n)
	b.logf("run %s", name)
	ep, epc, err := b.startEndpoint(ctx, name)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer ep.Stop(30 * time.Second)
	cfg := workerConfig{Brokers: b.broker.Addr, Group: "bench-" + name, Topics: []string{partitionTopic(n)}, Rows: fanOutRows, Adaptive: true}
	w, err := startWorker(b.workerBin, b.work, name, cfg, epc.URL, b.fileLog(name))
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer w.Stop(60 * time.Second)
	r := &RunResult{}
	b.finishBacklogRun(ctx, r, w.proc, ep, epc, b.opts.PartitionEvents, expect.PerStream(), nil, nil)
	row.fromRun(r)
	if r.Error == "" && r.Duplicates > 0 {
		row.Error = fmt.Sprintf("%d duplicates", r.Duplicates)
	}
	return row
}

// parseCounts parses a comma-separated list of partition counts.
func parseCounts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("partition count %q: want a positive number", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// measures are the table's rows per design: a name and how to read it
// from a row; nil when the row lacks it.
var partitionMeasures = []struct {
	name string
	get  func(PartitionRow) (float64, bool)
	unit string
}{
	{medianMeasure, func(r PartitionRow) (float64, bool) {
		if len(r.Runs) == 0 {
			return 0, false
		}
		return median(r.Runs), true
	}, "%.2f"},
	{"backlog CPU-s per M events, first to last event, less the harness's /metrics scrapes (first run)", func(r PartitionRow) (float64, bool) {
		return r.SteadyLessScrapesPerMillion, r.SteadyLessScrapesPerMillion > 0
	}, "%.2f"},
	{"backlog CPU-s per M events, first to last event", func(r PartitionRow) (float64, bool) {
		return r.SteadyCPUPerMillion, r.SteadyCPUPerMillion > 0
	}, "%.2f"},
	{"backlog CPU-s per M events, whole process", func(r PartitionRow) (float64, bool) { return r.CPUPerMillion, r.CPUPerMillion > 0 }, "%.2f"},
	{"backlog events/s", func(r PartitionRow) (float64, bool) { return r.EventsPerSec, r.EventsPerSec > 0 }, "%.0f"},
	{"one /metrics scrape, ms of worker CPU", func(r PartitionRow) (float64, bool) { return r.ScrapeCPUMs, r.Scrapes > 0 }, "%.2f"},
	{"idle CPU, % of a core", func(r PartitionRow) (float64, bool) {
		return idleOf(r, func(c *IdleCost) float64 { return c.CPUPct })
	}, "%.2f%%"},
	{"idle open descriptors", func(r PartitionRow) (float64, bool) {
		return idleOf(r, func(c *IdleCost) float64 { return float64(c.OpenFDs) })
	}, "%.0f"},
	{"broker CPU while idle, % of a core", func(r PartitionRow) (float64, bool) {
		if r.Idle == nil || r.Idle.BrokerCPUPct < 0 {
			return 0, false
		}
		return r.Idle.BrokerCPUPct, true
	}, "%.2f%%"},
}

// medianMeasure is the measure the scaling target judges.
const medianMeasure = "backlog CPU-s per M events, first to last event, less the harness's /metrics scrapes, median of the runs"

// median is the middle value of vs (the mean of the two middle ones for
// an even count); vs is left as it is.
func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func idleOf(r PartitionRow, f func(*IdleCost) float64) (float64, bool) {
	if r.Idle == nil {
		return 0, false
	}
	return f(r.Idle), true
}

// runsText lists each count's consume-only backlog runs, "" when no
// count had more than one.
func (ps *PartitionScaling) runsText() string {
	var parts []string
	many := false
	for _, n := range ps.Counts {
		r, ok := ps.row("worker", "consume_only", n)
		if !ok || len(r.Runs) == 0 {
			continue
		}
		many = many || len(r.Runs) > 1
		vs := make([]string, len(r.Runs))
		for i, v := range r.Runs {
			vs[i] = fmt.Sprintf("%.2f", v)
		}
		parts = append(parts, fmt.Sprintf("%d partitions %s (median %.2f)", n, strings.Join(vs, ", "), median(r.Runs)))
	}
	if !many {
		return ""
	}
	return strings.Join(parts, "; ")
}

// header names the table's columns, joined by sep.
func (ps *PartitionScaling) header(sep string) string {
	cols := []string{"design", "mapping", "measure"}
	for _, n := range ps.Counts {
		cols = append(cols, fmt.Sprintf("%d partitions", n))
	}
	first, last := ps.Counts[0], ps.Counts[len(ps.Counts)-1]
	cols = append(cols, fmt.Sprintf("%d/%d", last, first))
	return strings.Join(cols, sep)
}

// row finds the row of one design and mapping on n partitions.
func (ps *PartitionScaling) row(design, mapping string, n int) (PartitionRow, bool) {
	for _, r := range ps.Rows {
		if r.Design == design && r.Mapping == mapping && r.Partitions == n && r.Error == "" {
			return r, true
		}
	}
	return PartitionRow{}, false
}

// scaling is a measure's value at the last count over the first; 0 when
// either is missing.
func (ps *PartitionScaling) scaling(design, mapping string, get func(PartitionRow) (float64, bool)) (first, last, ratio float64, ok bool) {
	a, okA := ps.row(design, mapping, ps.Counts[0])
	b, okB := ps.row(design, mapping, ps.Counts[len(ps.Counts)-1])
	if !okA || !okB {
		return 0, 0, 0, false
	}
	va, okA := get(a)
	vb, okB := get(b)
	if !okA || !okB || va == 0 {
		return va, vb, 0, false
	}
	return va, vb, vb / va, true
}

// table is one line per design, mapping and measure: the value at each
// count and the ratio of the last count to the first.
func (ps *PartitionScaling) table() [][]string {
	var out [][]string
	for _, dm := range [][2]string{{"worker", "consume_only"}, {"batch_consume", "none"}, {"worker", "fan_out"}} {
		for _, m := range partitionMeasures {
			line := []string{dm[0], dm[1], m.name}
			seen := false
			for _, n := range ps.Counts {
				r, ok := ps.row(dm[0], dm[1], n)
				v, has := m.get(r)
				if !ok || !has {
					line = append(line, "n/a")
					continue
				}
				seen = true
				line = append(line, fmt.Sprintf(m.unit, v))
			}
			if !seen {
				continue
			}
			if _, _, ratio, ok := ps.scaling(dm[0], dm[1], m.get); ok {
				line = append(line, fmt.Sprintf("%.2fx", ratio))
			} else {
				line = append(line, "n/a")
			}
			out = append(out, line)
		}
	}
	return out
}

// targets are the goals for partition scaling: CPU per event at the
// highest count within 1.3x of the lowest, and an idle cost that does not
// grow with each partition (idle CPU within 2x, about the noise of a
// fraction of a percent of a core, where one loop per partition grows ~10x;
// fewer than one more open descriptor per ten partitions).
func (ps *PartitionScaling) targets() []Target {
	if ps == nil || len(ps.Counts) < 2 {
		return nil
	}
	lo, hi := ps.Counts[0], ps.Counts[len(ps.Counts)-1]
	var t []Target
	// Consume-only rows are measured from the first event to the last;
	// fan-out rows over the whole process, start-up included.
	for _, c := range []struct{ mapping, measure, what string }{
		{"consume_only", medianMeasure, "consume_only, first to last event, median of the runs"},
		{"fan_out", "backlog CPU-s per M events, whole process", "fan_out, whole process"},
	} {
		a, b, ratio, ok := ps.scaling("worker", c.mapping, measureGet(c.measure))
		name := fmt.Sprintf("partition scaling: worker CPU per event, %d vs %d partitions (%s)", hi, lo, c.what)
		switch {
		case ok:
			t = append(t, Target{Name: name, Want: "<= 1.3x", Got: fmt.Sprintf("%.2fx (%.2f -> %.2f CPU-s per M)", ratio, a, b), Pass: passed(ratio <= 1.3)})
		case c.mapping == "consume_only":
			t = append(t, Target{Name: name, Want: "<= 1.3x", Got: "n/a"})
		}
	}
	a, b, ratio, ok := ps.scaling("worker", "consume_only", measureGet("idle CPU, % of a core"))
	name := fmt.Sprintf("partition scaling: worker idle CPU, %d vs %d partitions", hi, lo)
	if ok {
		t = append(t, Target{Name: name, Want: "<= 2x (flat)", Got: fmt.Sprintf("%.2fx (%.2f%% -> %.2f%% of a core)", ratio, a, b), Pass: passed(ratio <= 2)})
	} else {
		t = append(t, Target{Name: name, Want: "<= 2x (flat)", Got: "n/a"})
	}
	a, b, _, ok = ps.scaling("worker", "consume_only", measureGet("idle open descriptors"))
	name = fmt.Sprintf("partition scaling: worker open descriptors, %d vs %d partitions", hi, lo)
	limit := float64(hi-lo) / 10
	if ok {
		t = append(t, Target{Name: name, Want: fmt.Sprintf("< %.0f more", limit), Got: fmt.Sprintf("%.0f -> %.0f", a, b), Pass: passed(b-a < limit)})
	} else {
		t = append(t, Target{Name: name, Want: fmt.Sprintf("< %.0f more", limit), Got: "n/a"})
	}
	return t
}

// measureGet returns the getter of the measure of that name.
func measureGet(name string) func(PartitionRow) (float64, bool) {
	for _, m := range partitionMeasures {
		if m.name == name {
			return m.get
		}
	}
	panic("benchrun: no partition measure " + name)
}

// pctText renders a share of a core, or "unknown" for a negative one.
func pctText(v float64) string {
	if v < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.2f%%", v)
}
