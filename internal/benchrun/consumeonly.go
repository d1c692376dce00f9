package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// noMatchRows is the consume-only mapping: a track event the generator
// never makes, so every message is fetched, decoded, validated, routed to
// nothing, tracked and committed, and nothing is delivered.
var noMatchRows = []mapping{{Event: "Bench Matches No Event", Stream: "unused"}}

// consumedMetric is the worker's count of Kafka messages fetched, by topic.
const consumedMetric = "messaging_client_consumed_messages_total"

// scrapeInterval is how often a consume-only run reads the worker's
// /metrics for its first and last message: a timing error of at most this
// at each end. A scrape costs the worker CPU, more with more partitions
// (the committed offset and the lag are per-partition series); the
// partitions phase measures that cost and takes it out.
const scrapeInterval = 100 * time.Millisecond

// runConsumeOnly is the worker on the dataset with a mapping that matches
// no event: the cost of consuming on its own.
func (b *bench) runConsumeOnly(ctx context.Context) *RunResult {
	r := &RunResult{Name: "worker_consume_only", Kind: "backlog",
		Description: fmt.Sprintf("firehose-worker, default config, one row matching no event (%q): fetch, decode, validate, route to nothing, track, commit", noMatchRows[0].Event)}
	w, ep, err := b.startConsumeOnly(ctx, r.Name, datasetTopic, "bench-consumeonly")
	if err != nil {
		return r.fail(err)
	}
	defer ep.proc.Stop(30 * time.Second)
	defer w.Stop(60 * time.Second)
	profiled := make(chan error, 1)
	path := filepath.Join(b.work, r.Name+".cpu.pprof")
	if b.opts.ConsumeProfile > 0 {
		go func() { profiled <- w.profile(ctx, b.opts.ConsumeProfile, path) }()
	}
	c, err := b.awaitConsumed(ctx, w, datasetTopic, b.opts.Partitions, "bench-consumeonly", b.opts.Events)
	if err != nil {
		return r.fail(err)
	}
	if b.opts.ConsumeProfile > 0 {
		b.addCPUProfile(ctx, "CPU of the consume-only run",
			fmt.Sprintf("CPU profile of the worker for the first %d s of the consume-only run, from its start (its figures then include the profiler's cost).", b.opts.ConsumeProfile),
			path, <-profiled, 40)
	}
	c.finish(ctx, r, w, ep)
	return r
}

// endpointProc is a running `benchrun endpoint` and its client.
type endpointProc struct {
	proc   *proc
	client *endpointClient
}

