package handlers

import (
	"context"
	"net/http"
	"strconv"
)

func (h *handler) openAPIYAML(w http.ResponseWriter, r *http.Request, _ *input) error {
	writeDocument(w, "application/yaml", h.spec.yaml)
	return nil
}

func (h *handler) openAPIJSON(w http.ResponseWriter, r *http.Request, _ *input) error {
	writeDocument(w, "application/json", h.spec.json)
	return nil
}

func writeDocument(w http.ResponseWriter, contentType string, doc []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentType)
	hdr.Set("Content-Length", strconv.Itoa(len(doc)))
	hdr.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc)
}

var (
	healthyBody = []byte(`{"status":"ok"}` + "\n")
	readyBody   = []byte(`{"status":"ready"}` + "\n")
)

// healthz answers 200 while the process can serve HTTP at all.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request, _ *input) error {
	writeJSON(w, http.StatusOK, healthyBody)
	return nil
}

// readyz asks Options.Ready, within DefaultReadyTimeout unless the request has a deadline.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request, _ *input) error {
	if h.opts.Ready != nil {
		ctx := r.Context()
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, DefaultReadyTimeout)
			defer cancel()
		}
		if err := h.opts.Ready(ctx); err != nil {
			p := newProblem(kindNotReady, "not ready: %v", err)
			p.cause = err
			return p
		}
	}
	writeJSON(w, http.StatusOK, readyBody)
	return nil
}

// metrics serves the metrics exposition, when the gateway serves it here.
func (h *handler) metrics(w http.ResponseWriter, r *http.Request, _ *input) error {
	if h.opts.Metrics == nil {
		return newProblem(kindNoSuchRoute, "metrics are not served on this address")
	}
	h.opts.Metrics.ServeHTTP(w, r)
	return nil
}
