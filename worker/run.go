package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/kafkaconn"
	"github.com/firehose-worker/firehose-worker/internal/memlimit"
	"github.com/firehose-worker/firehose-worker/internal/pipeline"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) int {
	cfg, _, code := loadConfig("run", args, stderr)
	if cfg == nil {
		return code
	}
	log := newLogger(cfg.Log, stderr)
	// A process-wide setting, so only the run command makes it; the sandbox
	// shares its process with the broker and endpoint it embeds.
	limit, src := memlimit.Choose(memlimit.OSEnv(), int64(cfg.Memory.SoftLimit), int64(cfg.Memory.MaxBufferedBytes))
	memlimit.Apply(limit, src)
	gc, gcFromEnv := memlimit.GCPercent(memlimit.OSEnv(), cfg.Memory.GCPercent)
	memlimit.ApplyGCPercent(gc, gcFromEnv)
	log.Info("go runtime soft memory limit", "limit", memlimit.String(limit), "from", string(src), "gc_percent", gc, "gc_percent_from_gogc", gcFromEnv)
	if memlimit.Tight(limit, int64(cfg.Memory.MaxBufferedBytes)) {
		log.Warn("the soft memory limit leaves little room above memory.max_buffered_bytes; the garbage collector will run hard. Lower memory.max_buffered_bytes or give the worker more memory",
			"limit", memlimit.String(limit), "from", string(src), "max_buffered_bytes", memlimit.String(int64(cfg.Memory.MaxBufferedBytes)))
	}
	if err := runWorker(ctx, cfg, log, workerHooks{}); err != nil {
		log.Error("worker stopped", "error", err)
		return 1
	}
	return 0
}

// workerHooks let a command that embeds the worker (sandbox) watch it run.
// Nil fields are skipped; each is called at most once, from runWorker's
// goroutine, and must not block.
type workerHooks struct {
	// HTTPReady gets the health listener's address once it is bound.
	HTTPReady func(addr string)
	// Started gets the pipeline once it is built, just before it runs, so
	// its Stats can be read while it runs and after runWorker returns.
	Started func(p *pipeline.Pipeline)
}

// runWorker runs the pipeline with telemetry until ctx ends.
func runWorker(ctx context.Context, cfg *config.Config, log *slog.Logger, hooks workerHooks) error {
	if err := cfg.ResolveSecrets(); err != nil {
		return err
	}
	prov, err := telemetry.NewProvider(ctx, buildVersion())
	if err != nil {
		return err
	}
	defer func() {
		if err := prov.Shutdown(context.Background()); err != nil {
			log.Warn("flushing metrics at exit failed", "error", err)
		}
	}()
	tracing, err := telemetry.NewTracing(ctx, buildVersion())
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(sctx); err != nil {
			log.Warn("flushing traces at exit failed", "error", err)
		}
	}()
	health := telemetry.NewHealth(cfg.HTTP.StuckAfter.D())
	if cfg.HTTP.Address != "" {
		srv, err := telemetry.Serve(cfg.HTTP.Address, prov, health, cfg.HTTP.Pprof)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Close(sctx); err != nil {
				log.Warn("metrics and health server", "error", err)
			}
		}()
		log.Info("serving metrics and health", "address", srv.Addr())
		if hooks.HTTPReady != nil {
			hooks.HTTPReady(srv.Addr())
		}
	}
	host, _ := os.Hostname()
	workerID := fmt.Sprintf("%s-%d", host, os.Getpid())
	log.Info("starting firehose-worker", "version", buildVersion(), "worker", workerID, "config", cfg.Summary())
	kc, err := connectKafka(ctx, cfg, log)
	if err != nil {
		return err
	}
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{
		Logger:    log,
		Dialer:    kc.Dialer,
		Transport: kc.Transport,
		Metrics:   prov.Metrics,
		WorkerID:  workerID,
		Health:    health,
		Tracing:   tracing,
	})
	if err != nil {
		return err
	}
	if hooks.Started != nil {
		hooks.Started(p)
	}
	start := time.Now()
	if err := p.Run(ctx); err != nil {
		return err
	}
	st := p.Stats()
	log.Info("firehose-worker stopped", "uptime", time.Since(start).Round(time.Millisecond),
		"consumed", st.Consumed, "finished", st.Finished, "dropped", st.Dropped)
	return nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// kafkaCheckTimeout bounds the connection check at start.
const kafkaCheckTimeout = 15 * time.Second

// connectKafka builds the dialer and transport from kafka.tls and kafka.sasl
// and tries them once, so that a wrong password or an untrusted certificate
// stops the worker at start with an error naming it, instead of an endless
// loop of retries. Brokers that are merely unreachable only warn: the
// consumer keeps retrying them, as it does after a broker restart.
func connectKafka(ctx context.Context, cfg *config.Config, log *slog.Logger) (*kafkaconn.Conn, error) {
	kc, err := kafkaconn.Build(ctx, cfg.Kafka, log)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, kafkaCheckTimeout)
	defer cancel()
	err = kafkaconn.Check(cctx, cfg.Kafka.Brokers, kc)
	var fatal *kafkaconn.CheckError
	switch {
	case err == nil:
		log.Info("kafka connection checked", "tls", kc.Dialer.TLS != nil, "sasl", kc.Mechanism)
	case errors.As(err, &fatal):
		return nil, err
	case ctx.Err() == nil:
		log.Warn("kafka: no broker answered at start; the consumer keeps retrying", "error", err)
	}
	return kc, nil
}
