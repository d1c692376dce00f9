package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/maphash"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// billingUnit is the step Firehose bills ingested records in: "each record
// rounded up to the nearest 5KB (5120 bytes)" (Amazon Data Firehose
// pricing, Direct PUT). A 1 KB event costs a whole unit.
const billingUnit = 5120

// stampPrefix starts every message the latency phase produces: the produce
// time in Unix nanoseconds as the first member of the object. The worker
// keeps member order and number text, so the line that reaches the endpoint
// starts with it too.
const stampPrefix = `{"benchProducedAt":`

// messageIDKey finds a Segment message's id in a compact line.
var messageIDKey = []byte(`"messageId":"`)

// StreamCounts is what the endpoint accepted for one stream.
type StreamCounts struct {
	// Records are Firehose records (an aggregated record holds many lines).
	Records int64 `json:"records"`
	// Lines are newline-terminated events inside those records.
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
	// BilledUnits sums ceil(len/5120) over records.
	BilledUnits int64 `json:"billed_units"`
	// Duplicates counts lines whose messageId this stream accepted before.
	// A progress poll (GET /stats?progress=1) leaves it 0.
	Duplicates int64 `json:"duplicates"`
	// NoMessageID counts lines without a "messageId" (none expected).
	NoMessageID int64 `json:"no_message_id"`
	// FirstAck and LastAck are Unix nanoseconds of the first and the last
	// accepted record.
	FirstAck int64 `json:"first_ack_ns"`
	LastAck  int64 `json:"last_ack_ns"`
}

// Second is one second of one stream's data-plane traffic.
type Second struct {
	Unix int64 `json:"unix"`
	// AcceptedLines and AcceptedBytes reached the sink this second.
	AcceptedLines int64 `json:"accepted_lines"`
	AcceptedBytes int64 `json:"accepted_bytes"`
	// Calls were answered this second; ThrottledCalls of them failed as a
	// whole with ServiceUnavailableException and PartialCalls carried
	// per-record failures (ServiceUnavailableException "Slow down." for a
	// quota or an injected fault).
	Calls          int64 `json:"calls"`
	ThrottledCalls int64 `json:"throttled_calls"`
	PartialCalls   int64 `json:"partial_calls"`
	// RecordsSent counts records in calls; RecordsFailed those that did not
	// land (per-record failures and whole-call rejections).
	RecordsSent   int64 `json:"records_sent"`
	RecordsFailed int64 `json:"records_failed"`
}

// EndpointStats is the answer of the control API's GET /stats.
type EndpointStats struct {
	Streams map[string]StreamCounts `json:"streams"`
	Calls   firehosesim.CallCounts  `json:"calls"`
	// Series is per stream, oldest second first; only with ?series=1.
	Series map[string][]Second `json:"series,omitempty"`
}

// Latency summarises produce-to-ack latency of stamped lines.
type Latency struct {
	Count int64   `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// Series is per acknowledgement second, oldest first.
	Series []LatencySecond `json:"series,omitempty"`
}

// LatencySecond summarises the lines acknowledged in one second.
type LatencySecond struct {
	Unix  int64   `json:"unix"`
	Count int64   `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

// summarize computes the latency percentiles of samples (nanoseconds),
// sorting them in place.
func summarize(samples []int64) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	q := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(samples)))) - 1
		return float64(samples[max(i, 0)]) / 1e6
	}
	return Latency{Count: int64(len(samples)), P50Ms: q(0.50), P90Ms: q(0.90), P99Ms: q(0.99), MaxMs: float64(samples[len(samples)-1]) / 1e6}
}

// counter is a firehosesim Sink and call Observer that counts per stream.
type counter struct {
	seed maphash.Seed

	mu      sync.Mutex
	streams map[string]*streamCounter
}

type streamCounter struct {
	mu     sync.Mutex
	counts StreamCounts
	// ids holds a hash of every line's messageId. Duplicates are counted
	// when final stats are asked for, by sorting ids (which then keeps one
	// of each): a set looked up per line cost this process about a quarter
	// of its CPU in the end-to-end run (random probes into a table of a
	// million entries, and its growth), CPU the measured worker shares two
	// cores with, while the harness polls progress every 100 ms and needs
	// the count only at the end.
	ids     []uint64
	seconds map[int64]*Second
	latency []int64 // nanoseconds, one per stamped line
	ackSec  []int64 // the Unix second each latency sample was acknowledged in
	acks    []Ack   // messageId and acknowledgement time of each stamped line
}

// Ack is when the endpoint acknowledged one stamped line.
type Ack struct {
	MessageID string `json:"i"`
	At        int64  `json:"a"` // Unix nanoseconds
}

func newCounter() *counter {
	return &counter{seed: maphash.MakeSeed(), streams: map[string]*streamCounter{}}
}

func (c *counter) stream(name string) *streamCounter {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.streams[name]
	if !ok {
		s = &streamCounter{seconds: map[int64]*Second{}}
		c.streams[name] = s
	}
	return s
}

// Write counts the records a call landed; it runs before the client gets
// its answer, so the time taken here is the acknowledgement time.
func (c *counter) Write(_ context.Context, stream string, records [][]byte) error {
	now := time.Now()
	ns := now.UnixNano()
	s := c.stream(stream)
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.second(now.Unix())
	if s.counts.FirstAck == 0 {
		s.counts.FirstAck = ns
	}
	s.counts.LastAck = ns
	for _, r := range records {
		s.counts.Records++
		s.counts.Bytes += int64(len(r))
		s.counts.BilledUnits += int64((len(r) + billingUnit - 1) / billingUnit)
		sec.AcceptedBytes += int64(len(r))
		for line := range bytes.Lines(r) {
			line = bytes.TrimSuffix(line, []byte("\n"))
			s.counts.Lines++
			sec.AcceptedLines++
			c.countLine(s, line, ns)
		}
	}
	return nil
}

// countLine checks one event for a repeated messageId and, if it carries a
// produce stamp, records its latency. Call with s.mu held.
func (c *counter) countLine(s *streamCounter, line []byte, now int64) {
	i := bytes.Index(line, messageIDKey)
	if i < 0 {
		s.counts.NoMessageID++
		return
	}
	id := line[i+len(messageIDKey):]
	if j := bytes.IndexByte(id, '"'); j >= 0 {
		id = id[:j]
	}
	if produced, ok := stampOf(line); ok {
		s.latency = append(s.latency, now-produced)
		s.ackSec = append(s.ackSec, now/1e9)
		s.acks = append(s.acks, Ack{MessageID: string(id), At: now})
	}
	s.ids = append(s.ids, maphash.Bytes(c.seed, id))
}

// countDuplicates adds the messageIds repeated since the last call to
// counts.Duplicates and leaves one hash of each in ids. Call with s.mu held.
func (s *streamCounter) countDuplicates() {
	slices.Sort(s.ids)
	n := len(s.ids)
	s.ids = slices.Compact(s.ids)
	s.counts.Duplicates += int64(n - len(s.ids))
}

// second returns the bucket of a Unix second. Call with s.mu held.
func (s *streamCounter) second(unix int64) *Second {
	b, ok := s.seconds[unix]
	if !ok {
		b = &Second{Unix: unix}
		s.seconds[unix] = b
	}
	return b
}

// observe counts a finished data-plane call in its stream's second.
func (c *counter) observe(ci firehosesim.CallInfo) {
	if ci.Stream == "" {
		return
	}
	s := c.stream(ci.Stream)
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.second(time.Now().Unix())
	sec.Calls++
	sec.RecordsSent += int64(ci.Records)
	switch ci.Outcome {
	case firehosesim.OutcomeThrottled, firehosesim.OutcomeError:
		if ci.Outcome == firehosesim.OutcomeThrottled {
			sec.ThrottledCalls++
		}
		sec.RecordsFailed += int64(ci.Records)
	case firehosesim.OutcomePartial:
		sec.PartialCalls++
		sec.RecordsFailed += int64(ci.Failed)
	}
}

// stats reports every stream's counts, duplicates included unless progress
// is set (a poll while data arrives), and per-second series if asked for.
func (c *counter) stats(series, progress bool) EndpointStats {
	c.mu.Lock()
	names := make([]string, 0, len(c.streams))
	for name := range c.streams {
		names = append(names, name)
	}
	c.mu.Unlock()
	out := EndpointStats{Streams: map[string]StreamCounts{}}
	if series {
		out.Series = map[string][]Second{}
	}
	for _, name := range names {
		s := c.stream(name)
		s.mu.Lock()
		if !progress {
			s.countDuplicates()
		}
		counts := s.counts
		if progress {
			counts.Duplicates = 0 // not counted since the last final call
		}
		out.Streams[name] = counts
		if series {
			secs := make([]Second, 0, len(s.seconds))
			for _, b := range s.seconds {
				secs = append(secs, *b)
			}
			slices.SortFunc(secs, func(a, b Second) int { return int(a.Unix - b.Unix) })
			out.Series[name] = secs
		}
		s.mu.Unlock()
	}
	return out
}

// latency summarises the stamped lines of every stream together, overall
// and per acknowledgement second.
func (c *counter) latency() Latency {
	c.mu.Lock()
	var all []int64
	bySec := map[int64][]int64{}
	for _, s := range c.streams {
		s.mu.Lock()
		all = append(all, s.latency...)
		for i, sec := range s.ackSec {
			bySec[sec] = append(bySec[sec], s.latency[i])
		}
		s.mu.Unlock()
	}
	c.mu.Unlock()
	out := summarize(all)
	for _, sec := range slices.Sorted(maps.Keys(bySec)) {
		l := summarize(bySec[sec])
		out.Series = append(out.Series, LatencySecond{Unix: sec, Count: l.Count, P50Ms: l.P50Ms, P99Ms: l.P99Ms, MaxMs: l.MaxMs})
	}
	return out
}

