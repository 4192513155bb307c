package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The load generator speaks HTTP/1.1 over raw keep-alive TCP connections and
// sends requests that were fully serialized (and signed) before the clock
// started, so the only work it does while measuring is a write, a response
// parse and a clock read per request. It is deliberately lighter than
// net/http's client: on a 2-core machine the generator shares the CPU with
// the server under test, and every microsecond it spends is one the server
// does not get (the HTTP ceiling is measured with the same generator, so
// the ratio stays fair).

// loadResult is what one load run measured.
type loadResult struct {
	Requests int         `json:"requests"` // answered with 2xx
	Errors   int         `json:"errors"`   // non-2xx answers and transport failures
	Status   map[int]int `json:"status,omitempty"`
	Seconds  float64     `json:"seconds"`
	RPS      float64     `json:"rps"`               // 2xx answers per second
	Offered  float64     `json:"offered,omitempty"` // open loop: scheduled rate
	Latency  Latency     `json:"latency_ms"`
	// FirstError describes one failure, for the report.
	FirstError string `json:"first_error,omitempty"`
}

// client is a pool of keep-alive connections to one address.
type client struct {
	addr  string
	conns []*conn
}

type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
}

const ioTimeout = 15 * time.Second

func dialPool(addr string, n int) (*client, error) {
	cl := &client{addr: addr}
	for i := 0; i < n; i++ {
		c := &conn{addr: addr}
		if err := c.dial(); err != nil {
			cl.close()
			return nil, err
		}
		cl.conns = append(cl.conns, c)
	}
	return cl, nil
}

func (c *conn) dial() error {
	if c.c != nil {
		c.c.Close()
	}
	nc, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(context.Background(), "tcp", c.addr)
	if err != nil {
		return err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true) // Go's default already; a failure only costs latency
	}
	c.c = nc
	c.br = bufio.NewReaderSize(nc, 32<<10)
	c.bw = bufio.NewWriterSize(nc, 32<<10)
	return nil
}

func (cl *client) close() {
	for _, c := range cl.conns {
		if c.c != nil {
			c.c.Close()
		}
	}
}

// do sends one serialized request and reads the answer's status.
func (c *conn) do(req []byte) (int, error) {
	if c.c == nil {
		if err := c.dial(); err != nil {
			return 0, err
		}
	}
	if err := c.c.SetDeadline(time.Now().Add(ioTimeout)); err != nil {
		return 0, err
	}
	if _, err := c.bw.Write(req); err != nil {
		c.reset()
		return 0, err
	}
	if err := c.bw.Flush(); err != nil {
		c.reset()
		return 0, err
	}
	status, closeConn, err := readResponse(c.br)
	if err != nil {
		c.reset()
		return 0, err
	}
	if closeConn {
		c.reset()
	}
	return status, nil
}

func (c *conn) reset() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

var errBadResponse = errors.New("malformed HTTP response")

// readResponse parses one HTTP/1.1 response and discards its body.
func readResponse(br *bufio.Reader) (status int, closeConn bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("%w: status line %q", errBadResponse, line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("%w: status %q", errBadResponse, line[9:12])
	}
	closeConn = line[7] == '0' // HTTP/1.0
	cl, chunked := -1, false
	for i := 0; ; i++ {
		if i > 200 {
			return 0, false, fmt.Errorf("%w: too many header lines", errBadResponse)
		}
		line, err = br.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, val, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return 0, false, fmt.Errorf("%w: header %q", errBadResponse, line)
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if cl, err = strconv.Atoi(string(val)); err != nil || cl < 0 {
				return 0, false, fmt.Errorf("%w: content-length %q", errBadResponse, val)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				closeConn = true
			}
		}
	}
	switch {
	case chunked:
		for i := 0; ; i++ {
			if i > 1<<16 {
				return 0, false, fmt.Errorf("%w: too many chunks", errBadResponse)
			}
			line, err = br.ReadSlice('\n')
			if err != nil {
				return 0, false, err
			}
			sz, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte{';'})
			n, err := strconv.ParseInt(string(bytes.TrimSpace(sz)), 16, 64)
			if err != nil || n < 0 {
				return 0, false, fmt.Errorf("%w: chunk size %q", errBadResponse, line)
			}
			if n == 0 {
				for j := 0; ; j++ { // trailers, then the blank line
					line, err = br.ReadSlice('\n')
					if err != nil {
						return 0, false, err
					}
					if len(bytes.TrimRight(line, "\r\n")) == 0 || j > 100 {
						break
					}
				}
				break
			}
			if _, err := br.Discard(int(n) + 2); err != nil {
				return 0, false, err
			}
		}
	case cl > 0:
		if _, err := br.Discard(cl); err != nil {
			return 0, false, err
		}
	case cl < 0 && status >= 200 && status != 204 && status != 304:
		// Body delimited by the connection's end.
		_, _ = io.Copy(io.Discard, br) // the connection closes after it either way
		closeConn = true
	}
	return status, closeConn, nil
}

