package gateway_test

import (
	"testing"
	"time"

	"github.com/hookstream/hookstream/gateway"
	"github.com/hookstream/hookstream/streams"
)

func TestConfig_Validate(t *testing.T) {
	if err := gateway.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for name, edit := range map[string]func(*gateway.Config){
		"no workspace":       func(c *gateway.Config) { c.Workspace = "" },
		"zero body limit":    func(c *gateway.Config) { c.BodyLimit = 0 },
		"zero publish wait":  func(c *gateway.Config) { c.PublishTimeout = 0 },
		"sub-second retry":   func(c *gateway.Config) { c.RetryAfter = 500 * time.Millisecond },
		"zero form rate":     func(c *gateway.Config) { c.FormRate = 0 },
		"zero webhook burst": func(c *gateway.Config) { c.WebhookBurst = 0 },
		"no clock":           func(c *gateway.Config) { c.Now = nil },
	} {
		c := gateway.DefaultConfig()
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := gateway.New(c, gateway.Deps{Publisher: &streams.Publisher{}}); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
	if _, err := gateway.New(gateway.DefaultConfig(), gateway.Deps{}); err == nil {
		t.Error("New without a publisher")
	}
}
