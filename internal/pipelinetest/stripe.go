package pipelinetest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"

	"github.com/hookstream/hookstream/internal/testutil"
)

// PostStripe posts a Stripe event to /webhooks/stripe, signed now with
// StripeSecret.
func (e *Env) PostStripe(body []byte) *Response {
	e.T.Helper()
	sp := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: StripeSecret})
	return e.Post("/webhooks/stripe", "application/json", body, http.Header{"Stripe-Signature": {sp.Header}})
}

// RedeliverStripe posts a Stripe event again the way Stripe retries it
// later: once JetStream's de-duplication window for it has passed. A post
// still inside the window is dropped by JetStream and changes nothing, so
// it posts (every 100 ms, each try being a whole HTTP post) until one is
// taken, and returns that answer.
func (e *Env) RedeliverStripe(body []byte) map[string]any {
	e.T.Helper()
	var answer map[string]any
	testutil.CheckFor(e.T, 15*time.Second, 100*time.Millisecond, func() error {
		res := e.PostStripe(body)
		if res.Status != http.StatusOK {
			e.T.Fatalf("pipelinetest: /webhooks/stripe answered %d: %s", res.Status, res.Body)
		}
		if answer = res.Map(e.T); answer["duplicate"] != false {
			return fmt.Errorf("delivery deduplicated by JetStream: %v", answer)
		}
		return nil
	})
	return answer
}
