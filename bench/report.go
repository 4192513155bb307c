package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is everything one run measured (bench/results.json).
type Results struct {
	Mode    string    `json:"mode"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	Machine Machine   `json:"machine"`
	Conns   int       `json:"connections"`
	// BusyBefore is how many cores other processes kept busy in the second
	// before the run started.
	BusyBefore float64 `json:"busy_before_cores"`

	HTTPCeiling      loadResult  `json:"http_ceiling"`
	JetStreamCeiling loadResult  `json:"jetstream_ceiling"`
	Gateway          loadResult  `json:"gateway"`
	GatewayOpen      loadResult  `json:"gateway_open_loop"`
	GatewayStored    uint64      `json:"gateway_stored"` // INGEST messages after the gateway runs
	GatewayProfiled  *loadResult `json:"gateway_profiled,omitempty"`
	RSS              RSS         `json:"gateway_rss"`
	E2E              E2E         `json:"end_to_end"`
	Contacts         Drain       `json:"contacts_projection"`
	Rebuild          Drain       `json:"rebuild"`
	CPU              []PhaseCPU  `json:"cpu"`

	Figures  []Figure `json:"figures"`
	Profiles []string `json:"profiles,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs       int     `json:"cpus"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	CPUModel   string  `json:"cpu_model,omitempty"`
	MemGB      float64 `json:"mem_gb,omitempty"`
	Kernel     string  `json:"kernel,omitempty"`
	Go         string  `json:"go"`
	OS         string  `json:"os"`
}

// RSS of the gateway process during the gateway runs.
type RSS struct {
	PeakMB       float64 `json:"peak_mb"`        // VmHWM at the end of the runs
	SampledMaxMB float64 `json:"sampled_max_mb"` // largest VmRSS seen, sampled every 100 ms
}

// E2E is the end-to-end run.
type E2E struct {
	Offered   float64 `json:"offered_rps"`
	Seconds   float64 `json:"seconds"`
	Sent      int     `json:"sent"`
	Accepted  int     `json:"accepted"`
	Errors    int     `json:"errors"`
	Committed int     `json:"committed"`
	// Recorded: event_outcomes.at − received_at (gateway receipt → outcome
	// row written after the contact's commit).
	Recorded Latency `json:"receipt_to_commit_ms"`
	// Observed by the bench: scheduled send → the contacts result
	// announcement (published after commit).
	Observed Latency `json:"send_to_announced_ms"`
	// HTTP: the gateway's answers during the run (scheduled send → 2xx).
	HTTP Latency `json:"http_ms"`
	// Handler: the contacts handler's own time per event (outcome
	// duration_ms).
	Handler Latency `json:"handler_ms"`
}

// Drain is a projection run over a backlog.
type Drain struct {
	Events       int     `json:"events"`
	Done         int     `json:"processed"`
	Seconds      float64 `json:"seconds"`
	Rate         float64 `json:"events_per_s"`
	Complete     bool    `json:"complete"`
	DeadLettered int     `json:"dead_lettered"`
	Contacts     int     `json:"contacts"`
	Leads        int     `json:"leads"`
	CPU          CPUUse  `json:"cpu"`
	// Handler: the contacts handler's time per event (outcome duration_ms):
	// with its concurrency it bounds the rate.
	Handler Latency `json:"handler_ms"`
	// Rebuild only: what processors/replay's summary says (its clock starts
	// after the pause and covers the clear, the reset and the wait).
	ReplaySeconds float64 `json:"replay_seconds,omitempty"`
	ReplayRate    float64 `json:"replay_events_per_s,omitempty"`
}

// PhaseCPU is one phase's CPU use.
type PhaseCPU struct {
	Phase string `json:"phase"`
	Use   CPUUse `json:"use"`
}

// Figure is one line of the table: a measured value and its target.
type Figure struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target,omitempty"`
	Met    *bool   `json:"met,omitempty"`
	Miss   string  `json:"miss,omitempty"` // by how much a target is missed
	Note   string  `json:"note,omitempty"`
}

