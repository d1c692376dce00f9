package consume

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol/fetch"

	"github.com/firehose-worker/firehose-worker/internal/kafkawire"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

// How partitions are read.
//
// One fetch loop per broker asks, in one Fetch request, for every claimed
// partition that broker leads, as librdkafka and franz-go do. A partition
// costs a few bytes in that request, not a connection and a goroutine
// polling the broker of its own: an idle worker on many partitions sends one
// long poll per broker and fetch_max_wait. Each claimed partition has a
// worker goroutine that hands its messages to the Handler; the fetch loop
// decodes a response and passes each partition's part of it to that
// partition's worker, so a partition whose Handler waits (its source's
// memory share is full) only drops out of the next requests, and the other
// partitions keep moving.
const (
	// partitionMaxBytes caps one partition's share of a response (the Java
	// consumer's max.partition.fetch.bytes), so a deep backlog on one
	// partition does not crowd the others out of the response. Kafka still
	// returns a first batch larger than this whole.
	partitionMaxBytes = 1 << 20
	// depth is how many responses' worth of messages a partition may hold
	// unhandled: one being handled, one waiting, so its worker need not wait
	// for a round trip between the two.
	depth = 2
	// backlogWait is the longest wait of a fetch that leaves out a partition
	// with a known backlog (its worker is busy): that partition's next
	// messages wait for this fetch to return, so it must not long-poll.
	backlogWait = 10 * time.Millisecond
	// minResponseBytes is the smallest MaxBytes asked for; Kafka returns a
	// first batch larger than MaxBytes whole anyway.
	minResponseBytes = 256 << 10
	// maxResponseBytes is the largest MaxBytes asked for: a response is
	// read whole into one buffer before it is decoded, and its messages
	// are then copied out, so a response costs its size twice for a
	// moment, and the buffers kept for responses (bodyPool) are live heap
	// a worker whose memory share is full cannot spare. Asking for up to
	// the whole read-ahead budget (10 MiB, the default then) held the heap at the
	// soft memory limit of such a worker (a stream at its quota) and the
	// collector ran without pause: 68 CPU-s per million events against 19.
	// Responses of 1 MiB, at least a thousand messages of a typical size,
	// fill the read-ahead budget as well in a few round trips.
	maxResponseBytes = 1 << 20
	// responseSlack is room in a response buffer for what a response
	// holds besides its records (topic and partition headers), so that a
	// response of maxResponseBytes of records fits a pooled buffer.
	responseSlack = 64 << 10
	// retryMin and retryMax bound the backoff after a failed fetch or
	// leader look-up.
	retryMin = 100 * time.Millisecond
	retryMax = 2 * time.Second
)

// partitionKey names a partition in the session's look-ups; a response
// names each of its partitions this way, so no string is built per
// partition per response.
type partitionKey struct {
	topic     string
	partition int
}

// part is one claimed partition being read.
type part struct {
	cl *Claim
	// next is the offset to fetch. It belongs to the goroutine that holds
	// the part: the supervisor or one broker loop. The high watermark the
	// last response gave is cl.hwm.
	next int64
	// retryAt holds the part out of requests after a partition error.
	retryAt time.Time
	// attempts counts leader look-ups that failed in a row, for backoff.
	attempts int

	// free holds the buffers the fetch loop may fill (depth at most); in
	// the ones it fills go to the worker, which puts them back in free.
	free chan *fetched
	in   chan *fetched
	// loop is the broker loop that holds the part, poked when the worker
	// frees a buffer; nil while the supervisor holds it.
	loop atomic.Pointer[brokerLoop]
	// ahead is the read-ahead budget the part shares with the other
	// partitions of its topic.
	ahead *readAhead
}

