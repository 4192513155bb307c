// Package audit reads the audit trail: everything known about one source
// event (the request as received, every processor's outcome, timings,
// notifications, erasure) and lists of events and notifications. It reads
// event_outcomes, notifications and erasures in Postgres and the raw
// request in the INGEST stream.
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/internal/final"
	notifydb "github.com/hookstream/hookstream/projections/notify"
	"github.com/hookstream/hookstream/streams"
)

// Record is everything known about one source event: the request as
// received (secrets and signatures removed), where it sits in INGEST, every
// processor's outcome (downstream ones included: boards, crm, mailerlite,
// ga4, notify and its deliveries), the contacts processor's per-step timings,
// the result and the errors.
type Record struct {
	EventID       string         `json:"event_id"`
	Status        string         `json:"status"` // ok | failed | pending | unknown
	Source        string         `json:"source,omitempty"`
	WebhookID     string         `json:"webhook_id,omitempty"`
	Workspace     string         `json:"workspace_id,omitempty"`
	RequestID     string         `json:"request_id,omitempty"`
	ReceivedAt    *time.Time     `json:"received_at,omitempty"`
	Stream        string         `json:"stream,omitempty"`
	Subject       string         `json:"subject,omitempty"`
	StreamSeq     uint64         `json:"stream_seq,omitempty"`
	Request       *Request       `json:"request,omitempty"`
	RequestNote   string         `json:"request_note,omitempty"`
	Processing    Processing     `json:"processing"`
	Result        map[string]any `json:"result,omitempty"`
	Outcomes      []Outcome      `json:"outcomes"`
	Notifications []Notification `json:"notifications,omitempty"`
	Errors        []string       `json:"errors,omitempty"`
	Erasure       *ErasureRef    `json:"erasure,omitempty"`
}

// Request is the raw request as stored in INGEST.
type Request struct {
	Headers     map[string]string   `json:"headers"`
	ContentType string              `json:"content_type,omitempty"`
	Size        int                 `json:"size"`
	Body        json.RawMessage     `json:"body,omitempty"`        // JSON bodies
	Form        map[string][]string `json:"form,omitempty"`        // form-encoded bodies
	Text        string              `json:"body_text,omitempty"`   // other UTF-8 bodies
	Base64      string              `json:"body_base64,omitempty"` // anything else
	Redacted    []string            `json:"redacted_headers,omitempty"`
}

// Processing holds the timings in milliseconds.
type Processing struct {
	// TotalMS: gateway receipt → the ingest processor's final outcome.
	TotalMS *float64 `json:"total_ms,omitempty"`
	// PipelineMS: gateway receipt → the last outcome of any processor.
	PipelineMS *float64 `json:"pipeline_ms,omitempty"`
	// Steps: the contacts processor's mapping_ms, validation_ms,
	// matching_ms, lead_ms (fetch_ms for Facebook), plus board_ms and each
	// processor's own duration as <processor>_ms.
	Steps map[string]float64 `json:"steps,omitempty"`
}

// Outcome is one recorded attempt.
type Outcome struct {
	Processor  string          `json:"processor"`
	EventID    string          `json:"event_id"`
	Subject    string          `json:"subject"`
	StreamSeq  int64           `json:"stream_seq"`
	Status     string          `json:"status"`
	Attempts   int             `json:"attempts"`
	DurationMS float64         `json:"duration_ms"`
	At         time.Time       `json:"at"`
	Error      string          `json:"error,omitempty"`
	Detail     json.RawMessage `json:"detail,omitempty"`

	receivedAt *time.Time
	webhookID  string
	workspace  string
}

// Notification is a notification caused by the event (recipients are
// left out).
type Notification = notifydb.Row

// ErasureRef says the event's personal data was erased.
type ErasureRef struct {
	ID        int64     `json:"id"`
	ContactID string    `json:"contact_id"`
	ErasedAt  time.Time `json:"erased_at"`
}

// Trail reads the audit trail.
type Trail struct {
	DB *pgxpool.Pool
	// JS reads raw requests from INGEST; nil leaves them out of records.
	JS jetstream.JetStream
}

