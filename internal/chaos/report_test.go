//go:build chaos

package chaos

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// runNames are the Kafka and Firehose names of one run.
type runNames struct {
	Topic   string             `json:"topic"`
	DLQ     string             `json:"dlq_topic"`
	Group   string             `json:"group"`
	Streams [numStreams]string `json:"streams"`
}

func newRunNames(runID string) runNames {
	base := "chaos-" + runID
	return runNames{
		Topic: base + "-events", DLQ: base + "-dlq", Group: base,
		Streams: [numStreams]string{base + "-all", base + "-pages"},
	}
}

// summary holds the figures the issue asks for.
type summary struct {
	Produced        int `json:"produced"`
	ExpectedRecords int `json:"expected_records"`
	Delivered       int `json:"delivered"`
	Missing         int `json:"missing"`
	// MissingCommitted are missing records the group had committed past.
	MissingCommitted int     `json:"missing_committed"`
	Duplicates       int     `json:"duplicates"`
	DuplicateShare   float64 `json:"duplicate_share"`
	// UnknownOutcomeRecords were in calls whose answer was cut after they
	// landed: each is a duplicate if the worker resent it, so they bound
	// the duplicates of that cause; the rest come from re-reading after
	// kills, rebalances and the broker restart.
	UnknownOutcomeRecords int `json:"unknown_outcome_records"`
	// DuplicateCauses attributes every duplicate of every stream.
	DuplicateCauses       dupCauses      `json:"duplicate_causes"`
	DeadLettered          map[string]int `json:"dead_lettered_by_reason"`
	SkippedByIntegrations int            `json:"skipped_by_integrations"`
	MaxLag                int64          `json:"max_lag"`
	Kills                 int            `json:"kills"`
	BrokerRestarts        int            `json:"broker_restarts"`
	Storms                int            `json:"throttle_storms"`
}

// report is everything one run found; report.json is this, report.md its
// rendering.
type report struct {
	Result      string            `json:"result"` // PASS or FAIL
	Failures    []string          `json:"failures"`
	Warnings    []string          `json:"warnings"`
	Command     string            `json:"command"`
	Worker      string            `json:"worker"`
	Host        string            `json:"host"`
	Started     time.Time         `json:"started"`
	Finished    time.Time         `json:"finished"`
	Seconds     float64           `json:"seconds"`
	ProduceSec  float64           `json:"produce_seconds"`
	DrainSec    float64           `json:"drain_seconds"`
	VerifySec   float64           `json:"verify_seconds"`
	Options     options           `json:"options"`
	Names       runNames          `json:"names"`
	Summary     summary           `json:"summary"`
	Produced    produced          `json:"produced"`
	Streams     []streamResult    `json:"streams"`
	DeadLetters dlqResult         `json:"dead_letters"`
	Lag         lagStats          `json:"lag"`
	Recovery    recoveryStats     `json:"recovery"`
	Disruptions []disruption      `json:"disruptions"`
	Storms      []storm           `json:"storms"`
	Firehose    firehosesim.Stats `json:"firehose_sim"`
	Forwarder   forwardStats      `json:"forwarder"`
	Workers     workersReport     `json:"workers"`
}

type workersReport struct {
	Incarnations    int              `json:"incarnations"`
	UnexpectedExits []unexpectedExit `json:"unexpected_exits"`
	FinalStop       []string         `json:"final_stop"`
	Logs            string           `json:"logs"`
}

