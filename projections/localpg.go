package projections

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// LocalConfig configures a private PostgreSQL cluster started from the
// machine's own binaries (used when DATABASE_URL is unset).
type LocalConfig struct {
	// Dir is where the cluster lives: Dir/pgdata and Dir/password.
	Dir string
	// Port to listen on (loopback only). 0 picks a free port.
	Port int
	// Fast trades durability for speed (fsync off): tests only.
	Fast bool
	// Logger receives progress lines. Nil discards them.
	Logger *slog.Logger
	// Own makes Stop also stop a cluster that was already running when
	// StartLocal was called (left behind by a killed serve). CLI verbs share a
	// running cluster without owning it.
	Own bool
}

// Local is a running private cluster.
type Local struct {
	// URL connects as the cluster's owner to database "hookstream".
	URL     string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the server process has exited
	exitErr error         // cmd.Wait's answer, set before exited closes
	log     *slog.Logger
	adopted int // pid of a running cluster we own but did not start
}

const localDB = "hookstream"

// StartLocal initialises the cluster if needed, starts postgres on loopback,
// waits until it accepts connections and makes sure the database exists.
// When running as root, postgres runs as the "postgres" user (it refuses root).
func StartLocal(ctx context.Context, c LocalConfig) (*Local, error) {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bin, err := findPGBin(ctx)
	if err != nil {
		return nil, err
	}
	cred, err := runAsCredential()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(c.Dir)
	if err != nil {
		return nil, err
	}
	if cred != nil && !traversableByOthers(dir) {
		// postgres (not root) must reach its data directory; a data dir under
		// /root is not reachable, so keep the cluster in a fixed place instead.
		sum := sha256.Sum256([]byte(dir))
		alt := filepath.Join("/var/lib/hookstream", "postgres-"+hex.EncodeToString(sum[:4]))
		log.Warn("data dir not reachable by the postgres user; keeping the cluster elsewhere", "dir", alt)
		dir = alt
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("projections: local postgres dir: %w", err)
	}
	pgdata := filepath.Join(dir, "pgdata")
	pwFile := filepath.Join(dir, "password")
	if _, err := os.Stat(filepath.Join(pgdata, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := initCluster(ctx, bin, pgdata, pwFile, cred, log); err != nil {
			return nil, err
		}
	}
	pw, err := os.ReadFile(pwFile)
	if err != nil {
		return nil, fmt.Errorf("projections: local postgres password: %w", err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("hookstream", strings.TrimSpace(string(pw))),
		Path: "/" + localDB, RawQuery: "sslmode=disable"}
	if pid, port, ok := runningPort(pgdata); ok {
		// Another hookstream process (serve) runs this cluster, or a killed
		// one left it running: share it.
		u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		log.Info("using the running private postgres", "dir", pgdata, "port", port)
		l := &Local{URL: u.String(), log: log}
		if err := waitDatabase(ctx, l.URL); err != nil {
			return nil, err
		}
		if c.Own {
			l.adopted = pid
		}
		return l, nil
	}
	port := c.Port
	if port == 0 {
		if port, err = freePort(ctx); err != nil {
			return nil, err
		}
	}
	args := []string{"-D", pgdata, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "max_connections=200", "-c", "shared_buffers=128MB"}
	if c.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	// Not CommandContext: the server outlives this call and is ended by
	// Stop, gracefully, never by a context's kill.
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...) //nolint:noctx // see above
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	logFile, err := os.OpenFile(filepath.Join(dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("projections: start postgres: %w", err)
	}
	l := &Local{cmd: cmd, exited: make(chan struct{}), log: log}
	go func() {
		l.exitErr = cmd.Wait()
		_ = logFile.Close()
		close(l.exited)
	}()
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	u.Path = "/postgres"
	if err := l.waitReady(ctx, u.String(), filepath.Join(dir, "postgres.log")); err != nil {
		l.Stop()
		return nil, err
	}
	if err := ensureDatabase(ctx, u.String(), localDB); err != nil {
		l.Stop()
		return nil, err
	}
	u.Path = "/" + localDB
	l.URL = u.String()
	log.Info("private postgres started", "dir", pgdata, "port", port)
	return l, nil
}

// Stop shuts the cluster down (fast shutdown: in-flight transactions roll
// back, committed ones are on disk) and waits for it.
func (l *Local) Stop() {
	if l != nil && l.adopted > 0 {
		_ = syscall.Kill(l.adopted, syscall.SIGINT)
		for i := 0; i < 300 && syscall.Kill(l.adopted, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		return
	}
	if l == nil || l.cmd == nil || l.cmd.Process == nil {
		return
	}
	_ = l.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-l.exited:
	case <-time.After(30 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.exited
	}
	l.log.Info("private postgres stopped")
}

func (l *Local) waitReady(ctx context.Context, dsn, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-l.exited:
			tail, _ := os.ReadFile(logPath)
			return fmt.Errorf("projections: postgres exited: %w: %s", l.exitErr, lastLines(string(tail), 5))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, dsn)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("projections: postgres not ready: %w", last)
}

func initCluster(ctx context.Context, bin, pgdata, pwFile string, cred *syscall.Credential, log *slog.Logger) error {
	log.Info("initialising private postgres cluster", "dir", pgdata)
	if err := os.MkdirAll(pgdata, 0o700); err != nil {
		return err
	}
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	if err := os.WriteFile(pwFile, []byte(hex.EncodeToString(pw)+"\n"), 0o600); err != nil {
		return err
	}
	// initdb reads the password from a file it can open: a copy readable by the
	// cluster's owner, removed right after.
	tmpPw := filepath.Join(pgdata, "..", ".initpw")
	if err := os.WriteFile(tmpPw, []byte(hex.EncodeToString(pw)+"\n"), 0o600); err != nil {
		return err
	}
	defer os.Remove(tmpPw)
	if cred != nil {
		for _, p := range []string{pgdata, tmpPw} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				return fmt.Errorf("projections: chown %s: %w", p, err)
			}
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", pgdata, "-U", "hookstream",
		"--pwfile", tmpPw, "--auth", "scram-sha-256", "-E", "UTF8", "--locale", "C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.RemoveAll(pgdata) // a half-made cluster would be adopted next time
		return fmt.Errorf("projections: initdb: %w: %s", err, lastLines(string(out), 5))
	}
	return nil
}

// waitDatabase waits for a shared cluster that may still be starting (the
// serve that owns it creates the database right after start).
func waitDatabase(ctx context.Context, dsn string) error {
	var err error
	for i := 0; i < 300; i++ {
		var conn *pgx.Conn
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err = pgx.Connect(cctx, dsn)
		cancel()
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("projections: running private postgres not reachable: %w", err)
}

func ensureDatabase(ctx context.Context, dsn, name string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname=$1)", name).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("projections: create database: %w", err)
		}
	}
	return nil
}

