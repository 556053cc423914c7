package main

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/handlers"
	"github.com/wrpc-kv/gateway/routing"
)

// startRouter makes the routing table: the routes file when given, else the one provider of
// --prefix and --header. Each target's client refuses an answer larger than what the gateway
// could send for it (a value over the target's value limit, a batch/get over its batch
// limit), and reports to the metrics and traces.
func startRouter(ctx context.Context, cfg config, nc *nats.Conn, log *slog.Logger, obs *observability) (*routing.Router, error) {
	embedded := ""
	if cfg.provider != "none" {
		embedded = cfg.prefix
	}
	batchBody := handlers.DefaultBatchBodyBytes(cfg.maxValueBytes)
	router, err := routing.New(routing.Options{
		Conn:   nc,
		File:   cfg.routes,
		Single: routing.Single(cfg.prefix, cfg.headers, cfg.timeout),
		Defaults: routing.Defaults{EmbeddedPrefix: embedded, Timeout: cfg.timeout,
			Limits: routing.Limits{MaxValueBytes: cfg.maxValueBytes, MaxBatchItems: cfg.maxBatchItems, MaxBatchBodyBytes: batchBody}},
		ClientOptions: func(t routing.TargetConfig) []client.Option {
			value, body := cfg.maxValueBytes, batchBody
			if t.Limits.MaxValueBytes > 0 {
				value = t.Limits.MaxValueBytes
			}
			if t.Limits.MaxBatchBodyBytes > 0 {
				body = t.Limits.MaxBatchBodyBytes
			}
			opts := []client.Option{client.WithMaxValueBytes(int(value)),
				client.WithMaxResultBytes(int(handlers.DefaultBatchResultBytes(body))),
				client.WithObserver(obs.metrics.Client(t.Name))}
			if obs.tracer != nil {
				opts = append(opts, client.WithTracerProvider(obs.tracer))
			}
			return opts
		},
		OnFallback:  obs.metrics.Fallback,
		ReadyBucket: cfg.readyBucket,
		Logger:      log,
	})
	if err != nil {
		return nil, err
	}
	obs.metrics.InboxRotations(router.InboxRotations)
	go router.Watch(ctx, reloadInterval)
	go router.WatchReadiness(ctx, routing.ReadyInterval)
	if cfg.routes != "" {
		c := router.Config()
		log.Info("routes loaded", "file", cfg.routes, "targets", len(c.Targets), "routes", len(c.Routes))
	}
	return router, nil
}

// routedBuckets tells the handlers what the routing table says of each bucket.
type routedBuckets struct{ r *routing.Router }

func (b routedBuckets) Limits(bucket string) (handlers.Limits, bool) {
	res, ok := b.r.Resolve(bucket)
	if !ok {
		return handlers.Limits{}, false
	}
	l := res.Target.Config().Limits
	return handlers.Limits{MaxValueBytes: l.MaxValueBytes, MaxBatchItems: l.MaxBatchItems, MaxBatchBodyBytes: l.MaxBatchBodyBytes}, true
}

func (b routedBuckets) Describe(ctx context.Context, bucket string) (handlers.BucketInfo, bool) {
	res, ok := b.r.Resolve(bucket)
	if !ok {
		return handlers.BucketInfo{}, false
	}
	info := handlers.BucketInfo{Target: res.Target.Name(), ProviderBucket: res.ProviderBucket,
		Interfaces: res.Target.Interfaces(ctx)}
	info.Route.Index, info.Route.Pattern = res.Route.Index, res.Route.Pattern
	return info, true
}

func (b routedBuckets) Routes() any { return b.r.Describe() }

func (b routedBuckets) Version() uint64 { return b.r.Version() }