// readAhead bounds the bytes of fetched messages one topic's partitions
// hold before their workers have handled them. The session's budget
// (fetch_max_bytes) is split among its topics rather than shared: a
// source whose deliveries are refused holds its workers, and with them
// its fetched messages, and shared, those of a few such partitions used
// up the budget of every other source, which then stopped too.
type readAhead struct {
	limit  int64
	queued atomic.Int64
	// loops are the fetch loops that have held parts of this topic, each
	// woken when the budget frees: a loop whose parts were all held out
	// for want of budget waits to be woken, and the budget may be freed by
	// the partitions of another loop (another broker). Written only by the
	// session's supervisor, which places parts (see watch), and read at
	// every freed buffer, so each write replaces the list.
	loops atomic.Pointer[[]*brokerLoop]
}

// room is what the budget leaves.
func (r *readAhead) room() int64 { return r.limit - r.queued.Load() }

// watch adds l to the loops woken when the budget frees. Only the
// supervisor calls it (brokerLoop.add).
func (r *readAhead) watch(l *brokerLoop) {
	var ls []*brokerLoop
	if old := r.loops.Load(); old != nil {
		if slices.Contains(*old, l) {
			return
		}
		ls = slices.Clone(*old)
	}
	ls = append(ls, l)
	r.loops.Store(&ls)
}

// release returns n bytes to the budget and wakes its loops.
func (r *readAhead) release(n int64) {
	r.queued.Add(-n)
	if ls := r.loops.Load(); ls != nil {
		for _, l := range *ls {
			l.poke()
		}
	}
}

// session reads the claims of one generation. Its goroutines are the
// supervisor, one fetch loop per leader broker, and one worker per part.
type session struct {
	c       *Consumer
	parts   []*part
	byKey   map[partitionKey]*part
	orphans chan *part // parts whose leader must be looked up again
	loops   sync.WaitGroup
	client  *kafka.Client
	brokers net.Addr
	// msgs recycles the message slices of fetched buffers. Shared by the
	// session's partitions rather than kept per partition, the slices
	// retained are bounded by what is in flight (the read-ahead budget),
	// not by the partition count times each one's deepest response.
	msgs sync.Pool
	// slabs holds the memory of fetched messages' keys and values (see
	// arena), shared the same way.
	slabs sync.Pool
	// bodies recycles fetch response buffers among the broker loops.
	bodies   *bodyPool
	consumed map[string]*telemetry.Tally
}

// fetchTransport returns the transport the session's other requests
// travel on (leader and offset look-ups, commits), secured as the group's
// connections are. Fetches have connections of their own (see
// brokerLoop.fetch): a long poll holds one.
func (c *Consumer) fetchTransport() *kafka.Transport {
	d := c.opts.Dialer
	if d == nil {
		d = kafka.DefaultDialer
	}
	t := &kafka.Transport{
		Dial:        d.DialFunc,
		DialTimeout: d.Timeout,
		ClientID:    d.ClientID,
		TLS:         d.TLS,
		// Leaders are looked up in the transport's metadata cache, so a
		// moved leader is seen within this.
		MetadataTTL:    2 * time.Second,
		MetadataTopics: c.opts.Topics,
	}
	if d.SASLMechanism != nil {
		t.SASL = d.SASLMechanism
	}
	return t
}

// wireOptions says how fetch loops reach brokers: as the group's
// connections do (the dialer's TLS, SASL and client id).
func (c *Consumer) wireOptions() kafkawire.DialOptions {
	d := c.opts.Dialer
	if d == nil {
		d = kafka.DefaultDialer
	}
	o := kafkawire.DialOptions{Timeout: d.Timeout, TLS: d.TLS, SASL: d.SASLMechanism, ClientID: d.ClientID}
	if d.DialFunc != nil {
		o.Dial = d.DialFunc
	} else {
		nd := &net.Dialer{Timeout: d.Timeout, LocalAddr: d.LocalAddr, KeepAlive: d.KeepAlive, FallbackDelay: d.FallbackDelay}
		o.Dial = nd.DialContext
	}
	return o
}

