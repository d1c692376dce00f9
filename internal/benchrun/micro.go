package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"
)

// cmdMicro parses `go test -bench -benchmem` output and adds it to a
// report written by `benchrun all` (or starts one), rewriting both files.
func cmdMicro(_ context.Context, args []string, stdout, _ io.Writer) error {
	flags := flag.NewFlagSet("micro", flag.ContinueOnError)
	in := flags.String("in", "", "go test -bench output")
	base := flags.String("report", "", "report path without .json/.md (default scripts/bench-report-<today>)")
	command := flags.String("command", "", "the go test command, for the report")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *base == "" {
		*base = "scripts/bench-report-" + time.Now().Format("2006-01-02")
	}
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	results, problems, err := parseBench(f)
	if err != nil {
		return err
	}
	rep, err := loadReport(*base + ".json")
	if err != nil {
		return err
	}
	rep.Micro, rep.MicroErrors, rep.MicroCommand = results, problems, *command
	if err := rep.write(*base); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d micro-benchmarks added to %s.{md,json}\n", len(results), *base)
	for _, p := range problems {
		fmt.Fprintln(stdout, "problem:", p)
	}
	return nil
}

// loadReport reads a report, or starts an empty one for today.
func loadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &Report{Date: time.Now().Format("2006-01-02"), Machine: machineInfo(),
			Notes: []string{"benchrun all did not write this report; only micro-benchmarks are here"}}, nil
	}
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rep, nil
}

// parseBench reads benchmark lines ("BenchmarkX-2  N  v unit  v unit ...")
// under their "pkg:" headers; failing packages come back as problems.
func parseBench(r io.Reader) ([]Micro, []string, error) {
	var (
		out      []Micro
		problems []string
		pkg      string
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(strings.TrimPrefix(line, "pkg: "), "github.com/firehose-worker/firehose-worker/")
			continue
		case strings.HasPrefix(line, "FAIL") || strings.HasPrefix(line, "--- FAIL") || strings.Contains(line, "[build failed]") || strings.HasPrefix(line, "panic:"):
			problems = append(problems, line)
			continue
		case !strings.HasPrefix(line, "Benchmark"):
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // drop the GOMAXPROCS suffix
		}
		m := Micro{Package: pkg, Name: strings.TrimPrefix(name, "Benchmark"), Iterations: iters}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			switch unit := f[i+1]; unit {
			case "ns/op":
				m.NsPerOp = v
			case "B/op":
				m.BytesPerOp = v
			case "allocs/op":
				m.AllocsPerOp = v
			case "MB/s":
				m.MBPerSec = v
			default:
				if m.Extra == nil {
					m.Extra = map[string]float64{}
				}
				m.Extra[unit] = v
			}
		}
		out = append(out, m)
	}
	return out, problems, sc.Err()
}
