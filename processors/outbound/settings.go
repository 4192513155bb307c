package outbound

import (
	"errors"
	"time"
)

// Settings are what every destination configures the same way: the bound
// on one call and its circuit breaker. Processors embed them in their
// Config, and cmd fills them from <DESTINATION>_TIMEOUT,
// <DESTINATION>_BREAKER_THRESHOLD and <DESTINATION>_BREAKER_COOLDOWN.
type Settings struct {
	// Timeout bounds one call. Default 10 s.
	Timeout time.Duration
	// BreakerThreshold consecutive transient failures open the circuit.
	// Default 5.
	BreakerThreshold int
	// BreakerCooldown is how long it stays open before one probe. Default
	// 30 s.
	BreakerCooldown time.Duration
}

// DefaultSettings returns the defaults every destination starts from.
func DefaultSettings() Settings {
	return Settings{Timeout: 10 * time.Second, BreakerThreshold: 5, BreakerCooldown: 30 * time.Second}
}

// Validate checks that the client these settings build can work.
func (s Settings) Validate() error {
	if s.Timeout <= 0 || s.BreakerThreshold < 1 || s.BreakerCooldown <= 0 {
		return errors.New("timeout, breaker threshold and breaker cooldown must be positive")
	}
	return nil
}

// Breaker builds the circuit breaker these settings describe.
func (s Settings) Breaker() *Breaker {
	return NewBreaker(s.BreakerThreshold, s.BreakerCooldown, nil)
}

// Client builds the named destination's client from these settings.
func (s Settings) Client(name string) *Client {
	return New(name, s.Timeout, s.Breaker())
}
