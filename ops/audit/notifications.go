package audit

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	notifydb "github.com/hookstream/hookstream/projections/notify"
)

func notificationsOf(ctx context.Context, db *pgxpool.Pool, eventID string) ([]Notification, error) {
	return notifydb.OfEvent(ctx, db, eventID)
}

// NotificationFilter narrows Notifications; zero fields do not filter.
type NotificationFilter = notifydb.Filter

// NotificationSummary is a Notification with its source event.
type NotificationSummary = notifydb.Summary

// Notifications lists notifications, newest first.
func (t Trail) Notifications(ctx context.Context, f NotificationFilter) ([]NotificationSummary, error) {
	return notifydb.List(ctx, t.DB, f)
}
