// Package telemetry is the gateway's and the provider's observability: Prometheus metrics
// (prometheus/client_golang) fed by the observers of handlers, client and provider, and
// OpenTelemetry tracing configured by the standard OTEL_* environment variables.
//
// No metric label carries a key, a bucket name or anything else a client chooses: labels are
// operation ids, interface and function names, outcomes, status classes, connection names
// and the names of routing targets, all bounded by the configuration.
package telemetry

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wrpc-kv/gateway/client"
	"github.com/wrpc-kv/gateway/handlers"
	"github.com/wrpc-kv/gateway/keyvalue"
	"github.com/wrpc-kv/gateway/provider"
)

// Namespace starts the name of every metric of the project.
const Namespace = "wrpckv"

// Buckets of the duration histograms, in seconds: from a fast local call (100 µs) to the
// default call timeout (10 s) and past it.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Metrics holds every metric of a process. Its methods are safe for concurrent use.
type Metrics struct {
	reg   *prometheus.Registry
	names map[string]bool // every metric family it exports, with or without series yet

	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	httpInFlight  prometheus.Gauge
	httpReqBytes  *prometheus.CounterVec
	httpRespBytes *prometheus.CounterVec
	bodyBudget    prometheus.Gauge
	bodyBuffered  prometheus.Gauge
	bodyWaits     *prometheus.CounterVec

	calls        *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	callSent     *prometheus.CounterVec
	callReceived *prometheus.CounterVec
	fallbacks    *prometheus.CounterVec

	invocations   *prometheus.CounterVec
	invDuration   *prometheus.HistogramVec
	invInFlight   prometheus.Gauge
	backendErrors *prometheus.CounterVec

	slowConsumers *prometheus.CounterVec
	nats          *natsCollector

	ops sync.Map // operation -> *opMetrics
}

