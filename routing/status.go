package routing

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// TargetStatus is a target's readiness, as /readyz reports it.
type TargetStatus struct {
	Name   string `json:"name"`
	Ready  bool   `json:"ready"`
	Status string `json:"status"` // ok, no-responders, provider-error, timeout, not-connected, ...
	// Message says why it is not ready: the provider's answer, or the failure.
	Message string `json:"message,omitempty"`
	// Routes counts the routes to the target: a target nobody routes to does not make the
	// gateway unready.
	Routes int `json:"routes"`
	// ReadyBucket is the bucket the probe asked about.
	ReadyBucket string `json:"readyBucket"`
}

// Check probes every target at once and returns their states, those with routes first.
func (r *Router) Check(ctx context.Context) []TargetStatus {
	t := r.table.Load()
	routes := map[string]int{}
	for _, rc := range t.cfg.Routes {
		routes[rc.Target]++
	}
	out := make([]TargetStatus, len(t.cfg.Targets))
	var wg sync.WaitGroup
	for i, tc := range t.cfg.Targets {
		tg := t.targets[tc.Name]
		wg.Go(func() {
			err := tg.ready.check(ctx)
			_, status, reason := tg.ready.last()
			out[i] = TargetStatus{Name: tc.Name, Ready: err == nil, Status: status, Message: reason,
				Routes: routes[tc.Name], ReadyBucket: tg.ready.bucket}
		})
	}
	wg.Wait()
	return out
}

// Ready reports whether every target that has routes is ready; the error names each that is
// not, and why.
func (r *Router) Ready(ctx context.Context) error {
	_, err := r.Report(ctx)
	return err
}

// Report is Check, and Ready's verdict on it.
func (r *Router) Report(ctx context.Context) ([]TargetStatus, error) {
	states := r.Check(ctx)
	var bad []string
	for _, s := range states {
		if !s.Ready && s.Routes > 0 {
			bad = append(bad, fmt.Sprintf("target %s: %s", s.Name, s.Message))
		}
	}
	switch {
	case len(bad) == 0:
		return states, nil
	case len(states) == 1:
		// One target: its reason alone, as a gateway without a routes file says it.
		_, msg, _ := strings.Cut(bad[0], ": ")
		return states, errors.New(msg)
	}
	return states, errors.New(strings.Join(bad, "; "))
}

// WatchReadiness probes every target every interval until ctx ends, so that each change of a
// target's readiness is logged when it happens.
func (r *Router) WatchReadiness(ctx context.Context, interval time.Duration) {
	tk := time.NewTicker(interval)
	defer tk.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r.Check(pctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
	}
}
