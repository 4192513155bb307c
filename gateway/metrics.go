package gateway

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus series (prefix hookstream_).
type Metrics struct {
	Requests   *prometheus.CounterVec   // route, status
	VerifyFail *prometheus.CounterVec   // route, reason
	Duplicates *prometheus.CounterVec   // route
	PublishLat prometheus.Histogram     // seconds from publish to PubAck
	RequestLat *prometheus.HistogramVec // route
}

// NewMetrics registers the gateway series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_http_requests_total", Help: "Requests by route and status code.",
		}, []string{"route", "status"}),
		VerifyFail: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_verification_failures_total", Help: "Rejected signatures and credentials by route and reason.",
		}, []string{"route", "reason"}),
		Duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_duplicates_total", Help: "Requests the stream recognised as duplicates (same Nats-Msg-Id).",
		}, []string{"route"}),
		PublishLat: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "hookstream_publish_duration_seconds", Help: "Publish to JetStream PubAck.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
		}),
		RequestLat: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "hookstream_http_request_duration_seconds", Help: "Request handling time by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 10},
		}, []string{"route"}),
	}
	reg.MustRegister(m.Requests, m.VerifyFail, m.Duplicates, m.PublishLat, m.RequestLat)
	return m
}

// routeMetrics caches one route's label children. WithLabelValues hashes the
// label values and looks the child up under the vector's lock on every call
// (and the status label cost a strconv.Itoa allocation); a request now loads
// an atomic pointer instead. Children are still created on first use, exactly
// as WithLabelValues would, so /metrics exposes the same series.
type routeMetrics struct {
	m        *Metrics
	route    string
	byStatus [500]atomic.Pointer[counterRef] // statuses 100-599
	latency  atomic.Pointer[observerRef]
}

type counterRef struct{ prometheus.Counter }

type observerRef struct{ prometheus.Observer }

func (m *Metrics) forRoute(route string) *routeMetrics {
	return &routeMetrics{m: m, route: route}
}

// request counts one answer with the given status.
func (r *routeMetrics) request(status int) {
	if status < 100 || status > 599 {
		r.m.Requests.WithLabelValues(r.route, strconv.Itoa(status)).Inc()
		return
	}
	slot := &r.byStatus[status-100]
	c := slot.Load()
	if c == nil {
		// Racing first requests may both look the child up: the vector
		// returns the same child to both.
		c = &counterRef{r.m.Requests.WithLabelValues(r.route, strconv.Itoa(status))}
		slot.Store(c)
	}
	c.Inc()
}

// observe records one request's handling time.
func (r *routeMetrics) observe(seconds float64) {
	o := r.latency.Load()
	if o == nil {
		o = &observerRef{r.m.RequestLat.WithLabelValues(r.route)}
		r.latency.Store(o)
	}
	o.Observe(seconds)
}
