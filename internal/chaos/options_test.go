//go:build chaos

package chaos

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// options are the knobs of one chaos run, read from the environment.
type options struct {
	Events     int           `json:"events"`     // CHAOS_EVENTS
	Kills      int           `json:"kills"`      // CHAOS_KILLS
	Duration   time.Duration `json:"-"`          // CHAOS_DURATION: production window
	Rate       float64       `json:"rate_per_s"` // Events / Duration
	Workers    int           `json:"workers"`    // CHAOS_WORKERS
	Partitions int           `json:"partitions"` // CHAOS_PARTITIONS
	Seed       int64         `json:"seed"`       // CHAOS_SEED
	// InvalidEvery makes every n-th message invalid (CHAOS_INVALID_EVERY).
	InvalidEvery int `json:"invalid_every"`
	// OptOut is the share of generated messages whose integrations turn
	// the destination off (CHAOS_OPT_OUT).
	OptOut         float64       `json:"opt_out_share"`
	BrokerRestarts int           `json:"broker_restarts"` // CHAOS_BROKER_RESTARTS
	Storms         int           `json:"storms"`          // CHAOS_STORMS
	StormDuration  time.Duration `json:"-"`               // CHAOS_STORM_DURATION
	DrainTimeout   time.Duration `json:"-"`               // CHAOS_DRAIN_TIMEOUT
	// RecoveryTimeout bounds the wait for the group to recover after one
	// disruption (CHAOS_RECOVERY_TIMEOUT); a disruption that takes longer
	// is reported, and the next one goes ahead.
	RecoveryTimeout time.Duration `json:"-"`

	// Baseline faults of the simulated Firehose, for the whole run.
	ThrottleProb float64       `json:"throttle_probability"` // CHAOS_THROTTLE: whole calls
	FailRecords  float64       `json:"record_failure_share"` // CHAOS_FAIL_RECORDS: per record
	DropProb     float64       `json:"drop_probability"`     // CHAOS_DROP: answers cut after landing
	LatencyMax   time.Duration `json:"-"`                    // CHAOS_LATENCY_MAX, from 2ms
	// WorkerDrain is the workers' kafka.drain_timeout (CHAOS_WORKER_DRAIN).
	WorkerDrain time.Duration `json:"-"`

	Kafka      string `json:"kafka"`  // 127.0.0.1:$KAFKA_PORT (19292)
	AWS        string `json:"aws"`    // http://127.0.0.1:$AWS_EMULATOR_PORT (14666)
	Bucket     string `json:"bucket"` // AWS_BUCKET (firehose-worker-chaos)
	KafkaPort  string `json:"-"`
	ReportBase string `json:"-"` // CHAOS_REPORT_DIR (default .cache/chaos)
	ReportDir  string `json:"-"` // ReportBase/RunID: this run's report
	RepoRoot   string `json:"-"`
	RunID      string `json:"run_id"`
	RaceWorker bool   `json:"race_worker"` // CHAOS_RACE=1 builds the worker with -race

	// Human-readable forms of the durations, for the report.
	DurationText      string `json:"duration"`
	StormDurationText string `json:"storm_duration"`
	LatencyText       string `json:"latency"`
	WorkerDrainText   string `json:"worker_drain_timeout"`
}

