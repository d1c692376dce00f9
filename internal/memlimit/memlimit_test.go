package memlimit

import (
	"io/fs"
	"testing"
)

func fakeEnv(vars map[string]string, files map[string]string) Env {
	return Env{
		Getenv: func(k string) string { return vars[k] },
		ReadFile: func(p string) ([]byte, error) {
			if s, ok := files[p]; ok {
				return []byte(s), nil
			}
			return nil, fs.ErrNotExist
		},
	}
}

func TestChoose(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		name       string
		vars       map[string]string
		files      map[string]string
		configured int64
		want       int64
		src        Source
	}{
		{"configured wins over a cgroup", nil, map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"}, 200 * mib, 200 * mib, SourceConfig},
		{"cgroup v2", nil, map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"}, 0, 1073741824 / 10 * 9, SourceCgroup},
		{"cgroup v2 unlimited", nil, map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}, 0, 72 * mib, SourceBuffer},
		{"cgroup v1", nil, map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912"}, 0, 536870912 / 10 * 9, SourceCgroup},
		{"cgroup v1 unlimited", nil, map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712"}, 0, 72 * mib, SourceBuffer},
		{"no cgroup", nil, nil, 0, 72 * mib, SourceBuffer},
		{"garbage in the cgroup file", nil, map[string]string{"/sys/fs/cgroup/memory.max": "lots"}, 0, 72 * mib, SourceBuffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, src := Choose(fakeEnv(tt.vars, tt.files), tt.configured, 32*mib)
			if got != tt.want || src != tt.src {
				t.Errorf("Choose = %d (%s), want %d (%s)", got, src, tt.want, tt.src)
			}
		})
	}
}

func TestChooseLeavesGOMEMLIMITToTheRuntime(t *testing.T) {
	t.Parallel()
	env := fakeEnv(map[string]string{"GOMEMLIMIT": "300MiB"}, map[string]string{"/sys/fs/cgroup/memory.max": "1073741824"})
	_, src := Choose(env, 200<<20, 32<<20)
	if src != SourceEnv {
		t.Errorf("source %s, want %s: the operator's GOMEMLIMIT must win", src, SourceEnv)
	}
}

func TestTight(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tt := range []struct {
		limit int64
		want  bool
	}{{72 * mib, false}, {64 * mib, false}, {57 * mib, true}, {0, false}} {
		if got := Tight(tt.limit, 32*mib); got != tt.want {
			t.Errorf("Tight(%d MiB, 32 MiB) = %v, want %v", tt.limit/mib, got, tt.want)
		}
	}
}

func TestGCPercent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		gogc    string
		want    int
		fromEnv bool
	}{{"", 300, false}, {"150", 150, true}, {"off", -1, true}, {"x", 100, true}} {
		got, fromEnv := GCPercent(fakeEnv(map[string]string{"GOGC": tt.gogc}, nil), 300)
		if got != tt.want || fromEnv != tt.fromEnv {
			t.Errorf("GOGC=%q: GCPercent = %d (from env %v), want %d (%v)", tt.gogc, got, fromEnv, tt.want, tt.fromEnv)
		}
	}
}
