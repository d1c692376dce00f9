package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// Report is everything one `benchrun all` run found; it is written as JSON
// and rendered as markdown.
type Report struct {
	Date     string       `json:"date"`
	Started  string       `json:"started"`
	Finished string       `json:"finished"`
	Command  string       `json:"command"`
	Machine  Machine      `json:"machine"`
	Setup    Setup        `json:"setup"`
	Dataset  Dataset      `json:"dataset"`
	Runs     []*RunResult `json:"runs"`
	Ratios   Ratios       `json:"ratios"`
	Targets  []Target     `json:"targets"`
	// Partitions is the partitions phase: cost against partition count.
	Partitions *PartitionScaling `json:"partition_scaling,omitempty"`
	// Profile is `go tool pprof -top` of the worker during the end-to-end
	// run, flat then cumulative.
	Profile        string `json:"worker_cpu_profile_top,omitempty"`
	ProfileSeconds int    `json:"worker_cpu_profile_seconds,omitempty"`
	ProfileError   string `json:"worker_cpu_profile_error,omitempty"`
	// Profiles are further profiles of the worker: heap during the
	// end-to-end run and under the quota, CPU at the moderate rate.
	Profiles     []ProfileText `json:"worker_profiles,omitempty"`
	Micro        []Micro       `json:"micro_benchmarks,omitempty"`
	MicroCommand string        `json:"micro_benchmarks_command,omitempty"`
	MicroErrors  []string      `json:"micro_benchmarks_errors,omitempty"`
	Notes        []string      `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs         int     `json:"cpus"`
	CPUModel     string  `json:"cpu_model"`
	MemTotalGiB  float64 `json:"mem_total_gib"`
	Kernel       string  `json:"kernel"`
	GoVersion    string  `json:"go_version"`
	LoadAvgStart string  `json:"loadavg_start"`
	LoadAvgEnd   string  `json:"loadavg_end"`
}

// Setup is the configuration of the run.
type Setup struct {
	Broker           string  `json:"broker"`
	Events           int64   `json:"events"`
	Partitions       int     `json:"partitions"`
	Topic            string  `json:"topic"`
	LatencyRate      float64 `json:"latency_rate"`
	LatencySeconds   int     `json:"latency_seconds"`
	LatencyWarmup    int     `json:"latency_warmup_seconds"`
	LingerMs         float64 `json:"linger_ms"`
	QuotaRecords     float64 `json:"quota_records_per_s"`
	QuotaBytes       float64 `json:"quota_bytes_per_s"`
	QuotaSeconds     int     `json:"quota_seconds"`
	QuotaWarmup      int     `json:"quota_warmup_seconds"`
	FailFraction     float64 `json:"fail_fraction"`
	BillingUnitBytes int     `json:"billing_unit_bytes"`
	Phases           string  `json:"phases"`
	WorkerRevision   string  `json:"worker_revision"`
	WorkerConfig     string  `json:"worker_config"`
}

// Dataset describes the produced events.
type Dataset struct {
	Events          int64            `json:"events"`
	Bytes           int64            `json:"bytes"`
	AvgBytes        float64          `json:"avg_bytes"`
	ProduceSeconds  float64          `json:"produce_seconds"`
	ProducePerSec   float64          `json:"produce_per_s"`
	PerStream       map[string]int64 `json:"fanout_per_stream"`
	RecordsPerEvent float64          `json:"fanout_records_per_event"`
}

// RunResult is one measured process on one phase.
type RunResult struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Kind is backlog (work through the dataset), latency or quota.
	Kind string `json:"kind"`
	// MachineBusyPct is the whole machine's CPU use during the run (all
	// processes, ours and others'), from /proc/stat; LoadAvg is the load
	// average when it started. Both say how noisy the run was.
	MachineBusyPct float64 `json:"machine_busy_pct"`
	LoadAvg        string  `json:"loadavg_at_start"`
	// Events are Kafka messages handled.
	Events int64 `json:"events"`
	// Seconds is first to last acknowledgement (for the bare consumer,
	// first to last message read).
	Seconds      float64 `json:"seconds"`
	EventsPerSec float64 `json:"events_per_s"`
	// CPUSeconds is user+system time of the process when the work was done
	// (before SIGTERM), from /proc/<pid>/stat.
	CPUSeconds float64 `json:"cpu_s"`
	// EndpointCPUSeconds is the same for the Firehose endpoint of the run,
	// which shares the machine's cores with it; 0 for runs without one.
	EndpointCPUSeconds float64 `json:"endpoint_cpu_s,omitempty"`
	CPUPerMillion      float64 `json:"cpu_s_per_million"`
	// SteadyCPUPerMillion leaves start-up out: CPU from the first events
	// read to the last, per million of those in between (consume-only and
	// batch-API runs; 0 where not measured).
	SteadyCPUPerMillion float64 `json:"steady_cpu_s_per_million,omitempty"`
	EventsPerCPUSecond  float64 `json:"events_per_cpu_s"`
	// PeakRSSMiB is the highest VmHWM (peak resident set) read from the
	// process, sampled every second until it exited (so including its
	// shutdown, except the last second); HWMAtDoneMiB is VmHWM when the work
	// was done.
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	HWMAtDoneMiB float64 `json:"hwm_at_done_mib"`
	// RSSGrowthPct compares the mean RSS of the last quarter of the working
	// time with that of the second quarter; nil with too few samples.
	RSSGrowthPct *float64 `json:"rss_growth_pct,omitempty"`
	// Exit is the process's accounting after it exited (including drain).
	Exit       Usage                   `json:"exit"`
	RSS        []Sample                `json:"rss_samples,omitempty"`
	Streams    map[string]StreamCounts `json:"streams,omitempty"`
	Duplicates int64                   `json:"duplicates"`
	Calls      *firehosesim.CallCounts `json:"calls,omitempty"`
	Latency    *Latency                `json:"latency,omitempty"`
	// KafkaAckLatency is produce time to the broker's acknowledgement of
	// the same messages: the part of Latency the worker does not control.
	KafkaAckLatency *Latency `json:"kafka_ack_latency,omitempty"`
	// WorkerLatency is, line by line, the broker's acknowledgement of the
	// message to the endpoint's: the worker's share (fetch, batch, deliver).
	WorkerLatency  *Latency     `json:"worker_latency,omitempty"`
	ProducedPerSec float64      `json:"produced_per_s,omitempty"`
	Quota          *QuotaResult `json:"quota,omitempty"`
	ReadBack       *ReadBack    `json:"read_back,omitempty"`
	Error          string       `json:"error,omitempty"`
}

// QuotaResult is what a run against a per-stream quota achieved in its
// window.
type QuotaResult struct {
	RecordsPerSec      float64 `json:"quota_records_per_s"`
	BytesPerSec        float64 `json:"quota_bytes_per_s"`
	WindowSeconds      int     `json:"window_seconds"`
	WindowLines        int64   `json:"window_lines"`
	WindowBytes        int64   `json:"window_bytes"`
	GoodputLinesPerSec float64 `json:"goodput_records_per_s"`
	GoodputBytesPerSec float64 `json:"goodput_bytes_per_s"`
	// Utilization is goodput over quota, of whichever limit is closer.
	Utilization float64 `json:"utilization"`
	Calls       int64   `json:"calls"`
	// ThrottledCalls failed as a whole or carried per-record throttling.
	ThrottledCalls     int64   `json:"throttled_calls"`
	WholeCallThrottles int64   `json:"whole_call_throttles"`
	ThrottledShare     float64 `json:"throttled_call_share"`
	RecordsSent        int64   `json:"records_sent"`
	RecordsFailed      int64   `json:"records_failed"`
	RecordsFailedShare float64 `json:"records_failed_share"`
}

// Ratios are the worker's figures over the references', from one run.
type Ratios struct {
	ThroughputVsBare float64 `json:"throughput_vs_bare_consume"`
	ThroughputVsSDK  float64 `json:"throughput_vs_sdk_defaults"`
	// ...VsBatch compare with the batch-API reader (batch_consume),
	// kafka-go's floor; ConsumeOnly... are the consume-only worker's.
	ThroughputVsBatch             float64 `json:"throughput_vs_batch_consume"`
	EventsPerCPUVsBatch           float64 `json:"events_per_cpu_s_vs_batch_consume"`
	ConsumeOnlyThroughputVsBare   float64 `json:"consume_only_throughput_vs_bare_consume,omitempty"`
	ConsumeOnlyThroughputVsBatch  float64 `json:"consume_only_throughput_vs_batch_consume,omitempty"`
	ConsumeOnlyCPUPerEventVsBatch float64 `json:"consume_only_cpu_per_event_vs_batch_consume,omitempty"`
	EventsPerCPUVsBare            float64 `json:"events_per_cpu_s_vs_bare_consume"`
	EventsPerCPUVsSDK             float64 `json:"events_per_cpu_s_vs_sdk_defaults"`
	RSSVsBare                     float64 `json:"peak_rss_vs_bare_consume"`
	RSSVsSDK                      float64 `json:"peak_rss_vs_sdk_defaults"`
	// BilledUnitsPer1000 with and without aggregation, and the reduction.
	UnitsPer1000Plain      float64 `json:"billed_units_per_1000_events_plain"`
	UnitsPer1000Aggregated float64 `json:"billed_units_per_1000_events_aggregated"`
	UnitsReduction         float64 `json:"billed_units_reduction"`
}

// Target is one goal of the issue and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Pass is nil when the run lacks what the target needs.
	Pass *bool `json:"pass"`
}

// ProfileText is `go tool pprof -top` output of one profile.
type ProfileText struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Text        string `json:"text,omitempty"`
	Error       string `json:"error,omitempty"`
}

// Micro is one Go benchmark result.
type Micro struct {
	Package     string             `json:"package"`
	Name        string             `json:"name"`
	Iterations  int64              `json:"iterations"`
	NsPerOp     float64            `json:"ns_per_op"`
	BytesPerOp  float64            `json:"bytes_per_op"`
	AllocsPerOp float64            `json:"allocs_per_op"`
	MBPerSec    float64            `json:"mb_per_s,omitempty"`
	Extra       map[string]float64 `json:"extra,omitempty"`
}

func (r *RunResult) fail(err error) *RunResult {
	r.Error = err.Error()
	return r
}

// measure fills the derived figures. first and last are Unix nanoseconds
// (0, 0 leaves Seconds and EventsPerSec to the caller); cpu is the process's
// CPU time for the events; start is when the process started.
func (r *RunResult) measure(events, first, last int64, cpu, hwm float64, u Usage, samples []Sample, start time.Time) {
	r.Events = events
	if last > first && first > 0 {
		r.Seconds = float64(last-first) / 1e9
		r.EventsPerSec = float64(events) / r.Seconds
	}
	r.CPUSeconds = cpu
	if events > 0 && cpu > 0 {
		r.CPUPerMillion = cpu / float64(events) * 1e6
		r.EventsPerCPUSecond = float64(events) / cpu
	}
	r.HWMAtDoneMiB = hwm
	r.PeakRSSMiB = hwm
	for _, s := range samples {
		r.PeakRSSMiB = max(r.PeakRSSMiB, s.HWMMiB)
	}
	r.Exit = u
	r.RSS = samples
	if first > 0 && last > first {
		from := time.Unix(0, first).Sub(start).Seconds()
		to := time.Unix(0, last).Sub(start).Seconds()
		r.RSSGrowthPct = rssGrowth(samples, from, to)
	}
}

// rssGrowth compares the mean RSS of the last quarter of [from, to] with
// the second quarter's: a plateau gives about 0, a leak a steady rise. The
// first quarter is the ramp-up and is left out.
func rssGrowth(samples []Sample, from, to float64) *float64 {
	var in []Sample
	for _, s := range samples {
		if s.T >= from && s.T <= to {
			in = append(in, s)
		}
	}
	if len(in) < 8 {
		return nil
	}
	q := len(in) / 4
	mean := func(ss []Sample) float64 {
		t := 0.0
		for _, s := range ss {
			t += s.RSSMiB
		}
		return t / float64(len(ss))
	}
	second, last := mean(in[q:2*q]), mean(in[len(in)-q:])
	g := (last - second) / second * 100
	return &g
}

func (rep *Report) run(name string) *RunResult {
	for _, r := range rep.Runs {
		if r.Name == name && r.Error == "" {
			return r
		}
	}
	return nil
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func passed(ok bool) *bool { return &ok }

// evaluate computes the ratios and checks every target.
func (rep *Report) evaluate() {
	w, bare, sdk := rep.run("worker"), rep.run("bare_consume"), rep.run("sdk_defaults")
	batch, only, decode := rep.run("batch_consume"), rep.run("worker_consume_only"), rep.run("batch_decode")
	var t []Target
	add := func(name, want, got string, ok *bool) {
		t = append(t, Target{Name: name, Want: want, Got: got, Pass: ok})
	}
	if w != nil && bare != nil {
		rep.Ratios.ThroughputVsBare = ratio(w.EventsPerSec, bare.EventsPerSec)
		rep.Ratios.EventsPerCPUVsBare = ratio(w.EventsPerCPUSecond, bare.EventsPerCPUSecond)
		rep.Ratios.RSSVsBare = ratio(w.PeakRSSMiB, bare.PeakRSSMiB)
	}
	if w != nil && batch != nil {
		rep.Ratios.ThroughputVsBatch = ratio(w.EventsPerSec, batch.EventsPerSec)
		rep.Ratios.EventsPerCPUVsBatch = ratio(w.EventsPerCPUSecond, batch.EventsPerCPUSecond)
	}
	if only != nil && bare != nil {
		rep.Ratios.ConsumeOnlyThroughputVsBare = ratio(only.EventsPerSec, bare.EventsPerSec)
	}
	if only != nil && batch != nil {
		rep.Ratios.ConsumeOnlyThroughputVsBatch = ratio(only.EventsPerSec, batch.EventsPerSec)
		rep.Ratios.ConsumeOnlyCPUPerEventVsBatch = ratio(only.CPUPerMillion, batch.CPUPerMillion)
	}
	if w != nil && sdk != nil {
		rep.Ratios.ThroughputVsSDK = ratio(w.EventsPerSec, sdk.EventsPerSec)
		rep.Ratios.EventsPerCPUVsSDK = ratio(w.EventsPerCPUSecond, sdk.EventsPerCPUSecond)
		rep.Ratios.RSSVsSDK = ratio(w.PeakRSSMiB, sdk.PeakRSSMiB)
	}
	if sdk != nil && sdk.Duplicates > 0 {
		var fan int64
		for _, n := range rep.Dataset.PerStream {
			fan += n
		}
		rep.Notes = append(rep.Notes, fmt.Sprintf("the SDK-defaults reference delivered %d records twice (%.1f%% of its %d): the stock retryer resent whole PutRecordBatch calls that had landed, after HTTP 200 followed by a failed body read (\"deserialization failed ... use of closed network connection\", aws-sdk-go-v2 #1825/#2935). Its CPU includes that extra work.",
			sdk.Duplicates, float64(sdk.Duplicates)/float64(max(fan, 1))*100, fan))
	}
	var ok *bool
	if w != nil && sdk != nil {
		ok = passed(rep.Ratios.EventsPerCPUVsSDK >= 3)
	}
	add("events per CPU-second vs SDK-defaults pipeline", ">= 3x", fmt.Sprintf("%.2fx", rep.Ratios.EventsPerCPUVsSDK), ok)
	ok = nil
	if w != nil && bare != nil {
		ok = passed(rep.Ratios.ThroughputVsBare >= 0.4)
	}
	add("end-to-end throughput vs bare consume", ">= 0.4x", fmt.Sprintf("%.2fx", rep.Ratios.ThroughputVsBare), ok)
	if w != nil && batch != nil {
		// No goal of its own: the floor of the client, printed beside.
		add("end-to-end throughput vs batch-API consume (kafka-go's floor)", "(shown, no target)", fmt.Sprintf("%.2fx", rep.Ratios.ThroughputVsBatch), nil)
	}
	if only != nil {
		got := fmt.Sprintf("%.2f", only.CPUPerMillion)
		if batch != nil {
			got += fmt.Sprintf(" (%.2fx the batch-API consumer's %.2f)", rep.Ratios.ConsumeOnlyCPUPerEventVsBatch, batch.CPUPerMillion)
		}
		if decode != nil {
			got += fmt.Sprintf("; the batch-API consumer that also decodes, its floor: %.2f", decode.CPUPerMillion)
		}
		add("consume-only CPU-seconds per million events", "<= 1.5", got, passed(only.CPUPerMillion <= 1.5))
	} else {
		add("consume-only CPU-seconds per million events", "<= 1.5", "n/a", nil)
	}
	if w != nil {
		add("CPU-seconds per million events", "<= 7", fmt.Sprintf("%.2f", w.CPUPerMillion), passed(w.CPUPerMillion <= 7))
		add("peak RSS working through the backlog", "<= 100 MiB", fmt.Sprintf("%.1f MiB (VmHWM)", w.PeakRSSMiB), passed(w.PeakRSSMiB <= 100))
		if w.RSSGrowthPct != nil {
			add("RSS flat over time", "last quarter <= +10% of second quarter", fmt.Sprintf("%+.1f%%", *w.RSSGrowthPct), passed(*w.RSSGrowthPct <= 10))
		} else {
			add("RSS flat over time", "last quarter <= +10% of second quarter", "too few samples (run too short)", nil)
		}
		add("duplicates in the end-to-end run", "0", fmt.Sprint(w.Duplicates), passed(w.Duplicates == 0))
	} else {
		add("CPU-seconds per million events", "<= 7", "n/a", nil)
		add("peak RSS working through the backlog", "<= 100 MiB", "n/a", nil)
	}
	limit := rep.Setup.LingerMs + 250
	if l := rep.run("latency"); l != nil && l.Latency != nil {
		add("p99 produce-to-ack latency at 5,000 events/s", fmt.Sprintf("<= linger + 250 ms = %.0f ms", limit),
			fmt.Sprintf("%.0f ms (p50 %.0f ms)", l.Latency.P99Ms, l.Latency.P50Ms), passed(l.Latency.P99Ms <= limit))
		// Fixed costs per fetch, batch, timer and tick weigh most at the
		// rates users run; the phase's CPU covers warm-up and measurement.
		add("CPU-seconds per million events at 5,000 events/s", "<= 15", fmt.Sprintf("%.2f", l.CPUPerMillion), passed(l.CPUPerMillion <= 15))
	} else {
		add("p99 produce-to-ack latency at 5,000 events/s", fmt.Sprintf("<= %.0f ms", limit), "n/a", nil)
		add("CPU-seconds per million events at 5,000 events/s", "<= 15", "n/a", nil)
	}
	qa, qf, qx := rep.run("quota_adaptive"), rep.run("quota_fixed16"), rep.run("quota_faults30")
	if qa != nil {
		add("adaptive: goodput vs quota", ">= 90%", fmt.Sprintf("%.1f%%", qa.Quota.Utilization*100), passed(qa.Quota.Utilization >= 0.9))
		add("adaptive: throttled calls", "<= 10%", fmt.Sprintf("%.1f%%", qa.Quota.ThrottledShare*100), passed(qa.Quota.ThrottledShare <= 0.1))
	}
	if qa != nil && qf != nil {
		add("fixed concurrency 16 gets far more throttles", ">= 2x the adaptive share",
			fmt.Sprintf("%.1f%% vs %.1f%% (goodput %.1f%%)", qf.Quota.ThrottledShare*100, qa.Quota.ThrottledShare*100, qf.Quota.Utilization*100),
			passed(qf.Quota.ThrottledShare >= 2*qa.Quota.ThrottledShare && qf.Quota.ThrottledShare > 0))
	}
	if qx != nil {
		add(fmt.Sprintf("%.0f%% records throttled: duplicates", rep.Setup.FailFraction*100), "0", fmt.Sprint(qx.Duplicates), passed(qx.Duplicates == 0))
		add(fmt.Sprintf("%.0f%% records throttled: goodput vs quota", rep.Setup.FailFraction*100), ">= 90% (limited only by the quota)",
			fmt.Sprintf("%.1f%%", qx.Quota.Utilization*100), passed(qx.Quota.Utilization >= 0.9))
	}
	if agg := rep.run("aggregate"); agg != nil && w != nil {
		plain, packed := w.Streams["everything"], agg.Streams["archive"]
		if plain.Lines > 0 && packed.Lines > 0 {
			rep.Ratios.UnitsPer1000Plain = float64(plain.BilledUnits) / float64(plain.Lines) * 1000
			rep.Ratios.UnitsPer1000Aggregated = float64(packed.BilledUnits) / float64(packed.Lines) * 1000
			rep.Ratios.UnitsReduction = ratio(rep.Ratios.UnitsPer1000Plain, rep.Ratios.UnitsPer1000Aggregated)
			add("aggregation: billed 5 KB units per 1,000 events", ">= 4x fewer",
				fmt.Sprintf("%.1fx (%.1f -> %.1f)", rep.Ratios.UnitsReduction, rep.Ratios.UnitsPer1000Plain, rep.Ratios.UnitsPer1000Aggregated),
				passed(rep.Ratios.UnitsReduction >= 4))
		}
		if agg.ReadBack != nil {
			add("aggregation: S3 objects read back", "exactly the produced lines",
				fmt.Sprintf("%d lines in %d objects, %d missing, %d extra", agg.ReadBack.Lines, agg.ReadBack.Objects, agg.ReadBack.Missing, agg.ReadBack.Extra),
				passed(agg.ReadBack.Match))
		}
	}
	if only != nil && rep.Partitions != nil {
		for _, row := range rep.Partitions.Rows {
			if row.Design == "worker" && row.Mapping == "consume_only" && row.Partitions == rep.Setup.Partitions && row.Scrapes > 0 && only.Events > 0 {
				share := row.ScrapeCPUMs / 1000 * (only.Seconds / scrapeInterval.Seconds()) / float64(only.Events) * 1e6
				rep.Notes = append(rep.Notes, fmt.Sprintf("the consume-only row includes the harness's /metrics scrapes (every %s, for its first and last event): on %d partitions one costs the worker %.2f ms (partitions phase), about %.2f CPU-s per million events at that row's speed", scrapeInterval, row.Partitions, row.ScrapeCPUMs, share))
			}
		}
	}
	t = append(t, rep.Partitions.targets()...)
	rep.Targets = t
}

func passText(p *bool) string {
	switch {
	case p == nil:
		return "n/a"
	case *p:
		return "PASS"
	default:
		return "FAIL"
	}
}

// printTable writes the human summary.
func (rep *Report) printTable(w io.Writer) {
	fmt.Fprintf(w, "\nfirehose-worker benchmark, %s, %d events (avg %.0f B), broker %s, %d CPUs\n\n",
		rep.Date, rep.Dataset.Events, rep.Dataset.AvgBytes, rep.Setup.Broker, rep.Machine.CPUs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tevents\tseconds\tevents/s\tCPU s\tCPU s/M\tevents/CPU-s\tpeak RSS MiB\tdup\t")
	for _, r := range rep.Runs {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\tFAILED: %s\t\t\t\t\t\t\t\t\n", r.Name, r.Error)
			continue
		}
		if r.Kind == "partitions" {
			continue // its own table below
		}
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.0f\t%.2f\t%.2f\t%.0f\t%.1f\t%d\t\n",
			r.Name, r.Events, r.Seconds, r.EventsPerSec, r.CPUSeconds, r.CPUPerMillion, r.EventsPerCPUSecond, r.PeakRSSMiB, r.Duplicates)
	}
	_ = tw.Flush()
	rt := rep.Ratios
	fmt.Fprintf(w, "\nratios (worker ÷ reference): throughput %.2fx bare consume (kafka.Reader), %.2fx batch-API consume, %.2fx SDK defaults; events per CPU-second %.2fx bare, %.2fx batch-API, %.2fx SDK defaults\n",
		rt.ThroughputVsBare, rt.ThroughputVsBatch, rt.ThroughputVsSDK, rt.EventsPerCPUVsBare, rt.EventsPerCPUVsBatch, rt.EventsPerCPUVsSDK)
	if rt.ConsumeOnlyThroughputVsBare > 0 || rt.ConsumeOnlyThroughputVsBatch > 0 {
		fmt.Fprintf(w, "consume-only worker: throughput %.2fx bare consume, %.2fx batch-API consume; CPU per event %.2fx batch-API consume\n",
			rt.ConsumeOnlyThroughputVsBare, rt.ConsumeOnlyThroughputVsBatch, rt.ConsumeOnlyCPUPerEventVsBatch)
	}
	if ps := rep.Partitions; ps != nil && len(ps.Counts) > 0 {
		fmt.Fprintf(w, "\npartition scaling (%d events per topic, idle window %d s; broker alone %s of a core):\n", ps.Events, ps.IdleSeconds, pctText(ps.BrokerBaselinePct))
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, ps.header("\t")+"\t")
		for _, line := range ps.table() {
			fmt.Fprintln(tw, strings.Join(line, "\t")+"\t")
		}
		_ = tw.Flush()
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "target\twant\tgot\tresult")
	for _, t := range rep.Targets {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Name, t.Want, t.Got, passText(t.Pass))
	}
	_ = tw.Flush()
}

// write stores the report as base.json and base.md.
func (rep *Report) write(base string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(base+".json", append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(base+".md", []byte(rep.markdown()), 0o644)
}

func (rep *Report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# firehose-worker benchmark, %s\n\n", rep.Date)
	p("Generated by `internal/benchrun` (`make bench` / `scripts/bench.sh`). The machine is shared and noisy:\n")
	p("compare the **ratios**, taken within one run on the same data, not absolute figures across runs.\n\n")

	p("## Targets\n\n| target | want | got | result |\n|---|---|---|---|\n")
	for _, t := range rep.Targets {
		p("| %s | %s | %s | **%s** |\n", t.Name, t.Want, t.Got, passText(t.Pass))
	}

	p("\n## Machine and command\n\n")
	m := rep.Machine
	p("- CPUs: %d × %s; memory %.1f GiB; kernel %s; %s\n", m.CPUs, m.CPUModel, m.MemTotalGiB, m.Kernel, m.GoVersion)
	p("- load average at start: %s; at end: %s (other work shares this machine)\n", m.LoadAvgStart, m.LoadAvgEnd)
	p("- started %s, finished %s\n", rep.Started, rep.Finished)
	p("- command: `%s`\n", rep.Command)
	s := rep.Setup
	p("- worker built from: %s\n", s.WorkerRevision)
	p("- broker: %s, topic %s with %d partitions, one broker on 127.0.0.1\n", s.Broker, s.Topic, s.Partitions)
	d := rep.Dataset
	p("- dataset: %d events from `eventgen.New(eventgen.DefaultOptions())` (the generator's mix), %.0f B on average, %.1f MB in all, produced once in %.1f s (%.0f/s)\n",
		d.Events, d.AvgBytes, float64(d.Bytes)/1e6, d.ProduceSeconds, d.ProducePerSec)
	p("- fan-out mapping (worker and SDK reference): %s → %.3f records per event: %s\n", mappingText(fanOutRows), d.RecordsPerEvent, perStreamText(d.PerStream))
	p("- every party is its own process: CPU = user+system time from /proc/<pid>/stat when the last event was acknowledged (before SIGTERM); peak RSS = the process's own VmHWM from /proc/<pid>/status, sampled every second until exit (ru_maxrss is not used: for a child started by Go's os/exec it includes the parent's peak, since Linux keeps the high-water mark of the vfork-shared mm across exec); RSS sampled every second\n")
	p("- the Firehose endpoint (`internal/firehosesim`, its own process) acknowledges at once and counts every accepted line's messageId (duplicates) and billed units (ceil(len/%d) per record: AWS bills each record rounded up to 5 KB = 5,120 bytes)\n", s.BillingUnitBytes)
	for _, n := range rep.Notes {
		p("- note: %s\n", n)
	}

	p("\n## End to end (%d events backlog)\n\n", s.Events)
	p("| run | events | seconds (first→last ack) | events/s | CPU s | CPU s per M events | events per CPU-s | peak RSS MiB | RSS growth | duplicates | endpoint CPU s | machine busy (load at start) |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Runs {
		if r.Kind != "backlog" {
			continue
		}
		if r.Error != "" {
			p("| %s | FAILED: %s |||||||||||\n", r.Name, r.Error)
			continue
		}
		growth := "n/a"
		if r.RSSGrowthPct != nil {
			growth = fmt.Sprintf("%+.1f%%", *r.RSSGrowthPct)
		}
		epCPU := "n/a"
		if r.EndpointCPUSeconds > 0 {
			epCPU = fmt.Sprintf("%.2f", r.EndpointCPUSeconds)
		}
		p("| %s | %d | %.1f | %.0f | %.2f | %.2f | %.0f | %.1f | %s | %d | %s | %.0f%% (%s) |\n",
			r.Name, r.Events, r.Seconds, r.EventsPerSec, r.CPUSeconds, r.CPUPerMillion, r.EventsPerCPUSecond, r.PeakRSSMiB, growth, r.Duplicates, epCPU, r.MachineBusyPct, r.LoadAvg)
	}
	p("\nRuns: ")
	for _, r := range rep.Runs {
		if r.Kind == "backlog" {
			p("**%s**: %s. ", r.Name, r.Description)
		}
	}
	p("\n")
	rt := rep.Ratios
	p("\n**Ratios** (worker ÷ reference): throughput %.2fx bare consume (kafka.Reader), %.2fx batch-API consume, %.2fx SDK defaults; events per CPU-second %.2fx bare consume, %.2fx batch-API consume, %.2fx SDK defaults; peak RSS %.2fx bare consume, %.2fx SDK defaults.\n",
		rt.ThroughputVsBare, rt.ThroughputVsBatch, rt.ThroughputVsSDK, rt.EventsPerCPUVsBare, rt.EventsPerCPUVsBatch, rt.EventsPerCPUVsSDK, rt.RSSVsBare, rt.RSSVsSDK)
	if rt.ConsumeOnlyThroughputVsBare > 0 || rt.ConsumeOnlyThroughputVsBatch > 0 {
		p("\n**Consume-only worker** (÷ reference): throughput %.2fx bare consume, %.2fx batch-API consume; CPU per event %.2fx batch-API consume. Its first and last message are the worker's `/metrics` scrapes (every %s) that first saw any and all of them fetched; its CPU is read once the broker holds the group's commits at the end offsets.\n",
			rt.ConsumeOnlyThroughputVsBare, rt.ConsumeOnlyThroughputVsBatch, rt.ConsumeOnlyCPUPerEventVsBatch, scrapeInterval)
	}

	if ps := rep.Partitions; ps != nil && len(ps.Counts) > 0 {
		p("\n## Partition scaling\n\n")
		p("A topic per partition count, each with the same %d generated events; each design reads it from the start as its own process (backlog: CPU-s per million events, events/s), then stays caught up with nothing to read for %d s (idle: the process's CPU in %% of one core from /proc/<pid>/stat, its open descriptors in /proc/<pid>/fd at the end, and the broker's CPU in the same window). The broker alone, with no client, used %s of a core over the same length of time; the broker column includes it. **worker**: firehose-worker, default config, one multi-partition Fetch per leader broker; consume_only is the mapping that matches no event, fan_out the 4-row mapping. **batch_consume**: the batch-API reader, one connection and fetch loop per partition (the design of kafka.Reader and of a per-partition Conn).\n\n",
			ps.Events, ps.IdleSeconds, pctText(ps.BrokerBaselinePct))
		p("| %s |\n|%s\n", ps.header(" | "), strings.Repeat("---|", 3+len(ps.Counts)+1))
		for _, line := range ps.table() {
			p("| %s |\n", strings.Join(line, " | "))
		}
		if runs := ps.runsText(); runs != "" {
			p("\nThe consume-only worker's backlog runs, the counts taking turns (CPU-s per M events, first to last event, less the harness's /metrics scrapes, in the order run; the first is the table's row with idle figures): %s.\n", runs)
		}
		for _, row := range ps.Rows {
			if row.Error != "" {
				p("\n- %s, %s, %d partitions: FAILED: %s\n", row.Design, row.Mapping, row.Partitions, row.Error)
			}
		}
	}
	if w := rep.run("worker"); w != nil {
		p("\nWorker RSS over time (MiB, one sample per second, t = seconds since start): %s\n", rssText(w.RSS))
	}
	if l := rep.run("latency"); l != nil && l.Latency != nil {
		p("\n## Latency at %.0f events/s\n\n", s.LatencyRate)
		p("%d lines (all streams) produced at %.0f/s for %d s with the worker caught up, after %d s at the same rate that are not measured (a new topic: the producer's and the broker's first seconds are slow); latency = endpoint's acknowledgement time − the produce time stamped in the event as its first member (same clock). CPU below covers warm-up and measurement.\n\n",
			l.Latency.Count, l.ProducedPerSec, s.LatencySeconds, s.LatencyWarmup)
		p("| p50 | p90 | p99 | max | target p99 |\n|---|---|---|---|---|\n| %.0f ms | %.0f ms | %.0f ms | %.0f ms | <= %.0f ms (linger %.0f + 250) |\n",
			l.Latency.P50Ms, l.Latency.P90Ms, l.Latency.P99Ms, l.Latency.MaxMs, s.LingerMs+250, s.LingerMs)
		if k := l.KafkaAckLatency; k != nil {
			p("\nBreakdown: produce → Kafka acknowledgement of the same messages (producer batching + broker, not the worker): p50 %.0f ms, p99 %.0f ms, max %.0f ms.", k.P50Ms, k.P99Ms, k.MaxMs)
		}
		if k := l.WorkerLatency; k != nil {
			p(" Kafka acknowledgement → Firehose acknowledgement, line by line (the worker's share: fetch, batch/linger, deliver; %d lines joined by messageId): p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms.", k.Count, k.P50Ms, k.P90Ms, k.P99Ms, k.MaxMs)
		}
		p("\n")
		p("\nPer second of acknowledgement (p50/p99 ms): %s\n", latencySeriesText(l.Latency.Series))
		p("\nWorker CPU at this rate: %.2f CPU-s per million events; peak RSS %.1f MiB. Machine CPU busy during the phase: %.0f%% (load average at start %s).\n", l.CPUPerMillion, l.PeakRSSMiB, l.MachineBusyPct, l.LoadAvg)
	}
	p("\n## Adaptive concurrency\n\n")
	p("One row `\"*\" -> everything`; the endpoint enforces a quota on that stream of %.0f records/s and %.1f MiB/s (token buckets holding one second; records beyond it fail one by one with ServiceUnavailableException \"Slow down.\", as Firehose answers). Each run lasts %d s after its first acknowledgement; the window leaves out the first %d s. A throttled call is one that failed as a whole or carried per-record throttling.\n\n",
		s.QuotaRecords, s.QuotaBytes/(1<<20), s.QuotaSeconds, s.QuotaWarmup)
	p("| run | goodput records/s | goodput MiB/s | of quota | calls | throttled calls | records failed | duplicates | CPU s per M | peak RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rep.Runs {
		if r.Kind != "quota" {
			continue
		}
		name := r.Name
		if r.Error != "" || r.Quota == nil {
			p("| %s | FAILED: %s ||||||||\n", name, r.Error)
			continue
		}
		q := r.Quota
		p("| %s | %.0f | %.2f | %.1f%% | %d | %d (%.1f%%) | %.1f%% | %d | %.2f | %.1f |\n", name, q.GoodputLinesPerSec, q.GoodputBytesPerSec/(1<<20),
			q.Utilization*100, q.Calls, q.ThrottledCalls, q.ThrottledShare*100, q.RecordsFailedShare*100, r.Duplicates, r.CPUPerMillion, r.PeakRSSMiB)
	}
	p("\nRuns: ")
	for _, r := range rep.Runs {
		if r.Kind == "quota" {
			p("**%s**: %s. ", r.Name, r.Description)
		}
	}
	if agg := rep.run("aggregate"); agg != nil {
		p("\n## Record aggregation\n\n")
		p("| | Firehose records | events | billed 5 KB units | units per 1,000 events |\n|---|---|---|---|---|\n")
		if w := rep.run("worker"); w != nil {
			e := w.Streams["everything"]
			p("| without (worker run, stream everything) | %d | %d | %d | %.1f |\n", e.Records, e.Lines, e.BilledUnits, rt.UnitsPer1000Plain)
		}
		a := agg.Streams["archive"]
		p("| with `aggregate: true` (stream archive) | %d | %d | %d | %.1f |\n", a.Records, a.Lines, a.BilledUnits, rt.UnitsPer1000Aggregated)
		p("\nReduction: **%.1fx** fewer billed units.", rt.UnitsReduction)
		if rb := agg.ReadBack; rb != nil {
			p(" Read back: %d objects, %d lines; %d expected; %d missing, %d extra (duplicates or foreign), %d objects not ending in a newline → **%s**.\n",
				rb.Objects, rb.Lines, rb.Expected, rb.Missing, rb.Extra, rb.UnterminatedObjects, map[bool]string{true: "identical", false: "DIFFERENT"}[rb.Match])
		}
		p("\nAggregated run: %.0f events/s, %.2f CPU-s per million events, peak RSS %.1f MiB.\n", agg.EventsPerSec, agg.CPUPerMillion, agg.PeakRSSMiB)
	}
	if rep.Profile != "" || rep.ProfileError != "" {
		p("\n## Worker CPU profile (end-to-end run, %d s from the first acknowledgement)\n\n", rep.ProfileSeconds)
		if rep.ProfileError != "" {
			p("Profile error: %s\n\n", rep.ProfileError)
		}
		if rep.Profile != "" {
			p("```\n%s```\n", rep.Profile)
		}
	}
	for _, pt := range rep.Profiles {
		p("\n## Worker profile: %s\n\n%s\n\n", pt.Name, pt.Description)
		if pt.Error != "" {
			p("Profile error: %s\n\n", pt.Error)
		}
		if pt.Text != "" {
			p("```\n%s```\n", pt.Text)
		}
	}
	if len(rep.Micro) > 0 || len(rep.MicroErrors) > 0 {
		p("\n## Micro-benchmarks\n\n`%s`\n\n", rep.MicroCommand)
		for _, e := range rep.MicroErrors {
			p("- error: %s\n", e)
		}
		p("| package | benchmark | ns/op | B/op | allocs/op | MB/s | other |\n|---|---|---|---|---|---|---|\n")
		for _, mb := range rep.Micro {
			var extra []string
			for _, k := range slices.Sorted(maps.Keys(mb.Extra)) {
				extra = append(extra, fmt.Sprintf("%.4g %s", mb.Extra[k], k))
			}
			mbs := ""
			if mb.MBPerSec > 0 {
				mbs = fmt.Sprintf("%.1f", mb.MBPerSec)
			}
			p("| %s | %s | %.1f | %.0f | %.0f | %s | %s |\n", mb.Package, mb.Name, mb.NsPerOp, mb.BytesPerOp, mb.AllocsPerOp, mbs, strings.Join(extra, ", "))
		}
	}
	p("\n## Worker configuration of the end-to-end run\n\n```yaml\n%s```\n", s.WorkerConfig)
	return b.String()
}

