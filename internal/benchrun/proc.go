package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// It is 100 on every Linux architecture Go supports; reading it needs
// sysconf(3), i.e. cgo, which this program avoids.
const clockTicks = 100

// Sample is one reading of a process's resident set and CPU time.
type Sample struct {
	// T is seconds since the process started.
	T float64 `json:"t_s"`
	// RSSMiB is VmRSS; HWMMiB is VmHWM, the peak so far.
	RSSMiB float64 `json:"rss_mib"`
	HWMMiB float64 `json:"hwm_mib"`
	// CPUSeconds is utime+stime so far.
	CPUSeconds float64 `json:"cpu_s"`
}

// Usage is what the kernel accounted to a process that has exited.
type Usage struct {
	// CPUSeconds is ru_utime + ru_stime.
	CPUSeconds float64 `json:"cpu_s"`
	// MaxRSSMiB is ru_maxrss (KiB on Linux). It is NOT the child's own peak:
	// Go starts children with clone(CLONE_VM|CLONE_VFORK), and Linux keeps
	// the high-water mark of the mm that exec replaces, which is the
	// parent's. So it is max(parent's peak at fork, child's peak). Peaks are
	// taken from the child's VmHWM instead (a fresh mm after exec).
	MaxRSSMiB float64 `json:"max_rss_mib_rusage"`
	// ExitCode is the process's exit status, -1 if a signal ended it.
	ExitCode int `json:"exit_code"`
}

// procOptions describe a process to start and measure.
type procOptions struct {
	Name string
	Path string
	Args []string
	// Env is added to this process's environment (later entries win).
	Env []string
	// Log receives the process's stderr, and its stdout unless Lines is set.
	Log io.Writer
	// Lines, when set, receives every stdout line; it is closed when stdout
	// ends. The process blocks if nobody reads, so keep output small.
	Lines chan string
	// OnStderr, when set, sees every stderr line (after it went to Log).
	// It runs on the copying goroutine and must be quick.
	OnStderr func(line string)
}

// proc is a started child process whose RSS and CPU time are sampled once a
// second until it exits.
type proc struct {
	name    string
	cmd     *exec.Cmd
	start   time.Time
	exited  chan struct{} // closed once Wait returned
	copied  sync.WaitGroup
	waitErr error

	mu      sync.Mutex
	samples []Sample
}

// startProc starts a child process. Its sampling goroutine ends when the
// process exits.
func startProc(opts procOptions) (*proc, error) {
	cmd := exec.Command(opts.Path, opts.Args...)
	cmd.Env = append(cleanEnv(), opts.Env...)
	// Its own process group, so a Ctrl-C at the terminal reaches only the
	// orchestrator, which then stops its children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	var stdout io.ReadCloser
	if opts.Lines != nil {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return nil, err
		}
	} else {
		cmd.Stdout = opts.Log
	}
	p := &proc{name: opts.Name, cmd: cmd, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", opts.Name, err)
	}
	p.start = time.Now()
	p.copied.Go(func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(opts.Log, line)
			if opts.OnStderr != nil {
				opts.OnStderr(line)
			}
		}
	})
	if stdout != nil {
		p.copied.Go(func() {
			defer close(opts.Lines)
			sc := bufio.NewScanner(stdout)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				opts.Lines <- sc.Text()
			}
		})
	}
	go func() {
		// Wait must follow the pipe readers: it closes the pipes.
		p.copied.Wait()
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	go p.sampleLoop()
	return p, nil
}

// cleanEnv is this process's environment without AWS_* and OTEL_*
// variables: a child must not reach a real AWS account or export telemetry
// because of the caller's shell.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// sampleLoop reads RSS and CPU time every second until the process exits.
func (p *proc) sampleLoop() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			return
		case <-tick.C:
			s, err := p.sample()
			if err != nil {
				continue // exiting: /proc entry vanished
			}
			p.mu.Lock()
			p.samples = append(p.samples, s)
			p.mu.Unlock()
		}
	}
}

// sample reads the process's current RSS and CPU time from /proc.
func (p *proc) sample() (Sample, error) {
	cpu, err := procCPU(p.pid())
	if err != nil {
		return Sample{}, err
	}
	rss, hwm, err := procRSS(p.pid())
	if err != nil {
		return Sample{}, err
	}
	return Sample{T: time.Since(p.start).Seconds(), RSSMiB: rss, HWMMiB: hwm, CPUSeconds: cpu}, nil
}

// Samples returns the readings so far.
func (p *proc) Samples() []Sample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Sample(nil), p.samples...)
}

// Exited is closed when the process has exited.
func (p *proc) Exited() <-chan struct{} { return p.exited }

// Stop sends SIGTERM, waits up to grace for the process to exit, then kills
// it, and returns what the kernel accounted to it. A process that already
// exited is only reaped.
func (p *proc) Stop(grace time.Duration) Usage {
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.exited:
			t.Stop()
		case <-t.C:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	return p.usage()
}

func (p *proc) usage() Usage {
	st := p.cmd.ProcessState
	u := Usage{ExitCode: st.ExitCode()}
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		u.CPUSeconds = tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
		u.MaxRSSMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return u
}

// Err is the process's exit error once it exited: nil for exit status 0.
func (p *proc) Err() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
		return nil
	}
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// procCPU returns utime+stime of pid in seconds, from /proc/<pid>/stat.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after the last ')' start with field 3, the state.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return float64(utime+stime) / clockTicks, nil
}

// procRSS returns VmRSS and VmHWM (the peak so far) of pid in MiB.
func procRSS(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		kib, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing %s: %w", key, err)
		}
		if key == "VmRSS" {
			rss = kib / 1024
		} else {
			hwm = kib / 1024
		}
	}
	return rss, hwm, nil
}

// sleepCtx waits d or until ctx ends, reporting whether the full d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
