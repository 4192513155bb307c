// Package webhooks holds the configured inbound webhooks (table webhooks):
// their store, secrets and ids.
package webhooks

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/projections/dbtx"
)

// ErrNotFound is returned when a row does not exist.
var ErrNotFound = errors.New("not found")

// Secret is one credential of a webhook; ExpiresAt is set on a rotated-out
// secret that stays valid for a grace period.
type Secret struct {
	Value     string     `json:"value"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// Webhook is one configured inbound webhook (table webhooks).
type Webhook struct {
	ID           string            `json:"id"`
	WorkspaceID  string            `json:"workspace_id"`
	Name         string            `json:"name"`
	Active       bool              `json:"active"`
	AuthScheme   string            `json:"auth_scheme"` // standard | hmac | token | basic | none
	Secrets      []Secret          `json:"secrets,omitempty"`
	AuthHeader   string            `json:"auth_header,omitempty"`   // hmac/token header name
	AuthEncoding string            `json:"auth_encoding,omitempty"` // hmac: hex | base64
	FieldMapping map[string]string `json:"field_mapping,omitempty"`
	RateLimit    float64           `json:"rate_limit"` // requests/s; 0 = gateway default
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// ValidSecrets returns the secret values still valid at now.
func (w *Webhook) ValidSecrets(now time.Time) []string {
	out := make([]string, 0, len(w.Secrets))
	for _, s := range w.Secrets {
		if s.ExpiresAt == nil || now.Before(*s.ExpiresAt) {
			out = append(out, s.Value)
		}
	}
	return out
}

// Webhooks is the store of webhook configuration.
type Webhooks struct{ DB *pgxpool.Pool }

const webhookCols = `id, workspace_id, name, active, auth_scheme, secrets, auth_header,
	auth_encoding, field_mapping, rate_limit, created_at, updated_at`

func scanWebhook(row pgx.Row) (*Webhook, error) {
	var w Webhook
	var secrets, mapping []byte
	err := row.Scan(&w.ID, &w.WorkspaceID, &w.Name, &w.Active, &w.AuthScheme, &secrets,
		&w.AuthHeader, &w.AuthEncoding, &mapping, &w.RateLimit, &w.CreatedAt, &w.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(secrets, &w.Secrets); err != nil {
		return nil, fmt.Errorf("webhook %s secrets: %w", w.ID, err)
	}
	if len(mapping) > 0 && string(mapping) != "null" {
		if err := json.Unmarshal(mapping, &w.FieldMapping); err != nil {
			return nil, fmt.Errorf("webhook %s mapping: %w", w.ID, err)
		}
	}
	return &w, nil
}

// Create stores w, filling ID and, when w has no secret and its scheme needs
// one, a generated secret.
func (s *Webhooks) Create(ctx context.Context, w *Webhook) (*Webhook, error) {
	if w.ID == "" {
		w.ID = NewWebhookID()
	}
	if len(w.Secrets) == 0 {
		if v := GenerateSecret(w.AuthScheme); v != "" {
			w.Secrets = []Secret{{Value: v}}
		}
	}
	secrets, _ := json.Marshal(w.Secrets)
	var mapping []byte
	if w.FieldMapping != nil {
		mapping, _ = json.Marshal(w.FieldMapping)
	}
	row := s.DB.QueryRow(ctx, `INSERT INTO webhooks (id, workspace_id, name, active, auth_scheme,
		secrets, auth_header, auth_encoding, field_mapping, rate_limit)
		VALUES ($1,$2,$3,true,$4,$5,$6,$7,$8,$9) RETURNING `+webhookCols,
		w.ID, w.WorkspaceID, w.Name, w.AuthScheme, secrets, w.AuthHeader, w.AuthEncoding, mapping, w.RateLimit)
	return scanWebhook(row)
}

// FieldMapping is the webhook's field mapping (nil: the default names, or
// no such webhook). The contacts processor reads only this, on its hot path.
func FieldMapping(ctx context.Context, db dbtx.DB, id string) (map[string]string, error) {
	var m map[string]string
	err := db.QueryRow(ctx, `SELECT field_mapping FROM webhooks WHERE id=$1`, id).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return m, err
}

// Get returns one webhook, active or not.
func (s *Webhooks) Get(ctx context.Context, id string) (*Webhook, error) {
	return scanWebhook(s.DB.QueryRow(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE id=$1", id))
}

// List returns the webhooks of a workspace ("" = all), newest first.
func (s *Webhooks) List(ctx context.Context, workspace string) ([]*Webhook, error) {
	rows, err := s.DB.Query(ctx, "SELECT "+webhookCols+
		" FROM webhooks WHERE $1='' OR workspace_id=$1 ORDER BY created_at DESC, id", workspace)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// SetActive enables or disables a webhook.
func (s *Webhooks) SetActive(ctx context.Context, id string, active bool) (*Webhook, error) {
	return scanWebhook(s.DB.QueryRow(ctx, `UPDATE webhooks SET active=$2, updated_at=now()
		WHERE id=$1 RETURNING `+webhookCols, id, active))
}

// RotateSecret installs a new secret (generated when newSecret is empty); the
// secrets valid so far stay valid for grace, then expire.
func (s *Webhooks) RotateSecret(ctx context.Context, id, newSecret string, grace time.Duration, now time.Time) (*Webhook, error) {
	var out *Webhook
	err := pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		w, err := scanWebhook(tx.QueryRow(ctx, "SELECT "+webhookCols+" FROM webhooks WHERE id=$1 FOR UPDATE", id))
		if err != nil {
			return err
		}
		if newSecret == "" {
			newSecret = GenerateSecret(w.AuthScheme)
		}
		if newSecret == "" {
			return fmt.Errorf("webhook %s: scheme %q has no secret to rotate", id, w.AuthScheme)
		}
		exp := now.Add(grace).UTC()
		next := []Secret{{Value: newSecret}}
		for _, sec := range w.Secrets {
			if sec.ExpiresAt != nil && !now.Before(*sec.ExpiresAt) {
				continue // already expired: drop it
			}
			if sec.ExpiresAt == nil || sec.ExpiresAt.After(exp) {
				sec.ExpiresAt = &exp
			}
			next = append(next, sec)
		}
		b, _ := json.Marshal(next)
		out, err = scanWebhook(tx.QueryRow(ctx, `UPDATE webhooks SET secrets=$2, updated_at=now()
			WHERE id=$1 RETURNING `+webhookCols, id, b))
		return err
	})
	return out, err
}

// NewWebhookID returns an id like wh_3f7k… (URL- and subject-safe).
func NewWebhookID() string {
	b := make([]byte, 10)
	rand.Read(b)
	return "wh_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// GenerateSecret makes a fresh secret in the format the scheme expects, or ""
// for schemes whose credential the operator must choose (basic, none).
func GenerateSecret(scheme string) string {
	b := make([]byte, 32)
	rand.Read(b)
	switch scheme {
	case "standard":
		return "whsec_" + base64.StdEncoding.EncodeToString(b[:24])
	case "hmac":
		return hex.EncodeToString(b)
	case "token":
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return ""
}
