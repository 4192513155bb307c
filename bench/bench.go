// Package bench is Hookstream's load bench (`make bench`, cmd/hsbench): it
// measures the machine's own ceilings (a bare net/http handler, raw
// JetStream publishes) and the pipeline against them in the same run — the
// gateway (the real binary), end-to-end latency (the real binary in serve
// mode), the contacts projection draining a backlog and a rebuild — and
// prints every figure next to its target. See README.md.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/ops/replay"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/contacts"
	"github.com/hookstream/hookstream/streams"
)

// Modes.
const (
	ModeSmoke   = "smoke"   // a few seconds, small counts: proves the harness works
	ModeDefault = "default" // make bench: < 5 minutes on 2 cores
	ModeFull    = "full"    // BENCH=full: the 1,000,000-event rebuild
)

// Options configure a run.
type Options struct {
	Mode    string
	Profile bool   // write CPU profiles into OutDir
	OutDir  string // profiles (default bench/out)
	// Bin is the hookstream binary; empty builds one into the work dir.
	Bin string
	// Conns is the load generator's connection count (default 64).
	Conns int
	// DatabaseURL uses that server (fresh hsbench_* databases, dropped at
	// the end) instead of a private cluster.
	DatabaseURL string
	// Log receives progress lines (default os.Stderr).
	Log io.Writer
	// Keep leaves the work directory (logs, stores) in place.
	Keep bool
	// Phases limits the run to some phases (http, jetstream, gateway,
	// e2e, projection); empty runs all.
	Phases []string
	// Backlog, RebuildEvents and DrainCap override the mode's projection
	// sizes (0 keeps them).
	Backlog       int
	RebuildEvents int
	DrainCap      time.Duration
}

func (o Options) runs(phase string) bool {
	if len(o.Phases) == 0 {
		return true
	}
	for _, p := range o.Phases {
		if p == phase {
			return true
		}
	}
	return false
}

// params are the sizes and durations of one mode.
type params struct {
	warm          time.Duration // warm-up before each closed-loop run
	ceilDur       time.Duration
	gwDur         time.Duration
	gwMaxReqs     int
	openRate      float64
	openDur       time.Duration
	e2eRate       float64
	e2eDur        time.Duration
	backlog       int
	rebuildEvents int
	drainCap      time.Duration // longest a drain (projection or rebuild) may take
	hard          time.Duration // the whole run's time bound
}

func paramsFor(mode string) (params, error) {
	p := params{
		warm: time.Second, ceilDur: 8 * time.Second, gwDur: 10 * time.Second, gwMaxReqs: 400_000,
		openRate: 5000, openDur: 10 * time.Second, e2eRate: 1000, e2eDur: 30 * time.Second,
		backlog: 100_000, rebuildEvents: 100_000, drainCap: 45 * time.Second, hard: 12 * time.Minute,
	}
	switch mode {
	case ModeDefault, "":
	case ModeFull:
		p.rebuildEvents, p.drainCap, p.hard = 1_000_000, 45*time.Minute, 3*time.Hour
	case ModeSmoke:
		p = params{
			warm: 200 * time.Millisecond, ceilDur: 700 * time.Millisecond, gwDur: 700 * time.Millisecond,
			gwMaxReqs: 30_000, openRate: 500, openDur: 700 * time.Millisecond, e2eRate: 200,
			e2eDur: time.Second, backlog: 400, rebuildEvents: 400, drainCap: 30 * time.Second, hard: 3 * time.Minute,
		}
	default:
		return p, fmt.Errorf("unknown mode %q (smoke, default, full)", mode)
	}
	return p, nil
}

