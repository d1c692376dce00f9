package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape records one value on every instrument and returns the exposition.
func scrape(t *testing.T) string {
	t.Helper()
	p, err := NewProvider(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	ctx := context.Background()
	m := p.Metrics
	m.Consumed.Get().Add(1)
	m.Messages.Get().Add(1)
	m.RecordsSent.Add(ctx, 1)
	m.RecordsFailed.Add(ctx, 1)
	m.PutCalls.Add(ctx, 1)
	// As the worker records them: a stream, an outcome, a reason.
	m.Messages.Get(AttrOutcome.String(MsgDeadLettered), AttrReason.String("not_json")).Add(1)
	Add(ctx, m.PutCalls, 1, AttrStream.String("s"), AttrOutcome.String(OutcomeThrottled))
	Add(ctx, m.RecordsFailed, 1, AttrStream.String("s"), AttrReason.String("ServiceUnavailableException"))
	m.PutDuration.Record(ctx, 0.1)
	m.Retries.Add(ctx, 1)
	m.BackoffTime.Add(ctx, 0.1)
	m.BatchRecords.Record(ctx, 10)
	m.BatchBytes.Record(ctx, 100)
	m.EndToEnd.Record(ctx, 0.2)
	m.InFlightBytes.Get().Add(1)
	m.InFlightBatches.Add(ctx, 1)
	m.Commits.Add(ctx, 1)
	m.Rebalances.Add(ctx, 1)
	m.CredRefreshes.Add(ctx, 1)
	m.DeadLetters.Add(ctx, 1)
	m.BilledUnits.Add(ctx, 1)
	pending := fixedFreshness{oldest: time.Now().Add(-time.Minute), last: time.Now().Add(-time.Minute)}
	m.Streams.Add("s", pending)
	m.Partitions.Set("t", 0, PartitionFigures{Committed: 5, Lag: 2, Freshness: pending})
	srv, err := Serve("127.0.0.1:0", p, NewHealth(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestDashboardUsesOnlyExportedMetrics(t *testing.T) {
	t.Parallel()
	exposition := scrape(t)
	names := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
		}
	}
	raw, err := os.ReadFile("../../scripts/grafana/firehose-worker.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	// A metric name is followed by its selector; label names are not.
	ref := regexp.MustCompile(`\b(firehose_worker_[a-z_]+|messaging_[a-z_]+)[{\[]`)
	seen := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range ref.FindAllStringSubmatch(tg.Expr, -1) {
				name := m[1]
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if !names[base] {
					t.Errorf("panel %q uses %s, which the worker does not export", p.Title, name)
				}
				seen++
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d metric references found in the dashboard", seen)
	}
}

func TestExpositionNamesAndBoundedLabels(t *testing.T) {
	t.Parallel()
	exposition := scrape(t)
	for _, want := range []string{
		"messaging_client_consumed_messages_total", "firehose_worker_records_delivered_total",
		"firehose_worker_put_calls_total", "firehose_worker_put_duration_seconds_bucket",
		"firehose_worker_delivery_latency_seconds_bucket", "messaging_kafka_consumer_lag",
		"firehose_worker_committed_offset", "firehose_worker_inflight_bytes", "firehose_worker_batch_size_bytes_bucket",
	} {
		if !strings.Contains(exposition, want) {
			t.Errorf("exposition lacks %s", want)
		}
	}
	if !strings.Contains(exposition, `messaging_kafka_consumer_lag{messaging_destination_name="t",messaging_destination_partition_id="0"} 2`) {
		t.Errorf("lag gauge not exported per partition:\n%s", exposition)
	}
	// Bounded labels: only dimensions with a bounded set of values (topic,
	// partition, stream, outcome, reason code, histogram bucket), never an
	// offset, a message ID or an error message; outcomes from their set.
	bounded := map[string]bool{
		"le": true, "messaging_destination_name": true, "messaging_destination_partition_id": true,
		"firehose_stream": true, "outcome": true, "reason": true,
	}
	outcomes := map[string]bool{
		OutcomeOK: true, OutcomePartial: true, OutcomeThrottled: true, OutcomeError: true, OutcomeUnknown: true,
		MsgRouted: true, MsgSkippedUnmapped: true, MsgSkippedIntegrations: true, MsgDeadLettered: true, MsgDropped: true,
	}
	label := regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"`)
	seen := map[string]bool{}
	for line := range strings.Lines(exposition) {
		if strings.HasPrefix(line, "#") || !strings.Contains(line, "{") {
			continue
		}
		if strings.HasPrefix(line, "target_info") {
			continue // the resource, one series per process
		}
		labels := line[strings.Index(line, "{")+1 : strings.LastIndex(line, "}")]
		for _, kv := range label.FindAllStringSubmatch(labels, -1) {
			name, value := kv[1], kv[2]
			seen[name] = true
			if !bounded[name] {
				t.Errorf("label %s=%q is not a bounded dimension: %s", name, value, strings.TrimSpace(line))
			}
			if name == "outcome" && !outcomes[value] {
				t.Errorf("outcome %q is not one of the outcomes: %s", value, strings.TrimSpace(line))
			}
			if name == "reason" && !regexp.MustCompile(`^[A-Za-z_]{1,64}$`).MatchString(value) {
				t.Errorf("reason %q is not a short code: %s", value, strings.TrimSpace(line))
			}
		}
	}
	for _, want := range []string{"firehose_stream", "outcome", "reason"} {
		if !seen[want] {
			t.Errorf("no series carries the %s label, so its bound was not checked", want)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	h := NewHealth(50 * time.Millisecond)
	now := time.Now()
	h.now = func() time.Time { return now }
	if ok, _ := h.Ready(); ok {
		t.Error("ready before joining a generation")
	}
	h.SetMembership(true, []string{"t/0"})
	if ok, why := h.Ready(); !ok {
		t.Errorf("not ready after joining: %s", why)
	}
	h.InFlight(1)
	now = now.Add(40 * time.Millisecond)
	if ok, why := h.Ready(); !ok {
		t.Errorf("unready %s into a batch, under stuck_after: %s", 40*time.Millisecond, why)
	}
	now = now.Add(20 * time.Millisecond)
	if ok, _ := h.Ready(); ok {
		t.Fatal("still ready with a batch in flight and no progress past stuck_after")
	}
	if ok, _ := h.Alive(); !ok {
		t.Error("not alive while stuck: the process and its loops are fine")
	}
	h.Progress()
	if ok, why := h.Ready(); !ok {
		t.Errorf("still unready after progress: %s", why)
	}
	now = now.Add(60 * time.Millisecond)
	if ok, _ := h.Ready(); ok {
		t.Error("ready again past stuck_after with no progress since the last probe")
	}
	h.InFlight(-1)
	var nilHealth *Health
	nilHealth.Progress()
	if ok, _ := nilHealth.Ready(); !ok {
		t.Error("a nil Health must report ready")
	}
}

func TestOTLPProtocolFromEnvironment(t *testing.T) {
	// t.Setenv: not parallel.
	cases := []struct {
		all, metrics, want string
		bad                bool
	}{
		{"", "", protoHTTP, false},
		{"grpc", "", protoGRPC, false},
		{"grpc", "http/protobuf", protoHTTP, false},
		{"http/json", "", "", true},
	}
	for _, c := range cases {
		t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", c.all)
		t.Setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", c.metrics)
		got, err := otlpProtocol("METRICS")
		if got != c.want || (err != nil) != c.bad {
			t.Errorf("PROTOCOL=%q METRICS_PROTOCOL=%q: %q, %v; want %q (error: %v)", c.all, c.metrics, got, err, c.want, c.bad)
		}
	}
}

// fixedFreshness is a Freshness with set answers.
type fixedFreshness struct{ oldest, last time.Time }

func (f fixedFreshness) Oldest() (time.Time, bool) { return f.oldest, !f.oldest.IsZero() }
func (f fixedFreshness) LastFinish() time.Time     { return f.last }

func TestFreshnessGauges(t *testing.T) {
	t.Parallel()
	exposition := scrape(t)
	for _, series := range []string{
		`firehose_worker_partition_pending_age_seconds{messaging_destination_name="t",messaging_destination_partition_id="0"}`,
		`firehose_worker_partition_since_finish_seconds{messaging_destination_name="t",messaging_destination_partition_id="0"}`,
		`firehose_worker_stream_pending_age_seconds{firehose_stream="s"}`,
		`firehose_worker_stream_since_finish_seconds{firehose_stream="s"}`,
	} {
		re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
		m := re.FindStringSubmatch(exposition)
		if m == nil {
			t.Errorf("no sample %s in\n%s", series, exposition)
			continue
		}
		// A minute old when scraped, give or take the scrape itself.
		if v, err := strconv.ParseFloat(m[1], 64); err != nil || v < 60 || v > 70 {
			t.Errorf("%s = %s, want about 60", series, m[1])
		}
	}
}

func TestStreamsAddAndRemoveSameNamedSets(t *testing.T) {
	t.Parallel()
	now := time.Now()
	var s Streams
	a := fixedFreshness{oldest: now.Add(-time.Minute), last: now.Add(-time.Hour)}
	b := fixedFreshness{last: now.Add(-time.Second)} // nothing pending
	s.Add("x", a)
	s.Add("x", b)
	if len(s.m["x"]) != 2 {
		t.Fatalf("%d sets under x, want 2", len(s.m["x"]))
	}
	s.Remove("x", a)
	s.Remove("x", b)
	if _, ok := s.m["x"]; ok {
		t.Error("a removed stream is still reported")
	}
}

// TestServerReportsAFailedListener: the serving goroutine's error is not
// dropped: Close returns it.
func TestServerReportsAFailedListener(t *testing.T) {
	t.Parallel()
	p, err := NewProvider(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Serve("127.0.0.1:0", p, NewHealth(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	_ = srv.ln.Close() // the listener fails under the server
	<-srv.stopped      // Serve has seen it (a Close before Serve even started would rightly report nothing)
	if err := srv.Close(context.Background()); err == nil || !strings.Contains(err.Error(), "serving metrics and health") {
		t.Fatalf("Close after the listener failed = %v, want the serving error", err)
	}
}