func atLeast(name string, v float64, unit string, goal float64, goalText string) Figure {
	f := Figure{Name: name, Value: v, Unit: unit, Target: "≥ " + goalText}
	if v == 0 {
		f.Note = "not measured"
		return f
	}
	met := v >= goal
	f.Met = &met
	if !met {
		short := goal - v
		f.Miss = fmt.Sprintf("short by %s (%.0f%%; %.2f× needed)", trimNum(short), 100*short/goal, goal/max(v, 1e-9))
	}
	return f
}

func atMost(name string, v float64, unit string, goal float64, goalText string) Figure {
	f := Figure{Name: name, Value: v, Unit: unit, Target: "≤ " + goalText}
	if v == 0 {
		f.Note = "not measured"
		return f
	}
	met := v <= goal
	f.Met = &met
	if !met {
		f.Miss = fmt.Sprintf("over by %s (%.0f%%; %.2f× the target)", trimNum(v-goal), 100*(v-goal)/goal, v/goal)
	}
	return f
}

func info(name string, v float64, unit, note string) Figure {
	return Figure{Name: name, Value: v, Unit: unit, Note: note}
}

func trimNum(v float64) string {
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// cpuOf returns a phase's CPU use.
func (r *Results) cpuOf(phase string) CPUUse {
	for _, c := range r.CPU {
		if c.Phase == phase {
			return c.Use
		}
	}
	return CPUUse{}
}

// perOp is CPU microseconds per operation at rate ops/s.
func perOp(cores, rate float64) float64 {
	if rate <= 0 {
		return 0
	}
	return cores * 1e6 / rate
}

// finish computes the figures.
func (r *Results) finish() {
	var fs []Figure
	hc := r.cpuOf("http-ceiling")
	fs = append(fs, info("HTTP ceiling (bare net/http)", round3(r.HTTPCeiling.RPS), "req/s",
		fmt.Sprintf("p99 %.2f ms; CPU/req: server %.0f µs, generator %.0f µs", r.HTTPCeiling.Latency.P99,
			perOp(hc.Target, r.HTTPCeiling.RPS), perOp(hc.Bench, r.HTTPCeiling.RPS))))
	jc := r.cpuOf("jetstream-ceiling")
	fs = append(fs, info("JetStream ceiling (async publish+PubAck)", round3(r.JetStreamCeiling.RPS), "msg/s",
		fmt.Sprintf("p99 %.2f ms; CPU/msg %.0f µs (client+server)", r.JetStreamCeiling.Latency.P99,
			perOp(jc.Bench, r.JetStreamCeiling.RPS))))
	g := r.Gateway
	gc := r.cpuOf("gateway")
	fg := atLeast(fmt.Sprintf("Gateway, %d connections", r.Conns), round3(g.RPS), "req/s", 20000, "20,000")
	if g.RPS > 0 {
		fg.Note = fmt.Sprintf("CPU/req: gateway %.0f µs, generator %.0f µs, postgres %.0f µs",
			perOp(gc.Target, g.RPS), perOp(gc.Bench, g.RPS), perOp(gc.Postgres, g.RPS))
	}
	fs = append(fs, fg)
	if r.HTTPCeiling.RPS > 0 {
		fs = append(fs, atLeast("Gateway / HTTP ceiling", round3(g.RPS/r.HTTPCeiling.RPS), "×", 0.35, "0.35"))
	}
	if r.JetStreamCeiling.RPS > 0 {
		fs = append(fs, info("Gateway / JetStream ceiling", round3(g.RPS/r.JetStreamCeiling.RPS), "×", ""))
	}
	fs = append(fs, info(fmt.Sprintf("Gateway, %d connections: p99", r.Conns), g.Latency.P99, "ms",
		fmt.Sprintf("p50 %.2f ms, p95 %.2f ms, %d errors", g.Latency.P50, g.Latency.P95, g.Errors)))
	o := r.GatewayOpen
	fo := atMost(fmt.Sprintf("Gateway open loop %.0f req/s: p99", o.Offered), o.Latency.P99, "ms", 10, "10 ms")
	fo.Note = fmt.Sprintf("p50 %.2f ms, p95 %.2f ms, %d errors", o.Latency.P50, o.Latency.P95, o.Errors)
	fs = append(fs, fo)
	e := r.E2E
	fs = append(fs, info(fmt.Sprintf("End to end %.0f req/s: p50 receipt→commit", e.Offered), e.Recorded.P50, "ms",
		fmt.Sprintf("p95 %.2f ms; %d of %d committed", e.Recorded.P95, e.Committed, e.Sent)))
	fe := atMost(fmt.Sprintf("End to end %.0f req/s: p99 receipt→commit", e.Offered), e.Recorded.P99, "ms", 25, "25 ms")
	ec := r.cpuOf("end-to-end")
	fe.Note = fmt.Sprintf("handler p50 %.1f ms, p99 %.1f ms; CPU/event: serve %.0f µs, postgres %.0f µs",
		e.Handler.P50, e.Handler.P99, perOp(ec.Target, e.Offered), perOp(ec.Postgres, e.Offered))
	if e.Committed < e.Accepted {
		fe.Note += fmt.Sprintf("; over the %d committed events only: %d more were not committed 30 s after the run, so the true p99 is higher",
			e.Committed, e.Accepted-e.Committed)
	}
	fs = append(fs, fe)
	fs = append(fs, info("End to end p99 send→announced (bench's clock)", e.Observed.P99, "ms",
		fmt.Sprintf("p50 %.2f ms", e.Observed.P50)))
	c := r.Contacts
	fc := atLeast(fmt.Sprintf("Contacts projection (%s backlog)", count(c.Events)), c.Rate, "events/s", 5000, "5,000")
	fc.Note = drainNote(c)
	fs = append(fs, fc)
	b := r.Rebuild
	fb := atLeast(fmt.Sprintf("Rebuild (%s events)", count(b.Events)), b.Rate, "events/s", 10000, "10,000")
	fb.Note = drainNote(b)
	fs = append(fs, fb)
	fs = append(fs, atMost("Gateway peak RSS (VmHWM)", r.RSS.PeakMB, "MB", 150, "150 MB"))
	r.Figures = fs
}

func drainNote(d Drain) string {
	s := fmt.Sprintf("handler p50 %.1f ms, p99 %.1f ms; CPU/event: processor %.0f µs, postgres %.0f µs",
		d.Handler.P50, d.Handler.P99, perOp(d.CPU.Bench, d.Rate), perOp(d.CPU.Postgres, d.Rate))
	if !d.Complete {
		s += fmt.Sprintf("; drain cap hit: %d of %d done", d.Done, d.Events)
	}
	return s
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// Table writes the figures with their targets.
func (r *Results) Table(w io.Writer) {
	fmt.Fprintf(w, "\nHookstream bench — mode %s, %d CPUs (%s), %s, %d connections, %.0fs\n\n",
		r.Mode, r.Machine.CPUs, r.Machine.CPUModel, r.Machine.Go, r.Conns, r.Seconds)
	if r.BusyBefore > 0.2 {
		fmt.Fprintf(w, "WARNING: other processes kept %.2f cores busy before the run (see OTHER below): the figures are low\n\n",
			r.BusyBefore)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tVALUE\tTARGET\tRESULT")
	for _, f := range r.Figures {
		result := f.Note
		if f.Met != nil {
			if *f.Met {
				result = "ok"
			} else {
				result = "MISSED " + f.Miss
			}
			if f.Note != "" {
				result += " — " + f.Note
			}
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\n", f.Name, formatValue(f.Value), f.Unit, f.Target, result)
	}
	tw.Flush()
	if len(r.CPU) > 0 || r.Contacts.Seconds > 0 {
		fmt.Fprintln(w, "\nCPU (cores busy; machine = all processes):")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PHASE\tMACHINE\tBENCH PROCESS\tTARGET PROCESS\tPOSTGRES\tOTHER")
		rows := append([]PhaseCPU(nil), r.CPU...)
		rows = append(rows, PhaseCPU{"contacts", r.Contacts.CPU}, PhaseCPU{"rebuild", r.Rebuild.CPU})
		for _, c := range rows {
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\n", c.Phase, c.Use.Machine, c.Use.Bench, c.Use.Target,
				c.Use.Postgres, c.Use.Other)
		}
		tw.Flush()
	}
	for _, p := range r.Profiles {
		fmt.Fprintf(w, "profile: %s\n", p)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "ERROR: %s\n", firstLine(e))
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func formatValue(v float64) string {
	switch {
	case v >= 1000:
		s := fmt.Sprintf("%.0f", v)
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		return b.String()
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// WriteJSON writes the results to path.
func (r *Results) WriteJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
