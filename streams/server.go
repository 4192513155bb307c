package streams

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded nats-server.
type ServerConfig struct {
	// StoreDir holds JetStream's file store. Required.
	StoreDir string
	// Listen is the client listener (host:port) the `nats` CLI and other
	// processes connect to. "off" disables it: only in-process connections.
	// Port 0 picks a random free port (tests).
	Listen string
	// Name is the server name (defaults to "hookstream").
	Name string
	// SyncAlways makes JetStream fsync every write. By default writes reach the
	// OS at once (they survive a process crash) and are fsynced every 2 minutes
	// (nats-server's default); on a cluster, R3 protects against a machine loss.
	SyncAlways bool
	// Cluster, when set, joins the server to a JetStream cluster.
	Cluster *ClusterConfig
	// Logger receives the server's log lines. Nil discards them.
	Logger *slog.Logger
}

// ClusterConfig joins an embedded server to a cluster over routes.
type ClusterConfig struct {
	Name   string   // cluster name, same on every node
	Listen string   // host:port for routes
	Routes []string // nats-route://host:port of the other nodes
}

// Validate checks the configuration.
func (c ServerConfig) Validate() error {
	if c.StoreDir == "" {
		return errors.New("streams: embedded server needs a store dir")
	}
	if c.Listen != "off" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return fmt.Errorf("streams: nats listen %q: %w", c.Listen, err)
		}
	}
	return nil
}

// StartServer starts an embedded nats-server with JetStream and waits until it
// accepts connections and JetStream is really enabled.
func StartServer(c ServerConfig) (*server.Server, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	opts := &server.Options{
		ServerName:         c.Name,
		JetStream:          true,
		StoreDir:           c.StoreDir,
		NoSigs:             true,
		MaxPayload:         4 << 20,
		JetStreamMaxMemory: 256 << 20,
		SyncAlways:         c.SyncAlways,
	}
	if opts.ServerName == "" {
		opts.ServerName = "hookstream"
	}
	if c.Listen == "off" {
		opts.DontListen = true
	} else {
		host, port, _ := net.SplitHostPort(c.Listen)
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("streams: nats listen port %q: %w", port, err)
		}
		opts.Host, opts.Port = host, p
		if p == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	if cl := c.Cluster; cl != nil {
		host, port, err := net.SplitHostPort(cl.Listen)
		if err != nil {
			return nil, fmt.Errorf("streams: cluster listen: %w", err)
		}
		p, _ := strconv.Atoi(port)
		opts.Cluster = server.ClusterOpts{Name: cl.Name, Host: host, Port: p}
		opts.Routes = server.RoutesFromStr(joinComma(cl.Routes))
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("streams: new server: %w", err)
	}
	if c.Logger != nil {
		s.SetLoggerV2(&slogAdapter{l: c.Logger.With("component", "nats")}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("streams: embedded nats-server did not become ready")
	}
	if c.Cluster == nil && !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, errors.New("streams: JetStream did not start on the embedded server (check the store dir)")
	}
	return s, nil
}

func joinComma(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

// slogAdapter routes nats-server logs to slog.
type slogAdapter struct{ l *slog.Logger }

// Noticef lines are the server's start-up banner and routine notices: debug
// level, so hookstream's own log stays readable.
func (a *slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...), "fatal", true) }
func (a *slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a *slogAdapter) Tracef(f string, v ...any)  {}
