package gateway

import (
	"net/http"
	"time"
)

// ServerTimeouts bound how long a client may hold a connection; every field
// has a default, so a slow or stalled client cannot pin the server.
type ServerTimeouts struct {
	ReadHeader time.Duration // default 5s
	Read       time.Duration // whole request incl. body; default 15s
	Write      time.Duration // default 30s: above ?wait's 10 s cap plus the publish
	Idle       time.Duration // keep-alive; default 120s
	MaxHeader  int           // bytes; default 64 KiB
}

func (t ServerTimeouts) withDefaults() ServerTimeouts {
	if t.ReadHeader <= 0 {
		t.ReadHeader = 5 * time.Second
	}
	if t.Read <= 0 {
		t.Read = 15 * time.Second
	}
	if t.Write <= 0 {
		t.Write = 30 * time.Second
	}
	if t.Idle <= 0 {
		t.Idle = 120 * time.Second
	}
	if t.MaxHeader <= 0 {
		t.MaxHeader = 64 << 10
	}
	return t
}

// NewHTTPServer wraps h in an http.Server with the timeouts set.
func NewHTTPServer(addr string, h http.Handler, t ServerTimeouts) *http.Server {
	t = t.withDefaults()
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    t.MaxHeader,
	}
}
