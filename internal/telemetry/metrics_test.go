package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/trace"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/handlers"
	"github.com/wrpc-kv/gateway/internal/kvtest"
	"github.com/wrpc-kv/gateway/internal/natstest"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
	"github.com/wrpc-kv/gateway/provider/memory"
)

// gateway is the whole gateway in-process: the HTTP API over the typed client (through the
// batch fallback) and a provider on an embedded NATS server, all reporting to m.
type gateway struct {
	url string
	m   *Metrics
	ns  *server.Server
}

const prefix = "tele.kv"

// newGateway runs it over backend (made for the NATS server; nil: kvtest's answering memory
// store).
func newGateway(t testing.TB, tp trace.TracerProvider, backend func(*testing.T, *server.Server, *Metrics) keyvalue.Store, popts ...provider.Option) *gateway {
	t.Helper()
	m := New()
	var ns *server.Server
	var store keyvalue.Store
	if backend == nil {
		ns = natstest.Run(t)
		store = kvtest.Answering(memory.New())
	} else {
		ns = natstest.Run(t, natstest.JetStream(t.TempDir()))
		store = backend(t.(*testing.T), ns, m)
	}
	popts = append([]provider.Option{provider.WithPrefix(prefix), provider.WithLogger(slog.New(slog.DiscardHandler)),
		provider.WithObserver(m.Provider())}, popts...)
	if tp != nil {
		popts = append(popts, provider.WithTracerProvider(tp))
	}
	p, err := provider.Serve(natstest.Connect(t, ns), store, popts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	nc := natstest.Connect(t, ns)
	m.WatchNATS("gateway", nc)
	copts := []client.Option{client.WithPrefix(prefix), client.WithTimeout(200 * time.Millisecond), client.WithObserver(m.Client("default"))}
	if tp != nil {
		copts = append(copts, client.WithTracerProvider(tp))
	}
	kv, err := client.New(nc, copts...)
	if err != nil {
		t.Fatal(err)
	}
	m.InboxRotations(func() map[string]int64 { return map[string]int64{"default": kv.InboxRotations()} })
	fb := client.NewFallback(kv)
	fb.OnFallback = m.Fallback("default")
	opts := handlers.Options{Store: fb, Observer: m, Metrics: m.Handler()}
	if tp != nil {
		opts.TracerProvider = tp
	}
	h, err := handlers.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &gateway{url: srv.URL, m: m, ns: ns}
}

func (g *gateway) do(t testing.TB, method, path, body string) int {
	t.Helper()
	r, err := http.NewRequest(method, g.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" && method == http.MethodPost {
		r.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

// scrape reads /metrics through the gateway, as Prometheus does.
func (g *gateway) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(g.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	return mfs
}

// value is the value of the series of family name whose labels include want.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
	var sum float64
	found := false
next:
	for _, m := range mf.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	if !found {
		return -1
	}
	return sum
}

type l = map[string]string

// A scripted run of every operation, provider errors, a call nobody serves and a timeout is
// counted exactly; the exposition lints clean.
func TestMetricsAfterAScriptedRun(t *testing.T) {
	// The provider serves store and atomics only: batch calls find no responders and fall
	// back to single-key calls.
	g := newGateway(t, nil, nil, provider.WithInterfaces(keyvalue.StoreInstance, keyvalue.AtomicsInstance))
	steps := []struct {
		method, path, body string
		status             int
	}{
		{"PUT", "/buckets/b/keys/k", "hello", 204},
		{"GET", "/buckets/b/keys/k", "", 200},
		{"HEAD", "/buckets/b/keys/k", "", 200},
		{"GET", "/buckets/b/keys/missing", "", 404},
		{"GET", "/buckets/b/keys", "", 200},
		{"POST", "/buckets/b/keys/n/increment", "", 200},
		{"POST", "/buckets/b/batch/set", `{"items":[{"key":"x","value":"AA=="},{"key":"y","value":"AQ=="}]}`, 204},
		{"POST", "/buckets/b/batch/get", `{"keys":["x","y","z"]}`, 200},
		{"POST", "/buckets/b/batch/delete", `{"keys":["x"]}`, 204},
		{"DELETE", "/buckets/b/keys/k", "", 204},
		{"GET", "/buckets/" + kvtest.NoSuchStore + "/keys/k", "", 404},
		{"GET", "/buckets/" + kvtest.Other + "/keys/k", "", 502},
		{"GET", "/buckets/" + kvtest.Fail + "/keys/k", "", 502},
		{"GET", "/buckets/" + kvtest.Slow + "/keys/k", "", 504},
		{"GET", "/openapi.json", "", 200},
		{"GET", "/healthz", "", 200},
		{"GET", "/nowhere/at/all", "", 404},
	}
	for _, s := range steps {
		if got := g.do(t, s.method, s.path, s.body); got != s.status {
			t.Fatalf("%s %s = %d; want %d", s.method, s.path, got, s.status)
		}
	}
	time.Sleep(kvtest.SlowFor) // the slow invocation ends on the provider
	mfs := g.scrape(t)

	for _, c := range []struct {
		name   string
		labels l
		want   float64
	}{
		{"wrpckv_http_requests_total", l{"operation": "getValue", "status_class": "2xx"}, 1},
		{"wrpckv_http_requests_total", l{"operation": "getValue", "status_class": "4xx"}, 2},
		{"wrpckv_http_requests_total", l{"operation": "getValue", "status_class": "5xx"}, 3},
		{"wrpckv_http_requests_total", l{"operation": "putValue"}, 1},
		{"wrpckv_http_requests_total", l{"operation": "batchGet", "status_class": "2xx"}, 1},
		{"wrpckv_http_requests_total", l{"operation": "no_route", "status_class": "4xx"}, 1},
		{"wrpckv_http_request_duration_seconds", l{"operation": "getValue"}, 6},
		{"wrpckv_http_request_body_bytes_total", l{"operation": "putValue"}, 5},
		{"wrpckv_http_response_body_bytes_total", l{"operation": "getValue"}, -2}, // > 5, checked below
		{"wrpckv_http_requests_in_flight", nil, 1},                                // the scrape itself
		// k, missing, and x, y, z key by key for the batch/get
		{"wrpckv_wrpc_client_calls_total", l{"interface": "store", "function": "get", "outcome": "ok"}, 5},
		{"wrpckv_wrpc_client_calls_total", l{"interface": "store", "function": "get", "outcome": "no_such_store"}, 1},
		{"wrpckv_wrpc_client_calls_total", l{"interface": "store", "function": "get", "outcome": "other"}, 1},
		{"wrpckv_wrpc_client_calls_total", l{"interface": "store", "function": "get", "outcome": "remote_failure"}, 1},
		{"wrpckv_wrpc_client_calls_total", l{"interface": "store", "function": "get", "outcome": "timeout"}, 1},
		{"wrpckv_wrpc_client_calls_total", l{"interface": "batch", "function": "get-many", "outcome": "no_responders"}, 1},
		{"wrpckv_wrpc_client_calls_total", l{"interface": "atomics", "function": "increment", "outcome": "ok"}, 1},
		{"wrpckv_wrpc_client_calls_total", l{"interface": "store", "function": "set", "outcome": "ok"}, 3},
		{"wrpckv_wrpc_client_batch_fallbacks_total", l{"function": "get-many"}, 1},
		{"wrpckv_wrpc_client_batch_fallbacks_total", l{"function": "set-many"}, 1},
		{"wrpckv_wrpc_client_batch_fallbacks_total", l{"function": "delete-many"}, 1},
		{"wrpckv_wrpc_client_call_duration_seconds", l{"function": "exists"}, 1},
		// and the slow one, which the provider completed after the client gave up
		{"wrpckv_wrpc_server_invocations_total", l{"function": "get", "outcome": "ok"}, 6},
		{"wrpckv_wrpc_server_invocations_total", l{"function": "get", "outcome": "failed"}, 1},
		{"wrpckv_wrpc_server_invocations_total", l{"function": "get", "outcome": "other"}, 1},
		{"wrpckv_wrpc_server_invocations_total", l{"function": "get", "outcome": "no_such_store"}, 1},
		{"wrpckv_wrpc_server_invocations_in_flight", nil, 0},
		{"wrpckv_nats_connected", l{"connection": "gateway"}, 1},
		{"wrpckv_nats_reconnects_total", l{"connection": "gateway"}, 0},
		{"wrpckv_http_body_budget_in_use_bytes", nil, 0},
		{"wrpckv_wrpc_client_inbox_rotations_total", nil, 0},
	} {
		got := value(mfs, c.name, c.labels)
		if c.want == -2 {
			if got <= 5 {
				t.Errorf("%s%v = %v; want more than 5", c.name, c.labels, got)
			}
			continue
		}
		if got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "wrpckv_nats_in_bytes_total"} {
		if mfs[name] == nil {
			t.Errorf("no %s in the exposition", name)
		}
	}
	// No label value a client chose: buckets and keys appear nowhere.
	for name, mf := range mfs {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if v := lp.GetValue(); v == "b" || v == "k" || v == "missing" || strings.Contains(v, "slow") {
					t.Errorf("%s carries the client's %q in label %s", name, v, lp.GetName())
				}
			}
		}
	}
	problems, err := testutil.GatherAndLint(g.m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// Prometheus asking for OpenMetrics gets it.
func TestOpenMetrics(t *testing.T) {
	g := newGateway(t, nil, nil)
	r, _ := http.NewRequest(http.MethodGet, g.url+"/metrics", nil)
	r.Header.Set("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "application/openmetrics-text") || !strings.HasSuffix(string(body), "# EOF\n") {
		t.Fatalf("GET /metrics for OpenMetrics = %s, ending %q", res.Header.Get("Content-Type"), body[max(0, len(body)-20):])
	}
}
