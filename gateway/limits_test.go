package gateway_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway"
)

// sizedForm returns a valid newsletter JSON body of exactly n bytes.
func sizedForm(n int) []byte {
	head, tail := `{"email":"big@example.com","pad":"`, `"}`
	return []byte(head + strings.Repeat("x", n-len(head)-len(tail)) + tail)
}

// onlyReader hides bytes.Reader's Len so the request goes out chunked,
// without a Content-Length.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestBodyLimit_413(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	limit := int(env.cfg.BodyLimit)
	if limit != 1<<20 {
		t.Fatalf("default body limit %d, want 1 MiB", limit)
	}
	json := hdrs("Content-Type", "application/json")

	env.post("/forms/newsletter", sizedForm(limit), nil).wantAccepted(t)
	env.rejects(t, 413, "body_too_large", func() *result { return env.post("/forms/newsletter", sizedForm(limit+1), nil) })
	env.rejects(t, 413, "body_too_large", func() *result {
		return env.do("POST", "/forms/newsletter", onlyReader{bytes.NewReader(sizedForm(limit + 1))}, json)
	})
	env.rejects(t, 413, "body_too_large", func() *result {
		return env.do("POST", "/forms/contact", onlyReader{io.LimitReader(zeroReader{}, 10<<20)}, json)
	})
	env.rejects(t, 413, "body_too_large", func() *result {
		return env.do("POST", "/webhooks/stripe", onlyReader{bytes.NewReader(sizedForm(limit + 1))}, json)
	})
	// Chunked at the limit is fine.
	b := sizedForm(limit)
	b[len(b)-3] = 'y' // another event than the first post
	env.do("POST", "/forms/newsletter", onlyReader{bytes.NewReader(b)}, json).wantAccepted(t)

	// A smaller configured limit applies to every route.
	small := newTestGateway(t, withConfig(func(c *gateway.Config) { c.BodyLimit = 64 }))
	for _, p := range []string{"/webhooks/stripe", "/webhooks/facebook", "/webhooks/mailerlite", "/forms/contact"} {
		small.rejects(t, 413, "body_too_large", func() *result { return small.post(p, sizedForm(65), nil) })
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// serveReal runs the gateway behind NewHTTPServer on a real listener.
func serveReal(t *testing.T, env *testEnv, to gateway.ServerTimeouts) (*http.Server, string) {
	t.Helper()
	srv := gateway.NewHTTPServer("127.0.0.1:0", env.gw, to)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return srv, ln.Addr().String()
}

func TestServer_Defaults(t *testing.T) {
	s := gateway.NewHTTPServer(":0", http.NotFoundHandler(), gateway.ServerTimeouts{})
	if s.ReadHeaderTimeout != 5*time.Second || s.ReadTimeout != 15*time.Second || s.WriteTimeout != 30*time.Second ||
		s.IdleTimeout != 120*time.Second || s.MaxHeaderBytes != 64<<10 {
		t.Fatalf("%+v", s)
	}
}

// TestServer_SlowHeaders: a client dribbling header bytes is disconnected
// after ReadHeaderTimeout although it keeps sending.
func TestServer_SlowHeaders(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	_, addr := serveReal(t, env, gateway.ServerTimeouts{ReadHeader: 300 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		io.Copy(io.Discard, conn) // returns when the server closes
		closed <- time.Since(start)
	}()
	if _, err := io.WriteString(conn, "POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
dribble:
	for {
		select {
		case d := <-closed:
			if d < 250*time.Millisecond || d > 2*time.Second {
				t.Fatalf("connection closed after %v, want about 300ms", d)
			}
			break dribble
		case <-deadline:
			t.Fatal("slow client still connected after 5 s")
		case <-time.After(50 * time.Millisecond):
			conn.Write([]byte("a")) // errors once closed; the reader reports it
		}
	}
	if env.streamCount() != 0 {
		t.Fatal("stored something")
	}
	if r, err := http.Get("http://" + addr + "/healthz"); err != nil || r.StatusCode != 200 {
		t.Fatalf("server unhealthy after the slow client: %v", err)
	}
}

// TestServer_SlowBody: a client that sends headers and then dribbles the
// body is cut off by the read timeout; nothing is stored.
func TestServer_SlowBody(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	_, addr := serveReal(t, env, gateway.ServerTimeouts{Read: 500 * time.Millisecond})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	io.WriteString(conn, "POST /forms/newsletter HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
	done := make(chan *http.Response, 1)
	go func() {
		resp, _ := http.ReadResponse(bufio.NewReader(conn), nil)
		done <- resp
	}()
	var resp *http.Response
loop:
	for {
		select {
		case resp = <-done:
			break loop
		case <-time.After(50 * time.Millisecond):
			if time.Since(start) > 5*time.Second {
				t.Fatal("slow body still being read after 5 s")
			}
			conn.Write([]byte(" "))
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cut off after %v", d)
	}
	if resp == nil {
		t.Fatal("no answer to the slow body")
	}
	b, _ := io.ReadAll(resp.Body)
	(&result{Status: resp.StatusCode, Header: resp.Header, Body: b}).wantError(t, 408, "request_timeout")
	if env.streamCount() != 0 {
		t.Fatal("stored something")
	}
}

// TestServer_HeaderLimit: NewHTTPServer caps header bytes (net/http answers
// 431 itself, in plain text: no handler runs for such a request).
func TestServer_HeaderLimit(t *testing.T) {
	t.Parallel()
	env := newTestGateway(t)
	_, addr := serveReal(t, env, gateway.ServerTimeouts{})
	send := func(n int) (*http.Response, error) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/forms/newsletter", strings.NewReader(`{"email":"h@example.com"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Big", strings.Repeat("b", n))
		return http.DefaultClient.Do(req)
	}
	resp, err := send(100 << 10) // above 64 KiB (+ net/http's 4 KiB slack), below net/http's 1 MiB default
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d, want 431", resp.StatusCode)
	}
	resp, err = send(32 << 10)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("32 KiB header: %d", resp.StatusCode)
	}
	if env.streamCount() != 1 {
		t.Fatalf("%d messages", env.streamCount())
	}
	// Malformed header lines are refused by net/http before the gateway.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /forms/newsletter HTTP/1.1\r\nHost: x\r\nUser-Agent: a\rNats-Msg-Id: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	if r != nil && r.StatusCode != 400 {
		t.Fatalf("bare CR in a header: %d", r.StatusCode)
	}
	if env.streamCount() != 1 {
		t.Fatalf("%d messages", env.streamCount())
	}
}
