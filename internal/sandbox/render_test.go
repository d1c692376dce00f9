package sandbox

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

func TestStatusLine(t *testing.T) {
	t.Parallel()
	full := Status{
		Elapsed: 62 * time.Second, Generated: 12345, InKafka: 12346, Consumed: 12000, Dropped: 2,
		Streams: []StreamCount{{"orders", 160}, {"everything", 11990}}, Retries: 7, Throttled: 3, Lag: 346,
	}
	for _, tc := range []struct {
		name string
		s    Status
		want string
	}{
		{"everything on", full,
			"1:02 in 12,346 (generated 12,345) | consumed 12,000, dropped 2 | delivered orders 160, everything 11,990 | retries 7 (3 calls throttled) | lag 346"},
		{"no generator, nothing yet, lag unknown", Status{Generated: -1, Lag: -1},
			"0:00 in 0 | consumed 0 | delivered nothing yet | retries 0 | lag ?"},
		{"an hour in", Status{Elapsed: time.Hour + 2*time.Minute + 3*time.Second, Generated: -1, Streams: []StreamCount{{"a", 0}}},
			"1:02:03 in 0 | consumed 0 | delivered a 0 | retries 0 | lag 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.s.Line(); got != tc.want {
				t.Errorf("Line()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestOrderStreamsFollowsConfigThenNames(t *testing.T) {
	t.Parallel()
	got := OrderStreams([]string{"orders", "pages", "orders", "everything"}, []StreamState{
		{Name: "everything", Acknowledged: 9}, {Name: "extra", Acknowledged: 1}, {Name: "orders", Acknowledged: 4},
	})
	want := []StreamCount{{"orders", 4}, {"pages", 0}, {"everything", 9}, {"extra", 1}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

// TestConsoleOnATerminalRedrawsInPlace: a status replaces the previous one
// on the same line, text printed meanwhile (a log line) goes above it with
// the status redrawn after, and a line wider than the terminal is cut so it
// never wraps.
func TestConsoleOnATerminalRedrawsInPlace(t *testing.T) {
	t.Parallel()
	var out, logs bytes.Buffer
	c := NewConsole(&out, true, func() int { return 20 })
	c.Status("first")
	c.Status("second")
	logw := c.Above(&logs)
	_, _ = logw.Write([]byte("a log line\n"))
	c.Print("banner\n")
	c.Status("a status line far wider than twenty columns")
	c.EndStatus()
	c.Print("summary\n")

	want := "\r\x1b[Kfirst" + "\r\x1b[Ksecond" +
		"\r\x1b[K" + "second" + // erased around the log write, then redrawn
		"\r\x1b[K" + "banner\n" + "second" +
		"\r\x1b[K" + "a status line far …" +
		"\n" + "summary\n"
	if got := out.String(); got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}
	if logs.String() != "a log line\n" {
		t.Errorf("log writer got %q", logs.String())
	}
	if !c.Live() {
		t.Error("Live() = false")
	}
}

// TestConsoleElsewhereWritesPlainLines: no control characters and one line
// per status, so a pipe or a log file reads top to bottom.
func TestConsoleElsewhereWritesPlainLines(t *testing.T) {
	t.Parallel()
	var out, logs bytes.Buffer
	c := NewConsole(&out, false, func() int { return 5 })
	c.Print("banner\n")
	c.Status("first status, not cut")
	_, _ = c.Above(&logs).Write([]byte("log\n"))
	c.Status("second")
	c.EndStatus()
	c.Print("summary\n")
	if got, want := out.String(), "banner\nfirst status, not cut\nsecond\nsummary\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if logs.String() != "log\n" {
		t.Errorf("log writer got %q", logs.String())
	}
}

func TestFitCountsRunesNotBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s     string
		width int
		want  string
	}{
		{"short", 80, "short"},
		{"exactly9!", 10, "exactly9!"},
		{"exactly10!", 10, "exactly1…"},
		{"ééééééééééé", 6, "éééé…"},
		{"any", 0, "any"}, // width unknown
	} {
		if got := fit(tc.s, tc.width); got != tc.want {
			t.Errorf("fit(%q, %d) = %q, want %q", tc.s, tc.width, got, tc.want)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the Report goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReportStopsWithItsContext: a live console shows a reading at once,
// and Report returns when its context ends without reading again.
func TestReportStopsWithItsContext(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	c := NewConsole(&out, true, nil)
	ctx, cancel := context.WithCancel(context.Background())
	reads := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Report(ctx, c, time.Hour, func(context.Context) Status {
			reads <- struct{}{}
			return Status{Generated: -1, Lag: 5}
		})
	}()
	<-reads // the first reading comes without waiting for the interval
	cancel()
	<-done
	if n := len(reads); n != 0 {
		t.Errorf("%d readings after the first, want none with an hour's interval", n)
	}
	if !strings.HasSuffix(out.String(), "lag 5") {
		t.Errorf("console shows %q", out.String())
	}
}

func TestBannerNamesAddressesAndAWorkingExample(t *testing.T) {
	t.Parallel()
	b := Banner{
		Version: "v1", Brokers: []string{"127.0.0.1:9092"}, Topics: []string{"segment-events"}, Partitions: 4,
		FirehoseURL: "http://127.0.0.1:4573", DataDir: "./sandbox-data/", FlushInterval: time.Second,
		Group: "g", MetricsAddr: "127.0.0.1:9464", GenerateRate: 200, GenerateSeed: 42, Command: "./firehose-worker",
		Routes: []Route{{"page", "pages"}, {"Signed Up", "signups"}, {"*", "everything"}},
	}
	got := b.String()
	for _, want := range []string{
		"  Kafka      127.0.0.1:9092  topics segment-events (4 partitions each), kept in memory",
		"  Firehose   http://127.0.0.1:4573  files under ./sandbox-data/<stream>/YYYY/MM/DD/HH/, flushed every 1s",
		"metrics http://127.0.0.1:9464/metrics",
		`  Routes     page -> pages, "Signed Up" -> signups, * -> everything`,
		"  Generator  200 events/s to segment-events, seed 42",
		// The example is a track call of the first event-name row, so it
		// shows routing; each tool's flags are its real ones.
		`echo '{"type":"track","event":"Signed Up","userId":"u1","messageId":"try-1","properties":{"revenue":42}}' | kcat -P -b 127.0.0.1:9092 -t segment-events`,
		"| kafka-console-producer.sh --bootstrap-server 127.0.0.1:9092 --topic segment-events",
		"| ./firehose-worker produce --brokers 127.0.0.1:9092 --topic segment-events --replay -",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("banner lacks %q:\n%s", want, got)
		}
	}
	if !strings.HasSuffix(got, ReadyLine+"\n") {
		t.Errorf("banner does not end with the ready line:\n%s", got)
	}
	off := Banner{Routes: []Route{{"it's", "s"}}, Topics: []string{"t"}}.String()
	for _, want := range []string{"metrics off", "Generator  off", `"event":"it'\''s"`} {
		if !strings.Contains(off, want) {
			t.Errorf("banner lacks %q:\n%s", want, off)
		}
	}
}

func TestSummaryTable(t *testing.T) {
	t.Parallel()
	s := Summary{
		Elapsed: 12340 * time.Millisecond, Generated: 2400, Consumed: 2398, Dropped: 1,
		Kafka: KafkaState{Messages: 2400, Lag: 2},
		Streams: map[string]firehosesim.DirTotals{
			"everything": {Files: 12, Records: 2398, Bytes: 1536 << 10},
			"orders":     {Files: 3, Records: 41, Bytes: 900},
			"zzz":        {Files: 1, Records: 1, Bytes: 10},
		},
		Order:   []string{"orders", "pages", "everything"},
		DataDir: "./sandbox-data",
	}
	want := `Stopped after 12.3s. Generated 2,400; consumed 2,398, dropped 1. 2 left unconsumed in Kafka (gone with the in-memory broker).

  stream       records     bytes   files
  orders            41     900 B       3
  pages              0       0 B       0
  everything     2,398   1.5 MiB      12
  zzz                1      10 B       1
  total          2,440   1.5 MiB      16

Files are under ./sandbox-data/<stream>/YYYY/MM/DD/HH/.
`
	if got := s.String(); got != want {
		t.Errorf("summary\n got:\n%s\nwant:\n%s", got, want)
	}
	none := Summary{Generated: -1, Kafka: KafkaState{Lag: 0}}.String()
	if strings.Contains(none, "Generated") || !strings.Contains(none, "Nothing left in Kafka.") || strings.Contains(none, "Files are under") {
		t.Errorf("summary of an idle run:\n%s", none)
	}
}

func TestNumberFormats(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := ByteSize(n); got != want {
			t.Errorf("ByteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
