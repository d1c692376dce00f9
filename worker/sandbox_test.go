package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/firehose-worker/firehose-worker/internal/sandbox"
)

// sandboxProc is `firehose-worker sandbox` running as a subprocess.
type sandboxProc struct {
	cmd     *exec.Cmd
	stdout  *lockedBuffer
	stderr  *lockedBuffer
	ready   chan struct{}
	done    chan error
	dataDir string
	broker  string
}

// lockedBuffer collects a subprocess's output while the test reads it, and
// closes ready the first time the output contains the sandbox's ready line.
type lockedBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.b.Write(p)
	if l.ready != nil && bytes.Contains(l.b.Bytes(), []byte(sandbox.ReadyLine)) {
		l.once.Do(func() { close(l.ready) })
	}
	return n, err
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSandbox runs the sandbox on ports it picks itself (port 0), with the
// metrics listener off, and waits for its banner. The addresses come from
// the banner, as a user would read them. It runs as a downloaded binary
// would: from an empty folder outside the repository, without --config, so
// on the configuration built into the binary.
func startSandbox(t *testing.T, extra ...string) *sandboxProc {
	t.Helper()
	dir := t.TempDir()
	args := append([]string{"sandbox", "--data-dir", dir,
		"--kafka-addr", "127.0.0.1:0", "--firehose-addr", "127.0.0.1:0", "--http-addr", "", "--flush", "200ms"}, extra...)
	p := &sandboxProc{
		cmd:     exec.Command(binary, args...),
		ready:   make(chan struct{}),
		done:    make(chan error, 1),
		dataDir: dir,
	}
	p.cmd.Dir = t.TempDir()
	p.stdout = &lockedBuffer{ready: p.ready}
	p.stderr = &lockedBuffer{}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		p.wait(t, 10*time.Second)
		if t.Failed() {
			t.Logf("sandbox stdout:\n%s\nsandbox stderr:\n%s", tail(p.stdout.String(), 4000), tail(p.stderr.String(), 4000))
		}
	})
	select {
	case <-p.ready:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("sandbox exited before it was ready: %v\n%s", err, p.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("sandbox not ready after 30s")
	}
	m := regexp.MustCompile(`(?m)^  Kafka +(\S+) `).FindStringSubmatch(p.stdout.String())
	if m == nil {
		t.Fatalf("banner names no Kafka address:\n%s", p.stdout.String())
	}
	p.broker = m[1]
	if !regexp.MustCompile(`(?m)^  Firehose +http://127\.0\.0\.1:\d+ `).MatchString(p.stdout.String()) {
		t.Errorf("banner names no Firehose URL:\n%s", p.stdout.String())
	}
	return p
}

// wait returns the exit error once the process has exited.
func (p *sandboxProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(timeout):
		t.Fatalf("sandbox did not exit within %s", timeout)
		return nil
	}
}

// stop sends SIGINT, as Ctrl-C does, and requires a clean exit.
func (p *sandboxProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("sandbox exit after SIGINT: %v, want status 0\n%s", err, tail(p.stderr.String(), 3000))
	}
}

