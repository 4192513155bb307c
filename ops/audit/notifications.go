package audit

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func notificationsOf(ctx context.Context, db *pgxpool.Pool, eventID string) ([]Notification, error) {
	return queryNotifications(ctx, db, `WHERE source_event_id = @event ORDER BY id`, pgx.NamedArgs{"event": eventID})
}

const notificationCols = `id, kind, channel, priority, title, status, attempts, COALESCE(batch_id, ''), sent_at,
	COALESCE(error, ''), created_at`

func queryNotifications(ctx context.Context, db *pgxpool.Pool, tail string, args pgx.NamedArgs) ([]Notification, error) {
	rows, err := db.Query(ctx, `SELECT `+notificationCols+` FROM notifications `+tail, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		if err := rows.Scan(&n.ID, &n.Kind, &n.Channel, &n.Priority, &n.Title, &n.Status, &n.Attempts, &n.BatchID,
			&n.SentAt, &n.Error, &n.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// NotificationFilter narrows Notifications.
type NotificationFilter struct {
	Status  string
	Channel string
	EventID string
	Since   time.Time // only notifications created at or after; zero = all
	Limit   int
}

// NotificationSummary is a Notification with its source event.
type NotificationSummary struct {
	Notification
	SourceEventID string `json:"source_event_id"`
	Workspace     string `json:"workspace_id"`
}

// Notifications lists notifications, newest first.
func (t Trail) Notifications(ctx context.Context, f NotificationFilter) ([]NotificationSummary, error) {
	args := pgx.NamedArgs{"status": f.Status, "channel": f.Channel, "event": f.EventID, "limit": max(f.Limit, 1)}
	where := `WHERE (@status = '' OR status = @status) AND (@channel = '' OR channel = @channel)
		AND (@event = '' OR source_event_id = @event)`
	if !f.Since.IsZero() {
		args["since"] = f.Since
		where += ` AND created_at >= @since`
	}
	rows, err := t.DB.Query(ctx, `SELECT `+notificationCols+`, source_event_id, workspace_id FROM notifications `+where+`
		ORDER BY id DESC LIMIT @limit`, args)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NotificationSummary{}
	for rows.Next() {
		var n NotificationSummary
		if err := rows.Scan(&n.ID, &n.Kind, &n.Channel, &n.Priority, &n.Title, &n.Status, &n.Attempts, &n.BatchID,
			&n.SentAt, &n.Error, &n.CreatedAt, &n.SourceEventID, &n.Workspace); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}