// fill computes the summary from the parts.
func (r *report) fill() {
	s := &r.Summary
	s.Produced = r.Produced.Messages
	s.SkippedByIntegrations = r.Produced.SkippedByIntegr
	for _, st := range r.Streams {
		s.ExpectedRecords += st.Expected
		s.Delivered += st.Delivered
		s.Missing += st.Missing
		s.MissingCommitted += st.MissingCommitted
		s.Duplicates += st.Duplicates
		s.DuplicateCauses.add(st.Causes)
	}
	if s.Delivered > 0 {
		s.DuplicateShare = float64(s.Duplicates) / float64(s.Delivered)
	}
	for _, st := range r.Firehose.Streams {
		s.UnknownOutcomeRecords += int(st.RecordsUnacknowledged)
	}
	s.DeadLettered = r.DeadLetters.DistinctByReason
	s.MaxLag = r.Lag.MaxTotal
	for _, d := range r.Disruptions {
		switch d.Kind {
		case "kill":
			s.Kills++
		case "broker_restart":
			s.BrokerRestarts++
		}
	}
	s.Storms = len(r.Storms)
	r.Recovery = summarizeKills(r.Disruptions)
}

// judge fills Failures, Warnings and Result.
func (r *report) judge(produceErr, drainErr error, dupIDs []string) {
	fail := func(format string, args ...any) { r.Failures = append(r.Failures, fmt.Sprintf(format, args...)) }
	warn := func(format string, args ...any) { r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...)) }
	s := r.Summary
	if n := s.DuplicateCauses.Unattributed; n > 0 {
		warn("finding: %d duplicates that no cut answer, SIGKILL, broker restart or forced rebalance explains, e.g. %v", n, s.DuplicateCauses.Examples)
	}
	if s.Missing > 0 {
		fail("%d records that had to be delivered are missing from S3 (%d of them below the group's committed offset: lost; the rest never committed)",
			s.Missing, s.MissingCommitted)
	}
	if n := r.DeadLetters.InvalidNotDeadLettered; n > 0 {
		fail("%d invalid messages are not in the dead-letter topic (%d of them below the group's committed offset: lost; the rest never committed)",
			n, r.DeadLetters.InvalidNotDeadLetteredCommitted)
	}
	for _, st := range r.Streams {
		if n := st.Corrupted + st.Unknown + st.Misrouted + st.OptOutDelivered + st.Unterminated; n > 0 {
			fail("stream %s holds %d lines it must not (corrupted %d, unknown %d, misrouted %d, opted out %d, unterminated objects %d)",
				st.Stream, n, st.Corrupted, st.Unknown, st.Misrouted, st.OptOutDelivered, st.Unterminated)
		}
	}
	if produceErr != nil {
		fail("producing: %v", produceErr)
	}
	if drainErr != nil {
		fail("the group did not commit every produced offset within %s: %v", r.Options.DrainTimeout, drainErr)
	}
	if len(dupIDs) > 0 {
		fail("the source made messageIds twice (%v): the comparison is not sound", dupIDs)
	}
	if n := r.Forwarder.Abandoned; n > 0 {
		fail("the forwarder gave up on %d records it had accepted (harness problem)", n)
	}
	if s.Kills < r.Options.Kills || s.BrokerRestarts < r.Options.BrokerRestarts {
		fail("the run did %d of %d kills and %d of %d broker restarts", s.Kills, r.Options.Kills, s.BrokerRestarts, r.Options.BrokerRestarts)
	}
	if s.Produced != r.Options.Events {
		fail("%d of %d messages were acknowledged by Kafka", s.Produced, r.Options.Events)
	}

	for _, e := range r.Workers.UnexpectedExits {
		warn("worker %s (pid %d) exited on its own after %.0fs: %s (log %s)", e.Worker, e.PID, e.AfterSec, e.Status, e.Log)
	}
	for _, st := range r.Workers.FinalStop {
		if !strings.HasSuffix(st, ": exit 0") {
			warn("final SIGTERM: %s", st)
		}
	}
	if n := r.DeadLetters.WrongReason; n > 0 {
		warn("%d dead letters carry another reason than expected", n)
	}
	if n := r.DeadLetters.Unexpected; n > 0 {
		warn("%d dead letters are for messages that had to be delivered: %v", n, r.DeadLetters.UnexpectedByReason)
	}
	for _, d := range r.Disruptions {
		if d.Recovered < 0 || d.FullStrength < 0 || d.Note != "" {
			warn("disruption %d (%s): %s", d.N, d.Kind, describe(d))
		}
	}
	r.Result = "PASS"
	if len(r.Failures) > 0 {
		r.Result = "FAIL"
	}
}

