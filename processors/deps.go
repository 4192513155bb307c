package processors

import (
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// Deps are what every processor constructor takes besides its Config:
// New(deps, cfg) (X, error), where X lists its consumers with Processors().
type Deps struct {
	DB *pgxpool.Pool
	JS jetstream.JetStream
	// NC, when set, announces results to ?wait listeners.
	NC *nats.Conn
	// Log, when nil, discards.
	Log *slog.Logger
	// Metrics, when set, receives the processor's own series (e.g. an
	// outbound destination's circuit breaker).
	Metrics prometheus.Registerer
}

// Store is the transactional store over the deps' database and streams.
func (d Deps) Store() *Store { return &Store{DB: d.DB, JS: d.JS, NC: d.NC} }

// Logger is Log, or a logger that discards when Log is nil.
func (d Deps) Logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// Builder is a built processor: the consumers it runs.
type Builder interface {
	Processors() []Processor
}
