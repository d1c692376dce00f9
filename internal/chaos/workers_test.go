//go:build chaos

package chaos

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// workerConfig returns the YAML of worker slot n: the timings of the brief
// (a SIGKILLed worker's partitions move after the 6 s session timeout) and
// its own client_id, so the group description tells the processes apart.
func workerConfig(o options, names runNames, slot int) string {
	return fmt.Sprintf(`kafka:
  brokers: [%q]
  group_id: %q
  dlq_topic: %q
  client_id: %q
  start_offset: earliest
  commit_interval: 200ms
  heartbeat_interval: 500ms
  session_timeout: 6s
  rebalance_timeout: 15s
  drain_timeout: %s
  fetch_max_wait: 100ms
sources:
  - id: chaos
    topics: [%q]
    region: us-west-2
    mapped_streams:
%sbatch:
  linger: 50ms
delivery:
  request_timeout: 20s
  backoff: {initial: 50ms, max: 2s}
http:
  address: ""
log:
  level: info
  format: json
shutdown_timeout: 20s
`, o.Kafka, names.Group, names.DLQ, clientID(slot), o.WorkerDrain, names.Topic, streamRows(names.Streams))
}

func clientID(slot int) string { return fmt.Sprintf("chaos-w%d", slot+1) }

// workerSet runs the worker processes of the run: one slot per worker, each
// slot holding its current incarnation. A process that exits without being
// told to is recorded and started again, so the group keeps its size.
type workerSet struct {
	binary  string
	env     []string
	logDir  string
	configs []string
	logf    func(format string, args ...any)

	mu       sync.Mutex
	procs    []*proc // current incarnation per slot; nil while down
	starts   []int   // incarnations per slot
	stopping bool
	exits    []unexpectedExit
	final    []string // exit statuses of the final SIGTERM
}

// proc is one incarnation of a worker.
type proc struct {
	slot    int
	n       int // incarnation
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{}
	err     error       // exit status; set before done closes
	ours    atomic.Bool // we signalled it
}

type unexpectedExit struct {
	Worker   string  `json:"worker"`
	PID      int     `json:"pid"`
	Status   string  `json:"status"`
	AfterSec float64 `json:"after_s"`
	Log      string  `json:"log"`
}

func newWorkerSet(o options, names runNames, binary, simURL string, logf func(string, ...any)) (*workerSet, error) {
	ws := &workerSet{binary: binary, env: workerEnv(simURL), logDir: filepath.Join(o.ReportDir, "workers"), logf: logf,
		procs: make([]*proc, o.Workers), starts: make([]int, o.Workers)}
	if err := os.MkdirAll(ws.logDir, 0o755); err != nil {
		return nil, err
	}
	for slot := range o.Workers {
		path := filepath.Join(ws.logDir, fmt.Sprintf("config-w%d.yaml", slot+1))
		if err := os.WriteFile(path, []byte(workerConfig(o, names, slot)), 0o644); err != nil {
			return nil, err
		}
		ws.configs = append(ws.configs, path)
	}
	return ws, nil
}

// workerEnv is the caller's environment without AWS and OpenTelemetry
// settings, plus the simulated Firehose's endpoint and test keys.
func workerEnv(simURL string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out,
		"AWS_ENDPOINT_URL_FIREHOSE="+simURL,
		"AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	)
}

// start runs a new incarnation in slot; its output goes to its own log file.
func (ws *workerSet) start(slot int) (*proc, error) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	if ws.stopping {
		return nil, errors.New("workers are stopping")
	}
	if p := ws.procs[slot]; p != nil {
		return nil, fmt.Errorf("worker w%d already runs as pid %d", slot+1, p.cmd.Process.Pid)
	}
	ws.starts[slot]++
	p := &proc{slot: slot, n: ws.starts[slot], done: make(chan struct{})}
	p.logPath = filepath.Join(ws.logDir, fmt.Sprintf("w%d-%02d.log", slot+1, p.n))
	f, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(ws.binary, "run", "--config", ws.configs[slot])
	p.cmd.Env = ws.env
	p.cmd.Stdout, p.cmd.Stderr = f, f
	// The workers die with the test, even when it is killed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting worker w%d: %w", slot+1, err)
	}
	p.started = time.Now()
	ws.procs[slot] = p
	// Returns when the process exits.
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
		ws.exited(p)
	}()
	return p, nil
}

// exited clears the slot; a process we did not signal is recorded and
// replaced after a second.
func (ws *workerSet) exited(p *proc) {
	ws.mu.Lock()
	if ws.procs[p.slot] == p {
		ws.procs[p.slot] = nil
	}
	unexpected := !p.ours.Load() && !ws.stopping
	if unexpected {
		ws.exits = append(ws.exits, unexpectedExit{Worker: clientID(p.slot), PID: p.cmd.Process.Pid, Status: fmt.Sprint(p.err),
			AfterSec: time.Since(p.started).Seconds(), Log: filepath.Base(p.logPath)})
	}
	ws.mu.Unlock()
	if unexpected {
		ws.logf("worker %s (pid %d) exited on its own: %v; starting it again (log %s)", clientID(p.slot), p.cmd.Process.Pid, p.err, p.logPath)
		time.Sleep(time.Second)
		if _, err := ws.start(p.slot); err != nil {
			ws.logf("restarting %s: %v", clientID(p.slot), err)
		}
	}
}

// running returns the slots whose worker runs.
func (ws *workerSet) running() []int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	var out []int
	for i, p := range ws.procs {
		if p != nil {
			out = append(out, i)
		}
	}
	return out
}

// kill SIGKILLs slot's worker and waits until it is gone.
func (ws *workerSet) kill(slot int) (*proc, error) {
	ws.mu.Lock()
	p := ws.procs[slot]
	ws.mu.Unlock()
	if p == nil {
		return nil, fmt.Errorf("worker w%d is not running", slot+1)
	}
	p.ours.Store(true)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return p, fmt.Errorf("killing worker w%d: %w", slot+1, err)
	}
	<-p.done
	return p, nil
}

// stopAll sends SIGTERM to every worker, waits up to timeout for each, and
// SIGKILLs what is left. It returns the exit status of each.
func (ws *workerSet) stopAll(timeout time.Duration) []string {
	ws.mu.Lock()
	ws.stopping = true
	procs := append([]*proc(nil), ws.procs...)
	ws.mu.Unlock()
	var out []string
	for _, p := range procs {
		if p == nil {
			continue
		}
		p.ours.Store(true)
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(timeout)
	for _, p := range procs {
		if p == nil {
			continue
		}
		status := ""
		select {
		case <-p.done:
			status = "exit 0"
			if p.err != nil {
				status = p.err.Error()
			}
		case <-time.After(time.Until(deadline)):
			_ = p.cmd.Process.Kill()
			<-p.done
			status = fmt.Sprintf("did not exit within %s of SIGTERM; killed", timeout)
		}
		out = append(out, fmt.Sprintf("%s (pid %d, incarnation %d): %s", clientID(p.slot), p.cmd.Process.Pid, p.n, status))
	}
	ws.mu.Lock()
	ws.final = out
	ws.mu.Unlock()
	return out
}

// unexpected returns the exits nobody asked for.
func (ws *workerSet) unexpected() []unexpectedExit {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return append([]unexpectedExit(nil), ws.exits...)
}

// incarnations is the number of processes started in all.
func (ws *workerSet) incarnations() int {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	n := 0
	for _, s := range ws.starts {
		n += s
	}
	return n
}
