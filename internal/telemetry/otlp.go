package telemetry

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// otlpWanted reports whether the standard OTLP variables ask for a signal.
// The exporters read every other OTEL_EXPORTER_OTLP_* variable themselves.
func otlpWanted(signal string) bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// OTLP transports, as OTEL_EXPORTER_OTLP_PROTOCOL names them.
const (
	protoGRPC = "grpc"
	protoHTTP = "http/protobuf"
)

// otlpProtocol is the transport for signal: OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL,
// else OTEL_EXPORTER_OTLP_PROTOCOL, else HTTP with protobuf, the
// specification's default. http/json has no Go exporter.
func otlpProtocol(signal string) (string, error) {
	key := "OTEL_EXPORTER_OTLP_" + signal + "_PROTOCOL"
	p := os.Getenv(key)
	if p == "" {
		key = "OTEL_EXPORTER_OTLP_PROTOCOL"
		p = os.Getenv(key)
	}
	switch p {
	case "", protoHTTP:
		return protoHTTP, nil
	case protoGRPC:
		return protoGRPC, nil
	}
	return "", fmt.Errorf("%s=%q: the worker exports OTLP over %q or %q", key, p, protoGRPC, protoHTTP)
}

// workerResource describes the process: service.name, service.version,
// host.name, the SDK, and whatever OTEL_RESOURCE_ATTRIBUTES adds.
func workerResource(version string) *resource.Resource {
	r, err := resource.New(context.Background(),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv(),
		resource.WithAttributes(semconv.ServiceName("firehose-worker"), semconv.ServiceVersion(version)))
	if err != nil && r == nil {
		return resource.Default()
	}
	return r // on a partial failure (a detector), what was detected
}

// otlpMetricReader returns a periodic OTLP reader when OTLP metrics are asked
// for, else nil.
func otlpMetricReader(ctx context.Context) (sdkmetric.Reader, error) {
	if !otlpWanted("METRICS") {
		return nil, nil
	}
	proto, err := otlpProtocol("METRICS")
	if err != nil {
		return nil, err
	}
	var exp sdkmetric.Exporter
	if proto == protoGRPC {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP metric exporter: %w", err)
	}
	return sdkmetric.NewPeriodicReader(exp), nil
}

// Tracing holds the tracer provider: OTLP (gRPC or HTTP) when the standard
// variables ask for it, otherwise a no-op that costs nothing.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	// Off is set when no exporter is configured, so callers skip the
	// per-batch and per-message work of spans nobody receives.
	Off      bool
	shutdown func(context.Context) error
}

// NewTracing builds the tracer provider from the environment.
func NewTracing(ctx context.Context, version string) (*Tracing, error) {
	t := &Tracing{Propagator: propagation.TraceContext{}, Provider: noop.NewTracerProvider(), Off: true, shutdown: func(context.Context) error { return nil }}
	if !otlpWanted("TRACES") {
		return t, nil
	}
	t.Off = false
	proto, err := otlpProtocol("TRACES")
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if proto == protoGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("creating the OTLP trace exporter: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(workerResource(version)))
	t.Provider, t.shutdown = tp, tp.Shutdown
	return t, nil
}

// Shutdown flushes pending spans.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }
