package contacts_test

import (
	"encoding/json"
	"testing"

	"github.com/hookstream/hookstream/internal/pipelinetest"
	"github.com/hookstream/hookstream/processors"
)

// A newsletter signup is consent by itself; a contact form without a consent
// field leaves consent unknown.
func TestForms_NewsletterIsConsent(t *testing.T) {
	t.Parallel()
	env := pipelinetest.New(t, pipelinetest.Options{})
	startPipeline(t, env)
	for _, f := range []struct{ kind, body string }{
		{"newsletter", `{"data":{"email":"news@example.com"}}`},
		{"contact", `{"data":{"name":"Con Tact","email":"contact@example.com","message":"hi"}}`},
	} {
		res := env.PostForm(f.kind, "", []byte(f.body))
		if res.Status != 200 {
			t.Fatalf("%s form: %d %s", f.kind, res.Status, res.Body)
		}
		var a struct {
			EventID string `json:"event_id"`
		}
		json.Unmarshal(res.Body, &a)
		if o := env.WaitOutcome("contacts", a.EventID); o.Status != processors.StatusOK {
			t.Fatalf("%s outcome %+v", f.kind, o)
		}
	}
	consent := func(email string) string {
		var v *bool
		if err := env.DB.QueryRow(ctxT(t), `SELECT marketing_consent FROM contacts WHERE email=$1`, email).Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v == nil {
			return "null"
		}
		if *v {
			return "true"
		}
		return "false"
	}
	if got := consent("news@example.com"); got != "true" {
		t.Errorf("newsletter consent = %s, want true", got)
	}
	if got := consent("contact@example.com"); got != "null" {
		t.Errorf("contact form consent = %s, want null", got)
	}
}
