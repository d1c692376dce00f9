package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// binary is the firehose-worker built once for the subprocess tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "fhw-bin")
	if err != nil {
		panic(err)
	}
	binary, err = itest.BuildWorker(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func writeConfig(t *testing.T, brokers []string, group, topic string, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	cfg := fmt.Sprintf(`kafka:
  brokers: [%q]
  group_id: %s
  commit_interval: 100ms
  heartbeat_interval: 300ms
  session_timeout: 6s
  rebalance_timeout: 10s
  drain_timeout: 5s
  fetch_max_wait: 100ms
sources:
  - id: src_1
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
  format: json
%s`, brokers[0], group, topic, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type proc struct {
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan error
}

func startWorker(t *testing.T, cfgPath string, env []string) *proc {
	t.Helper()
	cmd := exec.Command(binary, "run", "--config", cfgPath)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stderr: &stderr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("worker log:\n%s", tail(stderr.String(), 4000))
		}
	})
	return p
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (p *proc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // keep it for Cleanup
		return err
	case <-time.After(timeout):
		t.Fatalf("worker did not exit within %s", timeout)
		return nil
	}
}

func messages(n int, prefix string, partitions int32) ([]itest.Msg, map[string]int) {
	msgs := make([]itest.Msg, n)
	want := map[string]int{}
	for i := range n {
		ev := []string{"Order Completed", "Signed In", "Product Viewed"}[i%3]
		v := fmt.Sprintf(`{"type":"track","event":%q,"messageId":"%s-%d","properties":{"i":%d}}`, ev, prefix, i, i)
		msgs[i] = itest.Msg{Partition: int32(i) % partitions, Value: []byte(v)}
		want[v+"\n"]++
	}
	return msgs, want
}

func duplicates(got map[string]int) int {
	d := 0
	for _, n := range got {
		if n > 1 {
			d += n - 1
		}
	}
	return d
}

func missing(want, got map[string]int) int {
	m := 0
	for k := range want {
		if got[k] == 0 {
			m++
		}
	}
	return m
}

func TestSIGKILLMidStreamThenRestartLosesNothing(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 4, "events")
	fh := itest.StartFirehose(t)
	// Latency keeps batches in flight when the worker dies.
	fh.Sim.Faults().SetLatency(5*time.Millisecond, 30*time.Millisecond)
	cfg := writeConfig(t, k.Brokers, "g-kill", "events", "")
	msgs, want := messages(20000, "kill", 4)
	offsets := k.Produce(t, "events", msgs)
	// Which message each record is, to tell where a duplicate came from.
	index := make(map[string]int, len(msgs))
	for i, m := range msgs {
		index[string(m.Value)+"\n"] = i
	}

	w := startWorker(t, cfg, fh.Env())
	fh.Await(t, 60*time.Second, "a third of the records", func() bool { return len(fh.Records("everything")) >= len(msgs)/3 })
	if err := w.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w.wait(t, 10*time.Second)
	// A call the worker had sent before it died may still be in its
	// simulated latency and land now: count after it has.
	fh.AwaitIdle(t, 10*time.Second)
	atKill := len(fh.Records("everything"))
	committedAt := k.Committed(t, "g-kill", "events")
	committed := int64(0)
	for _, off := range committedAt {
		committed += off
	}

	startWorker(t, cfg, fh.Env())
	fh.Await(t, 90*time.Second, "every record after the restart", func() bool {
		return missing(want, itest.Multiset(fh.Records("everything"))) == 0
	})
	recs := fh.Records("everything")
	got := itest.Multiset(recs)
	t.Logf("SIGKILL after %d of %d records (%d committed): %d missing, %d duplicates (%.2f%%) from the killed worker's unacknowledged window",
		atKill, len(msgs), committed, missing(want, got), duplicates(got), 100*float64(duplicates(got))/float64(len(msgs)))
	// Nothing fails in this test, so neither worker sends a record twice on
	// its own, and the restarted one starts at the committed offsets.
	if d := duplicates(itest.Multiset(recs[:atKill])); d > 0 {
		t.Errorf("the killed worker delivered %d records twice", d)
	}
	if d := duplicates(itest.Multiset(recs[atKill:])); d > 0 {
		t.Errorf("the restarted worker delivered %d records twice", d)
	}
	early := 0
	for _, r := range recs[atKill:] {
		i, ok := index[string(r)]
		if !ok {
			t.Fatalf("a record that was never produced: %q", r)
		}
		if offsets[i] < committedAt[msgs[i].Partition] {
			early++
		}
	}
	if early > 0 {
		t.Errorf("the restarted worker sent %d records below the committed offsets %v", early, committedAt)
	}
	// Every message goes to "everything" once, and offsets count messages
	// per partition: the restart may send again only what the killed
	// worker had delivered past its last commit.
	if d, window := duplicates(got), atKill-int(committed); d > window {
		t.Errorf("%d duplicates, more than the %d records delivered past the last commit before the SIGKILL", d, window)
	}
	if committed > int64(atKill) {
		t.Errorf("%d messages committed but only %d records delivered at the SIGKILL: a commit ran ahead of Firehose", committed, atKill)
	}
}