// startFetching reads each claim from its start offset until ctx ends. done
// is told when each claim's worker has drained and stopped.
//
// Every goroutine it starts returns promptly after the generation ends
// (workers after their drain): the group waits for them before it rejoins.
func (c *Consumer) startFetching(gen *kafka.Generation, claims []*Claim, offsets []int64, done *sync.WaitGroup) {
	if len(claims) == 0 {
		return
	}
	s := &session{
		c:        c,
		byKey:    map[partitionKey]*part{},
		orphans:  make(chan *part, len(claims)),
		client:   &kafka.Client{Addr: kafka.TCP(c.opts.Brokers...), Transport: c.transport},
		brokers:  kafka.TCP(c.opts.Brokers...),
		consumed: map[string]*telemetry.Tally{},
		// Responses are decoded by the loops as they arrive, which on this
		// many cores run at once: more buffers would sit idle.
		bodies: newBodyPool(maxResponseBytes+responseSlack, runtime.GOMAXPROCS(0)),
	}
	ahead := map[string]*readAhead{}
	for _, cl := range claims {
		ahead[cl.Topic] = nil
	}
	// Each topic's share is at least one partition's largest response, so
	// that every topic can always fetch: with more topics than fit, the
	// read-ahead may then exceed fetch_max_bytes, by at most that.
	share := max(max(int64(c.opts.FetchMaxBytes), partitionMaxBytes)/int64(len(ahead)), partitionMaxBytes)
	for t := range ahead {
		ahead[t] = &readAhead{limit: share}
	}
	for i, cl := range claims {
		cl.keepsAll = c.opts.KeepsAll != nil && c.opts.KeepsAll(cl.Topic)
		p := &part{cl: cl, next: offsets[i], free: make(chan *fetched, depth), in: make(chan *fetched, depth), ahead: ahead[cl.Topic]}
		for range depth {
			p.free <- &fetched{}
		}
		s.parts = append(s.parts, p)
		s.byKey[partitionKey{cl.Topic, cl.Partition}] = p
		if s.consumed[cl.Topic] == nil {
			s.consumed[cl.Topic] = c.opts.Metrics.Consumed.Get(telemetry.AttrTopic.String(cl.Topic))
		}
	}
	// Started once the session is built: its maps are read-only from here.
	for _, p := range s.parts {
		done.Add(1)
		gen.Start(func(ctx context.Context) {
			defer done.Done()
			s.work(ctx, p)
		})
	}
	gen.Start(s.supervise)
}

// supervise finds each part's leader and gives the part to that broker's
// fetch loop; parts come back to it when their leader moves or their broker
// cannot be reached. It returns when ctx ends and every loop has.
func (s *session) supervise(ctx context.Context) {
	loops := map[int]*brokerLoop{}
	defer s.loops.Wait()
	waiting := append([]*part(nil), s.parts...)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if len(waiting) > 0 {
			waiting = s.place(ctx, waiting, loops)
		}
		var retry <-chan time.Time
		if len(waiting) > 0 {
			timer.Reset(s.nextAttempt(waiting))
			retry = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case p := <-s.orphans:
			waiting = append(waiting, p)
		case <-retry:
		}
	}
}

// nextAttempt is how long the supervisor waits before looking up the
// leaders of waiting parts again.
func (s *session) nextAttempt(waiting []*part) time.Duration {
	n := 0
	for _, p := range waiting {
		n = max(n, p.attempts)
	}
	return backoffFor(n)
}

func backoffFor(attempts int) time.Duration {
	d := retryMin << min(attempts, 5)
	d = min(d, retryMax)
	// Jitter, so a fleet that lost one broker does not come back in step.
	return d/2 + rand.N(d/2+1)
}

