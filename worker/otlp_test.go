package main

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/firehose-worker/firehose-worker/internal/itest"
)

// receiver is an OTLP collector endpoint: the real protobuf messages over
// gRPC or HTTP. It keeps what arrives, by name, with the resource each came
// with.
type receiver struct {
	colmetrics.UnimplementedMetricsServiceServer
	coltrace.UnimplementedTraceServiceServer

	mu        sync.Mutex
	metrics   map[string]bool
	spans     map[string]bool
	resources []map[string]string
	changed   chan struct{}
}

func newReceiver() *receiver {
	return &receiver{metrics: map[string]bool{}, spans: map[string]bool{}, changed: make(chan struct{})}
}

func attrs(r *resourcepb.Resource) map[string]string {
	out := map[string]string{}
	for _, kv := range r.GetAttributes() {
		out[kv.GetKey()] = anyString(kv.GetValue())
	}
	return out
}

func anyString(v *commonpb.AnyValue) string {
	if s, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return s.StringValue
	}
	return v.String()
}

func (r *receiver) Export(_ context.Context, req *colmetrics.ExportMetricsServiceRequest) (*colmetrics.ExportMetricsServiceResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		r.resources = append(r.resources, attrs(rm.GetResource()))
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				r.metrics[m.GetName()] = true
			}
		}
	}
	r.notify()
	return &colmetrics.ExportMetricsServiceResponse{}, nil
}

// traces adapts the trace service, whose method is also named Export.
type traces struct {
	coltrace.UnimplementedTraceServiceServer
	r *receiver
}

func (t traces) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	r := t.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		r.resources = append(r.resources, attrs(rs.GetResource()))
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans[s.GetName()] = true
			}
		}
	}
	r.notify()
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (r *receiver) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// serveGRPC serves the receiver over gRPC and returns its endpoint URL.
func (r *receiver) serveGRPC(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	colmetrics.RegisterMetricsServiceServer(s, r)
	coltrace.RegisterTraceServiceServer(s, traces{r: r})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(s.Stop)
	return "http://" + ln.Addr().String()
}

// serveHTTP serves the receiver as OTLP/HTTP with protobuf bodies.
func (r *receiver) serveHTTP(t *testing.T) string {
	mux := http.NewServeMux()
	handle := func(path string, req, resp proto.Message, export func() error) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, hr *http.Request) {
			if ct := hr.Header.Get("Content-Type"); ct != "application/x-protobuf" {
				http.Error(w, "Content-Type "+ct, http.StatusUnsupportedMediaType)
				return
			}
			var body io.Reader = hr.Body
			if hr.Header.Get("Content-Encoding") == "gzip" {
				zr, err := gzip.NewReader(hr.Body)
				if err != nil {
					http.Error(w, err.Error(), http.StatusBadRequest)
					return
				}
				body = zr
			}
			b, err := io.ReadAll(body)
			if err == nil {
				err = proto.Unmarshal(b, req)
			}
			if err == nil {
				err = export()
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			out, _ := proto.Marshal(resp)
			w.Header().Set("Content-Type", "application/x-protobuf")
			_, _ = w.Write(out)
		})
	}
	var mreq colmetrics.ExportMetricsServiceRequest
	var treq coltrace.ExportTraceServiceRequest
	var mu sync.Mutex // one request message per path, reused
	handle("/v1/metrics", &mreq, &colmetrics.ExportMetricsServiceResponse{}, func() error {
		mu.Lock()
		defer mu.Unlock()
		_, err := r.Export(context.Background(), &mreq)
		return err
	})
	handle("/v1/traces", &treq, &coltrace.ExportTraceServiceResponse{}, func() error {
		mu.Lock()
		defer mu.Unlock()
		_, err := traces{r: r}.Export(context.Background(), &treq)
		return err
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// await waits until cond holds, re-checking on each export, or fails.
func (r *receiver) await(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("timed out after %s waiting for %s; metrics %v, spans %v", timeout, what, keys(r.metrics), keys(r.spans))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestOTLPExport runs the worker against an OTLP receiver over each
// transport and checks that its documented metrics and spans arrive with
// the resource attributes service.name, service.version and host.name.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	out, err := exec.Command(binary, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(strings.TrimPrefix(string(out), "firehose-worker "))
	host, _ := os.Hostname()
	for _, proto := range []string{"grpc", "http/protobuf"} {
		t.Run(strings.ReplaceAll(proto, "/", "_"), func(t *testing.T) {
			t.Parallel()
			r := newReceiver()
			endpoint := r.serveHTTP(t)
			if proto == "grpc" {
				endpoint = r.serveGRPC(t)
			}
			k := itest.StartKafka(t, 2, "events")
			fh := itest.StartFirehose(t)
			msgs, want := messages(60, "otlp", 2)
			k.Produce(t, "events", msgs)
			cfg := writeConfig(t, k.Brokers, "g-otlp", "events", "")
			startWorker(t, cfg, append(fh.Env(),
				"OTEL_EXPORTER_OTLP_ENDPOINT="+endpoint,
				"OTEL_EXPORTER_OTLP_PROTOCOL="+proto,
				"OTEL_METRIC_EXPORT_INTERVAL=200", // ms
				"OTEL_BSP_SCHEDULE_DELAY=100",     // ms
			))
			fh.Await(t, 60*time.Second, "every record", func() bool { return missing(want, itest.Multiset(fh.Records("everything"))) == 0 })
			metrics := []string{
				"messaging.client.consumed.messages",
				"firehose_worker.messages",
				"firehose_worker.records.delivered",
				"firehose_worker.put.calls",
				"firehose_worker.put.duration",
				"firehose_worker.delivery.latency",
				"firehose_worker.billed.units",
				"firehose_worker.commits",
				"firehose_worker.committed.offset",
				"firehose_worker.partition.pending_age",
				"firehose_worker.partition.since_finish",
				"firehose_worker.stream.pending_age",
				"firehose_worker.stream.since_finish",
			}
			spans := []string{"PutRecordBatch everything", "PutRecordBatch orders", "commit offsets"}
			r.await(t, 60*time.Second, "the documented metrics and spans", func() bool {
				for _, m := range metrics {
					if !r.metrics[m] {
						return false
					}
				}
				for _, s := range spans {
					if !r.spans[s] {
						return false
					}
				}
				return true
			})
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, res := range r.resources {
				if res["service.name"] != "firehose-worker" || res["service.version"] != version || res["host.name"] != host {
					t.Errorf("resource %v, want service.name firehose-worker, service.version %q, host.name %q", res, version, host)
					break
				}
			}
		})
	}
}