// New returns the metrics of a process on a registry of their own, with the Go runtime and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg, names: map[string]bool{}}
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	counter := func(subsystem, name, help string, labels ...string) *prometheus.CounterVec {
		m.names[prometheus.BuildFQName(Namespace, subsystem, name)] = true
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}, labels)
		f(v)
		return v
	}
	histogram := func(subsystem, name, help string, labels ...string) *prometheus.HistogramVec {
		fq := prometheus.BuildFQName(Namespace, subsystem, name)
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			m.names[fq+suffix] = true
		}
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help,
			Buckets: durationBuckets}, labels)
		f(v)
		return v
	}
	gauge := func(subsystem, name, help string) prometheus.Gauge {
		m.names[prometheus.BuildFQName(Namespace, subsystem, name)] = true
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help})
		f(g)
		return g
	}
	for _, n := range []string{"nats_connected", "nats_reconnects_total", "nats_in_messages_total", "nats_out_messages_total",
		"nats_in_bytes_total", "nats_out_bytes_total", "wrpc_client_inbox_rotations_total"} {
		m.names[Namespace+"_"+n] = true
	}

	m.httpRequests = counter("http", "requests_total", "HTTP requests answered, by operation (operationId of openapi.yaml) and status class.", "operation", "status_class")
	m.httpDuration = histogram("http", "request_duration_seconds", "Time from a request's arrival to its last byte answered, by operation.", "operation")
	m.httpInFlight = gauge("http", "requests_in_flight", "HTTP requests being served.")
	m.httpReqBytes = counter("http", "request_body_bytes_total", "Request body bytes read, by operation.", "operation")
	m.httpRespBytes = counter("http", "response_body_bytes_total", "Response body bytes written, by operation.", "operation")
	m.bodyBudget = gauge("http", "body_budget_bytes", "Request body bytes all requests may buffer at once (--max-buffered-bytes).")
	m.bodyBuffered = gauge("http", "body_budget_in_use_bytes", "Request body bytes reserved by requests being served.")
	m.bodyWaits = counter("http", "body_budget_waits_total", "Requests that found the body budget spent and waited, by result (ok, or refused with 503).", "result")

	m.calls = counter("wrpc_client", "calls_total", "wRPC calls made, by target, interface, function and outcome (ok, a provider answer, or the failure).", "target", "interface", "function", "outcome")
	m.callDuration = histogram("wrpc_client", "call_duration_seconds", "Duration of wRPC calls, by target, interface and function.", "target", "interface", "function")
	m.callSent = counter("wrpc_client", "sent_bytes_total", "Encoded parameter bytes sent, by target, interface and function.", "target", "interface", "function")
	m.callReceived = counter("wrpc_client", "received_bytes_total", "Encoded result bytes received, by target, interface and function.", "target", "interface", "function")
	m.fallbacks = counter("wrpc_client", "batch_fallbacks_total", "Batch calls made key by key because no provider serves the batch interface, by target and function.", "target", "function")

	m.invocations = counter("wrpc_server", "invocations_total", "Invocations served by the provider, by interface, function and outcome.", "interface", "function", "outcome")
	m.invDuration = histogram("wrpc_server", "invocation_duration_seconds", "Duration of served invocations from decoded params to results, by interface and function.", "interface", "function")
	m.invInFlight = gauge("wrpc_server", "invocations_in_flight", "Invocations being served.")
	m.backendErrors = counter("backend", "errors_total", "Errors of the provider's storage backend itself (not answers such as a missing bucket), by backend and operation.", "backend", "operation")

	m.slowConsumers = counter("nats", "slow_consumer_events_total", "Times a subscription of the connection fell behind and lost messages, by connection.", "connection")

	m.nats = &natsCollector{}
	f(m.nats)
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Names lists the series names the process may export: every metric of this package (with
// the _bucket, _sum and _count series of histograms), whether it has a series yet or not,
// and those of the Go runtime and process collectors.
func (m *Metrics) Names() map[string]bool {
	out := make(map[string]bool, len(m.names)+64)
	for n := range m.names {
		out[n] = true
	}
	if mfs, err := m.reg.Gather(); err == nil {
		for _, mf := range mfs {
			n := mf.GetName()
			out[n] = true
			if mf.GetType().String() == "HISTOGRAM" || mf.GetType().String() == "SUMMARY" {
				out[n+"_bucket"], out[n+"_sum"], out[n+"_count"] = true, true, true
			}
		}
	}
	return out
}

// Registry is where the metrics are registered, for more collectors and for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format, or OpenMetrics when asked for.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// SetBodyBudget states the size of the request body budget.
func (m *Metrics) SetBodyBudget(n int64) { m.bodyBudget.Set(float64(n)) }

var _ handlers.Observer = (*Metrics)(nil)

// RequestStarted implements handlers.Observer.
func (m *Metrics) RequestStarted() { m.httpInFlight.Inc() }

// RequestDone implements handlers.Observer.
func (m *Metrics) RequestDone(r handlers.Request) {
	m.httpInFlight.Dec()
	op := m.operation(r.Operation)
	class := 0
	if r.Status >= 100 && r.Status <= 599 {
		class = r.Status / 100
	}
	op.requests[class].Inc()
	op.duration.Observe(r.Duration.Seconds())
	if r.RequestBytes > 0 {
		op.reqBytes.Add(float64(r.RequestBytes))
	}
	if r.ResponseBytes > 0 {
		op.respBytes.Add(float64(r.ResponseBytes))
	}
}

// opMetrics are the series of one operation, looked up once: a label lookup hashes its
// values on every call, and requests are the hot path.
type opMetrics struct {
	requests            [6]prometheus.Counter // by status class: [0] other, [1] 1xx ... [5] 5xx
	duration            prometheus.Observer
	reqBytes, respBytes prometheus.Counter
}

func (m *Metrics) operation(name string) *opMetrics {
	if v, ok := m.ops.Load(name); ok {
		return v.(*opMetrics)
	}
	op := &opMetrics{duration: m.httpDuration.WithLabelValues(name),
		reqBytes: m.httpReqBytes.WithLabelValues(name), respBytes: m.httpRespBytes.WithLabelValues(name)}
	op.requests[0] = m.httpRequests.WithLabelValues(name, "other")
	for c := 1; c <= 5; c++ {
		op.requests[c] = m.httpRequests.WithLabelValues(name, strconv.Itoa(c)+"xx")
	}
	v, _ := m.ops.LoadOrStore(name, op)
	return v.(*opMetrics)
}

// BodyBuffered implements handlers.Observer.
func (m *Metrics) BodyBuffered(delta int64) { m.bodyBuffered.Add(float64(delta)) }

// BodyWaited implements handlers.Observer.
func (m *Metrics) BodyWaited(_ time.Duration, ok bool) {
	result := "ok"
	if !ok {
		result = "refused"
	}
	m.bodyWaits.WithLabelValues(result).Inc()
}

// Client returns the observer of a client calling target (a name from the configuration).
func (m *Metrics) Client(target string) client.CallObserver {
	o := &callObserver{fns: make(map[string]*fnMetrics, len(keyvalue.Functions))}
	for _, f := range keyvalue.Functions {
		o.fns[f.Name] = newFnMetrics(keyvalue.Outcomes, func(outcome string) prometheus.Counter {
			return m.calls.WithLabelValues(target, f.Interface, f.Name, outcome)
		}, m.callDuration.WithLabelValues(target, f.Interface, f.Name),
			m.callSent.WithLabelValues(target, f.Interface, f.Name), m.callReceived.WithLabelValues(target, f.Interface, f.Name))
	}
	return o
}

// callObserver holds the series of each function, looked up once: a label lookup hashes its
// values on every call, and calls are the hot path.
type callObserver struct {
	fns map[string]*fnMetrics // by function name; read-only
}

// fnMetrics are the series of one function.
type fnMetrics struct {
	outcomes map[string]prometheus.Counter // every outcome; read-only
	duration prometheus.Observer
	sent     prometheus.Counter // nil for the provider's
	received prometheus.Counter
}

func newFnMetrics(outcomes []string, outcome func(string) prometheus.Counter, duration prometheus.Observer, sent, received prometheus.Counter) *fnMetrics {
	f := &fnMetrics{outcomes: make(map[string]prometheus.Counter, len(outcomes)), duration: duration, sent: sent, received: received}
	for _, o := range outcomes {
		f.outcomes[o] = outcome(o)
	}
	return f
}

func (o *callObserver) CallDone(c client.Call) {
	f := o.fns[c.Function]
	if f == nil {
		return // not a function of the world
	}
	f.outcomes[keyvalue.ErrorKind(c.Err)].Inc()
	f.duration.Observe(c.Duration.Seconds())
	f.sent.Add(float64(c.SentBytes))
	f.received.Add(float64(c.ReceivedBytes))
}

// Fallback returns the hook counting the batch fallbacks of target (client.Fallback.OnFallback).
func (m *Metrics) Fallback(target string) func(fn string) {
	return func(fn string) { m.fallbacks.WithLabelValues(target, fn).Inc() }
}

// outcomeFailed is the outcome of an invocation whose backend failed: the caller sees a
// remote failure.
const outcomeFailed = "failed"

// providerOutcomes are the outcomes of served invocations.
var providerOutcomes = []string{keyvalue.OutcomeOK, keyvalue.OutcomeNoSuchStore, keyvalue.OutcomeAccessDenied,
	keyvalue.OutcomeOther, outcomeFailed}

// Provider returns the observer of the provider's invocations.
func (m *Metrics) Provider() provider.Observer {
	o := &invocationObserver{m: m, fns: make(map[string]*fnMetrics, len(keyvalue.Functions))}
	for _, f := range keyvalue.Functions {
		o.fns[f.Name] = newFnMetrics(providerOutcomes, func(outcome string) prometheus.Counter {
			return m.invocations.WithLabelValues(f.Interface, f.Name, outcome)
		}, m.invDuration.WithLabelValues(f.Interface, f.Name), nil, nil)
	}
	return o
}

type invocationObserver struct {
	m   *Metrics
	fns map[string]*fnMetrics // by function name; read-only
}

func (o *invocationObserver) InvocationStarted(string, string) { o.m.invInFlight.Inc() }

func (o *invocationObserver) InvocationDone(inv provider.Invocation) {
	o.m.invInFlight.Dec()
	f := o.fns[inv.Function]
	if f == nil {
		return
	}
	outcome := keyvalue.ErrorKind(inv.Err)
	if inv.Err != nil && !keyvalue.IsAnswer(inv.Err) {
		outcome = outcomeFailed
	}
	f.outcomes[outcome].Inc()
	f.duration.Observe(inv.Duration.Seconds())
}

// BackendError returns the hook counting the errors of a storage backend (for example
// jetstream.OnBackendError).
func (m *Metrics) BackendError(backend string) func(op string, err error) {
	return func(op string, _ error) { m.backendErrors.WithLabelValues(backend, op).Inc() }
}

// SlowConsumer counts a slow-consumer event of the connection named name.
func (m *Metrics) SlowConsumer(name string) { m.slowConsumers.WithLabelValues(name).Inc() }

// WatchNATS exports the state and the statistics of the connection nc under name: whether
// it is connected, its reconnects, and the messages and bytes it moved.
func (m *Metrics) WatchNATS(name string, nc *nats.Conn) {
	m.nats.add(name, nc)
	m.slowConsumers.WithLabelValues(name) // present at 0 from the start
}

// InboxRotations exports how often the clients moved to a fresh inbox because a peer
// flooded a call that had ended, by target, as counts reports them at each scrape
// (routing.Router.InboxRotations). Call it once.
func (m *Metrics) InboxRotations(counts func() map[string]int64) {
	m.reg.MustRegister(rotationsCollector(counts))
}

var inboxRotations = prometheus.NewDesc(Namespace+"_wrpc_client_inbox_rotations_total",
	"Times the client moved its calls to a fresh NATS inbox because a peer went on sending after its call ended.",
	[]string{"target"}, nil)

type rotationsCollector func() map[string]int64

func (c rotationsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- inboxRotations }

func (c rotationsCollector) Collect(ch chan<- prometheus.Metric) {
	for target, n := range c() {
		ch <- prometheus.MustNewConstMetric(inboxRotations, prometheus.CounterValue, float64(n), target)
	}
}

var (
	natsConnected  = prometheus.NewDesc(Namespace+"_nats_connected", "1 while the connection is connected, else 0 (reconnecting, closed).", []string{"connection"}, nil)
	natsReconnects = prometheus.NewDesc(Namespace+"_nats_reconnects_total", "Reconnections of the connection.", []string{"connection"}, nil)
	natsInMsgs     = prometheus.NewDesc(Namespace+"_nats_in_messages_total", "Messages received.", []string{"connection"}, nil)
	natsOutMsgs    = prometheus.NewDesc(Namespace+"_nats_out_messages_total", "Messages sent.", []string{"connection"}, nil)
	natsInBytes    = prometheus.NewDesc(Namespace+"_nats_in_bytes_total", "Payload bytes received.", []string{"connection"}, nil)
	natsOutBytes   = prometheus.NewDesc(Namespace+"_nats_out_bytes_total", "Payload bytes sent.", []string{"connection"}, nil)
)

// natsCollector reads the state and statistics of connections at each scrape.
type natsCollector struct {
	mu    sync.Mutex
	conns []namedConn
}

type namedConn struct {
	name string
	nc   *nats.Conn
}

func (c *natsCollector) add(name string, nc *nats.Conn) {
	c.mu.Lock()
	c.conns = append(c.conns, namedConn{name, nc})
	c.mu.Unlock()
}

func (c *natsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{natsConnected, natsReconnects, natsInMsgs, natsOutMsgs, natsInBytes, natsOutBytes} {
		ch <- d
	}
}

func (c *natsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	conns := slices.Clone(c.conns)
	c.mu.Unlock()
	for _, cn := range conns {
		connected := 0.0
		if cn.nc.IsConnected() {
			connected = 1
		}
		st := cn.nc.Stats()
		ch <- prometheus.MustNewConstMetric(natsConnected, prometheus.GaugeValue, connected, cn.name)
		ch <- prometheus.MustNewConstMetric(natsReconnects, prometheus.CounterValue, float64(st.Reconnects), cn.name)
		ch <- prometheus.MustNewConstMetric(natsInMsgs, prometheus.CounterValue, float64(st.InMsgs), cn.name)
		ch <- prometheus.MustNewConstMetric(natsOutMsgs, prometheus.CounterValue, float64(st.OutMsgs), cn.name)
		ch <- prometheus.MustNewConstMetric(natsInBytes, prometheus.CounterValue, float64(st.InBytes), cn.name)
		ch <- prometheus.MustNewConstMetric(natsOutBytes, prometheus.CounterValue, float64(st.OutBytes), cn.name)
	}
}
