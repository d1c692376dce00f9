//go:build e2e

package e2esec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// failFastWithin bounds how long a worker with a wrong password or CA may
// take to exit. The start-up check fails at the first broker answer; the
// bound leaves room for a slow CI machine, and stays far below the endless
// retrying a worker without the check would do.
const failFastWithin = 20 * time.Second

type security struct {
	caFile       string
	passwordFile string
	passwordEnv  string
}

func writeConfig(t *testing.T, group, topic, dlq string, s security) string {
	t.Helper()
	pw := ""
	if s.passwordFile != "" {
		pw = "    password_file: " + s.passwordFile
	} else {
		pw = "    password_env: " + s.passwordEnv
	}
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
  group_id: %s
  dlq_topic: %s
  commit_interval: 100ms
  heartbeat_interval: 300ms
  session_timeout: 6s
  rebalance_timeout: 10s
  drain_timeout: 5s
  fetch_max_wait: 100ms
  tls:
    enabled: true
    ca_file: %s
  sasl:
    mechanism: SCRAM-SHA-512
    username: %s
%s
sources:
  - id: src_sec
    topics: [%s]
    region: us-west-2
    mapped_streams:
      - {event: "Order Completed", stream: orders}
      - {event: "*", stream: everything}
batch:
  linger: 20ms
delivery:
  backoff: {initial: 5ms, max: 100ms}
http:
  address: ""
log:
  level: debug
  format: json
`, saslAddr, group, dlq, s.caFile, user, pw, topic)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// worker is a firehose-worker subprocess; its output is read after it exits.
type worker struct {
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
	err  error
	took time.Duration
}

func startWorker(t *testing.T, cfg string, env []string) *worker {
	t.Helper()
	w := &worker{out: &bytes.Buffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(binary, "run", "--config", cfg)
	w.cmd.Env = append(os.Environ(), env...)
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	start := time.Now()
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		w.err = w.cmd.Wait()
		w.took = time.Since(start)
		close(w.done)
	}()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.done
		if t.Failed() {
			t.Logf("worker output:\n%s", tail(w.out.String(), 6000))
		}
	})
	return w
}

// wait returns the worker's exit code once it has exited within timeout.
func (w *worker) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(timeout):
		t.Fatalf("worker still running after %s", timeout)
	}
	var ee *exec.ExitError
	if errors.As(w.err, &ee) {
		return ee.ExitCode()
	}
	if w.err != nil {
		t.Fatalf("worker: %v", w.err)
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// assertNoSecret fails if any password of this run shows in out.
func assertNoSecret(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range append(secrets, password) {
		if strings.Contains(out, s) {
			t.Errorf("%s shows a password (%d bytes of output)", what, len(out))
		}
	}
}

// plainClient is a franz-go client on the PLAINTEXT listener, for setup and
// checks.
func plainClient(t *testing.T) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(plainAddr), kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

func TestSCRAMOverTLSDeliversEveryEventAndDeadLetters(t *testing.T) {
	id := randomHex(4)
	topic, dlq, group := "sec-events-"+id, "sec-dlq-"+id, "sec-group-"+id
	cl, adm := plainClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, topic); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, dlq); err != nil {
		t.Fatalf("creating %s: %v", dlq, err)
	}

	const n = 60
	want := map[string]int{}
	var recs []*kgo.Record
	for i := range n {
		ev := []string{"Order Completed", "Signed In", "Product Viewed"}[i%3]
		v := fmt.Sprintf(`{"type":"track","event":%q,"messageId":"sec-%s-%d","properties":{"i":%d}}`, ev, id, i, i)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte(v)})
		want[v+"\n"]++
	}
	// Not JSON: the worker must dead-letter it, through the same SASL_SSL
	// listener, with the dead-letter producer's transport.
	recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("not json " + id)})
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing on %s: %v", plainAddr, err)
	}

	fh := itest.StartFirehose(t)
	cfg := writeConfig(t, group, topic, dlq, security{
		caFile:       filepath.Join(pki, "ca.pem"),
		passwordFile: secretFile(t, password),
	})

	check := exec.Command(binary, "check", "--config", cfg)
	out, err := check.CombinedOutput()
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "sasl=SCRAM-SHA-512(user="+user+", password from file ") {
		t.Errorf("check summary does not describe SASL:\n%s", out)
	}
	assertNoSecret(t, "check", string(out))

	w := startWorker(t, cfg, fh.Env())
	// Streams are batched and acknowledged independently: wait for both.
	fh.Await(t, 90*time.Second, "every event in everything and every order in orders", func() bool {
		return len(fh.Records("everything")) >= n && len(fh.Records("orders")) >= n/3
	})
	if d := itest.DiffMultisets(want, itest.Multiset(fh.Records("everything"))); d != "" {
		t.Errorf("everything stream: %s", d)
	}
	if got := len(fh.Records("orders")); got != n/3 {
		t.Errorf("orders stream got %d records, want %d", got, n/3)
	}

	// The dead letter and the commits went over SASL_SSL too; read them back
	// on the plain listener.
	letter := awaitRecord(t, dlq)
	if string(letter.Value) != "not json "+id || header(letter, "dlq.reason") != "not_json" {
		t.Errorf("dead letter = %q with reason %q", letter.Value, header(letter, "dlq.reason"))
	}
	awaitCommitted(t, adm, group, topic)

	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := w.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("worker exited %d after SIGTERM", code)
	}
	log := w.out.String()
	if !strings.Contains(log, `"msg":"kafka connection checked","tls":true,"sasl":"SCRAM-SHA-512"`) {
		t.Errorf("worker did not log the connection check")
	}
	assertNoSecret(t, "worker output (debug level)", log)
	t.Logf("delivered %d events and 1 dead letter through SCRAM-SHA-512 over TLS on %s; worker ran %s",
		n, saslAddr, w.took.Round(time.Millisecond))
}

func TestWrongPasswordFailsFast(t *testing.T) {
	wrong := "wrong-" + randomHex(8)
	fh := itest.StartFirehose(t)
	cfg := writeConfig(t, "sec-wrong-"+randomHex(4), "sec-unused", "", security{
		caFile:      filepath.Join(pki, "ca.pem"),
		passwordEnv: "FHW_E2E_KAFKA_PASSWORD",
	})
	w := startWorker(t, cfg, append(fh.Env(), "FHW_E2E_KAFKA_PASSWORD="+wrong))
	if code := w.wait(t, failFastWithin); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	log := w.out.String()
	if want := `kafka: SASL authentication failed: the broker rejected user \"` + user + `\" with SCRAM-SHA-512`; !strings.Contains(log, want) {
		t.Errorf("output lacks %s", want)
	}
	if !strings.Contains(log, saslAddr) {
		t.Errorf("output does not name the broker %s", saslAddr)
	}
	assertNoSecret(t, "worker output", log, wrong)
	t.Logf("wrong password: exit 1 after %s: %s", w.took.Round(time.Millisecond), errorLine(log))
}

