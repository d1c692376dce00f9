//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ledger records every message the broker acknowledged, where it landed and
// what the routing rules say must be delivered for it. It is safe for
// concurrent use (produce callbacks run on the client's goroutines).
type ledger struct {
	rows map[string][]row // topic -> its source's mapping

	mu       sync.Mutex
	byTP     map[tp][]*sent
	want     map[string]map[string]int // stream -> record -> count
	messages int
	skipped  map[string]int // reason -> messages that must not be delivered
	mix      map[string]int // what the messages were, for the log
	infoErrs []string
	origin   map[string]at // record -> the message it came from
}

// at is where a message landed.
type at struct {
	tp     tp
	offset int64
}

// sent is one acknowledged message.
type sent struct {
	offset int64
	ex     expectation
}

func newLedger(rows map[string][]row) *ledger {
	return &ledger{rows: rows, byTP: map[tp][]*sent{}, want: map[string]map[string]int{}, skipped: map[string]int{}, mix: map[string]int{}, origin: map[string]at{}}
}

func (l *ledger) add(r *kgo.Record, d draft) {
	ex := expect(d.value, l.rows[r.Topic])
	var infoErr error
	if d.info != nil {
		infoErr = checkInfo(d.value, d.info)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if infoErr != nil && len(l.infoErrs) < 5 {
		l.infoErrs = append(l.infoErrs, infoErr.Error())
	}
	k := tp{r.Topic, r.Partition}
	l.byTP[k] = append(l.byTP[k], &sent{offset: r.Offset, ex: ex})
	l.messages++
	if len(ex.streams) == 0 {
		l.skipped[ex.skipped]++
	} else {
		l.origin[ex.record] = at{k, r.Offset}
	}
	for _, s := range ex.streams {
		if l.want[s] == nil {
			l.want[s] = map[string]int{}
		}
		l.want[s][ex.record]++
	}
	switch {
	case d.info == nil:
		l.mix["hand-written"]++
	default:
		l.mix[string(d.info.Type)]++
		if d.info.Pretty {
			l.mix["pretty"]++
		}
		if d.info.BigNumbers {
			l.mix["big numbers"]++
		}
		if d.info.Personas {
			l.mix["personas"]++
		}
		if d.info.FirehoseDisabled {
			l.mix["firehose off"]++
		}
	}
}

// ends returns the offset after the last acknowledged message of each
// partition: where the group's commits must arrive.
func (l *ledger) ends() map[tp]int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[tp]int64{}
	for k, ms := range l.byTP {
		for _, m := range ms {
			out[k] = max(out[k], m.offset+1)
		}
	}
	return out
}

// count returns the number of acknowledged messages and of records expected.
func (l *ledger) count() (messages, records int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, recs := range l.want {
		for _, n := range recs {
			records += n
		}
	}
	return l.messages, records
}

func (l *ledger) describeMix() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for k, n := range l.mix {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n))
	}
	for k, n := range l.skipped {
		parts = append(parts, fmt.Sprintf("not delivered (%s)=%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// outcome compares what was delivered with what was expected.
type outcome struct {
	Messages   int            `json:"messages"`
	Expected   int            `json:"expected_records"`
	Delivered  int            `json:"delivered_records"`
	Missing    int            `json:"missing"`
	Duplicates int            `json:"duplicates"`
	Unexpected int            `json:"unexpected"`
	Objects    map[string]int `json:"objects_per_stream"`
	example    string
}

func (o outcome) String() string {
	s := fmt.Sprintf("%d messages, %d records expected, %d delivered: %d missing, %d duplicates, %d unexpected",
		o.Messages, o.Expected, o.Delivered, o.Missing, o.Duplicates, o.Unexpected)
	if o.example != "" {
		s += " (" + o.example + ")"
	}
	return s
}

func (l *ledger) compare(d *delivery) outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := outcome{Messages: l.messages, Delivered: d.records, Objects: d.objects}
	note := func(s string) {
		if o.example == "" {
			o.example = s
		}
	}
	for _, s := range d.streams {
		want, got := l.want[s], d.got[s]
		for rec, n := range want {
			o.Expected += n
			switch g := got[rec]; {
			case g < n:
				o.Missing += n - g
				note(fmt.Sprintf("missing in %s: %.300s", s, rec))
			case g > n:
				o.Duplicates += g - n
			}
		}
		for rec, g := range got {
			if _, ok := want[rec]; !ok {
				o.Unexpected += g
				note(fmt.Sprintf("unexpected in %s: %.300s", s, rec))
			}
		}
	}
	return o
}

// dupReport sorts duplicate records by their cause.
type dupReport struct {
	// InWindow are re-read messages from a killed worker's window: what it
	// had read but not committed when it died.
	InWindow int `json:"in_killed_window"`
	// Resent are copies in an object identical to an earlier one: a batch
	// sent again because the worker could not tell whether a call landed.
	Resent int `json:"resent_batches"`
	// Other has no excuse.
	Other    int      `json:"other"`
	Examples []string `json:"examples,omitempty"`
}

// duplicates classifies every duplicate record d holds. window is the killed
// worker's range of offsets per partition; nil when no worker was killed.
func (l *ledger) duplicates(d *delivery, window map[tp][2]int64) dupReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r dupReport
	resent := d.resent()
	for _, s := range d.streams {
		for rec, g := range d.got[s] {
			extra := g - l.want[s][rec]
			if l.want[s][rec] == 0 || extra <= 0 {
				continue
			}
			rs := min(extra, resent[s][rec])
			r.Resent += rs
			extra -= rs
			if extra == 0 {
				continue
			}
			m := l.origin[rec]
			if w, ok := window[m.tp]; ok && m.offset >= w[0] && m.offset < w[1] {
				r.InWindow += extra
				continue
			}
			r.Other += extra
			if len(r.Examples) < 10 {
				r.Examples = append(r.Examples, fmt.Sprintf("%s offset %d x%d in %s", m.tp, m.offset, extra, s))
			}
		}
	}
	sort.Strings(r.Examples)
	return r
}

// commitViolations lists messages below a committed offset whose records
// are not all in S3: the worker must commit only what Firehose acknowledged,
// and the emulator writes an object before it answers, so reading S3 after
// fetching the offsets must find them.
func (l *ledger) commitViolations(committed map[tp]int64, d *delivery) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for k, ms := range l.byTP {
		c, ok := committed[k]
		if !ok {
			continue
		}
		for _, m := range ms {
			if m.offset >= c {
				continue
			}
			for _, s := range m.ex.streams {
				if d.got[s][m.ex.record] == 0 {
					out = append(out, fmt.Sprintf("%s offset %d committed (at %d) but not in %s", k, m.offset, c, s))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// waitDelivered waits until the group has committed every acknowledged
// message and S3 holds every expected record, checking on every poll that
// nothing is committed before it is delivered. Once everything is committed,
// S3 must be complete (the worker commits only what Firehose acknowledged),
// so it stops waiting after a short grace period and leaves the verdict to
// check. It returns the final comparison; the caller judges duplicates.
func (e *env) waitDelivered(l *ledger, d *delivery, group string, timeout time.Duration) outcome {
	e.t.Helper()
	const grace = 5 * time.Second
	ctx := e.ctx(timeout + 30*time.Second)
	var o outcome
	var allCommitted time.Time
	reported := false
	eventually(e.t, timeout, 300*time.Millisecond, "every message committed and delivered", func() (bool, string) {
		committed, err := e.committed(ctx, group)
		if err != nil {
			return false, "fetching offsets: " + err.Error()
		}
		if err := d.refresh(ctx); err != nil {
			return false, err.Error()
		}
		if v := l.commitViolations(committed, d); len(v) > 0 && !reported {
			reported = true
			e.t.Errorf("%d records committed before they were delivered, e.g. %s", len(v), v[0])
		}
		var behind []string
		for k, end := range l.ends() {
			if committed[k] < end {
				behind = append(behind, fmt.Sprintf("%s at %d of %d", k, committed[k], end))
			}
		}
		sort.Strings(behind)
		o = l.compare(d)
		switch {
		case len(behind) > 0:
			allCommitted = time.Time{}
		case o.Missing == 0:
			return true, ""
		case allCommitted.IsZero():
			allCommitted = time.Now()
		case time.Since(allCommitted) > grace:
			return true, "" // committed but missing: check reports it
		}
		return false, fmt.Sprintf("%s; %d partitions not fully committed %v", o, len(behind), behind)
	})
	return o
}

// check fails the test on what no scenario allows: missing or unexpected
// records, malformed objects, and generator Info that disagrees with its
// messages.
func (e *env) check(l *ledger, d *delivery, o outcome) {
	e.t.Helper()
	if o.Missing > 0 || o.Unexpected > 0 {
		e.t.Errorf("delivery is wrong: %s", o)
	}
	if len(d.problems) > 0 {
		e.t.Errorf("%d objects one PutRecordBatch could not have written, e.g. %s", len(d.problems), d.problems[0])
	}
	if len(l.infoErrs) > 0 {
		e.t.Errorf("event generator: %s", strings.Join(l.infoErrs, "; "))
	}
}

// judgeDuplicates fails the test on duplicates that neither a killed
// worker's window nor a resend after an unknown outcome explains, and on
// resent batches that no worker logged a reason for.
func (e *env) judgeDuplicates(r dupReport, ws ...*worker) {
	e.t.Helper()
	if r.Other > 0 {
		e.t.Errorf("%d duplicate records that no killed worker and no failed call explain, e.g. %v", r.Other, r.Examples)
	}
	if n := unknownOutcomes(ws...); r.Resent > 0 {
		if n == 0 {
			e.t.Errorf("%d records arrived twice in identical objects, but no worker logged a call with an unknown outcome", r.Resent)
		} else {
			e.t.Logf("%d records were resent after %d calls whose outcome the worker could not know (see the workers' \"class\":\"unknown\" lines)", r.Resent, n)
		}
	}
}

// report writes the test's figures to $E2E_REPORT_DIR/<test>.json, adding
// the test's duration so far.
func (e *env) report(fields map[string]any) {
	fields["test"] = e.t.Name()
	fields["run"] = runID
	fields["seconds"] = time.Since(e.start).Round(100 * time.Millisecond).Seconds()
	b, _ := json.MarshalIndent(fields, "", "  ")
	e.t.Logf("report: %s", b)
	if reportDir == "" {
		return
	}
	path := filepath.Join(reportDir, strings.ReplaceAll(e.t.Name(), "/", "_")+".json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		e.t.Errorf("writing report: %v", err)
	}
}

// refreshOnce reads S3 once more (after the wait, for the final figures).
func (e *env) refreshOnce(d *delivery) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.refresh(ctx); err != nil {
		e.t.Fatal(err)
	}
}