// landed reads every file the sandbox's Firehose wrote, by stream, as
// records: each file is whole records, each ending in '\n'. It skips the
// temporary folder a file is written in before it is renamed into place.
func landed(t *testing.T, dir string) (records map[string][]string, files map[string]int) {
	t.Helper()
	records, files = map[string][]string{}, map[string]int{}
	layout := regexp.MustCompile(`^([^/]+)/\d{4}/\d\d/\d\d/\d\d/([^/]+)-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f-]{36}$`)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			if rel == ".tmp" {
				return filepath.SkipDir
			}
			return nil
		}
		m := layout.FindStringSubmatch(filepath.ToSlash(rel))
		if m == nil || m[1] != m[2] {
			t.Errorf("%s is not <stream>/YYYY/MM/DD/HH/<stream>-1-<time>-<uuid>", rel)
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if len(data) == 0 || data[len(data)-1] != '\n' {
			t.Errorf("%s does not end with a newline", rel)
		}
		files[m[1]]++
		for line := range strings.SplitAfterSeq(string(data), "\n") {
			if line != "" {
				records[m[1]] = append(records[m[1]], line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return records, files
}

// knownEvent is a message the test produces and the streams it must reach,
// following config/sandbox.yaml.
type knownEvent struct {
	value   string
	record  string // what Firehose must receive: the message compacted, then '\n'
	id      string
	streams []string
}

func knownEvents(run string) []knownEvent {
	var out []knownEvent
	add := func(id, value string, streams ...string) {
		var compact bytes.Buffer
		if err := json.Compact(&compact, []byte(value)); err != nil {
			panic(err)
		}
		out = append(out, knownEvent{value: value, record: compact.String() + "\n", id: id, streams: streams})
	}
	for i, c := range []struct {
		body    string
		streams []string
	}{
		{`"type":"track","event":"Order Completed","properties":{"order_id":"o-1","revenue":42.5,"currency":"USD"}`, []string{"orders", "everything"}},
		{`"type":"track","event":"oRDER cOMPLETED","properties":{"order_id":"o-2","total":12345678901234567890}`, []string{"orders", "everything"}},
		{`"type":"track","event":"Signed Up","properties":{"plan":"pro"}`, []string{"signups", "everything"}},
		{`"type":"track","event":"Product Viewed","properties":{"product_id":"p-1","name":"Café ☕"}`, []string{"everything"}},
		{`"type":"page","name":"Pricing","properties":{"path":"/pricing"}`, []string{"pages", "everything"}},
		{`"type":"identify","traits":{"email":"a@example.com","high_value_customers":true}`, []string{"identifies", "everything"}},
		{`"type":"group","groupId":"g-1","traits":{"name":"Initech"}`, []string{"everything"}},
		{`"type":"screen","name":"Home"`, []string{"everything"}},
		{`"type":"alias","previousId":"anon-1"`, []string{"everything"}},
		// Turned off for this destination: delivered nowhere.
		{`"type":"track","event":"Order Completed","integrations":{"Amazon Kinesis Firehose":false}`, nil},
	} {
		id := fmt.Sprintf("%s-%d", run, i)
		add(id, fmt.Sprintf(`{"messageId":%q,"userId":"u-%d",%s,"timestamp":"2026-01-02T03:04:05.678Z"}`, id, i, c.body), c.streams...)
	}
	// Indented over lines, as some libraries send: compacted on the way.
	id := run + "-pretty"
	add(id, "{\n  \"messageId\": \""+id+"\",\n  \"type\": \"track\",\n  \"event\": \"Signed Up\",\n  \"userId\": \"u-p\"\n}", "signups", "everything")
	return out
}

// TestSandboxDeliversKnownEventsToTheirStreams is the proof: with
// the generator running, events produced by a separate Kafka client land in
// the data folder, byte for byte, exactly once, in exactly the streams the
// mapping names, and in no other.
func TestSandboxDeliversKnownEventsToTheirStreams(t *testing.T) {
	t.Parallel()
	p := startSandbox(t, "--generate", "50")
	run := fmt.Sprintf("known-%d", time.Now().UnixNano())
	events := knownEvents(run)

	cl, err := kgo.NewClient(kgo.SeedBrokers(p.broker), kgo.DefaultProduceTopic("segment-events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i, e := range events {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "u-%d", i), Value: []byte(e.value)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing to the sandbox: %v", err)
	}

	want := 0
	for _, e := range events {
		want += len(e.streams)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		records, _ := landed(t, p.dataDir)
		found := 0
		for _, e := range events {
			for _, s := range e.streams {
				if hasLine(records[s], e.record) {
					found++
				}
			}
		}
		if found == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s, %d of %d (event, stream) records are in %s", found, want, p.dataDir)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Stop, so every buffer is in a file, then require exactly once.
	p.stop(t)
	records, _ := landed(t, p.dataDir)
	generated := 0
	for stream, lines := range records {
		for _, line := range lines {
			if !strings.Contains(line, run) {
				generated++
				continue
			}
			var e *knownEvent
			for i := range events {
				if strings.Contains(line, `"messageId":"`+events[i].id+`"`) {
					e = &events[i]
				}
			}
			switch {
			case e == nil:
				t.Errorf("%s has a record of this test that it did not send: %s", stream, line)
			case !slices.Contains(e.streams, stream):
				t.Errorf("%s got %s, which routes only to %v", stream, e.id, e.streams)
			case line != e.record:
				t.Errorf("%s holds\n %q\nwant\n %q", stream, line, e.record)
			}
		}
	}
	for _, e := range events {
		for _, s := range e.streams {
			if n := lineCount(records[s], e.record); n != 1 {
				t.Errorf("%s holds %s %d times, want once", s, e.id, n)
			}
		}
	}
	if generated == 0 {
		t.Errorf("no generated events landed; --generate 50 did not run")
	}
}

// TestSandboxSummaryMatchesTheFiles: after Ctrl-C, the summary's records and
// files per stream are what the data folder holds, every generated event was
// consumed or is counted as left in Kafka, and, since "*" routes everything,
// each consumed event is in the everything stream exactly once.
func TestSandboxSummaryMatchesTheFiles(t *testing.T) {
	t.Parallel()
	p := startSandbox(t, "--generate", "300")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if records, _ := landed(t, p.dataDir); len(records["everything"]) >= 300 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no 300 records in everything after 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.stop(t)
	out := p.stdout.String()
	summary := parseSummary(t, out)
	records, files := landed(t, p.dataDir)

	var sumRecords, sumFiles int64
	for _, row := range summary.rows {
		if row.name == "total" {
			continue
		}
		sumRecords += row.records
		sumFiles += row.files
		if got := int64(len(records[row.name])); got != row.records {
			t.Errorf("summary: %s %d records; its files hold %d", row.name, row.records, got)
		}
		if got := int64(files[row.name]); got != row.files {
			t.Errorf("summary: %s %d files; the folder has %d", row.name, row.files, got)
		}
	}
	for stream := range records {
		if _, ok := summary.byName[stream]; !ok {
			t.Errorf("stream %s has files but no summary row", stream)
		}
	}
	if total := summary.byName["total"]; total.records != sumRecords || total.files != sumFiles {
		t.Errorf("total row %+v, want %d records in %d files", total, sumRecords, sumFiles)
	}
	everything := summary.byName["everything"].records
	if summary.consumed != everything {
		t.Errorf("consumed %d but everything holds %d; every message goes there once", summary.consumed, everything)
	}
	// The worker stops gracefully, so its final commit covers all it
	// consumed: what it left is exactly what the generator sent beyond.
	if summary.generated != summary.consumed+summary.left {
		t.Errorf("generated %d, consumed %d, left in Kafka %d: they do not add up", summary.generated, summary.consumed, summary.left)
	}
	if summary.left > 0 {
		t.Logf("the worker had not caught up when it was stopped: %d left", summary.left)
	}
	if summary.generated < 300 {
		t.Errorf("generated %d, want at least the 300 seen before stopping", summary.generated)
	}
	seen := map[string]bool{}
	for _, line := range records["everything"] {
		var m struct {
			MessageID string `json:"messageId"`
		}
		if err := json.Unmarshal([]byte(line), &m); err != nil || m.MessageID == "" {
			t.Fatalf("not a Segment message: %q", line)
		}
		if seen[m.MessageID] {
			t.Errorf("messageId %s is in everything twice", m.MessageID)
		}
		seen[m.MessageID] = true
	}
}

type summaryRow struct {
	name           string
	records, files int64
}

type parsedSummary struct {
	generated, consumed, left int64
	rows                      []summaryRow
	byName                    map[string]summaryRow
}

// parseSummary reads the summary the sandbox prints after Ctrl-C.
func parseSummary(t *testing.T, out string) parsedSummary {
	t.Helper()
	num := func(s string) int64 {
		n, err := strconv.ParseInt(strings.ReplaceAll(s, ",", ""), 10, 64)
		if err != nil {
			t.Fatalf("summary number %q: %v", s, err)
		}
		return n
	}
	var s parsedSummary
	m := regexp.MustCompile(`Stopped after \S+ Generated ([\d,]+); consumed ([\d,]+), dropped 0\.`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary sentence in:\n%s", out)
	}
	s.generated, s.consumed = num(m[1]), num(m[2])
	if left := regexp.MustCompile(`([\d,]+) left unconsumed in Kafka`).FindStringSubmatch(out); left != nil {
		s.left = num(left[1])
	} else if !strings.Contains(out, "Nothing left in Kafka.") {
		t.Fatalf("the summary does not say what was left in Kafka:\n%s", out)
	}
	_, table, ok := strings.Cut(out, "  stream   ")
	if !ok {
		t.Fatalf("no summary table in:\n%s", out)
	}
	s.byName = map[string]summaryRow{}
	row := regexp.MustCompile(`(?m)^  (\S+) +([\d,]+) +[\d.]+ [KMGT]?i?B +([\d,]+)$`)
	for _, r := range row.FindAllStringSubmatch(table, -1) {
		sr := summaryRow{name: r[1], records: num(r[2]), files: num(r[3])}
		s.rows = append(s.rows, sr)
		s.byName[sr.name] = sr
	}
	for _, want := range []string{"orders", "signups", "pages", "identifies", "everything", "total"} {
		if _, ok := s.byName[want]; !ok {
			t.Fatalf("summary has no %s row:\n%s", want, table)
		}
	}
	return s
}

func hasLine(lines []string, s string) bool { return lineCount(lines, s) > 0 }

func lineCount(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}

// TestSandboxRefusesWhatItCannotEmulate: a config that needs STS or a
// secured broker is refused up front, with every reason, before anything
// listens.
func TestSandboxRefusesWhatItCannotEmulate(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(`kafka:
  brokers: ["127.0.0.1:9092"]
  tls: {enabled: true}
sources:
  - id: s1
    topics: [t]
    region: us-east-1
    role_address: arn:aws:iam::123456789012:role/r
    mapped_streams: [{event: "*", stream: all}]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := cli(context.Background(), []string{"sandbox", "--config", cfg, "--data-dir", t.TempDir()}, &out, &errb)
	if code != 1 {
		t.Fatalf("sandbox with role_address and tls = %d, want 1\n%s", code, errb.String())
	}
	for _, want := range []string{"source s1 assumes a role", "plaintext only"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if out.Len() != 0 {
		t.Errorf("printed a banner for a refused config:\n%s", out.String())
	}
}
