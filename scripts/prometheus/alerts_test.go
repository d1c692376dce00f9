package prometheus

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"

	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

func load(t *testing.T) map[string]rulefmt.Rule {
	t.Helper()
	groups, errs := rulefmt.ParseFile("alerts.yaml", false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("alerts.yaml: %v", err)
	}
	if t.Failed() {
		t.FailNow()
	}
	rules := map[string]rulefmt.Rule{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			rules[r.Alert] = r
		}
	}
	return rules
}

// TestAlertRulesParse loads the rules with Prometheus's own parser, which
// also checks every expression and template, and finds both alerts.
func TestAlertRulesParse(t *testing.T) {
	t.Parallel()
	rules := load(t)
	for _, name := range []string{"FirehoseWorkerDataStale", "FirehoseWorkerStreamStuck"} {
		r, ok := rules[name]
		if !ok {
			t.Errorf("no alert %s", name)
			continue
		}
		if r.For == 0 || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
			t.Errorf("%s: want a for, a severity and a summary: %+v", name, r)
		}
	}
}

// TestAlertRulesUseExportedMetrics checks every metric the rules name
// against what the worker's Prometheus endpoint exposes.
func TestAlertRulesUseExportedMetrics(t *testing.T) {
	t.Parallel()
	p, err := telemetry.NewProvider(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	// The gauges appear once something is reported.
	f := fresh{}
	p.Metrics.Streams.Add("s", f)
	p.Metrics.Partitions.Set("t", 0, telemetry.PartitionFigures{Committed: 1, Lag: 0, Freshness: f})
	srv := httptest.NewServer(promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var exported []string
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			exported = append(exported, f[2])
		}
	}
	name := regexp.MustCompile(`\bfirehose_worker_[a-z_]+`)
	for alert, r := range load(t) {
		for _, m := range name.FindAllString(r.Expr, -1) {
			if !slices.Contains(exported, m) {
				t.Errorf("%s uses %s, which the worker does not export", alert, m)
			}
		}
	}
}

type fresh struct{}

func (fresh) Oldest() (tm time.Time, ok bool) { return tm, false }
func (fresh) LastFinish() time.Time           { return time.Time{} }

// TestAlertExpressions evaluates each alert's expression on series that
// must make it fire and series that must not, with Prometheus's engine.
func TestAlertExpressions(t *testing.T) {
	t.Parallel()
	rules := load(t)
	stale, stuck := rules["FirehoseWorkerDataStale"].Expr, rules["FirehoseWorkerStreamStuck"].Expr
	script := `
load 1m
  firehose_worker_partition_pending_age_seconds{job="w",messaging_destination_name="events",messaging_destination_partition_id="0"} 0+60x10
  firehose_worker_partition_pending_age_seconds{job="w",messaging_destination_name="events",messaging_destination_partition_id="1"} 0x10
  firehose_worker_stream_since_finish_seconds{job="w",firehose_stream="stuck"} 0+60x10
  firehose_worker_stream_pending_age_seconds{job="w",firehose_stream="stuck"} 0+60x10
  firehose_worker_stream_since_finish_seconds{job="w",firehose_stream="idle"} 0+60x10
  firehose_worker_stream_pending_age_seconds{job="w",firehose_stream="idle"} 0x10

# Partition 0 has waited 360 s on its oldest message: stale. Partition 1
# has nothing pending.
eval instant at 6m ` + oneLine(stale) + `
  {job="w",messaging_destination_name="events",messaging_destination_partition_id="0"} 360

eval instant at 4m ` + oneLine(stale) + `

# Stream stuck has pending records and nothing finished for 360 s; stream
# idle has finished nothing for as long, but has nothing pending either.
eval instant at 6m ` + oneLine(stuck) + `
  {job="w",firehose_stream="stuck"} 360

eval instant at 4m ` + oneLine(stuck) + `
`
	promqltest.RunTest(t, script, promqltest.NewTestEngine(t, false, 0, promqltest.DefaultMaxSamplesPerQuery))
}

// oneLine folds a multi-line expression for the promqltest script.
func oneLine(expr string) string { return strings.Join(strings.Fields(expr), " ") }
