//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/firehose-worker/firehose-worker/internal/firehosesim"
)

// simFirehose is an in-process Firehose endpoint (firehosesim, the real
// JSON 1.1 wire protocol over HTTP) for the tests whose rate or faults moto
// cannot serve: every accepted PutRecordBatch becomes one "object" of a
// delivery, as moto's S3 objects do, and streams can be made slow.
type simFirehose struct {
	srv *firehosesim.Server
	url string

	mu    sync.Mutex
	calls []simCall                // accepted, not yet pulled into the delivery
	slow  map[string]time.Duration // stream -> delay before its calls are served
	n     int
	// accepted counts every accepted record by stream, pulled or not.
	accepted map[string]int64
}

type simCall struct {
	stream string
	body   []byte
}

// startSim starts the endpoint for streams and returns it with the delivery
// its accepted calls feed.
func (e *env) startSim(streams ...string) (*simFirehose, *delivery) {
	e.t.Helper()
	s := &simFirehose{slow: map[string]time.Duration{}, accepted: map[string]int64{}}
	s.srv = firehosesim.New(firehosesim.Options{Streams: streams, Region: region, AccountID: account,
		Sink: firehosesim.SinkFunc(func(_ context.Context, stream string, recs [][]byte) error {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.calls = append(s.calls, simCall{stream: stream, body: bytes.Join(recs, nil)})
			s.accepted[stream] += int64(len(recs))
			return nil
		})})
	hs := httptest.NewServer(http.HandlerFunc(s.serve))
	e.t.Cleanup(hs.Close)
	s.url = hs.URL
	d := e.delivery(streams...)
	d.pull = func() {
		s.mu.Lock()
		calls := s.calls
		s.calls = nil
		s.mu.Unlock()
		for _, c := range calls {
			s.n++
			d.objects[c.stream]++
			d.add(c.stream, fmt.Sprintf("%s/sim-%d", c.stream, s.n), c.body)
		}
	}
	return s, d
}

// setSlow makes every call for stream wait delay before it is served; 0
// makes it fast again. A caller that gives up meanwhile (a killed worker)
// delivers nothing.
func (s *simFirehose) setSlow(stream string, delay time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slow[stream] = delay
}

func (s *simFirehose) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var head struct{ DeliveryStreamName string }
	_ = json.Unmarshal(body, &head) // records are base64 strings: cheap enough
	s.mu.Lock()
	delay := s.slow[head.DeliveryStreamName]
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.srv.ServeHTTP(w, r)
}

// acceptedRecords is how many records stream has accepted so far.
func (s *simFirehose) acceptedRecords(stream string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted[stream]
}

// workerEnv is the workers' environment with Firehose pointed here.
func (s *simFirehose) workerEnv() []string {
	return append(workerEnv(), "AWS_ENDPOINT_URL_FIREHOSE="+s.url)
}