// findPGBin locates initdb/postgres: pg_config --bindir, then the Debian
// layout /usr/lib/postgresql/<newest>/bin, then PATH.
// runningPort reads postmaster.pid: when its postmaster is alive, the cluster
// is already running and listening on the returned port.
func runningPort(pgdata string) (pid, port int, ok bool) {
	b, err := os.ReadFile(filepath.Join(pgdata, "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, 0, false
	}
	// A postmaster killed with its parent (a container's OOM kill) leaves the
	// file behind, and its pid is soon another process's (PIDs start over in
	// a restarted container). A postmaster works in its data directory:
	// where /proc shows another working directory, the file is stale and
	// postgres, started anew, replaces it.
	if cwd, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "cwd")); err == nil {
		want := pgdata
		if abs, err := filepath.Abs(pgdata); err == nil {
			want = abs
		}
		if real, err := filepath.EvalSymlinks(want); err == nil {
			want = real
		}
		if filepath.Clean(cwd) != want {
			return 0, 0, false
		}
	}
	return pid, port, true
}

func findPGBin(ctx context.Context) (string, error) {
	var cands []string
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		cands = append(cands, strings.TrimSpace(string(out)))
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	cands = append(cands, dirs...)
	if p, err := exec.LookPath("postgres"); err == nil {
		cands = append(cands, filepath.Dir(p))
	}
	for _, d := range cands {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", errors.New("projections: PostgreSQL server binaries (initdb, postgres) not found: install them (Debian: apt-get install postgresql) or set DATABASE_URL")
}

func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func runAsCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, errors.New("projections: running as root needs a 'postgres' user to run the private cluster (the postgresql package creates it) or set DATABASE_URL")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// traversableByOthers reports whether dir and every existing ancestor let a
// non-owner pass through (o+x).
func traversableByOthers(dir string) bool {
	for d := dir; ; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == "/" || d == "." {
			return true
		}
	}
}

func freePort(ctx context.Context) (int, error) {
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