// place resolves the start offsets and leaders of parts and hands each to
// its leader's loop; it returns the parts it could not place yet.
func (s *session) place(ctx context.Context, parts []*part, loops map[int]*brokerLoop) []*part {
	topics := map[string]bool{}
	for _, p := range parts {
		topics[p.cl.Topic] = true
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	meta, err := s.client.Metadata(lctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		if ctx.Err() == nil {
			s.c.log.Warn("looking up partition leaders failed; retrying", "error", err)
		}
		for _, p := range parts {
			p.attempts++
		}
		return parts
	}
	leaders := map[partitionKey]kafka.Broker{}
	for _, t := range meta.Topics {
		for _, p := range t.Partitions {
			if p.Error == nil && p.Leader.Host != "" {
				leaders[partitionKey{t.Name, p.ID}] = p.Leader
			}
		}
	}
	if err := s.resolveOffsets(lctx, parts); err != nil && ctx.Err() == nil {
		s.c.log.Warn("looking up start offsets failed; retrying", "error", err)
	}
	var left []*part
	for _, p := range parts {
		b, ok := leaders[partitionKey{p.cl.Topic, p.cl.Partition}]
		if !ok || p.next < 0 {
			p.attempts++
			left = append(left, p)
			continue
		}
		p.attempts = 0
		l := loops[b.ID]
		if l == nil {
			l = s.newLoop(b)
			loops[b.ID] = l
			s.loops.Add(1)
			go func() {
				defer s.loops.Done()
				l.run(ctx)
			}()
		}
		l.add(p)
	}
	return left
}

// resolveOffsets turns the symbolic start offsets of parts (no committed
// offset yet: kafka.FirstOffset or kafka.LastOffset) into real ones.
func (s *session) resolveOffsets(ctx context.Context, parts []*part) error {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	var asked []*part
	for _, p := range parts {
		if p.next >= 0 {
			continue
		}
		o := kafka.FirstOffsetOf(p.cl.Partition)
		if p.next == kafka.LastOffset {
			o = kafka.LastOffsetOf(p.cl.Partition)
		}
		req.Topics[p.cl.Topic] = append(req.Topics[p.cl.Topic], o)
		asked = append(asked, p)
	}
	if len(asked) == 0 {
		return nil
	}
	resp, err := s.client.ListOffsets(ctx, req)
	if err != nil {
		return err
	}
	found := map[partitionKey]kafka.PartitionOffsets{}
	for topic, ps := range resp.Topics {
		for _, po := range ps {
			if po.Error == nil {
				found[partitionKey{topic, po.Partition}] = po
			}
		}
	}
	for _, p := range asked {
		po, ok := found[partitionKey{p.cl.Topic, p.cl.Partition}]
		if !ok {
			continue
		}
		if p.next == kafka.LastOffset {
			p.next = po.LastOffset
		} else {
			p.next = po.FirstOffset
		}
	}
	return nil
}

// brokerLoop fetches the parts one broker leads.
type brokerLoop struct {
	s      *session
	broker kafka.Broker
	addr   string
	// adds brings parts from the supervisor; wake is poked when a part's
	// worker frees a buffer, so a loop with nothing to ask for can wait.
	adds  chan *part
	wake  chan struct{}
	parts []*part
	// first rotates where each request starts, so the partitions the
	// broker serves first (its response fills in request order) take turns.
	first    int
	failures int
	// conn is the loop's connection to its broker (nil until dialed, and
	// after a failure); resp and rd decode its responses in place.
	conn *kafkawire.Conn
	resp kafkawire.FetchResponse
	rd   kafkawire.Reader
	body []byte // the response being handled, from session.bodies
	// budgets is scratch: the read-ahead budgets of one request's topics.
	budgets []*readAhead
}

func (s *session) newLoop(b kafka.Broker) *brokerLoop {
	return &brokerLoop{
		s: s, broker: b,
		// The broker's advertised host as it is: a name, as in Kubernetes,
		// or an address.
		addr: net.JoinHostPort(b.Host, strconv.Itoa(b.Port)),
		adds: make(chan *part, len(s.parts)),
		wake: make(chan struct{}, 1),
	}
}

func (l *brokerLoop) add(p *part) {
	p.ahead.watch(l)
	p.loop.Store(l)
	l.adds <- p // never blocks: room for every part of the session
	l.poke()
}

func (l *brokerLoop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run fetches until ctx ends.
func (l *brokerLoop) run(ctx context.Context) {
	// SessionEpoch -1 asks for a full fetch outside any fetch session
	// (KIP-227): 0 would open a new session on the broker at every request.
	req := &fetch.Request{ReplicaID: -1, SessionEpoch: -1}
	for ctx.Err() == nil {
		l.takeAdds()
		now := time.Now()
		req.Topics = req.Topics[:0]
		wait, asked := l.s.c.opts.FetchMaxWait, 0
		// The response may hold what the budgets of the topics asked for
		// leave, summed once per topic.
		budget := int64(0)
		l.budgets = l.budgets[:0]
		for i := range l.parts {
			p := l.parts[(l.first+i)%len(l.parts)]
			room := p.ahead.room()
			if len(p.free) == 0 || now.Before(p.retryAt) || room <= 0 {
				if p.cl.hwm.Load() > p.next {
					wait = min(wait, backlogWait)
				}
				continue
			}
			appendPartition(req, p)
			asked++
			if !slices.Contains(l.budgets, p.ahead) {
				l.budgets = append(l.budgets, p.ahead)
				budget += room
			}
		}
		if len(l.parts) > 0 {
			l.first = (l.first + 1) % len(l.parts)
		}
		if asked == 0 {
			l.idle(ctx, now)
			continue
		}
		req.MaxWaitTime = int32(max(wait, time.Millisecond) / time.Millisecond)
		req.MaxBytes = int32(max(min(budget, maxResponseBytes), minResponseBytes))
		// A fetch never waits for more than it may return.
		req.MinBytes = min(int32(max(l.s.c.opts.FetchMinBytes, 1)), req.MaxBytes)
		fctx, cancel := context.WithTimeout(ctx, wait+30*time.Second)
		err := l.fetch(fctx, req)
		cancel()
		if err != nil {
			l.closeConn()
			if ctx.Err() != nil {
				return
			}
			l.failed(ctx, err)
			continue
		}
		l.failures = 0
		l.handle(ctx, &l.resp)
		l.releaseBody()
	}
	l.closeConn()
}

// fetch sends req on the loop's connection, dialing it first if need be,
// and decodes the response into l.resp.
func (l *brokerLoop) fetch(ctx context.Context, req *fetch.Request) error {
	if l.conn == nil {
		conn, err := kafkawire.Dial(ctx, l.addr, l.s.c.wireOptions())
		if err != nil {
			return err
		}
		l.conn = conn
	}
	body, err := l.conn.Fetch(ctx, req, l.s.bodies.get)
	l.body = body
	if err != nil {
		l.releaseBody()
		return err
	}
	if err := l.resp.DecodeFetch(body); err != nil {
		l.releaseBody()
		return fmt.Errorf("decoding a fetch response of %s: %w", l.addr, err)
	}
	return nil
}

func (l *brokerLoop) releaseBody() {
	l.s.bodies.put(l.body)
	l.body = nil
}

// bodyPool keeps a few buffers of one size for fetch responses, shared by
// a session's broker loops, which take one only once a response has begun
// to arrive and give it back when its messages are copied out. It is a
// bounded free list rather than a sync.Pool: a worker whose memory share is
// full runs the collector often, every collection empties a sync.Pool, and
// each response then allocated its buffer again, which brought the next
// collection sooner (a stream at its quota cost 62 CPU-s per million events
// instead of 20). What it retains is at most its capacity in buffers; a
// response larger than the size (a single batch over it, which Kafka sends
// whole) gets a buffer of its own that is not kept.
type bodyPool struct {
	size int
	free chan []byte
}

func newBodyPool(size, keep int) *bodyPool {
	return &bodyPool{size: size, free: make(chan []byte, keep)}
}

func (p *bodyPool) get(n int) []byte {
	if n > p.size {
		return make([]byte, n)
	}
	select {
	case b := <-p.free:
		return b[:n]
	default:
		return make([]byte, n, p.size)
	}
}

func (p *bodyPool) put(b []byte) {
	if cap(b) != p.size {
		return
	}
	select {
	case p.free <- b[:0]:
	default:
	}
}

func (l *brokerLoop) closeConn() {
	if l.conn != nil {
		_ = l.conn.Close()
		l.conn = nil
	}
}

func appendPartition(req *fetch.Request, p *part) {
	rp := fetch.RequestPartition{
		Partition: int32(p.cl.Partition), CurrentLeaderEpoch: -1,
		FetchOffset: p.next, LogStartOffset: -1, PartitionMaxBytes: partitionMaxBytes,
	}
	for i := range req.Topics {
		if req.Topics[i].Topic == p.cl.Topic {
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
			return
		}
	}
	// The loop builds a request per round trip: the topics' partition
	// lists of the last one are reused rather than grown again.
	if n := len(req.Topics); n < cap(req.Topics) {
		req.Topics = req.Topics[:n+1]
		t := &req.Topics[n]
		t.Topic, t.Partitions = p.cl.Topic, append(t.Partitions[:0], rp)
		return
	}
	req.Topics = append(req.Topics, fetch.RequestTopic{Topic: p.cl.Topic, Partitions: []fetch.RequestPartition{rp}})
}

func (l *brokerLoop) takeAdds() {
	for {
		select {
		case p := <-l.adds:
			l.parts = append(l.parts, p)
		default:
			return
		}
	}
}

// idle waits until a part may be fetched again: a worker freed a buffer, a
// part arrived, or a part's retry time came.
func (l *brokerLoop) idle(ctx context.Context, now time.Time) {
	var retry <-chan time.Time
	var soonest time.Time
	for _, p := range l.parts {
		if p.retryAt.After(now) && (soonest.IsZero() || p.retryAt.Before(soonest)) {
			soonest = p.retryAt
		}
	}
	if !soonest.IsZero() {
		t := time.NewTimer(soonest.Sub(now))
		defer t.Stop()
		retry = t.C
	}
	select {
	case <-ctx.Done():
	case <-l.wake:
	case p := <-l.adds:
		l.parts = append(l.parts, p)
	case <-retry:
	}
}

// failed handles a fetch that got no response: the broker may be down or
// no longer lead these partitions. After a few failures in a row the parts
// go back to the supervisor to have their leaders looked up again.
func (l *brokerLoop) failed(ctx context.Context, err error) {
	l.failures++
	l.s.c.log.Warn("fetch failed; retrying", "broker", l.addr, "partitions", len(l.parts), "error", err)
	if l.failures >= 3 {
		l.failures = 0
		l.orphanAll()
		return
	}
	t := time.NewTimer(backoffFor(l.failures))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (l *brokerLoop) orphanAll() {
	for _, p := range l.parts {
		l.orphan(p)
	}
	l.parts = l.parts[:0]
}

func (l *brokerLoop) orphan(p *part) {
	p.loop.Store(nil)
	p.attempts++
	l.s.orphans <- p // never blocks: room for every part of the session
}

func (l *brokerLoop) remove(p *part) {
	for i, x := range l.parts {
		if x == p {
			l.parts = append(l.parts[:i], l.parts[i+1:]...)
			return
		}
	}
}

// handle passes each partition's messages to its worker and deals with the
// partitions' errors. What it passes on is copied out of the response,
// whose buffer the next fetch reuses.
func (l *brokerLoop) handle(ctx context.Context, resp *kafkawire.FetchResponse) {
	if resp.ErrorCode != 0 {
		l.failed(ctx, kafka.Error(resp.ErrorCode))
		return
	}
	// A response names every partition asked for, most of them empty when
	// a few partitions fill it: what each costs must stay small.
	now := time.Now().UnixNano()
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		topic := string(t.Name)
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			p := l.s.byKey[partitionKey{topic, int(rp.Partition)}]
			if p == nil || p.loop.Load() != l {
				continue
			}
			if rp.ErrorCode != 0 {
				l.partitionError(ctx, p, kafka.Error(rp.ErrorCode))
				continue
			}
			p.cl.hwm.Store(rp.HighWatermark)
			p.cl.hwmAt.Store(now)
			if len(rp.Records) > 0 {
				l.deliver(p, rp)
			}
		}
	}
}

// deliver hands p its messages of rp.
func (l *brokerLoop) deliver(p *part, rp *kafkawire.FetchPartition) {
	var f *fetched
	select {
	case f = <-p.free:
	default:
		// Not asked for this time (it had no free buffer); the broker
		// answered anyway. Read it again later.
		return
	}
	if ms, _ := l.s.msgs.Get().(*[]kafka.Message); ms != nil {
		f.msgs = (*ms)[:0]
	}
	f.bytes = 0
	// Messages the Handler keeps are copied once, into memory of their
	// own; copying them into slabs first would copy each twice.
	f.mem.pool = &l.s.slabs
	if p.cl.keepsAll || p.cl.keptMost.Load() {
		f.mem.pool = nil
	}
	if err := decodeRecords(f, &l.rd, p.cl.Topic, p.cl.Partition, rp.HighWatermark, rp.Records, p.next); err != nil {
		l.s.c.log.Warn("decoding fetched records failed; fetching them again", "partition", p.cl.String(), "error", err)
		p.retryAt = time.Now().Add(backoffFor(1))
		l.s.recycle(f)
		p.free <- f
		return
	}
	if f.through == p.next {
		l.s.recycle(f)
		p.free <- f
		return
	}
	p.next = f.through
	p.ahead.queued.Add(f.bytes)
	p.in <- f // never blocks: a part has depth buffers in all
}

// partitionError handles an error the broker gave for one partition.
func (l *brokerLoop) partitionError(ctx context.Context, p *part, err kafka.Error) {
	switch err {
	case kafka.OffsetOutOfRange:
		l.offsetOutOfRange(ctx, p)
	case kafka.NotLeaderForPartition, kafka.LeaderNotAvailable, kafka.UnknownTopicOrPartition,
		kafka.FencedLeaderEpoch, kafka.UnknownLeaderEpoch, kafka.ReplicaNotAvailable, kafka.KafkaStorageError:
		l.s.c.log.Info("partition leader moved or is unavailable; looking it up again", "partition", p.cl.String(), "error", err.Error())
		l.remove(p)
		l.orphan(p)
	default:
		l.s.c.log.Warn("fetching a partition failed; retrying", "partition", p.cl.String(), "error", err.Error())
		p.retryAt = time.Now().Add(backoffFor(2))
	}
}

// offsetOutOfRange moves a part whose offset is no longer (or not yet) in
// the log to where kafka.start_offset says, as a Reader would.
func (l *brokerLoop) offsetOutOfRange(ctx context.Context, p *part) {
	from := p.next
	p.next = l.s.c.opts.StartOffset
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := l.s.resolveOffsets(lctx, []*part{p}); err != nil || p.next < 0 {
		p.next = from
		p.retryAt = time.Now().Add(backoffFor(2))
		if ctx.Err() == nil {
			l.s.c.log.Warn("offset out of range and the log's bounds cannot be read; retrying", "partition", p.cl.String(), "offset", from, "error", err)
		}
		return
	}
	l.s.c.log.Warn("offset out of range: the messages there were deleted or never written; continuing from kafka.start_offset",
		"partition", p.cl.String(), "offset", from, "now", p.next)
}

// recycle puts f's message slice and memory back for any partition's next
// response.
func (s *session) recycle(f *fetched) {
	f.mem.release()
	if f.msgs == nil {
		return
	}
	clear(f.msgs) // drop references to values the pipeline may be done with
	ms := f.msgs[:0]
	s.msgs.Put(&ms)
	f.msgs = nil
}
