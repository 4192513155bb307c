package contacts

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hookstream/hookstream/lead"
	"github.com/hookstream/hookstream/processors"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
	"github.com/hookstream/hookstream/streams"
)

// candidate is what a raw event says about a person, normalized.
type candidate struct {
	fields   lead.Fields
	invalid  []lead.FieldError
	parseErr error
	source   string
	formType string
	steps    map[string]float64 // per-step timings in ms
}

// extract parses and normalizes a webhook or form event. Facebook events
// need the Graph API first (fetchFacebook).
func (h *handler) extract(ctx context.Context, m *processors.Message) *candidate {
	c := &candidate{source: m.Header.Get(streams.HdrSource), steps: map[string]float64{}}
	t0 := time.Now()
	ct := m.Header.Get(streams.HdrContentType)
	vals, err := lead.Parse(ct, m.Data)
	if err != nil {
		c.parseErr = err
		return c
	}
	var mapping lead.Mapping
	if c.source == streams.SourceWebhook && m.WebhookID != "" {
		mapping, err = h.mappings.get(ctx, m.WebhookID)
		if err != nil {
			c.parseErr = err
			return c
		}
	}
	if c.source == streams.SourceForm {
		c.formType = m.Header.Get(streams.HdrFormType)
		if c.formType == "" {
			c.formType = streams.SubjectTail(m.Subject, streams.SubjectIngestForm)
		}
	}
	f := lead.Apply(vals, mapping)
	t1 := time.Now()
	c.steps["mapping_ms"] = ms(t1.Sub(t0))
	c.normalize(f, h.cfg.DefaultRegion)
	c.steps["validation_ms"] = ms(time.Since(t1))
	return c
}

func (c *candidate) normalize(f lead.Fields, region string) {
	if c.formType != "" {
		c.fields, c.invalid = lead.NormalizeForm(c.formType, f, region)
		// Signing up for the newsletter is consent to marketing e-mail by
		// itself, unless the form says otherwise.
		if c.formType == "newsletter" && c.fields.MarketingConsent == nil {
			yes := true
			c.fields.MarketingConsent = &yes
		}
		return
	}
	c.fields, c.invalid = lead.Normalize(f, region)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// orderKeys gives the identity keys of a message so events about one person
// are applied in stream order (Facebook leads have none until fetched).
func (h *handler) orderKeys(m *processors.Message) []string {
	if m.Header.Get(streams.HdrSource) == streams.SourceFacebook {
		return nil
	}
	// Runs on the consumer's dispatch goroutine: a slow database must not
	// stall it (the handler extracts again on a non-parse error).
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c := h.extract(ctx, m)
	m.Scratch = c
	if c.parseErr != nil || len(c.invalid) > 0 {
		return nil
	}
	return identityKeys(m.Workspace, c.fields)
}

// mappingCache keeps webhook field mappings for 30 s.
type mappingCache struct {
	db  *pgxpool.Pool
	now func() time.Time
	mu  sync.Mutex
	m   map[string]mappingEntry
}

type mappingEntry struct {
	mapping lead.Mapping
	at      time.Time
}

func newMappingCache(db *pgxpool.Pool, now func() time.Time) *mappingCache {
	return &mappingCache{db: db, now: now, m: map[string]mappingEntry{}}
}

func (c *mappingCache) get(ctx context.Context, webhookID string) (lead.Mapping, error) {
	c.mu.Lock()
	e, ok := c.m[webhookID]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < 30*time.Second {
		return e.mapping, nil
	}
	m, err := webhooksdb.FieldMapping(ctx, c.db, webhookID)
	if err != nil {
		return nil, fmt.Errorf("loading mapping of %s: %w", webhookID, err)
	}
	c.mu.Lock()
	c.m[webhookID] = mappingEntry{mapping: m, at: c.now()}
	c.mu.Unlock()
	return m, nil
}
