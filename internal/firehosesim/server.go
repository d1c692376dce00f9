package firehosesim

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Server. The zero value is a server that knows no
// streams and discards what it would accept.
type Options struct {
	// Streams exist from the start.
	Streams []string
	// AutoCreate makes any valid stream name exist on first use, as if it had
	// been created just before. Without it, an unknown name gets
	// ResourceNotFoundException.
	AutoCreate bool
	// Sink receives accepted records; nil discards them.
	Sink Sink
	// Faults to inject; nil gives the Server its own empty Faults, reachable
	// through Server.Faults. Faults can be changed while the Server runs.
	Faults *Faults
	// Observer, if set, sees every finished data-plane call, before its
	// answer is written. It runs on the request goroutine and must be safe
	// for concurrent use and quick.
	Observer func(CallInfo)
	// Clock tells the time for quotas and stream timestamps; default time.Now.
	Clock func() time.Time
	// Region and AccountID go into stream ARNs and error messages; defaults
	// us-east-1 and 000000000000.
	Region, AccountID string
	// MaxBodyBytes bounds a request body; a larger one is refused with
	// SerializationException and the connection is closed. Default 32 MiB,
	// far above the ~5.6 MB a maximal PutRecordBatch takes on the wire.
	MaxBodyBytes int64
}

// Server is a simulated Firehose endpoint. It implements http.Handler for
// POST / with the awsJson1_1 protocol: PutRecordBatch, PutRecord,
// DescribeDeliveryStream, ListDeliveryStreams and a minimal
// CreateDeliveryStream. It is safe for concurrent use.
type Server struct {
	sink     Sink
	faults   *Faults
	observer func(CallInfo)
	clock    func() time.Time
	region   string
	account  string
	maxBody  int64
	auto     bool
	idPrefix string // makes RecordIds of different Servers differ
	seq      atomic.Uint64
	states   sync.Pool // *callState
	stats    statsRecorder

	mu      sync.RWMutex
	streams map[string]*stream
}

// stream is a delivery stream that exists.
type stream struct {
	name    string
	arn     string
	created time.Time
}

// New returns a Server configured by opts.
func New(opts Options) *Server {
	s := &Server{
		sink:     opts.Sink,
		faults:   opts.Faults,
		observer: opts.Observer,
		clock:    opts.Clock,
		region:   cmp.Or(opts.Region, defaultRegion),
		account:  cmp.Or(opts.AccountID, defaultAccountID),
		maxBody:  opts.MaxBodyBytes,
		auto:     opts.AutoCreate,
		streams:  make(map[string]*stream),
		idPrefix: randomHex(4),
	}
	if s.faults == nil {
		s.faults = NewFaults(1)
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = defaultMaxBodyBytes
	}
	s.states.New = func() any { return new(callState) }
	now := s.clock()
	for _, name := range opts.Streams {
		s.streams[name] = s.newStream(name, now)
	}
	return s
}

// Faults returns the faults this Server injects; change them at any time.
func (s *Server) Faults() *Faults { return s.faults }

// Stats returns a snapshot of the data-plane calls so far.
func (s *Server) Stats() Stats { return s.stats.snapshot() }

// CreateStream makes a stream exist; it reports false if it already did.
func (s *Server) CreateStream(name string) bool {
	_, created := s.create(name)
	return created
}

// create returns the stream called name and whether this call created it.
func (s *Server) create(name string) (*stream, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.streams[name]; ok {
		return st, false
	}
	st := s.newStream(name, s.clock())
	s.streams[name] = st
	return st, true
}

// DeleteStream makes a stream stop existing; later calls naming it get
// ResourceNotFoundException unless AutoCreate brings it back.
func (s *Server) DeleteStream(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, name)
}

func (s *Server) newStream(name string, now time.Time) *stream {
	return &stream{
		name:    name,
		arn:     fmt.Sprintf("arn:aws:firehose:%s:%s:deliverystream/%s", s.region, s.account, name),
		created: now,
	}
}

// lookup finds a stream by name without allocating for the common case,
// creating it when AutoCreate is on.
func (s *Server) lookup(name []byte) (*stream, bool) {
	s.mu.RLock()
	st, ok := s.streams[string(name)]
	s.mu.RUnlock()
	if ok || !s.auto {
		return st, ok
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok = s.streams[string(name)]; !ok {
		st = s.newStream(string(name), s.clock())
		s.streams[st.name] = st
	}
	return st, true
}

func (s *Server) notFound(name string) *apiError {
	return newAPIError(CodeResourceNotFound,
		fmt.Sprintf("Firehose %s under account %s not found.", name, s.account))
}

// callState holds the buffers one call needs; states are pooled so a steady
// stream of calls allocates no new buffers.
type callState struct {
	body    bytes.Buffer
	dec     putDecoder
	fail    []recordFailure
	landed  [][]byte
	out     []byte
	scratch []byte
}

// maxPooledBytes keeps the pool from pinning the buffers of one huge call.
const maxPooledBytes = 16 << 20

func (s *Server) getState() *callState { return s.states.Get().(*callState) }

func (s *Server) putState(st *callState) {
	if st.body.Cap() > maxPooledBytes || cap(st.dec.data) > maxPooledBytes {
		return
	}
	st.body.Reset()
	clear(st.landed) // do not keep record slices reachable
	st.landed = st.landed[:0]
	clear(st.dec.records)
	s.states.Put(st)
}

// ServeHTTP answers one awsJson1_1 request. It always reads the whole body
// before answering: a server that answers early and closes makes clients that
// are still sending see a reset connection after a 200, which would look like
// a transport failure in tests that expect none.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := s.getState()
	defer s.putState(st)

	requestID := s.requestID(st)
	if r.Method != http.MethodPost {
		_, _ = io.Copy(io.Discard, r.Body)
		writeAPIError(w, newAPIError(CodeUnknownOperation, "only POST / is supported"), requestID)
		return
	}
	if n := r.ContentLength; n > 0 && n <= s.maxBody {
		st.body.Grow(int(n))
	}
	op, ok := strings.CutPrefix(r.Header.Get(headerTarget), targetPrefix)
	if _, err := st.body.ReadFrom(http.MaxBytesReader(w, r.Body, s.maxBody)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeAPIError(w, serializationError("request body larger than "+strconv.FormatInt(s.maxBody, 10)+" bytes"), requestID)
			return
		}
		// The client went away mid-body: nobody to answer, but a data call
		// still counts, as canceled.
		if op == "PutRecordBatch" || op == "PutRecord" {
			s.finish(&CallInfo{Operation: op, Outcome: OutcomeCanceled}, false, 0)
		}
		return
	}

	if !ok {
		writeAPIError(w, newAPIError(CodeUnknownOperation, "unknown X-Amz-Target"), requestID)
		return
	}
	switch op {
	case "PutRecordBatch":
		s.put(w, r, st, requestID, true)
	case "PutRecord":
		s.put(w, r, st, requestID, false)
	case "DescribeDeliveryStream", "ListDeliveryStreams", "CreateDeliveryStream":
		s.control(w, op, st.body.Bytes(), requestID)
	default:
		writeAPIError(w, newAPIError(CodeUnknownOperation, "operation "+op+" is not simulated"), requestID)
	}
}

// requestID makes the x-amzn-RequestId of one call.
func (s *Server) requestID(st *callState) string {
	st.scratch = append(st.scratch[:0], s.idPrefix...)
	st.scratch = append(st.scratch, '-')
	st.scratch = strconv.AppendUint(st.scratch, s.seq.Add(1), 10)
	return string(st.scratch)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail (Go 1.24+)
	return hex.EncodeToString(b)
}