// write stores report.json and report.md in dir and returns the markdown.
func (r *report) write(dir string) (string, error) {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return "", err
	}
	md := r.markdown()
	return md, os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644)
}

func (r *report) markdown() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	s := r.Summary
	o := r.Options
	p("# Chaos run %s: %s\n\n", o.RunID, r.Result)
	p("Command: `%s`  \n", r.Command)
	p("Worker: %s.  \n", r.Worker)
	p("Started %s, took %s on %s (2 cores, shared with the broker, moto and the workers).  \n",
		r.Started.UTC().Format(time.RFC3339), time.Duration(r.Seconds*float64(time.Second)).Round(time.Second), r.Host)
	p("Seed %d. %d events at %.0f/s over %s into %d partitions; %d workers; %d kills, %d broker restart(s), %d throttle storm(s) of %s.  \n",
		o.Seed, o.Events, o.Rate, o.DurationText, o.Partitions, o.Workers, o.Kills, o.BrokerRestarts, o.Storms, o.StormDurationText)
	p("Worker settings: session_timeout 6s, heartbeat_interval 500ms, rebalance_timeout 15s, drain_timeout %s, commit_interval 200ms, batch.linger 50ms, backoff 50ms-2s.  \n", o.WorkerDrainText)
	p("Baseline Firehose faults: %.1f%% of calls throttled, %.1f%% of records failed (4/5 \"Slow down.\", 1/5 InternalFailure), latency %s, %.1f%% of answers cut after the records landed.\n\n",
		100*o.ThrottleProb, 100*o.FailRecords, o.LatencyText, 100*o.DropProb)
	if len(r.Failures) > 0 {
		p("## Failures\n\n")
		for _, f := range r.Failures {
			p("- %s\n", f)
		}
		p("\n")
	}

	p("## Result\n\n| figure | value |\n|---|---|\n")
	p("| produced (acknowledged by Kafka) | %d |\n", s.Produced)
	p("| of which to deliver / skipped by integrations / invalid | %d / %d / %d |\n", r.Produced.ToDeliver, r.Produced.SkippedByIntegr, r.Produced.Invalid)
	p("| records expected in S3 (all streams) | %d |\n", s.ExpectedRecords)
	p("| delivered (distinct expected records found) | %d |\n", s.Delivered)
	p("| **missing** | **%d** (committed past, i.e. lost: %d) |\n", s.Missing, s.MissingCommitted)
	p("| duplicates (extra copies) | %d (%.3f%% of delivered) |\n", s.Duplicates, 100*s.DuplicateShare)
	p("| records in calls whose answer was cut (unknown outcome) | %d |\n", s.UnknownOutcomeRecords)
	dc := s.DuplicateCauses
	p("| duplicates by cause: cut answer / SIGKILL / broker restart / forced rebalance / **unattributed** | %d / %d / %d / %d / **%d** |\n",
		dc.CutAnswer, dc.Kill, dc.BrokerRestart, dc.ForcedRebalance, dc.Unattributed)
	p("| duplicates the harness made (its forwarder resent a failed moto call that had landed), left out of the worker's figures above | %d |\n", dc.Harness)
	p("| dead-lettered (distinct messages) | %d of %d invalid |\n", sumValues(s.DeadLettered), r.Produced.Invalid)
	p("| max consumer lag (messages, whole topic) | %d at %.0fs; max per partition %d |\n", r.Lag.MaxTotal, r.Lag.MaxTotalAtSec, r.Lag.MaxPartition)
	p("| kills: time to recover, median / max | %.1fs / %.1fs (%d not in time) |\n", r.Recovery.RecoveredMedian, r.Recovery.RecoveredMax, r.Recovery.NotRecovered)
	p("| kills: back to full strength, median / max | %.1fs / %.1fs |\n", r.Recovery.FullStrengthMed, r.Recovery.FullStrengthMax)
	p("| production / drain after it / verification | %.0fs / %.0fs / %.0fs |\n\n", r.ProduceSec, r.DrainSec, r.VerifySec)

	p("Every duplicate is attributed from outside: a copy of a record that landed in a call whose answer the simulated Firehose cut is a *cut answer*; otherwise a copy of a message between the committed offset before a disruption and its partition's end after it is a *SIGKILL* (the killed worker's partitions), a *broker restart* (every partition, until commits moved again) or a *forced rebalance* (a worker logged a drain that timed out or a commit that failed). A copy none of these explains is *unattributed*: a finding to investigate, not noise.\n\n")
	if dc.Unattributed > 0 {
		p("Unattributed duplicates, examples:\n\n")
		for _, e := range dc.Examples {
			p("- %s\n", e)
		}
		p("\n")
	}

	p("## Per stream\n\n| stream | objects | lines | expected | delivered | missing | duplicates | corrupted/unknown/misrouted/opted-out |\n|---|---|---|---|---|---|---|---|\n")
	for _, st := range r.Streams {
		p("| %s | %d | %d | %d | %d | %d | %d | %d/%d/%d/%d |\n", st.Stream, st.Objects, st.Lines, st.Expected, st.Delivered, st.Missing, st.Duplicates,
			st.Corrupted, st.Unknown, st.Misrouted, st.OptOutDelivered)
	}
	for _, st := range r.Streams {
		for _, e := range st.Examples {
			p("- %s: %s\n", st.Stream, e)
		}
	}
	if st := r.Streams; len(st) > 0 && len(st[streamAll].DuplicatesByPartition) > 0 {
		p("\nDuplicates of %s by source partition (messages with extra copies / extra copies @ offsets spanned):", st[streamAll].Stream)
		dups := st[streamAll].DuplicatesByPartition
		parts := make([]int32, 0, len(dups))
		for k := range dups {
			parts = append(parts, k)
		}
		slices.Sort(parts)
		for _, k := range parts {
			p(" p%d: %d/%d @%d-%d;", k, dups[k].Messages, dups[k].Copies, dups[k].First, dups[k].Last)
		}
		p("\n\nExtra copies in %s by arrival (%d s bins, seconds since production started; disruptions at", st[streamAll].Stream, dupBin)
		for _, d := range r.Disruptions {
			p(" %.0f", d.AtSec)
		}
		p("):")
		bins := make([]int, 0, len(st[streamAll].DuplicatesByTime))
		for k := range st[streamAll].DuplicatesByTime {
			bins = append(bins, k)
		}
		slices.Sort(bins)
		for _, k := range bins {
			p(" %d-%ds: %d;", k, k+dupBin, st[streamAll].DuplicatesByTime[k])
		}
		p("\n")
	}

	p("\n## Dead letters by reason\n\n| reason | invalid produced | dead-lettered (distinct) | letters (with duplicates) |\n|---|---|---|---|\n")
	reasons := map[string]bool{}
	for k := range r.Produced.InvalidByReason {
		reasons[k] = true
	}
	for k := range r.DeadLetters.ByReason {
		reasons[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(reasons)) {
		p("| %s | %d | %d | %d |\n", k, r.Produced.InvalidByReason[k], r.DeadLetters.DistinctByReason[k], r.DeadLetters.ByReason[k])
	}
	p("\nNot dead-lettered: %d; wrong reason: %d; letters for deliverable messages: %d.\n", r.DeadLetters.InvalidNotDeadLettered, r.DeadLetters.WrongReason, r.DeadLetters.Unexpected)
	for _, e := range r.DeadLetters.Examples {
		p("- %s\n", e)
	}

	p("\n## Disruptions\n\n")
	p("*recovered*: from SIGKILL (or the start of the broker restart) until the first sample in which the group is Stable with every partition assigned once, the killed member is gone, and every partition the killed worker owned has committed past its offset in the first sample after the kill (or has nothing left to read); for the broker, until the group's committed offsets move past their total before the restart. *full strength*: until, in addition, all %d workers are members again. The group is sampled every %.1fs with kadm, so times are to that resolution; a kill is never made before the group is back to full strength from the previous disruption.\n\n",
		o.Workers, r.Lag.IntervalSeconds)
	p("| # | at | what | partitions | restarted after | recovered | full strength | lag before | max lag | storm before recovery | note |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, d := range r.Disruptions {
		what := "broker restart (" + fmt.Sprintf("%.1fs", d.BrokerRestart) + ")"
		restarted := ""
		if d.Kind == "kill" {
			what = fmt.Sprintf("SIGKILL %s pid %d (up %.0fs)", d.Worker, d.PID, d.Uptime)
			restarted = fmt.Sprintf("%.1fs", d.RestartAfter)
		}
		p("| %d | %.0fs | %s | %v | %s | %s | %s | %d | %d | %v | %s |\n", d.N, d.AtSec, what, d.Partitions, restarted,
			secs(d.Recovered), secs(d.FullStrength), d.LagBefore, d.MaxLag, d.DuringStorm, strings.TrimSpace(d.Note))
	}
	p("\nThrottle storms (90%% of calls throttled, half the records of the rest failed):")
	for _, st := range r.Storms {
		p(" at %.0fs for %.0fs;", st.AtSec, st.Length)
	}
	p("\n\n## Firehose side\n\n")
	c := r.Firehose.Calls
	p("Simulated Firehose calls: %d (ok %d, partial %d, throttled %d, error %d, answer cut %d, canceled %d).  \n",
		c.Total(), c.OK, c.Partial, c.Throttled, c.Error, c.Dropped, c.Canceled)
	for _, name := range slices.Sorted(maps.Keys(r.Firehose.Streams)) {
		st := r.Firehose.Streams[name]
		p("%s: %d records accepted, %d failed one by one, %d in throttled calls, %d accepted in calls whose answer was cut.  \n",
			name, st.RecordsAccepted, st.RecordsFailed, st.RecordsRejected, st.RecordsUnacknowledged)
	}
	f := r.Forwarder
	p("Forwarded to moto: %d records (%.1f MB) in %d PutRecordBatch calls; %d failed calls retried; slowest call %.2fs; longest a simulated call waited for moto %.2fs; %d calls whose client left before moto had their records.\n\n",
		f.Records, float64(f.Bytes)/1e6, f.Calls, f.FailedCalls, f.MaxCallSeconds, f.MaxWaitSeconds, f.GaveUp)

	p("## Workers\n\n%d processes were started in all; logs in `%s`.\n\n", r.Workers.Incarnations, r.Workers.Logs)
	for _, e := range r.Workers.UnexpectedExits {
		p("- exited on its own: %s pid %d after %.0fs: %s (%s)\n", e.Worker, e.PID, e.AfterSec, e.Status, e.Log)
	}
	p("Final SIGTERM:\n\n")
	for _, st := range r.Workers.FinalStop {
		p("- %s\n", st)
	}
	if len(r.Warnings) > 0 {
		p("\n## Warnings\n\n")
		for _, w := range r.Warnings {
			p("- %s\n", w)
		}
	}
	p("\n## Names\n\ntopic `%s`, dead-letter topic `%s`, group `%s`, streams `%s` (\"*\") and `%s` (page); bucket `%s`.\n",
		r.Names.Topic, r.Names.DLQ, r.Names.Group, r.Names.Streams[streamAll], r.Names.Streams[streamPages], o.Bucket)
	return b.String()
}

func secs(v float64) string {
	if v < 0 {
		return "not in time"
	}
	return fmt.Sprintf("%.1fs", v)
}

func sumValues(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
