package pipelinetest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// lastMatching finds the last message a consumer's filters match, through
// wildcards and several filters, so WaitIdle cannot pass before it was
// delivered.
func TestLastMatching(t *testing.T) {
	env := New(t, Options{NoGateway: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := jetstream.ConsumerConfig{FilterSubjects: []string{"ingest.webhook.>", "ingest.form.>"}}
	if got, err := lastMatching(ctx, env.JS, "INGEST", cfg); err != nil || got != 0 {
		t.Fatalf("empty stream: %d, %v", got, err)
	}
	a := env.PublishRaw(WebhookRaw("wh_a", "ws", "a", []byte(`{"email":"a@example.com"}`)))
	b := env.PublishRaw(WebhookRaw("wh_b", "ws", "b", []byte(`{"email":"b@example.com"}`)))
	if got, err := lastMatching(ctx, env.JS, "INGEST", cfg); err != nil || got != b.Sequence || b.Sequence <= a.Sequence {
		t.Fatalf("last match %d (%v), want %d", got, err, b.Sequence)
	}
	other := jetstream.ConsumerConfig{FilterSubject: "ingest.stripe.>"}
	if got, err := lastMatching(ctx, env.JS, "INGEST", other); err != nil || got != 0 {
		t.Fatalf("filter matching nothing: %d, %v", got, err)
	}
}
