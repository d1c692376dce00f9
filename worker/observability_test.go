package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// observed is a worker subprocess whose health listener address was read
// from its log.
type observed struct {
	*proc
	addr string
	mu   sync.Mutex
	log  strings.Builder
}

// startObserved runs the worker with the health listener on a free port and
// waits until it logs the port.
func startObserved(t *testing.T, cfgPath string, env []string) *observed {
	t.Helper()
	cmd := exec.Command(binary, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	o := &observed{proc: &proc{cmd: cmd, done: make(chan error, 1)}}
	addrCh := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			o.mu.Lock()
			o.log.WriteString(line + "\n")
			o.mu.Unlock()
			var rec struct {
				Msg     string `json:"msg"`
				Address string `json:"address"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving metrics and health" {
				addrCh <- rec.Address
			}
		}
	}()
	go func() { <-copied; o.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-o.done
		if t.Failed() {
			t.Logf("worker log:\n%s", tail(o.Log(), 6000))
		}
	})
	select {
	case o.addr = <-addrCh:
	case <-time.After(30 * time.Second):
		t.Fatalf("worker never logged its health address:\n%s", o.Log())
	}
	return o
}

func (o *observed) Log() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.log.String()
}

func (o *observed) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + o.addr + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// metrics scrapes /metrics and sums the samples of each name whose labels
// contain every given label (`name` or `name{a="b",c="d"}`).
func (o *observed) metrics(t *testing.T) func(query string) float64 {
	t.Helper()
	code, body := o.get(t, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	type sample struct {
		labels string
		value  float64
	}
	samples := map[string][]sample{}
	for _, line := range strings.Split(body, "\n") {
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		samples[m[1]] = append(samples[m[1]], sample{m[2], v})
	}
	return func(query string) float64 {
		name, want, _ := strings.Cut(query, "{")
		want = strings.TrimSuffix(want, "}")
		sum := 0.0
		for _, s := range samples[name] {
			ok := true
			for _, l := range strings.Split(want, ",") {
				if l != "" && !strings.Contains(s.labels, l) {
					ok = false
				}
			}
			if ok {
				sum += s.value
			}
		}
		return sum
	}
}

// withHTTP replaces the http section writeConfig wrote (listener off) and
// fails the test if it is not there, so a changed layout cannot go unnoticed.
func withHTTP(t *testing.T, path, http string) string {
	t.Helper()
	body, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const off = "http:\n  address: \"\""
	if !strings.Contains(string(body), off) {
		t.Fatalf("config %s has no %q to replace", path, off)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(body), off, "http:\n  "+http, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMetricsEqualWhatHappened(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 2, "events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().ThrottleNextCalls(5)
	fh.Sim.Faults().FailRecords(firehosesim.RecordFault{First: 3, Code: "ServiceUnavailableException"})
	msgs, want := messages(600, "metrics", 2)
	msgs = append(msgs,
		itest.Msg{Value: []byte("not json")},
		itest.Msg{Partition: 1, Value: []byte(`{"type":7}`)},
		itest.Msg{Value: []byte(`{"type":"page","integrations":{"All":false}}`)},
		itest.Msg{Partition: 1, Value: []byte(`{"type":"page","integrations":{"Amazon Kinesis Firehose":false}}`)},
		itest.Msg{Value: []byte(`{"type":"track","event":"x","integrations":{"All":false}}`)},
	)
	k.Produce(t, "events", msgs)
	cfg := withHTTP(t, writeConfig(t, k.Brokers, "g-metrics", "events", ""), "address: 127.0.0.1:0")
	w := startObserved(t, cfg, fh.Env())

	fh.Await(t, 60*time.Second, "every record", func() bool { return missing(want, itest.Multiset(fh.Records("everything"))) == 0 })
	end := k.End(t, "events")
	fh.Await(t, 30*time.Second, "commits and lag at zero", func() bool {
		m := w.metrics(t)
		return m(`firehose_worker_committed_offset{messaging_destination_partition_id="0"}`) == float64(end[0]) &&
			m(`firehose_worker_committed_offset{messaging_destination_partition_id="1"}`) == float64(end[1])
	})
	m := w.metrics(t)
	st := fh.Sim.Stats()
	accepted := 0
	for _, s := range st.Streams {
		accepted += int(s.RecordsAccepted)
	}
	checks := []struct {
		query string
		want  float64
	}{
		{`messaging_client_consumed_messages_total{messaging_destination_name="events"}`, float64(len(msgs))},
		{`firehose_worker_messages_total{outcome="routed"}`, 600},
		{`firehose_worker_messages_total{outcome="dropped"}`, 2},
		{`firehose_worker_messages_total{outcome="skipped_integrations"}`, 3},
		{`firehose_worker_records_delivered_total`, float64(accepted)},
		{`firehose_worker_records_delivered_total{firehose_stream="orders"}`, 200},
		{`firehose_worker_records_failed_total`, 3},
		{`firehose_worker_put_calls_total{outcome="throttled"}`, float64(st.Calls.Throttled)},
		{`firehose_worker_put_calls_total{outcome="partial"}`, float64(st.Calls.Partial)},
		{`firehose_worker_put_calls_total{outcome="ok"}`, float64(st.Calls.OK)},
		{`firehose_worker_delivery_latency_seconds_count`, 600},
		{`messaging_kafka_consumer_lag`, 0},
		{`firehose_worker_inflight_bytes`, 0},
	}
	if st.Calls.Throttled != 5 {
		t.Errorf("the endpoint throttled %d calls, want 5", st.Calls.Throttled)
	}
	if accepted != 800 {
		t.Errorf("the endpoint accepted %d records, want 800 (600 everything + 200 orders)", accepted)
	}
	for _, c := range checks {
		if got := m(c.query); got != c.want {
			t.Errorf("%s = %v, want %v", c.query, got, c.want)
		}
	}
	// Billing: each accepted record (with its newline) in 5,120-byte steps.
	billed := 0
	for _, s := range []string{"everything", "orders"} {
		for _, r := range fh.Records(s) {
			billed += (len(r) + 5119) / 5120
		}
	}
	if got := m(`firehose_worker_billed_units_total`); got != float64(billed) || billed < accepted {
		t.Errorf("billed units = %v, want %d (%d records)", got, billed, accepted)
	}
	// Freshness: nothing pending, so every age is 0, and both partitions and
	// both streams report how long ago something last finished.
	for _, what := range []string{"partition", "stream"} {
		if got := m(`firehose_worker_` + what + `_pending_age_seconds`); got != 0 {
			t.Errorf("%s pending age = %v with nothing pending, want 0", what, got)
		}
	}
	for _, q := range []string{
		`firehose_worker_partition_since_finish_seconds{messaging_destination_partition_id="0"}`,
		`firehose_worker_partition_since_finish_seconds{messaging_destination_partition_id="1"}`,
		`firehose_worker_stream_since_finish_seconds{firehose_stream="everything"}`,
		`firehose_worker_stream_since_finish_seconds{firehose_stream="orders"}`,
	} {
		if got := m(q); got <= 0 || got > 60 {
			t.Errorf("%s = %v, want a few seconds", q, got)
		}
	}
	if m(`firehose_worker_put_retries_total`) < 6 || m(`firehose_worker_rebalances_total`) < 1 || m(`firehose_worker_put_duration_seconds_count`) == 0 {
		t.Errorf("retries %v, rebalances %v, put duration count %v", m(`firehose_worker_put_retries_total`), m(`firehose_worker_rebalances_total`), m(`firehose_worker_put_duration_seconds_count`))
	}
}

func TestReadyzTurnsUnreadyWhileFirehoseIsBlocked(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 1, "events")
	fh := itest.StartFirehose(t)
	cfg := withHTTP(t, writeConfig(t, k.Brokers, "g-ready", "events", ""), "address: 127.0.0.1:0\n  stuck_after: 500ms")
	w := startObserved(t, cfg, fh.Env())
	status := func(path string) func() (int, string) { return func() (int, string) { return w.get(t, path) } }
	await := func(what string, f func() (int, string), code int) string {
		var last string
		fh.Await(t, 30*time.Second, what, func() bool {
			c, b := f()
			last = b
			return c == code
		})
		return last
	}
	await("ready after joining", status("/readyz"), 200)
	if c, _ := w.get(t, "/healthz"); c != 200 {
		t.Errorf("/healthz = %d", c)
	}
	fh.Sim.Faults().Block()
	msgs, want := messages(50, "ready", 1)
	k.Produce(t, "events", msgs)
	why := await("unready while Firehose refuses everything", status("/readyz"), 503)
	if !strings.Contains(why, "stuck") {
		t.Errorf("/readyz says %q, want it to say it is stuck", why)
	}
	if c, _ := w.get(t, "/healthz"); c != 200 {
		t.Errorf("/healthz = %d while stuck: the process is alive", c)
	}
	// The freshness gauges see it too: the oldest message's age and the time
	// since anything finished both grow, for the partition and the stream,
	// which is what the stuck-stream alert looks for.
	fh.Await(t, 30*time.Second, "pending age and since-finish past 500ms", func() bool {
		m := w.metrics(t)
		for _, q := range []string{
			`firehose_worker_partition_pending_age_seconds{messaging_destination_partition_id="0"}`,
			`firehose_worker_partition_since_finish_seconds{messaging_destination_partition_id="0"}`,
			`firehose_worker_stream_pending_age_seconds{firehose_stream="everything"}`,
			`firehose_worker_stream_since_finish_seconds{firehose_stream="everything"}`,
		} {
			if m(q) < 0.5 {
				return false
			}
		}
		return true
	})
	fh.Sim.Faults().Unblock()
	await("ready again after Firehose recovers", status("/readyz"), 200)
	fh.Await(t, 30*time.Second, "every record", func() bool { return missing(want, itest.Multiset(fh.Records("everything"))) == 0 })
	fh.Await(t, 30*time.Second, "pending age back to 0", func() bool {
		m := w.metrics(t)
		return m(`firehose_worker_partition_pending_age_seconds`) == 0 && m(`firehose_worker_stream_pending_age_seconds`) == 0
	})
}

// otlpReceiver keeps the bodies of the OTLP/HTTP requests it receives.
type otlpReceiver struct {
	*httptest.Server
	mu  sync.Mutex
	got []byte
}

func startOTLP(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, b...)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(r.Close)
	return r
}

// bodies is everything received, as a string to search: span names,
// attributes and error messages are plain bytes in OTLP protobuf.
func (r *otlpReceiver) bodies() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.got)
}

func TestSecretsNeverAppearInLogsMetricsOrCheck(t *testing.T) {
	t.Parallel()
	// Source A's secret ID comes from the environment, B's from a file,
	// C's (same role as A) is written in the config.
	const secretID = "sEcReT-iD-4f1c9a"
	const fileSecretID = "fIlE-sEcReT-iD-93b2"
	const awsSecret = "AwsSeCrEtKeY-77d2e1"
	secretFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(secretFile, []byte(fileSecretID+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k := itest.StartKafka(t, 1, "events", "events_b", "events_c")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().ThrottleNextCalls(3)
	sts := itest.StartSTS(t, "arn:aws:iam::123456789012:role/refused")
	cfgPath := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
  group_id: g-secret
  commit_interval: 100ms
  heartbeat_interval: 300ms
  fetch_max_wait: 100ms
sources:
  - id: src_a
    topics: [events]
    region: us-west-2
    role_address: arn:aws:iam::123456789012:role/firehose
    secret_id_env: FHW_TEST_SECRET_ID
    mapped_streams: [{event: "*", stream: everything}]
  - id: src_b
    topics: [events_b]
    region: us-west-2
    role_address: arn:aws:iam::123456789012:role/refused
    secret_id_file: %s
    mapped_streams: [{event: "*", stream: refused_stream}]
  - id: src_c
    topics: [events_c]
    region: us-west-2
    role_address: arn:aws:iam::123456789012:role/firehose
    secret_id: %s
    mapped_streams: [{event: "*", stream: everything_c}]
batch: {linger: 20ms}
delivery:
  backoff: {initial: 5ms, max: 100ms}
http: {address: "127.0.0.1:0"}
log: {level: debug, format: json}
shutdown_timeout: 2s
`, k.Brokers[0], secretFile, secretID)
	os.WriteFile(cfgPath, []byte(cfg), 0o600)
	msgs, want := messages(100, "secret", 1)
	msgs = append(msgs, itest.Msg{Value: []byte("junk")})
	k.Produce(t, "events", msgs)
	k.Produce(t, "events_b", []itest.Msg{{Value: []byte(`{"type":"page"}`)}})
	otlp := startOTLP(t)
	env := append(fh.Env(), "AWS_ENDPOINT_URL_STS="+sts.URL, "AWS_SECRET_ACCESS_KEY="+awsSecret, "FHW_TEST_SECRET_ID="+secretID,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+otlp.URL+"/v1/traces", "OTEL_EXPORTER_OTLP_COMPRESSION=none", "OTEL_BSP_SCHEDULE_DELAY=100")
	w := startObserved(t, cfgPath, env)
	fh.Await(t, 60*time.Second, "the allowed source's records", func() bool { return missing(want, itest.Multiset(fh.Records("everything"))) == 0 })
	fh.Await(t, 30*time.Second, "the refused role to be tried", func() bool {
		for _, c := range sts.Calls() {
			if c.Get("RoleArn") == "arn:aws:iam::123456789012:role/refused" {
				return true
			}
		}
		return false
	})
	for _, c := range sts.Calls() {
		want := secretID // from the environment (A) or the config (C), same role
		if c.Get("RoleArn") == "arn:aws:iam::123456789012:role/refused" {
			want = fileSecretID
		}
		if got := c.Get("ExternalId"); got != want {
			t.Errorf("External ID sent to STS for %s = %q, want the secret id", c.Get("RoleArn"), got)
		}
	}
	_, metrics := w.get(t, "/metrics")
	_, ready := w.get(t, "/readyz")
	var checkOut strings.Builder
	cmd := exec.Command(binary, "check", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &checkOut, &checkOut
	if err := cmd.Run(); err != nil || !strings.Contains(checkOut.String(), "src_a") {
		// An empty or failed check would pass the grep below for nothing.
		t.Fatalf("check: %v\n%s", err, checkOut.String())
	}
	_ = w.cmd.Process.Signal(os.Interrupt)
	_ = w.wait(t, 30*time.Second)
	traces := otlp.bodies()
	if len(traces) == 0 {
		t.Fatal("no traces were exported, so none were searched for secrets")
	}
	all := w.Log() + metrics + ready + checkOut.String() + traces
	for _, secret := range []string{secretID, fileSecretID, awsSecret, "assumed-secret", "assumed-token"} {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("secret %q appears in the output: ...%s...", secret, all[max(0, i-200):min(len(all), i+100)])
		}
	}
	if !strings.Contains(w.Log(), "AccessDenied") {
		t.Errorf("the refused role was never reported in the log")
	}
}
