package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Request outcomes (the outcome label of baton_gateway_requests_total).
const (
	outcomeProxied  = "proxied"  // a node's answer was relayed, whatever its status
	outcomeFailed   = "failed"   // no node answered: the gateway answered 502 or 503
	outcomeRejected = "rejected" // the gateway refused the request itself (413, 400)
	outcomeCanceled = "canceled" // the client went away first
)

// Failure causes (the cause label of baton_gateway_failures_total).
const (
	causeConnect    = "connect"     // no connection to the node: nothing was sent
	causeNoResponse = "no_response" // the connection failed after the request may have been sent, before an answer
	causeResponse   = "response"    // the answer broke off after it had begun
	causeNoNode     = "no_node"     // no node in rotation was left to try
)

// metrics are the gateway's own Prometheus series. They use
// prometheus/client_golang directly: the agent goes through go-metrics only
// because hashicorp/raft reports there, and nothing under the gateway does.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	failures   *prometheus.CounterVec
	retries    prometheus.Counter
	forwards   *prometheus.CounterVec
	inFlight   *prometheus.GaugeVec
	duration   prometheus.Histogram
	rotation   prometheus.Gauge
	routable   prometheus.Gauge
	stateIndex prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_gateway_requests_total",
			Help: "Client requests the gateway finished, by outcome (proxied, failed, rejected, canceled) and status class of the answer (2xx..5xx).",
		}, []string{"outcome", "code"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_gateway_failures_total",
			Help: "Failed attempts to reach a node, by cause: connect (nothing sent), no_response (sent or maybe sent, no answer), response (the answer broke off), no_node (none left to try).",
		}, []string{"cause"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "baton_gateway_retries_total",
			Help: "Idempotent requests sent again to another node after the first may have received them.",
		}),
		forwards: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "baton_gateway_successor_forwards_total",
			Help: "Requests forwarded from a failed node to its successor in the ring, by the node that failed and the successor.",
		}, []string{"from", "to"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "baton_gateway_in_flight_requests",
			Help: "Requests sent to a node whose answer has not been relayed completely, by node.",
		}, []string{"node"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "baton_gateway_request_duration_seconds",
			Help:    "Time from a client request's arrival to the end of the gateway's answer.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}),
		rotation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "baton_gateway_rotation_nodes",
			Help: "Nodes in rotation: routable members whose step is not running.",
		}),
		routable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "baton_gateway_routable_nodes",
			Help: "Members with a service address, in rotation or not.",
		}),
		stateIndex: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "baton_gateway_state_index",
			Help: "The cluster state index the gateway's rotation reflects.",
		}),
	}
	m.reg.MustRegister(m.requests, m.failures, m.retries, m.forwards, m.inFlight, m.duration,
		m.rotation, m.routable, m.stateIndex,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the series in Prometheus's text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// observeView records the size of a new routing table.
func (m *metrics) observeView(v *View) {
	m.routable.Set(float64(len(v.nodes)))
	m.rotation.Set(float64(len(v.rotation)))
	m.stateIndex.Set(float64(v.Index))
}

// codeClass maps a status code to its class label, "2xx" for 204.
func codeClass(code int) string {
	switch {
	case code >= 500:
		return "5xx"
	case code >= 400:
		return "4xx"
	case code >= 300:
		return "3xx"
	case code >= 200:
		return "2xx"
	}
	return "1xx"
}
