package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/crm"
	"github.com/hookstream/hookstream/processors/outbound"
)

// crmName is the processor's key in registry().
const crmName = crm.Name

// CRM settings (environment):
//
//	CRM_API_ENDPOINT       CRM API root; POST {endpoint}/leads and {endpoint}/leads/{lead_id}/purchase.
//	CRM_API_KEY            bearer token. Without endpoint and key every lead and purchase is skipped.
//	CRM_API_VERSION        sent as X-API-Version (default 2024-01-01)
//	CRM_TIMEOUT            per-call timeout (default 10s)
//	CRM_BREAKER_THRESHOLD  consecutive transient failures that open the circuit (default 5)
//	CRM_BREAKER_COOLDOWN   how long the circuit stays open before one probe (default 30s)
func crmConfig(getenv func(string) string) (crm.Config, error) {
	cfg := crm.DefaultConfig()
	cfg.Endpoint = strings.TrimRight(strings.TrimSpace(getenv("CRM_API_ENDPOINT")), "/")
	cfg.APIKey = strings.TrimSpace(getenv("CRM_API_KEY"))
	if v := strings.TrimSpace(getenv("CRM_API_VERSION")); v != "" {
		cfg.APIVersion = v
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"CRM_TIMEOUT", &cfg.Timeout}, {"CRM_BREAKER_COOLDOWN", &cfg.BreakerCooldown}} {
		if s := strings.TrimSpace(getenv(d.name)); s != "" {
			v, err := time.ParseDuration(s)
			if err != nil || v <= 0 {
				return cfg, fmt.Errorf("%s=%q: want a positive duration such as 10s", d.name, s)
			}
			*d.dst = v
		}
	}
	if s := strings.TrimSpace(getenv("CRM_BREAKER_THRESHOLD")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return cfg, fmt.Errorf("CRM_BREAKER_THRESHOLD=%q: want a positive number of failures", s)
		}
		cfg.BreakerThreshold = n
	}
	return cfg, cfg.Validate()
}

// newCRM builds the crm processor's consumer (crm on EVENTS) and exports its
// circuit breaker as a metric.
func newCRM(a *app) ([]processors.Processor, error) {
	cfg, err := crmConfig(os.Getenv)
	if err != nil {
		return nil, err
	}
	c, err := crm.New(a.store(), cfg)
	if err != nil {
		return nil, err
	}
	if err := outbound.RegisterBreaker(a.reg, crm.Name, c.Breaker()); err != nil {
		return nil, err
	}
	if !cfg.Configured() {
		a.log.Info("crm: CRM_API_ENDPOINT or CRM_API_KEY not set; leads and purchases are skipped")
	}
	return []processors.Processor{c.Processor()}, nil
}
