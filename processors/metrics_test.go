package processors_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hookstream/hookstream/internal/testutil"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
	"github.com/hookstream/hookstream/streams/streamstest"
)

// Runner.Observe feeds the per-processor series; the consumer collector
// reads lag and dead letters from JetStream on scrape.
func TestMetricsFromOutcomesAndJetStream(t *testing.T) {
	ns := streamstest.RunServer(t)
	_, js := streamstest.Connect(t, ns)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub := func(subj, id string) {
		m := nats.NewMsg(subj)
		m.Header.Set(streams.HdrMsgID, id)
		m.Data = []byte(id)
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 4 {
		pub("ingest.webhook.wh_m", fmt.Sprintf("ok-%d", i))
	}
	pub("ingest.webhook.wh_m", "bad")
	pub("ingest.webhook.wh_m", "flaky")
	// A second consumer nobody runs: its lag is everything in its filter.
	if _, err := js.CreateOrUpdateConsumer(ctx, streams.StreamIngest, jetstream.ConsumerConfig{
		Durable: "idle", FilterSubjects: []string{"ingest.webhook.>"}, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}

	reg := prometheus.NewRegistry()
	pm := processors.NewMetrics(reg)
	reg.MustRegister(&processors.ConsumerCollector{JS: js, MinInterval: time.Nanosecond})
	var mu sync.Mutex
	seen := map[string]int{}
	h := func(_ context.Context, m *processors.Message) error {
		mu.Lock()
		seen[m.EventID]++
		n := seen[m.EventID]
		mu.Unlock()
		switch {
		case m.EventID == "bad":
			return processors.Reject(errors.New("invalid"))
		case m.EventID == "flaky" && n == 1:
			return errors.New("try again")
		}
		return nil
	}
	r := &processors.Runner{JS: js, Observe: pm.Observe}
	rctx, rcancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- r.Run(rctx, processors.Processor{Name: "mproc", Stream: streams.StreamIngest, Subjects: []string{"ingest.webhook.>"},
			Handler: h, BackoffInitial: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond})
	}()
	defer func() { rcancel(); <-done }()

	testutil.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		got := gather(t, reg)
		want := map[string]float64{
			`hookstream_processor_processed_total{processor="mproc",status="ok"}`:        5,
			`hookstream_processor_processed_total{processor="mproc",status="rejected"}`:  1,
			`hookstream_processor_processed_total{processor="mproc",status="retry"}`:     1,
			`hookstream_processor_redeliveries_total{processor="mproc"}`:                 1,
			`hookstream_processor_dead_letters_total{processor="mproc"}`:                 1,
			`hookstream_processor_duration_seconds_count{processor="mproc",status="ok"}`: 5,
			`hookstream_consumer_pending{consumer="idle",stream="INGEST"}`:               6,
			`hookstream_consumer_pending{consumer="mproc",stream="INGEST"}`:              0,
			`hookstream_consumer_ack_pending{consumer="mproc",stream="INGEST"}`:          0,
			`hookstream_dlq_messages{processor="mproc"}`:                                 1,
			`hookstream_stream_messages{stream="INGEST"}`:                                6,
			`hookstream_jetstream_scrape_ok`:                                             1,
		}
		for k, v := range want {
			if got[k] != v {
				return fmt.Errorf("%s = %v, want %v", k, got[k], v)
			}
		}
		return nil
	})
}

// gather flattens a registry into "name{labels}" → value (counters, gauges,
// histogram counts).
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			if ls := m.GetLabel(); len(ls) > 0 {
				key += "{"
				for i, l := range ls {
					if i > 0 {
						key += ","
					}
					key += fmt.Sprintf("%s=%q", l.GetName(), l.GetValue())
				}
				key += "}"
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				k := mf.GetName() + "_count" + key[len(mf.GetName()):]
				out[k] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
