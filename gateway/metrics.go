package gateway

import (
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
