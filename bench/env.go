package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/projections"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// env is one bench run's machinery: a work directory, Postgres, and the
// processes it starts. close releases everything in reverse order.
type env struct {
	o       Options
	p       params
	dir     string
	pg      *projections.Local
	admin   string // connection string of a database to run CREATE DATABASE in
	created []string
	pgPID   int
	closers []func()
}

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.o.Log, "hsbench: "+format+"\n", args...)
}

func (e *env) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// startPostgres uses DATABASE_URL's server, or starts a private cluster with
// the same settings `hookstream serve` uses (fsync and synchronous commit on:
// the projection figures are for durable commits).
func (e *env) startPostgres(ctx context.Context) error {
	if e.o.DatabaseURL != "" {
		e.admin = e.o.DatabaseURL
		return nil
	}
	pg, err := projections.StartLocal(ctx, projections.LocalConfig{Dir: filepath.Join(e.dir, "postgres"), Own: true})
	if err != nil {
		return fmt.Errorf("private postgres: %w", err)
	}
	e.pg = pg
	e.closers = append(e.closers, func() { pg.Stop() })
	e.admin = pg.URL
	e.pgPID = e.pgRoot()
	return nil
}

// pgRoot is the private cluster's postmaster pid (0 with DATABASE_URL).
func (e *env) pgRoot() int {
	if e.pg == nil {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(e.dir, "postgres", "pgdata", "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// snap starts measuring CPU use (target: the subprocess under test, or 0).
func (e *env) snap(target int) cpuSnap { return snapCPU(target, e.pgPID) }

// database creates a fresh, migrated database and returns its URL and a pool.
func (e *env) database(ctx context.Context, name string) (string, *pgxpool.Pool, error) {
	name = fmt.Sprintf("hsbench_%s_%d", name, os.Getpid())
	conn, err := pgx.Connect(ctx, e.admin)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", nil, fmt.Errorf("drop database %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	e.created = append(e.created, name)
	if e.pg == nil { // someone else's server: drop what we made
		e.closers = append(e.closers, func() {
			c, err := pgx.Connect(context.Background(), e.admin)
			if err == nil {
				_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") // best effort at exit
				c.Close(context.Background())
			}
		})
	}
	u, err := url.Parse(e.admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + name
	dsn := u.String()
	pool, err := projections.Open(ctx, dsn)
	if err != nil {
		return "", nil, err
	}
	e.closers = append(e.closers, pool.Close)
	if _, err := projections.Migrate(ctx, pool); err != nil {
		return "", nil, fmt.Errorf("migrate %s: %w", name, err)
	}
	return dsn, pool, nil
}

// webhooks creates n Standard Webhooks webhooks in workspace. Their rate
// limit is set far above any load the bench offers: the figures are about
// the pipeline, not the per-webhook limiter's configuration.
func webhooks(ctx context.Context, pool *pgxpool.Pool, workspace string, n int) ([]webhookRef, error) {
	store := &webhooksdb.Webhooks{DB: pool}
	var out []webhookRef
	for i := 0; i < n; i++ {
		w, err := store.Create(ctx, &webhooksdb.Webhook{WorkspaceID: workspace, Name: fmt.Sprintf("hsbench %d", i),
			AuthScheme: "standard", RateLimit: 1e6})
		if err != nil {
			return nil, fmt.Errorf("create webhook: %w", err)
		}
		if len(w.Secrets) == 0 {
			return nil, errors.New("create webhook: no secret generated")
		}
		out = append(out, webhookRef{ID: w.ID, Workspace: w.WorkspaceID, Secret: w.Secrets[0].Value})
	}
	return out, nil
}

// natsEnv is an embedded JetStream server in this process, configured as
// `hookstream serve` configures its own (streams.StartServer, file storage,
// in-process client connection, streams.Ensure with the defaults).
type natsEnv struct {
	ns *server.Server
	nc *nats.Conn
	js jetstream.JetStream
}

func startNATS(ctx context.Context, dir string) (*natsEnv, error) {
	ns, err := streams.StartServer(streams.ServerConfig{StoreDir: dir, Listen: "off"})
	if err != nil {
		return nil, err
	}
	nc, err := streams.Connect("", ns, "hsbench", nil)
	if err != nil {
		ns.Shutdown()
		return nil, err
	}
	js, err := streams.JetStream(nc)
	if err == nil {
		err = streams.Ensure(ctx, js, streams.DefaultConfig())
	}
	if err != nil {
		nc.Close()
		ns.Shutdown()
		return nil, err
	}
	return &natsEnv{ns: ns, nc: nc, js: js}, nil
}

func (n *natsEnv) close() {
	n.nc.Close()
	n.ns.Shutdown()
	n.ns.WaitForShutdown()
}

// connectNATS connects over TCP to a subprocess's embedded server.
func connectNATS(addr string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := streams.Connect("nats://"+addr, nil, "hsbench", nil)
	if err != nil {
		return nil, nil, err
	}
	js, err := streams.JetStream(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

func streamMsgs(ctx context.Context, js jetstream.JetStream, name string) (uint64, error) {
	st, err := js.Stream(ctx, name)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr() (string, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// proc is a subprocess (the hookstream binary, or this program in a child
// role).
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

func (e *env) start(name, bin string, args []string, extraEnv ...string) (*proc, error) {
	logPath := filepath.Join(e.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// Not CommandContext: a child is stopped by stop(), with SIGTERM first.
	cmd := exec.Command(bin, args...) //nolint:noctx // see above
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); f.Close(); close(p.done) }()
	e.closers = append(e.closers, func() { p.stop() })
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down (SIGTERM), and kills it after 30 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM) // it may have just exited; done says
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the last lines of the process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return strings.Join(lines, "\n")
}

// waitHTTP polls GET addr+path until it answers 200.
func waitHTTP(ctx context.Context, p *proc, addr, path string, limit time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for i := 0; time.Now().Before(deadline); i++ {
		if p.exited() {
			return fmt.Errorf("%s exited: %w\n%s", p.name, p.err, p.tail())
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not answer %s within %v\n%s", p.name, path, limit, p.tail())
}

// procStatusKB reads a "Vm…:  N kB" line of /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rssSampler records a process's largest VmRSS while it runs (VmHWM, read at
// the end, is the kernel's own peak).
type rssSampler struct {
	pid  int
	stop chan struct{}
	done chan struct{}
	max  int64
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; i < 100000; i++ {
			if v, err := procStatusKB(pid, "VmRSS"); err == nil && v > s.max {
				s.max = v
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// finish stops sampling and returns (max VmRSS, VmHWM) in kB.
func (s *rssSampler) finish() (int64, int64) {
	close(s.stop)
	<-s.done
	hwm, _ := procStatusKB(s.pid, "VmHWM")
	return s.max, hwm
}
