package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/projections/audit"
	"github.com/hookstream/hookstream/projections/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// InsertOutcome and CopyOutcomes store an outcome alike: empty strings,
// detail and received time as NULL, the error cut to MaxOutcomeError.
func TestOutcomeWritesAgree(t *testing.T) {
	ctx, db := context.Background(), pgtest.New(t)
	recv := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		o    audit.Outcome
		want string
	}{
		{"empty", audit.Outcome{Processor: "p", Status: "ok", Attempts: 1},
			"<nil> <nil> <nil> <nil> <nil> 0 0"},
		{"full", audit.Outcome{Processor: "p", WebhookID: "wh", Workspace: "ws", Status: "retry", Attempts: 2,
			StreamSeq: 9, Duration: 1500 * time.Microsecond, Received: recv, Error: strings.Repeat("x", 3000),
			Detail: json.RawMessage(`{"k":1}`)},
			`wh ws 2026-01-02T03:04:05Z 2000 {"k": 1} 9 1.5`},
	}
	read := func(eventID string) string {
		t.Helper()
		var wh, ws, recvAt, errLen, detail any
		var seq int64
		var dur float64
		if err := db.QueryRow(ctx, `SELECT webhook_id, workspace_id, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
			length(error), detail::text, stream_seq, duration_ms FROM event_outcomes WHERE event_id=$1`, eventID).
			Scan(&wh, &ws, &recvAt, &errLen, &detail, &seq, &dur); err != nil {
			t.Fatalf("%s: %v", eventID, err)
		}
		return fmt.Sprintf("%v %v %v %v %v %v %v", wh, ws, recvAt, errLen, detail, seq, dur)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ins, cp := c.o, c.o
			ins.EventID, cp.EventID = c.name+"-insert", c.name+"-copy"
			if err := audit.InsertOutcome(ctx, db, ins); err != nil {
				t.Fatal(err)
			}
			if err := audit.CopyOutcomes(ctx, db, []audit.Outcome{cp}); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{ins.EventID, cp.EventID} {
				if got := read(id); got != c.want {
					t.Errorf("%s stored as %q, want %q", id, got, c.want)
				}
			}
		})
	}
}
