// Package memlimit chooses the Go runtime's soft memory limit for the
// worker.
//
// The worker's own cap (memory.max_buffered_bytes) bounds the records it
// holds, but with the default GC pacing the heap may grow to twice what is
// live before a collection, and request bodies and Kafka fetch buffers come
// on top. A soft limit makes the collector work harder as the heap nears it,
// so resident memory stays near what is live instead of double. The limit
// is soft: when live memory exceeds it the runtime keeps running, spending
// at most about half the CPU on collection, rather than failing.
package memlimit

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// Source says where a limit came from, for the start-up log line.
type Source string

const (
	SourceEnv    Source = "GOMEMLIMIT"                       // the operator set the runtime's own variable
	SourceConfig Source = "memory.soft_limit"                // the configuration set it
	SourceCgroup Source = "90% of the cgroup memory limit"   // a container limit was found
	SourceBuffer Source = "2.25 x memory.max_buffered_bytes" // none of the above
)

// Env gives the process environment and files to Choose; tests replace it.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
}

// OSEnv is the real environment.
func OSEnv() Env { return Env{Getenv: os.Getenv, ReadFile: os.ReadFile} }

// Choose returns the soft limit in bytes and where it came from. configured
// is memory.soft_limit (0: automatic); buffered is memory.max_buffered_bytes.
// With SourceEnv the runtime has already applied the variable and the
// returned limit is what it parsed.
func Choose(env Env, configured, buffered int64) (int64, Source) {
	if env.Getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1), SourceEnv
	}
	if configured > 0 {
		return configured, SourceConfig
	}
	if c, ok := cgroupLimit(env); ok {
		return c / 10 * 9, SourceCgroup
	}
	// Records up to the cap, half as much again in request bodies (the
	// pipeline's bound), and as much once more for fetch buffers, the
	// runtime and the collector's room. With the 32 MiB default the process
	// then stays under 100 MiB resident, the binary's pages included; a
	// higher limit trades memory for fewer collections.
	return buffered * 9 / 4, SourceBuffer
}

// Tight reports whether limit leaves too little room for what the worker
// may hold with buffered bytes of records: the records, their request bodies
// (half as much again) and the runtime's own. Under such a limit the
// collector runs almost without pause.
func Tight(limit, buffered int64) bool {
	return limit > 0 && limit < buffered*2
}

// Apply sets limit unless it came from the environment, which the runtime
// has applied already.
func Apply(limit int64, src Source) {
	if src != SourceEnv {
		debug.SetMemoryLimit(limit)
	}
}

// cgroupLimit reads the memory limit of the process's cgroup, v2 then v1.
// "max" and the huge values v1 uses for "unlimited" are no limit.
func cgroupLimit(env Env) (int64, bool) {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := env.ReadFile(path)
		if err != nil {
			continue
		}
		s := strings.TrimSpace(string(b))
		if s == "max" {
			return 0, false
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// GCPercent returns the collector's target percentage (GOGC) and whether
// it came from the environment, which the runtime has applied already.
// configured is memory.gc_percent.
func GCPercent(env Env, configured int) (int, bool) {
	v := env.Getenv("GOGC")
	if v == "" {
		return configured, false
	}
	// As the runtime reads it: "off", a number, or else its default.
	if v == "off" {
		return -1, true
	}
	if n, err := strconv.Atoi(v); err == nil {
		return n, true
	}
	return 100, true
}

// ApplyGCPercent sets percent unless it came from the environment.
//
// Under the soft limit a percentage above Go's default of 100 is the
// cheaper choice: the limit, not the percentage, bounds the heap, so
// letting it grow further between collections below the limit costs no
// memory the limit did not allow anyway, and saves the collections a small
// live heap (a caught-up worker, a light stream) brings at 100.
func ApplyGCPercent(percent int, fromEnv bool) {
	if !fromEnv {
		debug.SetGCPercent(percent)
	}
}

// String renders a limit for logs.
func String(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
