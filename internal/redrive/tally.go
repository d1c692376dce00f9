package redrive

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"sync"
	"text/tabwriter"
)

// Tally counts letters by reason and stream.
type Tally struct {
	mu   sync.Mutex
	rows map[rowKey]*Row
}

type rowKey struct{ reason, stream string }

// Row is the count of one reason and stream.
type Row struct {
	Reason, Stream string
	Letters        int // read
	Filtered       int // not matching the filter
	Sent           int // handed to delivery (in a dry run: would be)
	Delivered      int // acknowledged by Firehose
	Failed         int // refused again, denied, given up on, or no client
	Left           int // left alone: no stream, or nothing valid to send
	// Why is the reason letters were left alone (the first seen).
	Why string
}

func newTally() *Tally { return &Tally{rows: map[rowKey]*Row{}} }

func (t *Tally) row(l *Letter) *Row {
	k := rowKey{l.Reason, l.Stream}
	r, ok := t.rows[k]
	if !ok {
		r = &Row{Reason: l.Reason, Stream: l.Stream}
		t.rows[k] = r
	}
	return r
}

func (t *Tally) add(l *Letter, f Fate, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(l)
	r.Letters++
	switch f {
	case Filtered:
		r.Filtered++
	case Send:
		r.Sent++
	case Left:
		r.Left++
		if r.Why == "" {
			r.Why = why
		}
	}
}

func (t *Tally) delivered(l *Letter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row(l).Delivered++
}

func (t *Tally) failed(l *Letter) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.row(l).Failed++
}

// Rows returns the counts sorted by reason and stream.
func (t *Tally) Rows() []Row {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Row, 0, len(t.rows))
	for _, r := range t.rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b Row) int { return cmp.Or(cmp.Compare(a.Reason, b.Reason), cmp.Compare(a.Stream, b.Stream)) })
	return out
}

// Total sums every row.
func (t *Tally) Total() Row {
	var s Row
	for _, r := range t.Rows() {
		s.Letters += r.Letters
		s.Filtered += r.Filtered
		s.Sent += r.Sent
		s.Delivered += r.Delivered
		s.Failed += r.Failed
		s.Left += r.Left
	}
	return s
}

// Unfinished is the letters sent and neither delivered nor failed: the run
// was interrupted while they were in flight, and the next run sends them.
func (r Row) Unfinished() int { return r.Sent - r.Delivered - r.Failed }

// Write prints the table: for a dry run what would happen, otherwise what
// happened.
func (t *Tally) Write(w io.Writer, dryRun bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	stream := func(s string) string {
		if s == "" {
			return "(none)"
		}
		return s
	}
	if dryRun {
		fmt.Fprintln(tw, "reason\tstream\tletters\twould send\tleft alone\tfiltered out\t")
		for _, r := range t.Rows() {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", r.Reason, stream(r.Stream), r.Letters, r.Sent, r.Left, r.Filtered)
		}
		s := t.Total()
		fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t\n", s.Letters, s.Sent, s.Left, s.Filtered)
		return tw.Flush()
	}
	fmt.Fprintln(tw, "reason\tstream\tletters\tdelivered\tfailed\tunfinished\tleft alone\tfiltered out\t")
	for _, r := range t.Rows() {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", r.Reason, stream(r.Stream), r.Letters, r.Delivered, r.Failed, r.Unfinished(), r.Left, r.Filtered)
	}
	s := t.Total()
	fmt.Fprintf(tw, "total\t\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.Letters, s.Delivered, s.Failed, s.Unfinished(), s.Left, s.Filtered)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range t.Rows() {
		if r.Left > 0 {
			fmt.Fprintf(w, "left alone: %d %s letter(s) for %s: %s\n", r.Left, r.Reason, stream(r.Stream), r.Why)
		}
	}
	return nil
}