// Event assembles the record of one source event (an INGEST message id:
// "wh:<webhook>:<id>", "stripe:<evt>", "fb:<leadgen>", …). An event with
// neither outcomes nor a request in INGEST is an ops.ErrNotFound.
func (t Trail) Event(ctx context.Context, eventID string) (*Record, error) {
	db, js := t.DB, t.JS
	rec := &Record{EventID: eventID, Outcomes: []Outcome{}}
	rows, err := db.Query(ctx, `SELECT processor, event_id, subject, COALESCE(stream_seq, 0), status, attempts,
		duration_ms, at, COALESCE(error, ''), detail, received_at, COALESCE(webhook_id, ''), COALESCE(workspace_id, '')
		FROM event_outcomes
		WHERE event_id = $1 OR (subject NOT LIKE 'ingest.%' AND substr(event_id, strpos(event_id, ':') + 1) = $1)
		ORDER BY at, id`, eventID)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var o Outcome
		var detail []byte
		if err := rows.Scan(&o.Processor, &o.EventID, &o.Subject, &o.StreamSeq, &o.Status, &o.Attempts, &o.DurationMS,
			&o.At, &o.Error, &detail, &o.receivedAt, &o.webhookID, &o.workspace); err != nil {
			rows.Close()
			return nil, err
		}
		o.DurationMS = final.Round2(o.DurationMS)
		if len(detail) > 0 {
			o.Detail = detail
		}
		rec.Outcomes = append(rec.Outcomes, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if rec.Erasure, err = erasureOf(ctx, db, eventID); err != nil {
		return nil, err
	}
	if rec.Notifications, err = notificationsOf(ctx, db, eventID); err != nil {
		return nil, err
	}

	// The raw request: found through the ingest processor's outcome (its
	// stream sequence), else by scanning INGEST for the message id.
	var primary []Outcome
	for _, o := range rec.Outcomes {
		if o.EventID == eventID && strings.HasPrefix(o.Subject, "ingest.") {
			primary = append(primary, o)
		}
	}
	if len(primary) > 0 {
		p := primary[0]
		rec.Stream, rec.Subject, rec.StreamSeq = streams.StreamIngest, p.Subject, uint64(p.StreamSeq)
		rec.WebhookID, rec.Workspace, rec.ReceivedAt = p.webhookID, p.workspace, p.receivedAt
	}
	if js != nil {
		msg, err := findIngest(ctx, js, eventID, rec.StreamSeq)
		switch {
		case err == nil:
			rec.Stream, rec.Subject, rec.StreamSeq = streams.StreamIngest, msg.Subject, msg.Sequence
			fillFromHeaders(rec, msg)
			if rec.Erasure != nil {
				rec.RequestNote = "the request body was erased with contact " + rec.Erasure.ContactID
				rec.Request = &Request{Headers: map[string]string{}, ContentType: msg.Header.Get(streams.HdrContentType)}
			} else {
				rec.Request = requestOf(msg)
			}
		case errors.Is(err, errNotInIngest):
			rec.RequestNote = "not in INGEST (past the stream's retention, purged by an erasure, or never stored)"
		default:
			rec.RequestNote = "INGEST could not be read: " + err.Error()
		}
	} else {
		rec.RequestNote = "INGEST not reachable from here (start with --nats-url to include the request)"
	}
	if len(rec.Outcomes) == 0 && rec.Request == nil {
		return nil, ops.NotFound("no event %q in the outcomes or INGEST", eventID)
	}
	summarize(rec, primary)
	return rec, nil
}

func fillFromHeaders(rec *Record, msg *jetstream.RawStreamMsg) {
	h := msg.Header
	rec.Source = h.Get(streams.HdrSource)
	rec.RequestID = h.Get(streams.HdrRequestID)
	if rec.WebhookID == "" {
		rec.WebhookID = h.Get(streams.HdrWebhookID)
	}
	if rec.Workspace == "" {
		rec.Workspace = h.Get(streams.HdrWorkspaceID)
	}
	if rec.ReceivedAt == nil {
		if t, err := time.Parse(time.RFC3339Nano, h.Get(streams.HdrReceivedAt)); err == nil {
			rec.ReceivedAt = &t
		}
	}
}

// summarize derives status, timings, result and errors from the outcomes.
func summarize(rec *Record, primary []Outcome) {
	rec.Status = "unknown"
	if rec.Request != nil || rec.Erasure != nil {
		rec.Status = "pending"
	}
	var fin *Outcome
	for i := range primary {
		o := &primary[i]
		switch o.Status {
		case "ok", "skipped", "unhandled", "duplicate":
			if fin == nil || fin.Status == "rejected" || fin.Status == "dead" || fin.Status == "retry" {
				fin = o
			}
		case "rejected", "dead":
			if fin == nil || fin.Status == "retry" {
				fin = o
			}
		default:
			if fin == nil {
				fin = o
			}
		}
	}
	if fin != nil {
		switch fin.Status {
		case "rejected", "dead":
			rec.Status = "failed"
		case "retry":
			rec.Status = "pending"
		default:
			rec.Status = "ok"
		}
		if rec.ReceivedAt != nil && fin.Status != "retry" {
			v := final.Round2(float64(fin.At.Sub(*rec.ReceivedAt).Microseconds()) / 1000)
			rec.Processing.TotalMS = &v
		}
	}
	if rec.ReceivedAt != nil && len(rec.Outcomes) > 0 {
		last := rec.Outcomes[len(rec.Outcomes)-1].At
		v := final.Round2(float64(last.Sub(*rec.ReceivedAt).Microseconds()) / 1000)
		rec.Processing.PipelineMS = &v
	}
	steps := map[string]float64{}
	result := map[string]any{}
	seenErr := map[string]bool{}
	for _, o := range rec.Outcomes {
		if o.Error != "" && !seenErr[o.Processor+o.Error] {
			seenErr[o.Processor+o.Error] = true
			rec.Errors = append(rec.Errors, o.Processor+": "+o.Error)
		}
		if o.Status != "ok" && o.Status != "rejected" && o.Status != "unhandled" && o.Status != "skipped" {
			continue
		}
		steps[o.Processor+"_ms"] = o.DurationMS
		var d map[string]json.RawMessage
		if len(o.Detail) == 0 || json.Unmarshal(o.Detail, &d) != nil {
			continue
		}
		switch {
		case o.EventID == rec.EventID: // the ingest processor (contacts, payments, …)
			var st map[string]float64
			if json.Unmarshal(d["steps"], &st) == nil {
				for k, v := range st {
					steps[k] = final.Round2(v)
				}
			}
			var r map[string]any
			if json.Unmarshal(d["result"], &r) != nil || r == nil {
				// A detail without a "result" key is the result itself.
				if json.Unmarshal(o.Detail, &r) != nil {
					r = nil
				}
			}
			for k, v := range r {
				if k == "processing_time" || k == "request_id" || k == "event_id" {
					continue
				}
				result[k] = v
			}
			if isNew, ok := r["is_new_contact"].(bool); ok && r["contact_id"] != nil {
				if isNew {
					result["action"] = "created"
				} else {
					result["action"] = "updated"
				}
			} else if o.Status == "rejected" {
				result["action"] = "rejected"
			} else if t, ok := r["type"].(string); ok {
				result["action"] = t
			}
			result["processor"] = o.Processor
		case o.Processor == "boards":
			var b struct {
				RuleApplied bool   `json:"rule_applied"`
				BoardID     string `json:"board_id"`
				BoardName   string `json:"board_name"`
				RuleID      string `json:"rule_id"`
			}
			if json.Unmarshal(o.Detail, &b) == nil {
				steps["board_ms"] = o.DurationMS
				result["board_rule_applied"] = b.RuleApplied
				if b.BoardID != "" {
					result["board_id"], result["board_name"], result["board_rule_id"] = b.BoardID, b.BoardName, b.RuleID
				}
			}
		}
	}
	if len(steps) > 0 {
		rec.Processing.Steps = steps
	}
	if len(result) > 0 {
		rec.Result = result
	}
}

func erasureOf(ctx context.Context, db *pgxpool.Pool, eventID string) (*ErasureRef, error) {
	var e ErasureRef
	err := db.QueryRow(ctx, `SELECT id, contact_id, erased_at FROM erasures WHERE $1 = ANY(event_ids)
		ORDER BY id DESC LIMIT 1`, eventID).Scan(&e.ID, &e.ContactID, &e.ErasedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}
