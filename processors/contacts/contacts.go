// Package contacts is the contacts processor: it turns raw lead, form and
// Facebook events from INGEST into contacts and leads — field mapping,
// normalization, validation, duplicate prevention (CRM id → phone → email
// within a workspace), lead scoring — and emits events.contact.* and
// events.lead.created.
package contacts

import (
	"errors"
	"net/http"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/streams"
)

// Name is the processor's and its durable consumer's name.
const Name = "contacts"

// Config configures the processor.
type Config struct {
	// DefaultRegion parses phone numbers without a country code ("US").
	DefaultRegion string
	// GraphURL is the Facebook Graph API base (FACEBOOK_GRAPH_URL).
	GraphURL string
	// PageToken is the page access token for lead retrieval
	// (FACEBOOK_PAGE_TOKEN). Without it Facebook leads are dead-lettered.
	PageToken string
	// HTTP is the client for the Graph API (a timeout is required).
	HTTP *http.Client
	// BatchSize is the most events applied in one transaction. Default 256.
	BatchSize int
	// Concurrency bounds handlers running at once. Default 16.
	Concurrency int
	// Now is the clock (for processing_time).
	Now func() time.Time
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		DefaultRegion: "US",
		GraphURL:      "https://graph.facebook.com/v21.0",
		HTTP:          &http.Client{Timeout: 10 * time.Second},
		BatchSize:     512,
		Concurrency:   16,
		Now:           time.Now,
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.DefaultRegion == "" || c.GraphURL == "" || c.HTTP == nil || c.HTTP.Timeout <= 0 || c.Now == nil {
		return errors.New("contacts: region, graph URL, an HTTP client with a timeout and a clock are required")
	}
	return nil
}

// Contacts is the contacts processor.
type Contacts struct{ p processors.Processor }

// Processors is its one consumer (contacts on INGEST).
func (c *Contacts) Processors() []processors.Processor { return []processors.Processor{c.p} }

// New builds the contacts processor.
func New(deps processors.Deps, cfg Config) (*Contacts, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	store := deps.Store()
	h := &handler{store: store, cfg: cfg, mappings: newMappingCache(store.DB, cfg.Now), weights: newWeightsCache(store.DB, cfg.Now)}
	return &Contacts{p: processors.Processor{
		Name:   Name,
		Stream: streams.StreamIngest,
		Subjects: []string{
			streams.SubjectIngestWebhook + ".>",
			streams.SubjectIngestForm + ".>",
			"ingest.facebook.>",
		},
		Handler:   h.handle,
		Batch:     h.handleBatch,
		BatchSize: cfg.BatchSize,
		// Room for a batch being finished, one being applied and one being
		// pulled, plus the one-event handlers.
		MaxAckPending: 3*max(cfg.BatchSize, 1) + cfg.Concurrency,
		OrderKeys:     h.orderKeys,
		Concurrency:   cfg.Concurrency,
		MaxDeliver:    20, // with backoff capped at 1 min: ~13 min of Postgres outage before dead-lettering
		AckWait:       30 * time.Second,
	}}, nil
}
