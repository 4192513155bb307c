package processors

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookstream/hookstream/streams"
)

// Metrics are the per-processor Prometheus series fed by Runner.Observe:
//
//	hookstream_processor_processed_total{processor,status}   every attempt's outcome
//	hookstream_processor_duration_seconds{processor,status}  handler time per attempt
//	hookstream_processor_redeliveries_total{processor}       attempts after the first
//	hookstream_processor_dead_letters_total{processor}       messages sent to DLQ (rejected or dead)
//
// They count since the process started; the totals that survive restarts
// come from event_outcomes (hookstream stats) and from ConsumerCollector.
type Metrics struct {
	processed    *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	redeliveries *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
}

// NewMetrics registers the series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_processor_processed_total",
			Help: "Processor attempts by outcome status (ok, rejected, retry, dead, skipped, unhandled, duplicate).",
		}, []string{"processor", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "hookstream_processor_duration_seconds",
			Help:    "Time a processor's handler took per attempt.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"processor", "status"}),
		redeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_processor_redeliveries_total",
			Help: "Deliveries after the first of the same message (retries and AckWait expiries).",
		}, []string{"processor"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hookstream_processor_dead_letters_total",
			Help: "Messages a processor dead-lettered to DLQ (rejected input or retries exhausted).",
		}, []string{"processor"}),
	}
	reg.MustRegister(m.processed, m.duration, m.redeliveries, m.deadLetters)
	return m
}

// Observe records one outcome; use it as Runner.Observe.
func (m *Metrics) Observe(o Outcome) {
	m.processed.WithLabelValues(o.Processor, o.Status).Inc()
	m.duration.WithLabelValues(o.Processor, o.Status).Observe(o.Duration.Seconds())
	if o.Attempts > 1 {
		m.redeliveries.WithLabelValues(o.Processor).Inc()
	}
	if o.Status == StatusDead || o.Status == StatusRejected {
		m.deadLetters.WithLabelValues(o.Processor).Inc()
	}
}

// ConsumerCollector reads JetStream on every scrape (bounded by Timeout, and
// cached for MinInterval so frequent scrapes do not hammer the server):
//
//	hookstream_consumer_pending{stream,consumer}      messages not yet delivered (lag)
//	hookstream_consumer_ack_pending{stream,consumer}  delivered, not yet acknowledged
//	hookstream_consumer_redelivered{stream,consumer}  being redelivered now
//	hookstream_dlq_messages{processor}                dead letters held in DLQ per processor
//	hookstream_stream_messages{stream}                messages held per stream
//	hookstream_jetstream_scrape_ok                    1 when the last read succeeded
//
// Only durable consumers are reported (not the live feed's ordered ones).
type ConsumerCollector struct {
	JS          jetstream.JetStream
	Timeout     time.Duration // default 2s
	MinInterval time.Duration // default 1s
	Streams     []string      // default INGEST, EVENTS, DLQ

	mu      sync.Mutex
	last    time.Time
	metrics []prometheus.Metric
}

var (
	descPending    = prometheus.NewDesc("hookstream_consumer_pending", "Messages in the consumer's filter not yet delivered (lag).", []string{"stream", "consumer"}, nil)
	descAckPending = prometheus.NewDesc("hookstream_consumer_ack_pending", "Messages delivered and not yet acknowledged.", []string{"stream", "consumer"}, nil)
	descRedeliv    = prometheus.NewDesc("hookstream_consumer_redelivered", "Messages currently being redelivered.", []string{"stream", "consumer"}, nil)
	descDLQ        = prometheus.NewDesc("hookstream_dlq_messages", "Dead letters held in the DLQ stream, by processor.", []string{"processor"}, nil)
	descStreamMsgs = prometheus.NewDesc("hookstream_stream_messages", "Messages held in a stream.", []string{"stream"}, nil)
	descScrapeOK   = prometheus.NewDesc("hookstream_jetstream_scrape_ok", "1 when JetStream answered the last metrics read in time.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *ConsumerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descAckPending, descRedeliv, descDLQ, descStreamMsgs, descScrapeOK} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *ConsumerCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	minInterval := c.MinInterval
	if minInterval <= 0 {
		minInterval = time.Second
	}
	if c.metrics == nil || time.Since(c.last) >= minInterval {
		c.metrics = c.read()
		c.last = time.Now()
	}
	for _, m := range c.metrics {
		ch <- m
	}
}

func (c *ConsumerCollector) read() []prometheus.Metric {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	names := c.Streams
	if len(names) == 0 {
		names = []string{streams.StreamIngest, streams.StreamEvents, streams.StreamDLQ}
	}
	var out []prometheus.Metric
	ok := 1.0
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		out = append(out, prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...))
	}
	for _, name := range names {
		s, err := c.JS.Stream(ctx, name)
		if err != nil {
			ok = 0
			continue
		}
		var opts []jetstream.StreamInfoOpt
		if name == streams.StreamDLQ {
			opts = append(opts, jetstream.WithSubjectFilter(streams.SubjectDLQAll))
		}
		info, err := s.Info(ctx, opts...)
		if err != nil {
			ok = 0
			continue
		}
		gauge(descStreamMsgs, float64(info.State.Msgs), name)
		for subj, n := range info.State.Subjects {
			if p, found := strings.CutPrefix(subj, "dlq."); found {
				gauge(descDLQ, float64(n), p)
			}
		}
		lister := s.ListConsumers(ctx)
		for ci := range lister.Info() {
			if ci == nil || ci.Config.Durable == "" {
				continue
			}
			gauge(descPending, float64(ci.NumPending), name, ci.Name)
			gauge(descAckPending, float64(ci.NumAckPending), name, ci.Name)
			gauge(descRedeliv, float64(ci.NumRedelivered), name, ci.Name)
		}
		if lister.Err() != nil {
			ok = 0
		}
	}
	gauge(descScrapeOK, ok)
	return out
}
