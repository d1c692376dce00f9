package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/firehose-worker/firehose-worker/config"
	"github.com/firehose-worker/firehose-worker/internal/pipeline"
	"github.com/firehose-worker/firehose-worker/internal/telemetry"
)

func cmdRun(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "config.yaml", "path to the YAML configuration")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintf(stderr, "%s is not valid:\n%s\n", *path, indent(err.Error()))
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	if err := runWorker(ctx, cfg, log, nil); err != nil {
		log.Error("worker stopped", "error", err)
		return 1
	}
	return 0
}

// runWorker runs the pipeline with telemetry until ctx ends. ready, when not
// nil, is called with the health listener's address once it is bound.
func runWorker(ctx context.Context, cfg *config.Config, log *slog.Logger, ready func(httpAddr string)) error {
	prov, err := telemetry.NewProvider()
	if err != nil {
		return err
	}
	defer func() { _ = prov.Shutdown(context.Background()) }()
	health := &telemetry.Health{}
	if cfg.HTTP.Address != "" {
		srv, err := telemetry.Serve(cfg.HTTP.Address, prov, health, cfg.HTTP.Pprof)
		if err != nil {
			return err
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Close(sctx)
		}()
		log.Info("serving metrics and health", "address", srv.Addr())
		if ready != nil {
			ready(srv.Addr())
		}
	}
	host, _ := os.Hostname()
	workerID := fmt.Sprintf("%s-%d", host, os.Getpid())
	log.Info("starting firehose-worker", "version", buildVersion(), "worker", workerID, "config", cfg.Summary())
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{
		Logger:   log,
		Metrics:  prov.Metrics,
		WorkerID: workerID,
		Status:   health.SetMembership,
	})
	if err != nil {
		return err
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
