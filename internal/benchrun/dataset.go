package main

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/eventgen"
	"github.com/firehose-worker/firehose-worker/internal/route"
)

// mapping is one worker mapping row as the benchmark writes it into the
// worker's YAML.
type mapping struct {
	Event     string
	Stream    string
	Aggregate bool
}

// The mappings of the runs. fanOutRows is the end-to-end mapping: every
// event to "everything", plus two track events and page calls to streams of
// their own, so routing fans out as it does in a real workspace.
var (
	fanOutRows = []mapping{
		{Event: "Product Viewed", Stream: "product_views"},
		{Event: "Order Completed", Stream: "orders"},
		{Event: "page", Stream: "pages"},
		{Event: "*", Stream: "everything"},
	}
	singleRows    = []mapping{{Event: "*", Stream: "everything"}}
	aggregateRows = []mapping{{Event: "*", Stream: "archive", Aggregate: true}}
)

func routeTable(rows []mapping) *route.Table {
	rr := make([]route.Row, len(rows))
	for i, r := range rows {
		rr[i] = route.Row{Event: r.Event, Stream: r.Stream}
	}
	return route.New(rr, false)
}

// expectation counts, per stream, the events a mapping sends there.
type expectation struct {
	table    *route.Table
	idx      []int
	perIndex []int64
	Events   int64
	Bytes    int64
}

func newExpectation(rows []mapping) *expectation {
	t := routeTable(rows)
	return &expectation{table: t, perIndex: make([]int64, len(t.Streams()))}
}

// add counts one produced message.
func (e *expectation) add(info *eventgen.Info, size int) {
	e.Events++
	e.Bytes += int64(size)
	if info.FirehoseDisabled {
		return // the worker skips it, as Segment would
	}
	typ := string(info.Type)
	e.idx = e.table.Route(e.idx[:0], []byte(typ), []byte(info.Event), route.IsTrack([]byte(typ)))
	for _, i := range e.idx {
		e.perIndex[i]++
	}
}

// PerStream is the expected number of events per stream.
func (e *expectation) PerStream() map[string]int64 {
	out := map[string]int64{}
	for i, name := range e.table.Streams() {
		out[name] = e.perIndex[i]
	}
	return out
}

// datasetSource is the generator's default mix, Seed 0, counted as it is
// produced for every mapping of the benchmark.
type datasetSource struct {
	gen    *eventgen.Generator
	expect []*expectation
}

func newDatasetSource(expect ...*expectation) *datasetSource {
	return &datasetSource{gen: eventgen.New(eventgen.DefaultOptions()), expect: expect}
}

func (s *datasetSource) NextMessage(dst []byte) (value, key []byte, info eventgen.Info, err error) {
	value, key, info = s.gen.Next(dst)
	for _, e := range s.expect {
		e.add(&info, len(value)-len(dst))
	}
	return value, key, info, nil
}

// warmupPrefix starts the messages of the latency phase's warm-up: the
// same shape as stampPrefix, so they cost the same, but not measured.
const warmupPrefix = `{"benchWarmupAt":`

// stampSource is the generator's mix with the produce time as the first
// member of every message (see stampPrefix), for the latency phase;
// messages made before measureFrom carry warmupPrefix instead. A different
// seed from the dataset keeps its messageIds apart.
type stampSource struct {
	gen         *eventgen.Generator
	buf         []byte
	expect      *expectation
	measureFrom time.Time
}

func newStampSource(expect *expectation, measureFrom time.Time) *stampSource {
	opts := eventgen.DefaultOptions()
	opts.Seed = 7
	opts.Start = time.Now()
	return &stampSource{gen: eventgen.New(opts), expect: expect, measureFrom: measureFrom}
}

func (s *stampSource) NextMessage(dst []byte) (value, key []byte, info eventgen.Info, err error) {
	v, key, info := s.gen.Next(s.buf[:0])
	s.buf = v
	start := len(dst)
	now := time.Now()
	if now.Before(s.measureFrom) {
		dst = append(dst, warmupPrefix...)
	} else {
		dst = append(dst, stampPrefix...)
	}
	dst = strconv.AppendInt(dst, now.UnixNano(), 10)
	dst = append(dst, ',')
	dst = append(dst, bytes.TrimLeft(v, " \t\r\n")[1:]...)
	s.expect.add(&info, len(dst)-start)
	return dst, key, info, nil
}

// stampOf returns the produce time stamped into a message or line.
func stampOf(b []byte) (int64, bool) {
	rest, ok := bytes.CutPrefix(b, []byte(stampPrefix))
	if !ok {
		return 0, false
	}
	end := bytes.IndexByte(rest, ',')
	if end < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return v, err == nil
}

// lineHashes hashes every line the dataset's n messages become in
// Firehose (the message compacted as encoding/json.Compact does, without
// its '\n'), sorted, for comparing with what was read back.
func lineHashes(seed maphash.Seed, n int64) ([]uint64, error) {
	g := eventgen.New(eventgen.DefaultOptions())
	out := make([]uint64, 0, n)
	var buf []byte
	var compact bytes.Buffer
	for range n {
		v, _, info := g.Next(buf[:0])
		buf = v
		if info.FirehoseDisabled {
			continue
		}
		compact.Reset()
		if err := stdjson.Compact(&compact, v); err != nil {
			return nil, fmt.Errorf("compacting generated message %s: %w", info.MessageID, err)
		}
		out = append(out, maphash.Bytes(seed, compact.Bytes()))
	}
	slices.Sort(out)
	return out, nil
}

// compareHashes compares two sorted multisets and reports how many of want
// are missing from got and how many of got are extra (duplicates or lines
// never produced).
func compareHashes(want, got []uint64) (missing, extra int64) {
	i, j := 0, 0
	for i < len(want) && j < len(got) {
		switch {
		case want[i] == got[j]:
			i++
			j++
		case want[i] < got[j]:
			missing++
			i++
		default:
			extra++
			j++
		}
	}
	return missing + int64(len(want)-i), extra + int64(len(got)-j)
}

// rowsYAML renders rows as the worker's mapped_streams list.
func rowsYAML(rows []mapping) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "      - {event: %q, stream: %q", r.Event, r.Stream)
		if r.Aggregate {
			b.WriteString(", aggregate: true")
		}
		b.WriteString("}\n")
	}
	return b.String()
}
