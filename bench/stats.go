package bench

import (
	"math"
	"slices"
	"time"
)

// Latency summarizes a sample, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
}

// latencyOf sorts ds (in place) and summarizes it; percentiles are nearest
// rank.
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var sum float64
	for _, d := range ds {
		sum += ms(d)
	}
	return Latency{
		N:    len(ds),
		Mean: round3(sum / float64(len(ds))),
		P50:  round3(ms(rank(ds, 0.50))),
		P95:  round3(ms(rank(ds, 0.95))),
		P99:  round3(ms(rank(ds, 0.99))),
		Max:  round3(ms(ds[len(ds)-1])),
	}
}

func rank(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