// Run runs every phase and returns the results. A phase that fails is
// recorded in Results.Errors and the others still run; the returned error
// joins the failures.
func Run(ctx context.Context, o Options) (*Results, error) {
	p, err := paramsFor(o.Mode)
	if err != nil {
		return nil, err
	}
	if o.Backlog > 0 {
		p.backlog = o.Backlog
		p.rebuildEvents = max(p.rebuildEvents, o.Backlog)
		if o.Mode != ModeFull {
			p.rebuildEvents = o.Backlog
		}
	}
	if o.RebuildEvents > 0 {
		p.rebuildEvents = max(o.RebuildEvents, p.backlog)
	}
	if o.DrainCap > 0 {
		p.drainCap = o.DrainCap
	}
	if o.Mode == "" {
		o.Mode = ModeDefault
	}
	if o.Conns <= 0 {
		o.Conns = 64
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join("bench", "out")
	}
	ctx, cancel := context.WithTimeout(ctx, p.hard)
	defer cancel()
	dir, err := os.MkdirTemp("", "hsbench-")
	if err != nil {
		return nil, err
	}
	// The private cluster runs as the postgres user when we are root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	e := &env{o: o, p: p, dir: dir}
	defer func() {
		e.close()
		if o.Keep {
			e.logf("work directory kept: %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	res := &Results{Mode: o.Mode, Started: time.Now().UTC(), Machine: machine(), Conns: o.Conns}
	if o.Profile {
		if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
			return nil, err
		}
	}
	bin, err := e.binary(ctx)
	if err != nil {
		return nil, err
	}
	e.logf("mode %s, %d connections, binary %s, work dir %s", o.Mode, o.Conns, bin, dir)
	busy := snapCPU(0, 0)
	time.Sleep(time.Second)
	res.BusyBefore = busy.since().Machine
	if res.BusyBefore > 0.2 {
		e.logf("WARNING: the machine is busy (%.2f cores in use before the run): figures will be low", res.BusyBefore)
	}
	t0 := time.Now()
	if err := e.startPostgres(ctx); err != nil {
		return nil, err
	}
	e.logf("postgres ready (%.1fs)", time.Since(t0).Seconds())

	var errs []error
	phase := func(name string, fn func() error) {
		if !o.runs(strings.SplitN(name, "-", 2)[0]) {
			return
		}
		if ctx.Err() != nil {
			errs = append(errs, fmt.Errorf("%s: not run: %w", name, ctx.Err()))
			res.Errors = append(res.Errors, name+": not run: "+ctx.Err().Error())
			return
		}
		start := time.Now()
		e.logf("== %s", name)
		if err := fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			res.Errors = append(res.Errors, name+": "+err.Error())
			e.logf("%s FAILED: %v", name, err)
			return
		}
		e.logf("%s done (%.1fs)", name, time.Since(start).Seconds())
	}
	phase("http-ceiling", func() error { return e.httpCeiling(ctx, res) })
	phase("jetstream-ceiling", func() error { return e.jetstreamCeiling(ctx, res) })
	phase("gateway", func() error { return e.gateway(ctx, res, bin) })
	if o.Profile {
		phase("gateway-profile", func() error { return e.gatewayProfile(ctx, res) })
	}
	phase("e2e", func() error { return e.endToEnd(ctx, res, bin) })
	phase("projection", func() error { return e.projection(ctx, res) })
	res.Seconds = round3(time.Since(res.Started).Seconds())
	res.finish()
	return res, errors.Join(errs...)
}

// binary returns the hookstream binary to run, building it when none was
// given.
func (e *env) binary(ctx context.Context) (string, error) {
	if e.o.Bin != "" {
		if _, err := os.Stat(e.o.Bin); err != nil {
			return "", fmt.Errorf("hookstream binary: %w", err)
		}
		return filepath.Abs(e.o.Bin)
	}
	out := filepath.Join(e.dir, "hookstream")
	e.logf("building %s", out)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/hookstream/hookstream/cmd/hookstream")
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, b)
	}
	return out, nil
}

// self is this program, re-executed in a child role.
func self() (string, error) { return os.Executable() }

// profilePath names a profile file, or "" when not profiling.
func (e *env) profilePath(res *Results, name string) string {
	if !e.o.Profile {
		return ""
	}
	p, _ := filepath.Abs(filepath.Join(e.o.OutDir, name+".cpu.pprof"))
	res.Profiles = append(res.Profiles, p)
	return p
}

