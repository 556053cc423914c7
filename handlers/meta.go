package handlers

import (
	"context"
	"net/http"
	"strconv"
)

func (h *handler) openAPIYAML(w http.ResponseWriter, r *http.Request, _ *input) error {
	sp, err := h.served()
	if err != nil {
		return err
	}
	writeDocument(w, "application/yaml", sp.yaml)
	return nil
}

func (h *handler) openAPIJSON(w http.ResponseWriter, r *http.Request, _ *input) error {
	sp, err := h.served()
	if err != nil {
		return err
	}
	writeDocument(w, "application/json", sp.json)
	return nil
}

// served returns the document to serve, made again when the routing table has changed.
func (h *handler) served() (*servedSpec, error) {
	if h.opts.Buckets == nil {
		return &servedSpec{yaml: h.spec.yaml, json: h.spec.json}, nil
	}
	v := h.opts.Buckets.Version()
	if sp := h.servedDoc.Load(); sp != nil && sp.version == v {
		return sp, nil
	}
	y, j, err := h.spec.withRoutes(h.opts.Buckets.Routes())
	if err != nil {
		return nil, err
	}
	sp := &servedSpec{version: v, yaml: y, json: j}
	h.servedDoc.Store(sp)
	return sp, nil
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

// readyz asks Options.Ready (ReadyVerbose with ?verbose), within DefaultReadyTimeout unless
// the request has a deadline.
func (h *handler) readyz(w http.ResponseWriter, r *http.Request, _ *input) error {
	ctx := r.Context()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultReadyTimeout)
		defer cancel()
	}
	var err error
	var report any
	_, verbose := r.URL.Query()["verbose"]
	switch {
	case verbose && h.opts.ReadyVerbose != nil:
		report, err = h.opts.ReadyVerbose(ctx)
	case h.opts.Ready != nil:
		err = h.opts.Ready(ctx)
	}
	if err != nil {
		p := newProblem(kindNotReady, "not ready: %v", err)
		p.cause = err
		p.targets = report
		return p
	}
	if report != nil {
		return writeJSONValue(w, http.StatusOK, struct {
			Status  string `json:"status"`
			Targets any    `json:"targets"`
		}{"ready", report})
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
