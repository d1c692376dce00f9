//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// workerConfig is what differs between the tests' worker configurations;
// the rest uses the short timings of worker/worker_test.go.
type workerConfig struct {
	group    string
	sources  []sourceConfig
	linger   time.Duration // batch.linger; 0 means 50ms
	logLevel string        // "" means info
	dlq      string        // kafka.dlq_topic; "" for none
	// defaultGroupTimings leaves heartbeat_interval, session_timeout and
	// rebalance_timeout at the worker's defaults, for tests that measure
	// what users get.
	defaultGroupTimings bool
	// commitInterval is kafka.commit_interval; 0 means 100ms.
	commitInterval time.Duration
}

type sourceConfig struct {
	id     string
	topics []string
	role   string // role_address
	secret string // secret_id
	rows   []row
}

// writeConfig writes c as the worker's YAML file and returns its path.
func (e *env) writeConfig(c workerConfig) string {
	e.t.Helper()
	linger := c.linger
	if linger == 0 {
		linger = 50 * time.Millisecond
	}
	level := c.logLevel
	if level == "" {
		level = "info"
	}
	var b strings.Builder
	commit := c.commitInterval
	if commit == 0 {
		commit = 100 * time.Millisecond
	}
	timings := "  heartbeat_interval: 300ms\n  session_timeout: 6s\n  rebalance_timeout: 10s\n"
	if c.defaultGroupTimings {
		timings = ""
	}
	fmt.Fprintf(&b, `kafka:
  brokers: [%q]
  group_id: %q
  commit_interval: %s
%s  drain_timeout: 5s
  fetch_max_wait: 100ms
`, kafkaAddr, c.group, commit, timings)
	if c.dlq != "" {
		fmt.Fprintf(&b, "  dlq_topic: %q\n", c.dlq)
	}
	b.WriteString("sources:\n")
	for _, s := range c.sources {
		fmt.Fprintf(&b, "  - id: %q\n    topics: [", s.id)
		for i, t := range s.topics {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", t)
		}
		fmt.Fprintf(&b, "]\n    region: %s\n    role_address: %q\n    secret_id: %q\n    mapped_streams:\n", region, s.role, s.secret)
		for _, r := range s.rows {
			fmt.Fprintf(&b, "      - {event: %q, stream: %q}\n", r.Event, r.Stream)
		}
	}
	fmt.Fprintf(&b, `batch:
  linger: %s
delivery:
  backoff: {initial: 20ms, max: 500ms}
http:
  address: ""
log:
  level: %s
  format: json
shutdown_timeout: 15s
`, linger, level)
	path := filepath.Join(e.t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// worker is one firehose-worker process.
type worker struct {
	name string
	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{}
	err  error // exit status, set before done closes
}

// logBuffer collects a process's stderr; it is safe to read while the
// process writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startWorker runs `firehose-worker run --config cfg`. The process is
// killed when the test ends; when the test failed its log tail is printed,
// and with E2E_REPORT_DIR its whole log is kept there.
func (e *env) startWorker(name, cfg string) *worker {
	e.t.Helper()
	return e.startWorkerWithEnv(name, cfg, workerEnv())
}

// startWorkerWithEnv is startWorker with the process environment given.
func (e *env) startWorkerWithEnv(name, cfg string, environ []string) *worker {
	e.t.Helper()
	w := &worker{name: name, log: &logBuffer{}, done: make(chan struct{})}
	w.cmd = exec.Command(binary, "run", "--config", cfg)
	w.cmd.Env = environ
	w.cmd.Stderr = w.log
	w.cmd.Stdout = w.log
	if err := w.cmd.Start(); err != nil {
		e.t.Fatalf("starting worker %s: %v", name, err)
	}
	go func() {
		w.err = w.cmd.Wait()
		close(w.done)
	}()
	e.t.Cleanup(func() {
		if !w.exited() {
			_ = w.cmd.Process.Kill()
		}
		<-w.done
		if e.t.Failed() {
			e.t.Logf("worker %s (pid %d, %v) log tail:\n%s", name, w.cmd.Process.Pid, w.err, tail(w.log.String(), 5000))
		}
		if reportDir != "" {
			path := filepath.Join(reportDir, strings.ReplaceAll(e.t.Name(), "/", "_")+"-"+name+".log")
			_ = os.WriteFile(path, []byte(w.log.String()), 0o644)
		}
	})
	return w
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (w *worker) exited() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the worker.
func (e *env) signal(w *worker, sig syscall.Signal) {
	e.t.Helper()
	if err := w.cmd.Process.Signal(sig); err != nil {
		e.t.Fatalf("signalling worker %s: %v", w.name, err)
	}
}

// waitExit waits for the worker to exit and returns its exit status.
func (e *env) waitExit(w *worker, timeout time.Duration) error {
	e.t.Helper()
	select {
	case <-w.done:
		return w.err
	case <-time.After(timeout):
		e.t.Fatalf("worker %s did not exit within %s", w.name, timeout)
		return nil
	}
}

// logLine is the part of the worker's JSON log lines the tests read.
type logLine struct {
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Member string `json:"member"`
	Class  string `json:"class"` // of a failed PutRecordBatch
	Error  string `json:"error"`
	// Consumed and Finished are in the "firehose-worker stopped" line.
	Consumed int64 `json:"consumed"`
	Finished int64 `json:"finished"`
}

// lines returns the worker's log lines with message msg (every line when
// msg is empty). Lines that are not JSON are returned with Msg set to the
// raw text.
func (w *worker) lines(msg string) []logLine {
	var out []logLine
	sc := bufio.NewScanner(strings.NewReader(w.log.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			l = logLine{Msg: sc.Text()}
		}
		if msg == "" || l.Msg == msg {
			out = append(out, l)
		}
	}
	return out
}

// member returns the member id of the worker's latest generation, "" before
// it joined one.
func (w *worker) member() string {
	ls := w.lines("joined consumer group generation")
	if len(ls) == 0 {
		return ""
	}
	return ls[len(ls)-1].Member
}

// routineWarnings are WARN lines that ordinary group life produces: a
// member joining while a rebalance runs is told to rejoin.
var routineWarnings = []string{"Rebalance In Progress"}

// problems returns the worker's WARN and ERROR lines, except routine
// warnings and lines containing one of allowed.
func (w *worker) problems(allowed ...string) []string {
	var out []string
	allowed = append(allowed, routineWarnings...)
next:
	for _, l := range w.lines("") {
		if (l.Level != "ERROR" && l.Level != "WARN") || l.Class == "unknown" {
			continue // unknown outcomes are judged with the duplicates
		}
		for _, a := range allowed {
			if strings.Contains(l.Msg+" "+l.Error, a) {
				continue next
			}
		}
		out = append(out, l.Level+" "+l.Msg+" "+l.Error)
	}
	return out
}

// unknownOutcomes counts the failed calls the workers logged whose outcome
// they could not know (class "unknown": the connection broke after the
// request was sent), each of which may deliver its batch twice.
func unknownOutcomes(ws ...*worker) int {
	n := 0
	for _, w := range ws {
		for _, l := range w.lines("") {
			if l.Class == "unknown" {
				n++
			}
		}
	}
	return n
}