func TestUntrustedCertificateFailsFast(t *testing.T) {
	fh := itest.StartFirehose(t)
	cfg := writeConfig(t, "sec-untrusted-"+randomHex(4), "sec-unused", "", security{
		caFile:       filepath.Join(pki, "other-ca.pem"),
		passwordFile: secretFile(t, password),
	})
	w := startWorker(t, cfg, fh.Env())
	if code := w.wait(t, failFastWithin); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	log := w.out.String()
	for _, want := range []string{
		"kafka: TLS: the broker's certificate is signed by an unknown authority; set kafka.tls.ca_file",
		"x509: certificate signed by unknown authority",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	assertNoSecret(t, "worker output", log)
	t.Logf("untrusted certificate: exit 1 after %s: %s", w.took.Round(time.Millisecond), errorLine(log))
}

// errorLine is the worker's final error log line.
func errorLine(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], `"level":"ERROR"`) {
			return lines[i]
		}
	}
	return "(no error line)"
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// awaitRecord reads the first record of topic over the plain listener.
func awaitRecord(t *testing.T, topic string) *kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(plainAddr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("no record on %s within 60s", topic)
		}
		if rs := fs.Records(); len(rs) > 0 {
			return rs[0]
		}
	}
}

// awaitCommitted waits until the group has committed every partition of
// topic up to its end.
func awaitCommitted(t *testing.T, adm *kadm.Client, group, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		offs, err := adm.FetchOffsets(ctx, group)
		done := err == nil
		ends.Each(func(e kadm.ListedOffset) {
			o, ok := offs.Lookup(topic, e.Partition)
			if !ok || o.At != e.Offset {
				done = false
			}
		})
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s did not commit %s up to its end within 60s (last error %v)", group, topic, err)
		case <-tick.C:
		}
	}
}
