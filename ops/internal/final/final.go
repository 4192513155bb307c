// Package final is the one definition of a raw event's final outcome that
// the event lists (ops/audit) and the analytics (ops/stats) both read.
//
// They read the outcomes of the processors that consume INGEST (contacts,
// payments, mailerlite-ingest): each raw event's final outcome is its first
// success if it has one, else its first rejection or dead letter, else
// (still retrying) its latest attempt. Processing time runs from the
// gateway's receipt (Hs-Received-At) to that outcome, so it is what the
// sender's request took end to end and it survives restarts: it is computed
// from event_outcomes, never from counters in memory.
package final

import (
	"fmt"
	"math"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/streams"
)

// cte defines "final" (each raw event's final outcome) and "classed" (it,
// with class ok|failed|pending, ms and the time t it is filed under).
const cte = `final AS (
	SELECT DISTINCT ON (event_id) event_id, processor, webhook_id, workspace_id, subject, stream_seq, status,
		attempts, duration_ms, received_at, at, error, detail,
		CASE WHEN webhook_id IS NOT NULL THEN webhook_id
			WHEN subject LIKE 'ingest.form.%' THEN 'form:' || split_part(subject, '.', 3)
			ELSE split_part(subject, '.', 2) END AS source
	FROM event_outcomes
	WHERE subject LIKE 'ingest.%' AND $COND
	ORDER BY event_id,
		CASE WHEN status IN ('ok','skipped','unhandled') THEN 0 WHEN status IN ('rejected','dead') THEN 1
			WHEN status = 'duplicate' THEN 2 ELSE 3 END,
		CASE WHEN status = 'retry' THEN -extract(epoch FROM at) ELSE extract(epoch FROM at) END, id
), classed AS (
	SELECT *,
		CASE WHEN status IN ('ok','skipped','unhandled','duplicate') THEN 'ok'
			WHEN status IN ('rejected','dead') THEN 'failed' ELSE 'pending' END AS class,
		CASE WHEN received_at IS NOT NULL AND status <> 'retry'
			THEN extract(epoch FROM (at - received_at)) * 1000 END AS ms,
		COALESCE(received_at, at) AS t
	FROM final
)`

// With is "WITH final AS (…), classed AS (…)" over the event_outcomes rows
// where cond holds.
func With(cond string) string { return "WITH " + strings.Replace(cte, "$COND", cond, 1) }

// SourceCond turns a source id into a condition on event_outcomes, adding
// its arguments to args: stripe, facebook, mailerlite, form and form:<type>
// name the global routes; anything else is a webhook id; "", "*" and "all"
// are every source.
func SourceCond(source string, args pgx.NamedArgs) (string, error) {
	switch {
	case source == "" || source == "*" || source == "all":
		return "true", nil
	case source == streams.SourceStripe || source == streams.SourceFacebook || source == streams.SourceMailerLite:
		args["subject_like"] = "ingest." + source + ".%"
		return "webhook_id IS NULL AND subject LIKE @subject_like", nil
	case source == "form" || source == "forms":
		return "subject LIKE 'ingest.form.%'", nil
	case strings.HasPrefix(source, "form:"):
		ft := strings.TrimPrefix(source, "form:")
		if !streams.ValidToken(ft, false) {
			return "", ops.Invalid("webhook", fmt.Sprintf("form type %q", ft))
		}
		args["subject"] = "ingest.form." + ft
		return "subject = @subject", nil
	}
	args["webhook"] = source
	return "webhook_id = @webhook", nil
}

// Round2 rounds to hundredths, the precision every figure is shown with.
func Round2(v float64) float64 { return math.Round(v*100) / 100 }
