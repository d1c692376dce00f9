package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"golang.org/x/sync/errgroup"
)

// Provider owns the meter provider and its Prometheus registry. Nothing here
// touches OpenTelemetry's globals: the provider is passed to whoever records.
type Provider struct {
	MeterProvider *sdkmetric.MeterProvider
	Registry      *prometheus.Registry
	Metrics       *Metrics
}

// NewProvider builds a meter provider that exports to a private Prometheus
// registry, and also over OTLP when the standard OTEL_EXPORTER_OTLP_*
// variables ask for it, and the worker's instruments on it.
func NewProvider(ctx context.Context, version string) (*Provider, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("creating the Prometheus exporter: %w", err)
	}
	opts := []sdkmetric.Option{sdkmetric.WithReader(exp), sdkmetric.WithResource(workerResource(version))}
	otlp, err := otlpMetricReader(ctx)
	if err != nil {
		return nil, err
	}
	if otlp != nil {
		opts = append(opts, sdkmetric.WithReader(otlp))
	}
	mp := sdkmetric.NewMeterProvider(opts...)
	m, err := NewMetrics(mp.Meter("github.com/firehose-worker/firehose-worker"))
	if err != nil {
		return nil, fmt.Errorf("creating instruments: %w", err)
	}
	return &Provider{MeterProvider: mp, Registry: reg, Metrics: m}, nil
}

// Shutdown flushes and stops the provider.
func (p *Provider) Shutdown(ctx context.Context) error { return p.MeterProvider.Shutdown(ctx) }

// Server serves /metrics, /healthz, /readyz and, when enabled, /debug/pprof.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	serve   errgroup.Group
	stopped chan struct{} // closed when Serve has returned
}

// Serve starts listening on addr. It returns once the listener is bound, so
// the address is known; Close stops it.
func Serve(addr string, p *Provider, h *Health, enablePprof bool) (*Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(p.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := h.Alive()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = w.Write([]byte(why + "\n"))
	})
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
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln, stopped: make(chan struct{})}
	// Serve returns only when the listener fails or Close shuts it down;
	// Close reports the first.
	s.serve.Go(func() error {
		defer close(s.stopped)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serving metrics and health on %s: %w", ln.Addr(), err)
		}
		return nil
	})
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, waiting for requests in progress until ctx ends.
// Its error includes the listener's, if that failed while serving.
func (s *Server) Close(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("stopping the metrics and health server: %w", err)
		_ = s.srv.Close() // Serve returns at once
	}
	return errors.Join(err, s.serve.Wait())
}
