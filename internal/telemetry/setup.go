package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Provider owns the meter provider and its Prometheus registry. Nothing here
// touches OpenTelemetry's globals: the provider is passed to whoever records.
type Provider struct {
	MeterProvider *sdkmetric.MeterProvider
	Registry      *prometheus.Registry
	Metrics       *Metrics
}

// NewProvider builds a meter provider that exports to a private Prometheus
// registry, and the worker's instruments on it.
func NewProvider() (*Provider, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("creating the Prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	m, err := NewMetrics(mp.Meter("github.com/firehose-worker/firehose-worker"))
	if err != nil {
		return nil, fmt.Errorf("creating instruments: %w", err)
	}
	return &Provider{MeterProvider: mp, Registry: reg, Metrics: m}, nil
}

// Shutdown flushes and stops the provider.
func (p *Provider) Shutdown(ctx context.Context) error { return p.MeterProvider.Shutdown(ctx) }

// Health tracks what /healthz and /readyz report. It is safe for concurrent
// use.
type Health struct {
	mu     sync.Mutex
	joined bool
	claims []string
}

// SetMembership records whether the worker is in a group generation.
func (h *Health) SetMembership(joined bool, claims []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.joined, h.claims = joined, claims
}

// Ready reports whether the worker has joined the group.
func (h *Health) Ready() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.joined {
		return false, "not in a consumer group generation"
	}
	return true, fmt.Sprintf("joined, %d partitions", len(h.claims))
}

// Server serves /metrics, /healthz, /readyz and, when enabled, /debug/pprof.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Serve starts listening on addr. It returns once the listener is bound, so
// the address is known; Close stops it.
func Serve(addr string, p *Provider, h *Health, enablePprof bool) (*Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := h.Ready()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(why + "\n"))
	})
	if enablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s for metrics and health: %w", addr, err)
	}
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is gone; health checks will tell
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server.
func (s *Server) Close(ctx context.Context) error { return s.srv.Shutdown(ctx) }
