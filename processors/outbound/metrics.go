package outbound

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterBreaker exports b on reg as two series labelled
// destination=<name>:
//
//	hookstream_outbound_circuit_state  0 closed, 1 half-open, 2 open
//	hookstream_outbound_circuit_opened_total  times the breaker opened
//
// Every destination registers the same families with its own label, so one
// registry holds them all; registering the same destination twice is not an
// error.
func RegisterBreaker(reg prometheus.Registerer, name string, b *Breaker) error {
	if reg == nil || b == nil {
		return nil
	}
	labels := prometheus.Labels{"destination": name}
	state := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "hookstream_outbound_circuit_state",
		Help:        "Circuit breaker state of an outbound destination: 0 closed, 1 half-open, 2 open.",
		ConstLabels: labels,
	}, func() float64 { return StateValue(b.State()) })
	opened := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "hookstream_outbound_circuit_opened_total",
		Help:        "How many times an outbound destination's circuit breaker opened.",
		ConstLabels: labels,
	}, func() float64 { return float64(b.Opened()) })
	for _, c := range []prometheus.Collector{state, opened} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return err
			}
		}
	}
	return nil
}

// StateValue maps a State to the gauge value: 0 closed, 1 half-open, 2 open.
func StateValue(s string) float64 {
	switch s {
	case StateOpen:
		return 2
	case StateHalfOpen:
		return 1
	}
	return 0
}
