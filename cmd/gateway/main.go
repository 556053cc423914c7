// Command gateway serves an HTTP/JSON API over key-value stores reached through wRPC
// (wrpc:keyvalue@0.2.0-draft) on NATS. With no flags it runs everything it needs in one
// process: a NATS server with JetStream, a provider storing data in ./data, and the HTTP API
// with its browser UI on 127.0.0.1:8080.
//
// "gateway provider" runs the provider alone, for deployments where several gateways and
// providers share a NATS cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wrpc-kv/gateway/handlers"
	"github.com/wrpc-kv/gateway/internal/telemetry"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/jetstream"
	"github.com/wrpc-kv/gateway/provider/memory"
	"github.com/wrpc-kv/gateway/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:]))
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string) int {
	command := "gateway"
	if len(args) > 0 && args[0] == "provider" {
		command, args = "provider", args[1:]
	}
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:], os.Stdout, os.Stderr)
	}
	cfg, err := parseConfig(command, args, os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", command, err)
		return 2
	}
	log := newLogger(cfg)
	if command == "provider" {
		err = runProvider(ctx, cfg, log)
	} else {
		err = runGateway(ctx, cfg, log)
	}
	if err != nil {
		log.Error("exiting", "err", err)
		return 1
	}
	return 0
}

func newLogger(cfg config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	if cfg.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// stack runs the cleanup steps of start-up in reverse order.
type stack []func()

func (s *stack) push(f func()) { *s = append(*s, f) }

// unwind has a pointer receiver so that `defer s.unwind()` sees the steps pushed after it.
func (s *stack) unwind() {
	for i := len(*s) - 1; i >= 0; i-- {
		(*s)[i]()
	}
}

// reloadInterval is how often the gateway looks for changes of the files it reloads (the
// auth file, a JWKS file, the TLS certificate).
const reloadInterval = 2 * time.Second

// observability is what every part of the process reports to.
type observability struct {
	metrics *telemetry.Metrics
	tracer  *sdktrace.TracerProvider // nil: tracing is off
}

// startObservability makes the process's metrics and, when the OTEL_* environment asks for
// it, its tracer provider, and serves the metrics on --metrics-addr when given.
func startObservability(ctx context.Context, cfg config, service string, log *slog.Logger, cleanup *stack) (*observability, error) {
	o := &observability{metrics: telemetry.New()}
	tp, err := telemetry.Tracing(ctx, service)
	if err != nil {
		return nil, err
	}
	if tp != nil {
		o.tracer = tp
		cleanup.push(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				log.Warn("OpenTelemetry shutdown", "err", err)
			}
		})
		log.Info("tracing on", "exporter", os.Getenv("OTEL_TRACES_EXPORTER"), "endpoint",
			firstNonEmpty(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")))
	}
	if cfg.metricsAddr != "" {
		ln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			return nil, fmt.Errorf("--metrics-addr: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", o.metrics.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = srv.Serve(ln) }()
		cleanup.push(func() { _ = srv.Close() })
		log.Info("metrics listening", "url", "http://"+ln.Addr().String()+"/metrics")
	}
	return o, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func runGateway(ctx context.Context, cfg config, log *slog.Logger) error {
	var cleanup stack
	defer cleanup.unwind()
	obs, err := startObservability(ctx, cfg, "wrpc-kv-gateway", log, &cleanup)
	if err != nil {
		return err
	}

	var ns *server.Server
	if cfg.natsURL == "" {
		var err error
		if ns, err = startEmbeddedNATS(cfg, log); err != nil {
			return err
		}
		cleanup.push(func() { ns.Shutdown(); ns.WaitForShutdown(); log.Info("embedded NATS server stopped") })
	}
	if cfg.provider != "none" {
		stop, err := startProvider(cfg, ns, log, obs)
		if err != nil {
			return err
		}
		cleanup.push(stop)
	}

	nc, err := connectNATS(cfg, ns, "gateway", log, obs.metrics)
	if err != nil {
		return err
	}
	cleanup.push(func() { drain(nc, log) })
	router, err := startRouter(ctx, cfg, nc, log, obs)
	if err != nil {
		return err
	}
	cleanup.push(func() { _ = router.Close() })
	obs.metrics.SetBodyBudget(cfg.maxBuffered)
	var metricsHere http.Handler
	if cfg.metricsAddr == "" {
		metricsHere = obs.metrics.Handler()
	}

	authn, certs, err := startAuth(ctx, cfg, log)
	if err != nil {
		return err
	}

	hopts := handlers.Options{
		Auth:              authn,
		Store:             router,
		Buckets:           routedBuckets{router},
		Ready:             router.Ready,
		ReadyVerbose:      func(ctx context.Context) (any, error) { return router.Report(ctx) },
		MaxBatchBodyBytes: handlers.DefaultBatchBodyBytes(cfg.maxValueBytes),
		MaxValueBytes:     cfg.maxValueBytes,
		MaxKeyBytes:       cfg.maxKeyBytes,
		MaxBucketBytes:    cfg.maxBucketLen,
		CORSOrigins:       cfg.corsOrigins,
		MaxBatchItems:     cfg.maxBatchItems,
		MaxBufferedBytes:  cfg.maxBuffered,
		Logger:            log,
		UI:                web.Handler(),
		Observer:          obs.metrics,
		Metrics:           metricsHere,
	}
	if obs.tracer != nil {
		hopts.TracerProvider = obs.tracer
	}
	api, err := handlers.New(hopts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.httpAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	served := make(chan error, 1)
	if certs != nil {
		scheme = "https"
		srv.TLSConfig = certs.tlsConfig()
		go certs.watch(ctx, reloadInterval)
		go func() { served <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	log.Info("gateway listening", "url", scheme+"://"+ln.Addr().String()+"/", "prefix", cfg.prefix,
		"provider", cfg.provider, "nats", natsDescription(cfg, ns), "auth", authDescription(authn))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case err := <-served:
			return err
		case <-hup:
			log.Info("SIGHUP: reloading credentials and routes")
			if authn.Enabled() {
				_ = authn.Reload(ctx)
			}
			_ = router.Reload()
		case <-ctx.Done():
			done = true
		}
	}
	log.Info("shutting down: finishing requests in flight", "timeout", cfg.shutdownWait)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownWait)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("HTTP shutdown", "err", err)
	}
	return nil
}

func natsDescription(cfg config, ns *server.Server) string {
	if ns != nil {
		return "embedded " + ns.ClientURL()
	}
	return cfg.natsURL
}

// startProvider serves the configured backend over wRPC on its own NATS connection and
// returns the function that stops it.
func startProvider(cfg config, ns *server.Server, log *slog.Logger, obs *observability) (func(), error) {
	nc, err := connectNATS(cfg, ns, "provider", log, obs.metrics)
	if err != nil {
		return nil, err
	}
	var store keyvalue.Store
	switch cfg.provider {
	case "memory":
		store = memory.New(memory.CreateBuckets(cfg.createBuckets))
	case "jetstream":
		js, err := natsjs.New(nc)
		if err != nil {
			nc.Close()
			return nil, err
		}
		jopts := []jetstream.Option{jetstream.CreateBuckets(cfg.createBuckets), jetstream.DeleteMarkerTTL(cfg.markerTTL),
			jetstream.Replicas(cfg.replicas), jetstream.Logger(log),
			jetstream.OnBackendError(obs.metrics.BackendError("jetstream"))}
		if obs.tracer != nil {
			jopts = append(jopts, jetstream.WithTracerProvider(obs.tracer))
		}
		if store, err = jetstream.New(js, jopts...); err != nil {
			nc.Close()
			return nil, err
		}
	}
	popts := []provider.Option{provider.WithPrefix(cfg.prefix), provider.WithLogger(log),
		provider.WithMaxParamBytes(int(cfg.maxValueBytes) + 1<<20), provider.WithObserver(obs.metrics.Provider())}
	if len(cfg.interfaces) > 0 {
		var instances []string
		for _, i := range cfg.interfaces {
			instances = append(instances, map[string]string{"store": keyvalue.StoreInstance,
				"atomics": keyvalue.AtomicsInstance, "batch": keyvalue.BatchInstance}[i])
		}
		popts = append(popts, provider.WithInterfaces(instances...))
	}
	if obs.tracer != nil {
		popts = append(popts, provider.WithTracerProvider(obs.tracer))
	}
	p, err := provider.Serve(nc, store, popts...)
	if err != nil {
		nc.Close()
		return nil, err
	}
	log.Info("provider serving", "backend", cfg.provider, "prefix", cfg.prefix)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			log.Warn("provider shutdown", "err", err)
		}
		if c, ok := store.(interface{ Close() }); ok {
			c.Close()
		}
		drain(nc, log)
	}, nil
}

func runProvider(ctx context.Context, cfg config, log *slog.Logger) error {
	if cfg.natsURL == "" {
		cfg.natsURL = nats.DefaultURL
	}
	var cleanup stack
	defer cleanup.unwind()
	obs, err := startObservability(ctx, cfg, "wrpc-kv-provider", log, &cleanup)
	if err != nil {
		return err
	}
	stop, err := startProvider(cfg, nil, log, obs)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down provider")
	stop()
	return nil
}

// drain lets the connection deliver what it has buffered, then closes it.
func drain(nc *nats.Conn, log *slog.Logger) {
	if err := nc.Drain(); err != nil {
		nc.Close()
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for !nc.IsClosed() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !nc.IsClosed() {
		log.Warn("NATS drain timed out; closing")
		nc.Close()
	}
}
