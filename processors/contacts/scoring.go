package contacts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/lead"
	contactsdb "github.com/hookstream/hookstream/projections/contacts"
)

// Weights score a lead from 0 to 100 (the sum is capped at 100).
type Weights struct {
	Phone         int `json:"phone"`
	Email         int `json:"email"`
	Consent       int `json:"marketing_consent"`
	Interest      int `json:"service_interest_or_product"`
	Company       int `json:"company"`
	UTMSource     int `json:"utm_source"`
	UTMMedium     int `json:"utm_medium"`
	RepeatContact int `json:"repeat_contact"`
}

// DefaultWeights add up to 100.
func DefaultWeights() Weights {
	return Weights{Phone: 20, Email: 15, Consent: 10, Interest: 15, Company: 10, UTMSource: 10, UTMMedium: 5, RepeatContact: 15}
}

// Validate rejects negative weights.
func (w Weights) Validate() error {
	for _, v := range []int{w.Phone, w.Email, w.Consent, w.Interest, w.Company, w.UTMSource, w.UTMMedium, w.RepeatContact} {
		if v < 0 || v > 100 {
			return errors.New("scoring weights must be between 0 and 100")
		}
	}
	return nil
}

// Score computes a lead's score.
func (w Weights) Score(f lead.Fields, repeat bool) int {
	s := 0
	add := func(ok bool, v int) {
		if ok {
			s += v
		}
	}
	add(f.Phone != "", w.Phone)
	add(f.Email != "", w.Email)
	add(f.MarketingConsent != nil && *f.MarketingConsent, w.Consent)
	add(f.ServiceInterest != "" || f.Product != "", w.Interest)
	add(f.Company != "", w.Company)
	add(f.UTM["utm_source"] != "", w.UTMSource)
	add(f.UTM["utm_medium"] != "", w.UTMMedium)
	add(repeat, w.RepeatContact)
	return min(s, 100)
}

// LoadWeights reads a workspace's weights (defaults when none are set).
func LoadWeights(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, workspace string) (Weights, error) {
	b, err := contactsdb.Weights(ctx, q, workspace)
	if err != nil {
		return Weights{}, err
	}
	w := DefaultWeights()
	if b == nil {
		return w, nil
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return Weights{}, fmt.Errorf("scoring weights of %s: %w", workspace, err)
	}
	return w, nil
}

// SaveWeights stores a workspace's weights.
func SaveWeights(ctx context.Context, db *pgxpool.Pool, workspace string, w Weights) error {
	if err := w.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(w)
	return contactsdb.SaveWeights(ctx, db, workspace, b)
}

type weightsCache struct {
	db  *pgxpool.Pool
	now func() time.Time
	mu  sync.Mutex
	m   map[string]weightsEntry
}

type weightsEntry struct {
	w  Weights
	at time.Time
}

func newWeightsCache(db *pgxpool.Pool, now func() time.Time) *weightsCache {
	return &weightsCache{db: db, now: now, m: map[string]weightsEntry{}}
}

func (c *weightsCache) get(ctx context.Context, workspace string) (Weights, error) {
	c.mu.Lock()
	e, ok := c.m[workspace]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < 30*time.Second {
		return e.w, nil
	}
	w, err := LoadWeights(ctx, c.db, workspace)
	if err != nil {
		return Weights{}, err
	}
	c.mu.Lock()
	c.m[workspace] = weightsEntry{w: w, at: c.now()}
	c.mu.Unlock()
	return w, nil
}
