package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/ga4"
	"github.com/hookstream/hookstream/processors/outbound"
)

// ga4Name is the processor's key in registry().
const ga4Name = ga4.Name

// GA4 settings (environment):
//
//	GA4_MEASUREMENT_ID  web data stream id (G-…); unset: events are skipped
//	GA4_API_SECRET      Measurement Protocol API secret; unset: events are skipped
//	GA4_ENDPOINT        collection base URL (default https://www.google-analytics.com)
//	GA4_REGION          eu: collect at https://region1.google-analytics.com (ignored when GA4_ENDPOINT is set)
//	GA4_DEBUG           true: send to /debug/mp/collect and record validationMessages (nothing reaches reports)
func ga4Config(getenv func(string) string) (ga4.Config, error) {
	cfg := ga4.DefaultConfig()
	cfg.MeasurementID = strings.TrimSpace(getenv("GA4_MEASUREMENT_ID"))
	cfg.APISecret = strings.TrimSpace(getenv("GA4_API_SECRET"))
	if u := strings.TrimSpace(getenv("GA4_ENDPOINT")); u != "" {
		cfg.Endpoint = strings.TrimRight(u, "/")
	} else {
		ep, err := ga4.RegionEndpoint(getenv("GA4_REGION"))
		if err != nil {
			return cfg, fmt.Errorf("GA4_REGION: %w", err)
		}
		cfg.Endpoint = ep
	}
	if s := strings.TrimSpace(getenv("GA4_DEBUG")); s != "" {
		d, err := strconv.ParseBool(s)
		if err != nil {
			return cfg, fmt.Errorf("GA4_DEBUG=%q: want true or false", s)
		}
		cfg.Debug = d
	}
	return cfg, cfg.Validate()
}

// newGA4 builds the ga4 processor.
func newGA4(a *app) ([]processors.Processor, error) {
	cfg, err := ga4Config(os.Getenv)
	if err != nil {
		return nil, err
	}
	b := outbound.NewBreaker(5, 30*time.Second, nil)
	cfg.Client = outbound.New(ga4.Name, 10*time.Second, b)
	if err := outbound.RegisterBreaker(a.reg, ga4.Name, b); err != nil {
		return nil, err
	}
	switch {
	case !cfg.Configured():
		a.log.Info("ga4: GA4_MEASUREMENT_ID/GA4_API_SECRET not set; events are skipped")
	case cfg.Debug:
		a.log.Warn("ga4: GA4_DEBUG is on; events go to the validation server only and never reach GA4 reports")
	}
	p, err := ga4.New(a.store(), cfg)
	if err != nil {
		return nil, err
	}
	return []processors.Processor{p}, nil
}