// inProcessProfile profiles this process until the returned stop is called.
func (e *env) inProcessProfile(res *Results, name string) func() {
	path := e.profilePath(res, name)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		e.logf("profile %s: %v", name, err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		e.logf("profile %s: %v", name, err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

func runTag() string {
	return strconv.FormatInt(time.Now().UnixNano()%1e10, 36)
}

// 1. HTTP ceiling: a bare handler that reads the body and answers 200, in
// its own process, with the same server settings, requests and generator.
func (e *env) httpCeiling(ctx context.Context, res *Results) error {
	exe, err := self()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	env := []string{envChild + "=bare", envAddr + "=" + addr}
	if p := e.profilePath(res, "http-ceiling"); p != "" {
		env = append(env, envProfile+"="+p)
	}
	p, err := e.start("bare", exe, nil, env...)
	if err != nil {
		return err
	}
	defer p.stop()
	if err := waitHTTP(ctx, p, addr, "/", 30*time.Second); err != nil {
		return err
	}
	// Requests signed for real webhooks; the bare handler ignores them.
	whs := []webhookRef{{ID: "wh_ceiling", Workspace: "bench", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
	reqs := buildRequests(addr, whs, "c"+runTag(), 0, 50_000)
	cl, err := dialPool(addr, e.o.Conns)
	if err != nil {
		return err
	}
	defer cl.close()
	cl.closedLoop(reqs, e.p.warm, true)
	snap := e.snap(p.pid())
	r := cl.closedLoop(reqs, e.p.ceilDur, true)
	res.CPU = append(res.CPU, PhaseCPU{Phase: "http-ceiling", Use: snap.since()})
	res.HTTPCeiling = r
	e.logf("http ceiling: %.0f req/s, p99 %.2f ms, %d errors", r.RPS, r.Latency.P99, r.Errors)
	if r.Requests == 0 {
		return fmt.Errorf("no successful request (%s)", r.FirstError)
	}
	return nil
}

// 2. JetStream ceiling: as many concurrent publishers as the generator has
// connections, each publishing the gateway's envelope (unique Nats-Msg-Id,
// same headers and body) with PublishMsgAsync and waiting for its PubAck, to
// INGEST on an embedded server configured like the gateway's.
func (e *env) jetstreamCeiling(ctx context.Context, res *Results) error {
	n, err := startNATS(ctx, filepath.Join(e.dir, "nats-ceiling"))
	if err != nil {
		return err
	}
	defer n.close()
	wh := webhookRef{ID: "wh_ceiling", Workspace: "bench"}
	tag := "j" + runTag()
	run := func(d time.Duration, prefix string) loadResult {
		var next atomic.Int64
		stats := make([]*runStats, e.o.Conns)
		start := time.Now()
		deadline := start.Add(d)
		var wg sync.WaitGroup
		for i := range stats {
			st := &runStats{lat: make([]time.Duration, 0, 1024)}
			stats[i] = st
			// One message per publisher, re-used once its ack is in: only
			// the dedup id changes, so the ceiling pays no allocation the
			// gateway would not.
			m := envelope(wh, tag, i, time.Now())
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < 50_000_000; k++ {
					t0 := time.Now()
					if !t0.Before(deadline) {
						return
					}
					m.Header[streams.HdrMsgID] = []string{prefix + strconv.FormatInt(next.Add(1), 10)}
					status, err := publishWait(ctx, n.js, m)
					st.record(status, err, time.Since(t0))
				}
			}()
		}
		wg.Wait()
		return merge(stats, time.Since(start))
	}
	run(e.p.warm, "wh:wh_ceiling:w"+tag+"_")
	snap := e.snap(0)
	r := run(e.p.ceilDur, "wh:wh_ceiling:m"+tag+"_")
	res.CPU = append(res.CPU, PhaseCPU{Phase: "jetstream-ceiling", Use: snap.since()})
	res.JetStreamCeiling = r
	e.logf("jetstream ceiling: %.0f msg/s, p99 %.2f ms, %d errors", r.RPS, r.Latency.P99, r.Errors)
	if r.Requests == 0 {
		return fmt.Errorf("no acknowledged publish (%s)", r.FirstError)
	}
	return nil
}

// publishWait publishes asynchronously and waits for the PubAck, as
// streams.Publisher does; it returns an HTTP-like status for the stats.
func publishWait(ctx context.Context, js jetstream.JetStream, m *nats.Msg) (int, error) {
	f, err := js.PublishMsgAsync(m)
	if err != nil {
		return 0, err
	}
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-f.Ok():
		return 200, nil
	case err := <-f.Err():
		return 0, err
	case <-t.C:
		return 0, errors.New("no PubAck within 10s")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// 3 and 7. The gateway: the real binary in `gateway` mode (embedded NATS,
// Postgres-backed webhook config), signed Standard Webhooks posts at fixed
// concurrency and then open loop at a fixed rate; its peak RSS meanwhile.
func (e *env) gateway(ctx context.Context, res *Results, bin string) error {
	run, err := e.runBinary(ctx, bin, "gateway")
	if err != nil {
		return err
	}
	defer run.p.stop()
	p, whs, addr, natsAddr := run.p, run.whs, run.addr, run.natsAddr
	rss := sampleRSS(p.pid())
	tag := "g" + runTag()
	warm := buildRequests(addr, whs, tag+"w", 0, 40_000)
	reqs := buildRequests(addr, whs, tag+"c", 0, e.p.gwMaxReqs)
	open := buildRequests(addr, whs, tag+"o", 0, int(e.p.openRate*e.p.openDur.Seconds()))
	cl, err := dialPool(addr, e.o.Conns)
	if err != nil {
		return err
	}
	defer cl.close()
	w := cl.closedLoop(warm, e.p.warm, false)
	snap := e.snap(p.pid())
	r := cl.closedLoop(reqs, e.p.gwDur, false)
	res.CPU = append(res.CPU, PhaseCPU{Phase: "gateway", Use: snap.since()})
	res.Gateway = r
	e.logf("gateway: %.0f req/s, p50 %.2f p95 %.2f p99 %.2f ms, %d errors %v", r.RPS, r.Latency.P50,
		r.Latency.P95, r.Latency.P99, r.Errors, r.Status)
	// Let the queue empty before the open-loop run.
	time.Sleep(500 * time.Millisecond)
	snap = e.snap(p.pid())
	o := cl.openLoop(open, e.p.openRate, 30*time.Second, nil)
	res.CPU = append(res.CPU, PhaseCPU{Phase: "gateway-open-loop", Use: snap.since()})
	res.GatewayOpen = o
	e.logf("gateway open loop %.0f req/s: p50 %.2f p95 %.2f p99 %.2f ms, %d errors", o.Offered,
		o.Latency.P50, o.Latency.P95, o.Latency.P99, o.Errors)
	maxRSS, hwm := rss.finish()
	res.RSS = RSS{PeakMB: round3(float64(hwm) / 1024), SampledMaxMB: round3(float64(maxRSS) / 1024)}
	e.logf("gateway peak RSS (VmHWM) %.1f MB", res.RSS.PeakMB)
	// Every 2xx must be in the stream.
	nc, js, err := connectNATS(natsAddr)
	if err != nil {
		return fmt.Errorf("checking the stream: %w", err)
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stored, err := streamMsgs(cctx, js, streams.StreamIngest)
	if err != nil {
		return fmt.Errorf("checking the stream: %w", err)
	}
	res.GatewayStored = stored
	acked := uint64(w.Requests + r.Requests + o.Requests)
	if stored < acked {
		return fmt.Errorf("INGEST holds %d messages but the gateway acknowledged %d", stored, acked)
	}
	if r.Requests == 0 || o.Requests == 0 {
		return fmt.Errorf("no accepted request (closed loop: %s; open loop: %s)", r.FirstError, o.FirstError)
	}
	return nil
}

// binaryRun is the hookstream binary running one pipeline verb on a fresh
// database holding the bench's webhooks.
type binaryRun struct {
	p              *proc
	pool           *pgxpool.Pool
	whs            []webhookRef
	addr, natsAddr string // HTTP and NATS client listeners
}

// runBinary starts `hookstream <verb>` (gateway or serve) on its own
// database, data directory and free ports, and waits until it is ready.
func (e *env) runBinary(ctx context.Context, bin, verb string, extraEnv ...string) (*binaryRun, error) {
	dbURL, pool, err := e.database(ctx, verb)
	if err != nil {
		return nil, err
	}
	r := &binaryRun{pool: pool}
	if r.whs, err = webhooks(ctx, pool, "bench", 16); err != nil {
		return nil, err
	}
	if r.addr, err = freeAddr(); err != nil {
		return nil, err
	}
	if r.natsAddr, err = freeAddr(); err != nil {
		return nil, err
	}
	r.p, err = e.start(verb, bin, []string{verb, "--data-dir", filepath.Join(e.dir, verb),
		"--http-addr", r.addr, "--nats-listen", r.natsAddr, "--database-url", dbURL, "--log-level", "warn"}, extraEnv...)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(ctx, r.p, r.addr, "/readyz", 60*time.Second); err != nil {
		r.p.stop()
		return nil, err
	}
	return r, nil
}

// gatewayProfile repeats the closed-loop gateway run against a child wired
// like the binary but writing a CPU profile.
func (e *env) gatewayProfile(ctx context.Context, res *Results) error {
	exe, err := self()
	if err != nil {
		return err
	}
	dbURL, pool, err := e.database(ctx, "gwprof")
	if err != nil {
		return err
	}
	whs, err := webhooks(ctx, pool, "bench", 16)
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	p, err := e.start("gateway-profile", exe, nil, envChild+"=gateway", envAddr+"="+addr,
		envDir+"="+filepath.Join(e.dir, "gateway-profile"), envDB+"="+dbURL,
		envProfile+"="+e.profilePath(res, "gateway"))
	if err != nil {
		return err
	}
	defer p.stop()
	if err := waitHTTP(ctx, p, addr, "/healthz", 60*time.Second); err != nil {
		return err
	}
	tag := "p" + runTag()
	warm := buildRequests(addr, whs, tag+"w", 0, 40_000)
	reqs := buildRequests(addr, whs, tag+"c", 0, e.p.gwMaxReqs)
	cl, err := dialPool(addr, e.o.Conns)
	if err != nil {
		return err
	}
	defer cl.close()
	cl.closedLoop(warm, e.p.warm, false)
	stopProf := e.inProcessProfile(res, "loadgen")
	r := cl.closedLoop(reqs, e.p.gwDur, false)
	stopProf()
	res.GatewayProfiled = &r
	e.logf("gateway (profiled child): %.0f req/s, p99 %.2f ms", r.RPS, r.Latency.P99)
	return nil
}

// 4. End to end: the real binary in serve mode (gateway + processors), open
// loop at a fixed rate; latency from the gateway's receipt to the contact's
// commit, from the timestamps the pipeline records, and — measured by the
// bench itself — from the scheduled send to the result announcement the
// contacts processor publishes after its commit.
func (e *env) endToEnd(ctx context.Context, res *Results, bin string) error {
	var penv []string
	if pp := e.profilePath(res, "serve"); pp != "" {
		penv = append(penv, "HOOKSTREAM_CPU_PROFILE="+pp)
	}
	run, err := e.runBinary(ctx, bin, "serve", penv...)
	if err != nil {
		return err
	}
	defer run.p.stop()
	p, pool, whs, addr, natsAddr := run.p, run.pool, run.whs, run.addr, run.natsAddr
	nc, _, err := connectNATS(natsAddr)
	if err != nil {
		return err
	}
	defer nc.Close()

	tag := "e" + runTag()
	n := int(e.p.e2eRate * e.p.e2eDur.Seconds())
	index := make(map[string]int, n)
	for i := 0; i < n; i++ {
		index[processors.ResultSubject(eventID(whs[i%len(whs)], tag, i), contacts.Name)] = i
	}
	sched := make([]atomic.Int64, n)
	seen := make([]atomic.Int64, n)
	var announced atomic.Int64
	sub, err := nc.Subscribe("_HS.results.*."+contacts.Name, func(m *nats.Msg) {
		if i, ok := index[m.Subject]; ok && seen[i].CompareAndSwap(0, time.Now().UnixNano()) {
			announced.Add(1)
		}
	})
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return err
	}
	if err := nc.Flush(); err != nil {
		return err
	}
	cl, err := dialPool(addr, e.o.Conns)
	if err != nil {
		return err
	}
	defer cl.close()
	// Warm-up: a second of traffic, processed before the measured run.
	warm := buildRequests(addr, whs, tag+"w", 0, int(e.p.e2eRate))
	cl.openLoop(warm, e.p.e2eRate, 10*time.Second, nil)
	if err := waitCount(ctx, pool, likeEvents(tag+"w"), len(warm), 30*time.Second); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	reqs := buildRequests(addr, whs, tag, 0, n)
	snap := e.snap(p.pid())
	r := cl.openLoop(reqs, e.p.e2eRate, 30*time.Second, func(i int, t time.Time) { sched[i].Store(t.UnixNano()) })
	if err := waitCount(ctx, pool, likeEvents(tag), r.Requests, 30*time.Second); err != nil {
		e.logf("end to end: %v", err)
	}
	res.CPU = append(res.CPU, PhaseCPU{Phase: "end-to-end", Use: snap.since()})
	// Recorded: the gateway's receipt (Hs-Received-At, kept as
	// event_outcomes.received_at) to the outcome row, written right after
	// the contact's transaction committed (and its events were published
	// and the delivery acknowledged): an upper bound of receipt → commit.
	rows, err := pool.Query(ctx, `SELECT EXTRACT(EPOCH FROM (at - received_at))::float8 FROM event_outcomes
		WHERE processor=$1 AND status=$2 AND received_at IS NOT NULL AND event_id LIKE $3`,
		contacts.Name, processors.StatusOK, likeEvents(tag))
	if err != nil {
		return err
	}
	var rec []time.Duration
	for rows.Next() {
		var s float64
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		rec = append(rec, time.Duration(s*float64(time.Second)))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var obs []time.Duration
	for i := range seen {
		if s, t := sched[i].Load(), seen[i].Load(); s > 0 && t > 0 {
			obs = append(obs, time.Duration(t-s))
		}
	}
	res.E2E = E2E{Offered: e.p.e2eRate, Seconds: e.p.e2eDur.Seconds(), Sent: n, Accepted: r.Requests,
		Errors: r.Errors, Committed: len(rec), Recorded: latencyOf(rec), Observed: latencyOf(obs), HTTP: r.Latency}
	if h, err := handlerLatency(ctx, pool, likeEvents(tag), time.Time{}); err == nil {
		res.E2E.Handler = h
	}
	e.logf("end to end: %d accepted, %d committed; receipt→commit p50 %.2f p95 %.2f p99 %.2f ms; send→announced p99 %.2f ms",
		r.Requests, len(rec), res.E2E.Recorded.P50, res.E2E.Recorded.P95, res.E2E.Recorded.P99, res.E2E.Observed.P99)
	if len(rec) == 0 {
		return fmt.Errorf("no contact committed (%d accepted, first error %q)\n%s", r.Requests, r.FirstError, p.tail())
	}
	return nil
}

// handlerLatency summarizes the contacts handler's own durations (the
// runner's event_outcomes.duration_ms: parse, transaction, commit, outbox
// publish) for events like pattern recorded since t.
func handlerLatency(ctx context.Context, pool *pgxpool.Pool, pattern string, since time.Time) (Latency, error) {
	rows, err := pool.Query(ctx, `SELECT duration_ms FROM event_outcomes WHERE processor=$1 AND event_id LIKE $2
		AND at >= $3`, contacts.Name, pattern, since)
	if err != nil {
		return Latency{}, err
	}
	defer rows.Close()
	var ds []time.Duration
	for rows.Next() {
		var v float64
		if err := rows.Scan(&v); err != nil {
			return Latency{}, err
		}
		ds = append(ds, time.Duration(v*float64(time.Millisecond)))
	}
	return latencyOf(ds), rows.Err()
}

// likeEvents is a LIKE pattern for the event ids of a run tag.
func likeEvents(tag string) string { return `wh:%:msg\_` + tag + `\_%` }

// waitCount waits until the contacts processor recorded n ok outcomes for
// event ids like pattern.
func waitCount(ctx context.Context, pool *pgxpool.Pool, pattern string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	got := 0
	for time.Now().Before(deadline) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM event_outcomes WHERE processor=$1 AND event_id LIKE $2
			AND status IN ('ok','duplicate')`, contacts.Name, pattern).Scan(&got); err != nil {
			return err
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%d of %d events processed after %v", got, n, limit)
}

// 5 and 6. The contacts projection: publish a backlog with the processor
// stopped, then run it (as `hookstream process --only contacts` does:
// pipeline.New with the defaults) and time the drain. Then, with the
// processor still running, rebuild it the way `hookstream replay
// --rebuild --processor contacts` does (ops/replay: pause, clear the
// projection and ledger, reset the consumer to sequence 1, resume, wait) and
// time that.
func (e *env) projection(ctx context.Context, res *Results) error {
	_, pool, err := e.database(ctx, "projection")
	if err != nil {
		return err
	}
	whs, err := webhooks(ctx, pool, "bench", 16)
	if err != nil {
		return err
	}
	// The processors as `hookstream process --only contacts` builds and runs
	// them (runner, outcomes, dead-letter capture), on an embedded JetStream
	// server and the bench's database.
	cfg := pipeline.DefaultConfig()
	cfg.Gateway, cfg.Only = false, []string{contacts.Name}
	cfg.DataDir, cfg.NATSListen = filepath.Join(e.dir, "projection"), "off"
	p, err := pipeline.New(ctx, cfg, pipeline.Deps{Conns: pipeline.Conns{DB: pool}, Name: "hsbench"})
	if err != nil {
		return err
	}
	defer p.Close()
	js := p.JS
	tag := "b" + runTag()
	if err := publishBacklog(ctx, js, whs, tag, 0, e.p.backlog); err != nil {
		return err
	}
	e.logf("backlog of %d events published", e.p.backlog)

	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopProf := e.inProcessProfile(res, "contacts")
	snap := e.snap(0)
	start := time.Now()
	go func() { done <- p.RunProcessors(rctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				e.logf("the contacts runner stopped: %v", err)
			}
		case <-time.After(60 * time.Second):
			e.logf("the contacts runner did not stop within 60s")
		}
	}()
	complete, err := e.waitDrained(ctx, js, done, start.Add(e.p.drainCap))
	stopProf()
	res.Contacts, err = e.drainResult(ctx, js, pool, e.p.backlog, time.Since(start), snap.since(), complete, start, tag, err)
	if err != nil {
		return fmt.Errorf("contacts: %w", err)
	}
	e.logf("contacts: %d events in %.1fs = %.0f events/s", res.Contacts.Done, res.Contacts.Seconds, res.Contacts.Rate)

	if extra := e.p.rebuildEvents - e.p.backlog; extra > 0 {
		// Held back while the rest of the backlog is published.
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := js.PauseConsumer(pctx, streams.StreamIngest, contacts.Name, time.Now().Add(time.Hour))
		pcancel()
		if err != nil {
			return fmt.Errorf("pausing contacts: %w", err)
		}
		e.logf("publishing %d more events for the rebuild", extra)
		if err := publishBacklog(ctx, js, whs, tag, e.p.backlog, extra); err != nil {
			return err
		}
	}
	stopProf = e.inProcessProfile(res, "rebuild")
	snap = e.snap(0)
	start = time.Now()
	bctx, bcancel := context.WithTimeout(ctx, e.p.drainCap)
	r := &replay.Replayer{JS: js, DB: pool, Log: p.Log}
	// Force: the runner above is live, but while it works through a
	// backlog every handler slot is busy and no pull request waits, which
	// replay's liveness check (NumWaiting > 0) reads as "not running".
	sum, err := r.Rebuild(bctx, replay.RebuildOptions{Processors: []string{contacts.Name}, Force: true})
	capped := errors.Is(bctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	bcancel()
	stopProf()
	complete = err == nil
	if err != nil && capped {
		err = nil // the drain cap: report what was done in the time
	}
	res.Rebuild, err = e.drainResult(ctx, js, pool, e.p.rebuildEvents, time.Since(start), snap.since(), complete, start, tag, err)
	if sum != nil {
		res.Rebuild.ReplaySeconds, res.Rebuild.ReplayRate = round3(sum.Seconds), round3(sum.EventsPerSecond)
	}
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	e.logf("rebuild: %d events in %.1fs = %.0f events/s", res.Rebuild.Done, res.Rebuild.Seconds, res.Rebuild.Rate)
	return nil
}

// waitDrained waits until the contacts consumer has nothing pending and
// nothing unacknowledged (true), or the deadline passes (false).
func (e *env) waitDrained(ctx context.Context, js jetstream.JetStream, done chan error, deadline time.Time) (bool, error) {
	var last *jetstream.ConsumerInfo
	defer func() {
		if last != nil && (last.NumPending > 0 || last.NumAckPending > 0) {
			e.logf("contacts consumer at the drain cap: %d pending, %d unacknowledged, %d redelivered, delivered up to %d, ack floor %d",
				last.NumPending, last.NumAckPending, last.NumRedelivered, last.Delivered.Stream, last.AckFloor.Stream)
		}
	}()
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Errorf("runner stopped: %w", err)
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		ictx, icancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := js.Consumer(ictx, streams.StreamIngest, contacts.Name)
		if err == nil {
			info, err := c.Info(ictx)
			if err == nil {
				last = info
			}
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0 {
				icancel()
				return true, nil
			}
		}
		icancel()
	}
	return false, nil
}

// drainResult counts what a drain did.
func (e *env) drainResult(ctx context.Context, js jetstream.JetStream, pool *pgxpool.Pool, events int, elapsed time.Duration,
	use CPUUse, complete bool, start time.Time, tag string, runErr error) (Drain, error) {
	d := Drain{Events: events, Seconds: round3(elapsed.Seconds()), Complete: complete, CPU: use}
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var processed, contactsN, leadsN int64
	if err := pool.QueryRow(cctx, `SELECT (SELECT count(*) FROM processed WHERE processor=$1),
		(SELECT count(*) FROM contacts), (SELECT count(*) FROM leads)`, contacts.Name).Scan(&processed, &contactsN, &leadsN); err != nil {
		return d, err
	}
	d.Done, d.Contacts, d.Leads = int(processed), int(contactsN), int(leadsN)
	if dl, err := streamMsgs(cctx, js, streams.StreamDLQ); err == nil {
		d.DeadLettered = int(dl)
	}
	if d.Seconds > 0 {
		d.Rate = round3(float64(d.Done) / d.Seconds)
	}
	if h, err := handlerLatency(cctx, pool, likeEvents(tag), start.Add(-time.Second)); err == nil {
		d.Handler = h
	}
	switch {
	case runErr != nil:
		return d, runErr
	case d.Done == 0:
		return d, errors.New("nothing was processed")
	case !complete:
		e.logf("drain cap %v reached with %d of %d events done; the rate is over the time measured",
			e.p.drainCap, d.Done, events)
	}
	return d, nil
}

func machine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			m.MemGB = round3(float64(kb) / 1024 / 1024)
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// publishBacklog stores events from..from+count-1 in INGEST as the gateway
// would have, with asynchronous publishes in windows.
func publishBacklog(ctx context.Context, js jetstream.JetStream, whs []webhookRef, tag string, from, count int) error {
	const window = 4096
	now := time.Now()
	for i := from; i < from+count; i += window {
		end := min(i+window, from+count)
		for k := i; k < end; k++ {
			if _, err := js.PublishMsgAsync(envelope(whs[k%len(whs)], tag, k, now)); err != nil {
				return fmt.Errorf("publish backlog: %w", err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(30 * time.Second):
			return errors.New("publish backlog: acks did not arrive within 30s")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