func mappingText(rows []mapping) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("`%q -> %s`", r.Event, r.Stream)
	}
	return strings.Join(parts, ", ")
}

func perStreamText(m map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// latencySeriesText renders per-second latency compactly.
func latencySeriesText(series []LatencySecond) string {
	if len(series) == 0 {
		return "none"
	}
	t0 := series[0].Unix
	var parts []string
	for _, s := range series {
		parts = append(parts, fmt.Sprintf("%ds:%.0f/%.0f", s.Unix-t0, s.P50Ms, s.P99Ms))
	}
	return strings.Join(parts, " ")
}

// rssText renders RSS samples compactly: at most ~40 points.
func rssText(samples []Sample) string {
	if len(samples) == 0 {
		return "none"
	}
	step := max(1, len(samples)/40)
	var parts []string
	for i := 0; i < len(samples); i += step {
		parts = append(parts, fmt.Sprintf("%.0fs:%.0f", samples[i].T, samples[i].RSSMiB))
	}
	return strings.Join(parts, " ")
}

// cpuJiffies returns busy and total jiffies of all CPUs from /proc/stat.
func cpuJiffies() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || i >= 8 { // user nice system idle iowait irq softirq steal
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

// machineInfo describes this machine from /proc.
func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib float64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %f kB", &kib); err == nil {
			m.MemTotalGiB = kib / (1 << 20)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