// stampedAcks lists every stamped line's acknowledgement, all streams.
func (c *counter) stampedAcks() []Ack {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Ack
	for _, s := range c.streams {
		s.mu.Lock()
		out = append(out, s.acks...)
		s.mu.Unlock()
	}
	return out
}

// teeSink hands records to every sink in turn.
type teeSink []firehosesim.Sink

func (t teeSink) Write(ctx context.Context, stream string, records [][]byte) error {
	for _, s := range t {
		if err := s.Write(ctx, stream, records); err != nil {
			return err
		}
	}
	return nil
}

// endpointReady is the line `benchrun endpoint` prints once it serves.
type endpointReady struct {
	URL     string `json:"url"`
	Control string `json:"control"`
}

// cmdEndpoint serves a firehosesim endpoint that acknowledges at once (plus
// the quota and per-record faults asked for) and a control API beside it,
// until SIGTERM. With --dir, accepted records are also written the way
// Firehose writes S3 objects; they are flushed before it exits.
func cmdEndpoint(ctx context.Context, args []string, stdout, _ io.Writer) error {
	fs := flag.NewFlagSet("endpoint", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "Firehose listener")
	control := fs.String("control", "127.0.0.1:0", "control API listener (GET /stats, GET /latency)")
	dir := fs.String("dir", "", "also write accepted records below this directory, as S3 objects")
	quotaStream := fs.String("quota-stream", "", "stream the quota applies to (\"\" = every stream)")
	quotaRecords := fs.Float64("quota-records", 0, "records/s quota (0 = none)")
	quotaBytes := fs.Float64("quota-bytes", 0, "bytes/s quota (0 = none)")
	failFraction := fs.Float64("fail-fraction", 0, "fail this fraction of records with ServiceUnavailableException")
	if err := fs.Parse(args); err != nil {
		return err
	}

	cnt := newCounter()
	sinks := teeSink{cnt}
	var dirSink *firehosesim.DirSink
	if *dir != "" {
		var err error
		dirSink, err = firehosesim.NewDirSink(firehosesim.DirOptions{Dir: *dir, BufferInterval: time.Second})
		if err != nil {
			return err
		}
		sinks = append(sinks, dirSink)
	}
	faults := firehosesim.NewFaults(1)
	if *quotaRecords > 0 || *quotaBytes > 0 {
		faults.SetQuota(*quotaStream, firehosesim.Quota{RecordsPerSecond: *quotaRecords, BytesPerSecond: *quotaBytes})
	}
	if *failFraction > 0 {
		faults.FailRecords(firehosesim.RecordFault{Fraction: *failFraction, Code: firehosesim.CodeServiceUnavailable})
	}
	srv := firehosesim.New(firehosesim.Options{AutoCreate: true, Sink: sinks, Faults: faults, Observer: cnt.observe})
	ep, err := srv.Start(*addr)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		st := cnt.stats(q.Get("series") == "1", q.Get("progress") == "1")
		st.Calls = srv.Stats().Calls
		writeJSONResponse(w, st)
	})
	mux.HandleFunc("GET /latency", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, cnt.latency())
	})
	mux.HandleFunc("GET /acks", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, cnt.stampedAcks())
	})
	ln, err := net.Listen("tcp", *control)
	if err != nil {
		return errors.Join(err, ep.Close(context.Background()))
	}
	ctl := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- ctl.Serve(ln) }() // ends at Shutdown below

	ready, _ := json.Marshal(endpointReady{URL: ep.URL, Control: "http://" + ln.Addr().String()})
	fmt.Fprintln(stdout, string(ready))

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := []error{ep.Close(sctx)}
	if dirSink != nil {
		errs = append(errs, dirSink.Close(sctx))
	}
	errs = append(errs, ctl.Shutdown(sctx))
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func writeJSONResponse(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// endpointClient drives a running `benchrun endpoint`.
type endpointClient struct {
	URL     string
	control string
	http    *http.Client
}

// stats asks for the final counts, duplicates included (counting them
// sorts every messageId seen so far: ask once a run has ended).
func (c *endpointClient) stats(ctx context.Context, series bool) (EndpointStats, error) {
	var st EndpointStats
	path := "/stats"
	if series {
		path += "?series=1"
	}
	return st, c.get(ctx, path, &st)
}

// progress asks for the counts without duplicates, for polling.
func (c *endpointClient) progress(ctx context.Context) (EndpointStats, error) {
	var st EndpointStats
	return st, c.get(ctx, "/stats?progress=1", &st)
}

func (c *endpointClient) latency(ctx context.Context) (Latency, error) {
	var l Latency
	return l, c.get(ctx, "/latency", &l)
}

func (c *endpointClient) acks(ctx context.Context) ([]Ack, error) {
	var a []Ack
	return a, c.get(ctx, "/acks", &a)
}

func (c *endpointClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.control+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("endpoint control %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("endpoint control %s: HTTP %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