func TestSIGTERMDrainsCommitsAndExitsZeroWithNoDuplicates(t *testing.T) {
	t.Parallel()
	k := itest.StartKafka(t, 4, "events")
	fh := itest.StartFirehose(t)
	fh.Sim.Faults().SetLatency(5*time.Millisecond, 30*time.Millisecond)
	cfg := writeConfig(t, k.Brokers, "g-term", "events", "")
	msgs, want := messages(20000, "term", 4)
	k.Produce(t, "events", msgs)

	w := startWorker(t, cfg, fh.Env())
	fh.Await(t, 60*time.Second, "a third of the records", func() bool { return len(fh.Records("everything")) >= len(msgs)/3 })
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := w.wait(t, 30*time.Second); err != nil {
		t.Fatalf("SIGTERM exit: %v, want exit status 0\n%s", err, tail(w.stderr.String(), 3000))
	}
	if !strings.Contains(w.stderr.String(), "left the consumer group") {
		t.Errorf("worker did not log leaving the group")
	}
	startWorker(t, cfg, fh.Env())
	// Streams are acknowledged independently: wait for the orders too.
	orders := (len(msgs) + 2) / 3
	fh.Await(t, 90*time.Second, "every record after the restart", func() bool {
		return missing(want, itest.Multiset(fh.Records("everything"))) == 0 && len(fh.Records("orders")) >= orders
	})
	got := itest.Multiset(fh.Records("everything"))
	if d := duplicates(got); d != 0 {
		t.Errorf("graceful stop and restart delivered %d duplicates, want 0", d)
	}
	// Orders are delivered to their own stream too.
	if n := len(fh.Records("orders")); n != orders {
		t.Errorf("orders got %d records, want %d", n, orders)
	}
}

func TestCheckCommand(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := cli(context.Background(), []string{"check", "--config", "../config/example.yaml"}, &out, &errb); code != 0 {
		t.Fatalf("check example.yaml = %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), `"User Registered" -> new_users`) {
		t.Errorf("summary lacks the mapping rows:\n%s", out.String())
	}
	out.Reset()
	errb.Reset()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("kafka:\n  brokers: [x]\n  typo: 1\nsources:\n  - id: a\n    topics: [t]\n    region: us-west-2\n    role_address: arn:aws:iam::123456789012:role/r\n    secret_id: s3cr3t-value\n    mapped_streams: [{event: '*', stream: 'bad name'}]\n"), 0o600)
	if code := cli(context.Background(), []string{"check", "--config", bad}, &out, &errb); code != 1 {
		t.Fatalf("check bad.yaml = %d, want 1", code)
	}
	for _, want := range []string{"kafka.typo: unknown key", "kafka.brokers[0]: want host:port", "sources[0].mapped_streams[0].stream:"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(errb.String()+out.String(), "s3cr3t-value") {
		t.Errorf("check printed the secret id")
	}
}

func TestVersionAndUsage(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	if code := cli(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "firehose-worker ") {
		t.Errorf("version = %d %q", code, out.String())
	}
	if code := cli(context.Background(), []string{"bogus"}, &out, &errb); code != 2 {
		t.Errorf("unknown command exit = %d, want 2", code)
	}
}
