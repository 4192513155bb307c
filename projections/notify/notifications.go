package notify

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// Notification is a new notifications row. ContactID "" is stored as NULL.
type Notification struct {
	MsgID, EventID, SourceEventID, WorkspaceID, Kind string
	Channel, Recipient, ContactID, Priority, Title   string
	Body                                             []byte // JSON
	Status                                           string
	SentAt                                           *time.Time
}

// InsertNotification stores a notification once per msg id and returns its
// id; ok is false when the msg id is already on file (kept across a
// rebuild: it was announced already).
func InsertNotification(ctx context.Context, db dbtx.DB, n *Notification) (id int64, ok bool, err error) {
	err = db.QueryRow(ctx, `INSERT INTO notifications (msg_id, event_id, source_event_id, workspace_id, kind,
		channel, recipient, contact_id, priority, title, body, status, sent_at)
		VALUES ($1,$2,$3,$4,$5,$6,$7,NULLIF($8,''),$9,$10,$11,$12,$13)
		ON CONFLICT (msg_id) DO NOTHING RETURNING id`,
		n.MsgID, n.EventID, n.SourceEventID, n.WorkspaceID, n.Kind, n.Channel, n.Recipient, n.ContactID,
		n.Priority, n.Title, n.Body, n.Status, n.SentAt).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// DeliveryState is a notification's status and recipient; ok is false when
// the row (id and msg id) does not exist.
func DeliveryState(ctx context.Context, db dbtx.DB, id int64, msgID string) (status, recipient string, ok bool, err error) {
	err = db.QueryRow(ctx, `SELECT status, recipient FROM notifications WHERE id=$1 AND msg_id=$2`, id, msgID).
		Scan(&status, &recipient)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	return status, recipient, err == nil, err
}

// RecordFailure records a failed delivery attempt of a notification not
// sent yet: status is pending (to retry) or dead.
func RecordFailure(ctx context.Context, db dbtx.DB, id int64, status string, attempts int, msg, batchID string) error {
	_, err := db.Exec(ctx, `UPDATE notifications SET status=$2, attempts=$3, error=$4, batch_id=$5,
		updated_at=now() WHERE id=$1 AND status <> 'sent'`, id, status, attempts, msg, batchID)
	return err
}

// RecordSent marks a batch's notifications sent, in one statement;
// attempts[i] is the attempt that sent ids[i].
func RecordSent(ctx context.Context, db dbtx.DB, batchID string, ids []int64, attempts []int32) error {
	_, err := db.Exec(ctx, `UPDATE notifications n SET status='sent', attempts=v.att, batch_id=$1,
		sent_at=now(), error=NULL, updated_at=now() FROM unnest($2::bigint[], $3::int[]) AS v(id, att) WHERE n.id=v.id`,
		batchID, ids, attempts)
	return err
}

// Row is a notification as the audit trail shows it.
type Row struct {
	ID        int64      `json:"id"`
	Kind      string     `json:"kind"`
	Channel   string     `json:"channel"`
	Priority  string     `json:"priority"`
	Title     string     `json:"title"`
	Status    string     `json:"status"`
	Attempts  int        `json:"attempts"`
	BatchID   string     `json:"batch_id,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	Error     string     `json:"error,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

const rowCols = `id, kind, channel, priority, title, status, attempts, COALESCE(batch_id, ''), sent_at,
	COALESCE(error, ''), created_at`

// OfEvent lists the notifications a source event caused, oldest first.
func OfEvent(ctx context.Context, db dbtx.DB, sourceEventID string) ([]Row, error) {
	rows, err := db.Query(ctx, `SELECT `+rowCols+` FROM notifications WHERE source_event_id = $1 ORDER BY id`, sourceEventID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Row])
}

// Filter narrows List; zero fields do not filter.
type Filter struct {
	Status  string
	Channel string
	EventID string
	Since   time.Time
	Limit   int // at least 1
}

// Summary is a Row with its source event.
type Summary struct {
	Row
	SourceEventID string `json:"source_event_id"`
	Workspace     string `json:"workspace_id"`
}

// List lists notifications, newest first.
func List(ctx context.Context, db dbtx.DB, f Filter) ([]Summary, error) {
	args := pgx.NamedArgs{"status": f.Status, "channel": f.Channel, "event": f.EventID, "limit": max(f.Limit, 1)}
	where := `WHERE (@status = '' OR status = @status) AND (@channel = '' OR channel = @channel)
		AND (@event = '' OR source_event_id = @event)`
	if !f.Since.IsZero() {
		args["since"] = f.Since
		where += ` AND created_at >= @since`
	}
	rows, err := db.Query(ctx, `SELECT `+rowCols+`, source_event_id, workspace_id FROM notifications `+where+`
		ORDER BY id DESC LIMIT @limit`, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Summary{}
	for rows.Next() {
		var n Summary
		if err := rows.Scan(&n.ID, &n.Kind, &n.Channel, &n.Priority, &n.Title, &n.Status, &n.Attempts, &n.BatchID,
			&n.SentAt, &n.Error, &n.CreatedAt, &n.SourceEventID, &n.Workspace); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
