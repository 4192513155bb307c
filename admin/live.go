package admin

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/live"
)

// live streams the live feed as Server-Sent Events. Each event's id is its
// sequence in EVENTS, so a browser's EventSource, reconnecting with
// Last-Event-ID, resumes right after the last notification it saw (curl:
// -H 'Last-Event-ID: 42', or ?last_event_id=42). Without one the feed starts
// with new notifications, or ?since=1h back. The first line, a comment, is
// written once the feed's position is fixed.
//
//	id: 1234
//	event: notification
//	data: {"kind":"contact.created","title":"New contact: Jane Doe",…}
func (a *API) live(w http.ResponseWriter, r *http.Request) {
	q := live.Query{Workspace: r.URL.Query().Get("workspace")}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	if last != "" {
		seq, err := strconv.ParseUint(strings.TrimSpace(last), 10, 64)
		if err != nil {
			a.answerError(w, r, ops.Invalid("Last-Event-ID", "want the id of an event of this feed"))
			return
		}
		q.After = seq
	} else {
		since, err := a.querySince(r, "since")
		if err != nil {
			a.answerError(w, r, err)
			return
		}
		q.Since = since
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-a.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	notices, err := a.feed.Open(ctx, q)
	if err != nil {
		a.log.Warn("live feed", "err", err)
		a.answerError(w, r, err)
		return
	}

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		// The server's WriteTimeout would end the stream: every write
		// moves the deadline.
		if err := rc.SetWriteDeadline(time.Now().Add(a.cfg.Heartbeat + 30*time.Second)); err != nil {
			return false // the connection cannot hold a deadline: end the stream rather than hang it
		}
		if _, err := fmt.Fprint(w, s); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(": hookstream live feed\nretry: 3000\n\n") {
		return
	}
	beat := time.NewTicker(a.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if !write(": ping\n\n") {
				return
			}
		case n, ok := <-notices:
			if !ok {
				return
			}
			// The notice is one line of JSON as emitted; a newline would
			// end the SSE field.
			data := strings.ReplaceAll(string(n.Data), "\n", "")
			if !write(fmt.Sprintf("id: %d\nevent: notification\ndata: %s\n\n", n.Seq, data)) {
				return
			}
		}
	}
}
