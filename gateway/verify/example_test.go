package verify_test

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/hookstream/hookstream/gateway/verify"
)

// A lead vendor signs with Standard Webhooks; the gateway verifies with the
// webhook's stored config.
func Example() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"email":"ada@example.com"}`)
	sent := time.Now()

	h := http.Header{}
	h.Set("webhook-id", "msg_1")
	h.Set("webhook-timestamp", strconv.FormatInt(sent.Unix(), 10))
	h.Set("webhook-signature", verify.SignStandard(secret, "msg_1", sent, body))

	v, err := verify.New(verify.Config{Scheme: verify.SchemeStandard, Secrets: []string{secret}}, nil)
	if err != nil {
		panic(err) // misconfigured webhook: answer 500, publish nothing
	}
	fmt.Println(v.Verify(h, body))

	err = v.Verify(h, []byte(`{"email":"eve@example.com"}`))
	r := verify.ReasonOf(err)
	fmt.Println(r, r.Status())
	// Output:
	// <nil>
	// bad_signature 401
}
