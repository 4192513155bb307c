package streams

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Connect opens a client connection: in-process to s when it is not nil,
// otherwise to url (a comma-separated list of servers is fine). It reconnects
// forever; while disconnected, publishes fail at once instead of being buffered,
// so the gateway answers 503 rather than acknowledging something not stored.
func Connect(url string, s *server.Server, name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectBufSize(-1),
		nats.Timeout(5 * time.Second),
		nats.RetryOnFailedConnect(false),
	}
	if log != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				log.Warn("nats disconnected", "err", err)
			}),
			nats.ReconnectHandler(func(c *nats.Conn) {
				log.Info("nats reconnected", "url", c.ConnectedUrlRedacted())
			}),
		)
	}
	if s != nil {
		opts = append(opts, nats.InProcessServer(s))
		url = ""
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("streams: connect: %w", err)
	}
	return nc, nil
}

// JetStream wraps a connection with the settings the project relies on: a
// bounded number of in-flight async publishes and a timeout on each.
func JetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(8192),
		jetstream.WithPublishAsyncTimeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("streams: jetstream: %w", err)
	}
	return js, nil
}