// runStats accumulates one worker's measurements.
type runStats struct {
	ok, errs int
	lat      []time.Duration
	status   map[int]int
	firstErr string
}

func (s *runStats) record(status int, err error, d time.Duration) {
	switch {
	case err != nil:
		s.errs++
		if s.firstErr == "" {
			s.firstErr = err.Error()
		}
	case status >= 200 && status < 300:
		s.ok++
		s.lat = append(s.lat, d)
	default:
		s.errs++
		if s.status == nil {
			s.status = map[int]int{}
		}
		s.status[status]++
		if s.firstErr == "" {
			s.firstErr = "HTTP " + strconv.Itoa(status)
		}
	}
}

func merge(stats []*runStats, elapsed time.Duration) loadResult {
	var r loadResult
	var all []time.Duration
	for _, s := range stats {
		r.Requests += s.ok
		r.Errors += s.errs
		all = append(all, s.lat...)
		for k, v := range s.status {
			if r.Status == nil {
				r.Status = map[int]int{}
			}
			r.Status[k] += v
		}
		if r.FirstError == "" {
			r.FirstError = s.firstErr
		}
	}
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RPS = float64(r.Requests) / r.Seconds
	}
	r.Latency = latencyOf(all)
	return r
}

// closedLoop keeps every connection busy: each sends its next request as
// soon as the previous answer arrived, until d has passed or the requests
// run out (cycle reuses them, for targets that do not deduplicate).
func (cl *client) closedLoop(reqs [][]byte, d time.Duration, cycle bool) loadResult {
	var next atomic.Int64
	stats := make([]*runStats, len(cl.conns))
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i, c := range cl.conns {
		st := &runStats{lat: make([]time.Duration, 0, 1024)}
		stats[i] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(reqs) {
					if !cycle {
						return
					}
					k %= len(reqs)
				}
				t0 := time.Now()
				if !t0.Before(deadline) {
					return
				}
				status, err := c.do(reqs[k])
				st.record(status, err, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return merge(stats, time.Since(start))
}

// openLoop sends request i at start + i/rate whatever happened before (no
// coordinated omission): latency is measured from the scheduled send time,
// so a stalled server is charged for the queue it causes. onSent, when set,
// is called with each request's index and scheduled time before it is sent.
func (cl *client) openLoop(reqs [][]byte, rate float64, limit time.Duration, onSent func(i int, sched time.Time)) loadResult {
	var next atomic.Int64
	stats := make([]*runStats, len(cl.conns))
	interval := float64(time.Second) / rate
	start := time.Now().Add(20 * time.Millisecond)
	hard := start.Add(time.Duration(float64(len(reqs))*interval) + limit)
	var wg sync.WaitGroup
	for i, c := range cl.conns {
		st := &runStats{lat: make([]time.Duration, 0, 1024)}
		stats[i] = st
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(reqs) {
					return
				}
				sched := start.Add(time.Duration(float64(k) * interval))
				if w := time.Until(sched); w > 0 {
					time.Sleep(w)
				}
				if time.Now().After(hard) {
					st.record(0, errors.New("not sent: run exceeded its time bound"), 0)
					continue
				}
				if onSent != nil {
					onSent(k, sched)
				}
				status, err := c.do(reqs[k])
				st.record(status, err, time.Since(sched))
			}
		}()
	}
	wg.Wait()
	r := merge(stats, time.Since(start))
	r.Offered = rate
	return r
}