// loadOptions reads the CHAOS_* variables; every problem is reported at once.
func loadOptions(repoRoot, runID string) (options, error) {
	var errs []error
	e := envReader{errs: &errs}
	o := options{
		Events:          e.int("CHAOS_EVENTS", 30000),
		Kills:           e.int("CHAOS_KILLS", 4),
		Workers:         e.int("CHAOS_WORKERS", 3),
		Partitions:      e.int("CHAOS_PARTITIONS", 12),
		Seed:            int64(e.int("CHAOS_SEED", int(time.Now().UnixNano()%1_000_000_007))),
		InvalidEvery:    e.int("CHAOS_INVALID_EVERY", 2000),
		OptOut:          e.float("CHAOS_OPT_OUT", 0.01),
		BrokerRestarts:  e.int("CHAOS_BROKER_RESTARTS", 1),
		StormDuration:   e.duration("CHAOS_STORM_DURATION", 10*time.Second),
		DrainTimeout:    e.duration("CHAOS_DRAIN_TIMEOUT", 5*time.Minute),
		RecoveryTimeout: e.duration("CHAOS_RECOVERY_TIMEOUT", 3*time.Minute),
		ThrottleProb:    e.float("CHAOS_THROTTLE", 0.02),
		FailRecords:     e.float("CHAOS_FAIL_RECORDS", 0.01),
		DropProb:        e.float("CHAOS_DROP", 0.01),
		LatencyMax:      e.duration("CHAOS_LATENCY_MAX", 60*time.Millisecond),
		// Below the 6 s session timeout: the worker sends no heartbeats while
		// it drains (kafka-go ends the generation's heartbeat first), so a
		// longer drain gets it evicted, and with 10 s the group can livelock
		// in rebalances under throttling (see the package doc).
		WorkerDrain: e.duration("CHAOS_WORKER_DRAIN", 4*time.Second),
		KafkaPort:   envOr("KAFKA_PORT", "19292"),
		Bucket:      envOr("AWS_BUCKET", "firehose-worker-chaos"),
		RepoRoot:    repoRoot,
		RunID:       runID,
		RaceWorker:  os.Getenv("CHAOS_RACE") == "1",
	}
	o.Kafka = "127.0.0.1:" + o.KafkaPort
	o.AWS = "http://127.0.0.1:" + envOr("AWS_EMULATOR_PORT", "14666")
	// By default the window gives each disruption about 30 s (a kill takes
	// the 6 s session timeout, a rebalance and a restart to recover from)
	// and keeps the rate at or below 1,000 events/s: this 2-core machine
	// sustains about 1,500/s through moto with every fault on, and the
	// rest is the headroom that works off the backlog of each disruption.
	disruptions := o.Kills + o.BrokerRestarts
	def := max(60*time.Second, time.Duration(disruptions)*30*time.Second,
		time.Duration(float64(o.Events)/1000*float64(time.Second)))
	o.Duration = e.duration("CHAOS_DURATION", def)
	o.Storms = e.int("CHAOS_STORMS", max(1, int(o.Duration/(4*time.Minute))))
	o.ReportBase = envOr("CHAOS_REPORT_DIR", filepath.Join(repoRoot, ".cache", "chaos"))
	o.ReportDir = filepath.Join(o.ReportBase, runID)

	switch {
	case o.Events <= 0:
		errs = append(errs, fmt.Errorf("CHAOS_EVENTS=%d: want > 0", o.Events))
	case o.Kills < 0 || o.BrokerRestarts < 0 || o.Storms < 0:
		errs = append(errs, errors.New("CHAOS_KILLS, CHAOS_BROKER_RESTARTS and CHAOS_STORMS must not be negative"))
	}
	if o.Workers < 2 {
		errs = append(errs, fmt.Errorf("CHAOS_WORKERS=%d: want at least 2, so a kill leaves a survivor", o.Workers))
	}
	if o.Partitions < o.Workers {
		errs = append(errs, fmt.Errorf("CHAOS_PARTITIONS=%d: want at least CHAOS_WORKERS=%d", o.Partitions, o.Workers))
	}
	if o.InvalidEvery < 0 {
		errs = append(errs, fmt.Errorf("CHAOS_INVALID_EVERY=%d: want >= 0 (0: none)", o.InvalidEvery))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"CHAOS_OPT_OUT", o.OptOut}, {"CHAOS_THROTTLE", o.ThrottleProb}, {"CHAOS_FAIL_RECORDS", o.FailRecords}, {"CHAOS_DROP", o.DropProb}} {
		if p.v < 0 || p.v >= 1 {
			errs = append(errs, fmt.Errorf("%s=%v: want a probability in [0, 1)", p.name, p.v))
		}
	}
	if o.Duration <= 0 {
		errs = append(errs, fmt.Errorf("CHAOS_DURATION=%s: want > 0", o.Duration))
	}
	o.Rate = float64(o.Events) / o.Duration.Seconds()
	o.DurationText = o.Duration.String()
	o.StormDurationText = o.StormDuration.String()
	o.LatencyText = fmt.Sprintf("2ms-%s", o.LatencyMax)
	o.WorkerDrainText = o.WorkerDrain.String()
	return o, errors.Join(errs...)
}

func envOr(key, def string) string {
	if v := strings.TrimSpace(os.Getenv(key)); v != "" {
		return v
	}
	return def
}

// envReader parses variables and collects what it could not parse.
type envReader struct{ errs *[]error }

func (e envReader) int(key string, def int) int {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.ReplaceAll(v, "_", ""))
	if err != nil {
		*e.errs = append(*e.errs, fmt.Errorf("%s=%q: not an integer", key, v))
		return def
	}
	return n
}

func (e envReader) float(key string, def float64) float64 {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		*e.errs = append(*e.errs, fmt.Errorf("%s=%q: not a number", key, v))
		return def
	}
	return f
}

func (e envReader) duration(key string, def time.Duration) time.Duration {
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		*e.errs = append(*e.errs, fmt.Errorf("%s=%q: not a duration (e.g. 90s, 15m)", key, v))
		return def
	}
	return d
}
