package sandbox

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// Summary is what the sandbox command prints when it stops.
type Summary struct {
	Elapsed time.Duration
	// Generated is what the generator had acknowledged; -1 when it was off.
	Generated int64
	// Consumed and Dropped are the worker's totals.
	Consumed, Dropped int64
	// Kafka is the broker's state at the end.
	Kafka KafkaState
	// Streams are the files written per stream.
	Streams map[string]firehosesim.DirTotals
	// Order lists stream names to show first, in config order.
	Order   []string
	DataDir string
}

// String renders the summary: a sentence, then one row per stream with the
// records, bytes and files written, and a total row. The record counts are
// what the files hold, so a reader can check them with wc -l.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Stopped after %s.", s.Elapsed.Round(100*time.Millisecond))
	if s.Generated >= 0 {
		fmt.Fprintf(&b, " Generated %s;", count(s.Generated))
	}
	fmt.Fprintf(&b, " consumed %s, dropped %s.", count(s.Consumed), count(s.Dropped))
	switch {
	case s.Kafka.Lag > 0:
		fmt.Fprintf(&b, " %s left unconsumed in Kafka (gone with the in-memory broker).", count(s.Kafka.Lag))
	case s.Kafka.Lag == 0:
		b.WriteString(" Nothing left in Kafka.")
	}
	b.WriteString("\n\n")

	rows := [][4]string{{"stream", "records", "bytes", "files"}}
	var total firehosesim.DirTotals
	for _, name := range s.names() {
		t := s.Streams[name]
		total.Records += t.Records
		total.Bytes += t.Bytes
		total.Files += t.Files
		rows = append(rows, [4]string{name, count(t.Records), ByteSize(t.Bytes), count(t.Files)})
	}
	rows = append(rows, [4]string{"total", count(total.Records), ByteSize(total.Bytes), count(total.Files)})
	writeTable(&b, rows)
	if total.Files > 0 {
		fmt.Fprintf(&b, "\nFiles are under %s/<stream>/YYYY/MM/DD/HH/.\n", strings.TrimRight(s.DataDir, "/"))
	}
	return b.String()
}

// names lists the streams to show: those in Order, then others by name.
func (s Summary) names() []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range s.Order {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.Streams)) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// writeTable writes rows with the first column aligned left and the others
// right, two spaces in from the margin.
func writeTable(b *strings.Builder, rows [][4]string) {
	var width [4]int
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		b.WriteString("  ")
		b.WriteString(r[0])
		b.WriteString(strings.Repeat(" ", width[0]-utf8.RuneCountInString(r[0])))
		for i := 1; i < len(r); i++ {
			b.WriteString(strings.Repeat(" ", 3+width[i]-utf8.RuneCountInString(r[i])))
			b.WriteString(r[i])
		}
		b.WriteByte('\n')
	}
}
