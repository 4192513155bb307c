package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/processors/notify"
	"github.com/hookstream/hookstream/streams"
)

// live streams the live feed as Server-Sent Events. Each event's id is its
// sequence in EVENTS, so a browser's EventSource, reconnecting with
// Last-Event-ID, resumes right after the last notification it saw (curl:
// -H 'Last-Event-ID: 42', or ?last_event_id=42). Without one the feed starts
// with new notifications, or ?since=1h back.
//
//	id: 1234
//	event: notification
//	data: {"kind":"contact.created","title":"New contact: Jane Doe",…}
func (a *API) live(w http.ResponseWriter, r *http.Request) {
	if a.cfg.JS == nil {
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "no JetStream connection"})
		return
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{notify.LiveSubject}, DeliverPolicy: jetstream.DeliverNewPolicy}
	last := r.Header.Get("Last-Event-ID")
	if last == "" {
		last = r.URL.Query().Get("last_event_id")
	}
	if last != "" {
		seq, err := strconv.ParseUint(strings.TrimSpace(last), 10, 64)
		if err != nil {
			writeError(w, badRequest("Last-Event-ID: want the id of an event of this feed"))
			return
		}
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	} else if v := r.URL.Query().Get("since"); v != "" {
		d, err := ParseSince(v)
		if err != nil {
			writeError(w, badRequest("since: "+err.Error()))
			return
		}
		t := a.cfg.Now().Add(-d)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	workspace := r.URL.Query().Get("workspace")

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-a.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	cons, err := a.cfg.JS.OrderedConsumer(ctx, streams.StreamEvents, cfg)
	if err != nil {
		a.log.Warn("live feed: consumer", "err", err)
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the stream is unavailable"})
		return
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(64))
	if err != nil {
		writeError(w, &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the stream is unavailable"})
		return
	}
	defer iter.Stop()
	msgs := make(chan jetstream.Msg)
	go func() {
		defer close(msgs)
		for {
			m, err := iter.Next()
			if err != nil {
				if !errors.Is(err, jetstream.ErrMsgIteratorClosed) && ctx.Err() == nil {
					a.log.Warn("live feed: read", "err", err)
				}
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
	}()

	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	write := func(s string) bool {
		// The server's WriteTimeout would end the stream: every write
		// moves the deadline.
		rc.SetWriteDeadline(time.Now().Add(a.cfg.Heartbeat + 30*time.Second))
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
		case m, ok := <-msgs:
			if !ok {
				return
			}
			if workspace != "" {
				var n struct {
					Workspace string `json:"workspace_id"`
				}
				if json.Unmarshal(m.Data(), &n) != nil || n.Workspace != workspace {
					continue
				}
			}
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			// The body is one line of JSON (the notice as emitted).
			data := strings.ReplaceAll(string(m.Data()), "\n", "")
			if !write(fmt.Sprintf("id: %d\nevent: notification\ndata: %s\n\n", md.Sequence.Stream, data)) {
				return
			}
		}
	}
}