// startConsumeOnly starts an endpoint (the worker needs one; it must get
// nothing) and a worker with noMatchRows on topic.
func (b *bench) startConsumeOnly(ctx context.Context, name, topic, group string) (*workerProc, *endpointProc, error) {
	b.logf("run %s", name)
	p, epc, err := b.startEndpoint(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	ep := &endpointProc{proc: p, client: epc}
	cfg := workerConfig{Brokers: b.broker.Addr, Group: group, Topics: []string{topic}, Rows: noMatchRows, Adaptive: true, Pprof: b.opts.ConsumeProfile > 0}
	w, err := startWorker(b.workerBin, b.work, name, cfg, epc.URL, b.fileLog(name))
	if err != nil {
		p.Stop(30 * time.Second)
		return nil, nil, err
	}
	return w, ep, nil
}

// consumed is what awaitConsumed saw of a consume-only worker.
type consumed struct {
	events      int64
	first, last int64 // Unix ns of the scrapes that first saw >0 and >= events
	cpu, hwm    float64
	// steady is the worker's CPU and count at those two scrapes; scrapes
	// is how many scrapes were made between them.
	steady  steadyCPU
	scrapes int
}

// awaitConsumed waits until the worker has fetched events messages of
// topic (its /metrics, every scrapeInterval) and its group has committed
// every partition to the end (the broker's committed offsets, which cost
// the worker nothing to read). CPU and peak RSS are read at that moment, so
// they include the last commit.
func (b *bench) awaitConsumed(ctx context.Context, w *workerProc, topic string, partitions int, group string, events int64) (*consumed, error) {
	addr, err := w.httpAddr(ctx)
	if err != nil {
		return nil, err
	}
	c := &consumed{events: events}
	deadline := time.Now().Add(b.deliveryTimeout())
	lastCount, lastProgress, lastLog := int64(-1), time.Now(), time.Now()
	for c.last == 0 {
		n, err := scrapeCounter(ctx, b.http, addr, consumedMetric)
		if c.first != 0 {
			c.scrapes++
		}
		now := time.Now()
		if err == nil {
			if n > 0 && c.first == 0 {
				c.first = now.UnixNano()
				c.steady.CPUFirst, _ = procCPU(w.pid())
				c.steady.CountFirst = n
			}
			if n >= events {
				c.last = now.UnixNano()
				c.steady.CPULast, _ = procCPU(w.pid())
				c.steady.CountLast = n
				break
			}
			if n != lastCount {
				lastCount, lastProgress = n, now
			}
		}
		if now.Sub(lastLog) >= 10*time.Second {
			b.logf("  %s: %d messages fetched so far", w.name, lastCount)
			lastLog = now
		}
		if err := b.checkAlive(w.proc, now, lastProgress, deadline); err != nil {
			return nil, err
		}
		if !sleepCtx(ctx, scrapeInterval) {
			return nil, ctx.Err()
		}
	}
	client := &kafka.Client{Addr: kafka.TCP(b.broker.Addr), Timeout: 10 * time.Second}
	for {
		done, err := committedToEnd(ctx, client, group, topic, partitions)
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		if err := b.checkAlive(w.proc, time.Now(), time.Now(), deadline); err != nil {
			return nil, err
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	c.cpu, _ = procCPU(w.pid())
	_, c.hwm, _ = procRSS(w.pid())
	return c, nil
}

// finish stops the worker and fills r; the endpoint must have received
// nothing.
// lessScrapes is the CPU per million events from the first event to the
// last, less the harness's scrapes in between at cost CPU-s each.
func (c *consumed) lessScrapes(cost float64) float64 {
	less := c.steady
	less.CPULast -= cost * float64(c.scrapes)
	return less.perMillion()
}

func (c *consumed) finish(ctx context.Context, r *RunResult, w *workerProc, ep *endpointProc) {
	u := w.Stop(60 * time.Second)
	r.measure(c.events, c.first, c.last, c.cpu, c.hwm, u, w.Samples(), w.start)
	r.SteadyCPUPerMillion = c.steady.perMillion()
	r.EndpointCPUSeconds, _ = procCPU(ep.proc.pid())
	st, err := ep.client.stats(ctx, false)
	if err != nil {
		r.fail(err)
		return
	}
	r.Streams = st.Streams
	for name, s := range st.Streams {
		if s.Lines > 0 {
			r.fail(fmt.Errorf("the consume-only mapping delivered %d lines to %s", s.Lines, name))
		}
	}
}

// scrapeCost measures what one /metrics scrape costs the caught-up worker:
// its CPU while scraped every scrapeInterval for seconds, less its idle
// rate (idlePct of a core), per scrape.
func (b *bench) scrapeCost(ctx context.Context, w *workerProc, idlePct float64, seconds int) (float64, error) {
	addr, err := w.httpAddr(ctx)
	if err != nil {
		return 0, err
	}
	cpu0, err := procCPU(w.pid())
	if err != nil {
		return 0, err
	}
	start, n := time.Now(), 0
	for time.Since(start) < time.Duration(seconds)*time.Second {
		if _, err := scrapeCounter(ctx, b.http, addr, consumedMetric); err != nil {
			return 0, err
		}
		n++
		if !sleepCtx(ctx, scrapeInterval) {
			return 0, ctx.Err()
		}
	}
	cpu1, err := procCPU(w.pid())
	if err != nil {
		return 0, err
	}
	spent := cpu1 - cpu0 - idlePct/100*time.Since(start).Seconds()
	return max(spent, 0) / float64(n), nil
}

// checkAlive fails when p exited, when nothing moved for 90 s, or past
// deadline.
func (b *bench) checkAlive(p *proc, now, lastProgress, deadline time.Time) error {
	select {
	case <-p.Exited():
		return fmt.Errorf("%s exited early: %v", p.name, p.Err())
	default:
	}
	switch {
	case now.Sub(lastProgress) > 90*time.Second:
		return fmt.Errorf("%s: no progress for 90s", p.name)
	case now.After(deadline):
		return fmt.Errorf("%s: not done within %s", p.name, b.deliveryTimeout())
	}
	return nil
}

// scrapeCounter sums every series of a counter on the worker's /metrics.
func scrapeCounter(ctx context.Context, client *http.Client, addr, name string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := counterValue(line, name); ok {
			sum += v
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading /metrics: %w", err)
	}
	return int64(sum), nil
}

// counterValue returns the value of a Prometheus text-format sample line
// of metric name (`name{labels} value` or `name value`).
func counterValue(line, name string) (float64, bool) {
	rest, ok := strings.CutPrefix(line, name)
	if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
		return 0, false
	}
	if rest[0] == '{' {
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			return 0, false
		}
		rest = rest[end+1:]
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}

// committedToEnd reports whether group has committed every partition of
// topic up to its end offset.
func committedToEnd(ctx context.Context, client *kafka.Client, group, topic string, partitions int) (bool, error) {
	ids := make([]int, partitions)
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for p := range partitions {
		ids[p] = p
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	ends, err := client.ListOffsets(ctx, req)
	if err != nil {
		return false, fmt.Errorf("listing end offsets: %w", err)
	}
	end := map[int]int64{}
	for _, po := range ends.Topics[topic] {
		if po.Error != nil {
			return false, fmt.Errorf("end offset of %s/%d: %w", topic, po.Partition, po.Error)
		}
		end[po.Partition] = po.LastOffset
	}
	resp, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return false, fmt.Errorf("fetching the committed offsets of %s: %w", group, err)
	}
	if resp.Error != nil {
		return false, fmt.Errorf("fetching the committed offsets of %s: %w", group, resp.Error)
	}
	got := resp.Topics[topic]
	if len(got) != partitions {
		return false, nil
	}
	for _, po := range got {
		if po.Error != nil {
			return false, fmt.Errorf("committed offset of %s/%d: %w", topic, po.Partition, po.Error)
		}
		if po.CommittedOffset < end[po.Partition] {
			return false, nil
		}
	}
	return true, nil
}
