package pipeline

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/streams"
)

// Conns are the connections a pipeline runs on. A zero field is opened
// from Config by Open; a field given to New is used as it is and never
// closed by the pipeline (tests own their server and database).
type Conns struct {
	NATS *server.Server // the embedded server, if any
	NC   *nats.Conn
	JS   jetstream.JetStream
	DB   *pgxpool.Pool
}

// closers run in reverse order.
type closers []func()

func (cs *closers) add(f func()) { *cs = append(*cs, f) }

func (cs *closers) close() {
	for i := len(*cs) - 1; i >= 0; i-- {
		(*cs)[i]()
	}
	*cs = nil
}

// OpenDB connects to cfg.DatabaseURL or starts the private cluster under
// cfg.DataDir, then migrates; closeDB releases both. own says whether this
// process owns the private cluster (serve, gateway, process) or shares one
// another process started (the CLI verbs).
func OpenDB(ctx context.Context, cfg Config, log *slog.Logger, own bool) (pool *pgxpool.Pool, closeDB func(), err error) {
	var cs closers
	if pool, err = openDB(ctx, cfg, log, own, &cs); err != nil {
		cs.close()
		return nil, nil, err
	}
	return pool, cs.close, nil
}

func openDB(ctx context.Context, cfg Config, log *slog.Logger, own bool, cs *closers) (*pgxpool.Pool, error) {
	dsn := cfg.DatabaseURL
	if dsn == "" {
		pg, err := projections.StartLocal(ctx, projections.LocalConfig{
			Dir: filepath.Join(cfg.DataDir, "postgres"), Logger: log, Own: own})
		if err != nil {
			return nil, err
		}
		cs.add(func() { pg.Stop() })
		dsn = pg.URL
	}
	pool, err := projections.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	cs.add(pool.Close)
	return pool, migrate(ctx, pool, log)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	applied, err := projections.Migrate(ctx, pool)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("migrations applied", "versions", applied)
	}
	return nil
}

// openNATS embeds a server unless NATSURL is set, and connects.
func openNATS(cfg Config, name string, log *slog.Logger, cs *closers) (*server.Server, *nats.Conn, error) {
	var ns *server.Server
	if cfg.NATSURL == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, nil, err
		}
		var err error
		ns, err = streams.StartServer(streams.ServerConfig{
			StoreDir:   filepath.Join(cfg.DataDir, "nats"),
			Listen:     cfg.NATSListen,
			SyncAlways: cfg.SyncAlways,
			Logger:     log,
		})
		if err != nil {
			return nil, nil, err
		}
		cs.add(func() { ns.Shutdown(); ns.WaitForShutdown() })
		if cfg.NATSListen != "off" {
			log.Info("embedded NATS listening", "url", ns.ClientURL())
		}
	}
	nc, err := streams.Connect(cfg.NATSURL, ns, name, log)
	if err != nil {
		return nil, nil, err
	}
	cs.add(func() { drain(nc) })
	return ns, nc, nil
}

// drain lets in-flight messages finish (up to 2 s), then closes.
func drain(nc *nats.Conn) {
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err == nil {
		select {
		case <-closed:
		case <-time.After(2 * time.Second):
		}
	}
	nc.Close()
}
