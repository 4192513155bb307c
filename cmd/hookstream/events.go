package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/audit"
)

const eventsUsage = `events <show|list> [flags]

  show EVENT_ID [--json]          the audit record: request as received (secrets removed), stream
                                  sequence, every processor's outcome, step timings, result, errors
  list [--webhook W] [--status ok|failed|pending|rejected|dead|…] [--since 1h] [--limit 50] [--json]
                                  events by their final outcome, newest first (W: a webhook id,
                                  stripe, facebook, mailerlite, form or form:<type>)`

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb, args, err := splitVerb(args, eventsUsage, stdout, stderr)
	if err != nil {
		return err
	}
	var s settings
	var asJSON bool
	var source, status, since string
	var limit int
	fs := newFlags("events "+verb, eventsUsage, stderr)
	s.dbFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch verb {
	case "show":
		s.natsCLIFlags(fs)
	case "list":
		fs.StringVar(&source, "webhook", "", "webhook id, or stripe, facebook, mailerlite, form, form:<type>")
		fs.StringVar(&status, "status", "", "ok, failed, pending, or an outcome status (rejected, dead, duplicate, …)")
		fs.StringVar(&since, "since", "", "look back this far (1h, 30m, 7d)")
		fs.IntVar(&limit, "limit", 50, "most events to list")
	default:
		fmt.Fprintf(stderr, "hookstream events: unknown verb %q\nUsage: hookstream %s\n", verb, eventsUsage)
		return errUsage
	}
	id, err := parseWithID(fs, args, stdout)
	if err != nil {
		return err
	}
	if verb == "show" && id == "" {
		return errors.New("event id required (hookstream events show EVENT_ID)")
	}
	f := audit.EventFilter{Source: source, Status: status, Limit: limit}
	if since != "" {
		d, err := ops.ParseSince(since)
		if err != nil {
			return fmt.Errorf("--since: %w", err)
		}
		if d > 0 {
			f.Since = time.Now().Add(-d)
		}
	}
	if err := f.Validate(); err != nil {
		return err
	}
	a, err := openDBOnly(ctx, s)
	if err != nil {
		return err
	}
	defer a.close()
	if verb == "list" {
		evs, err := audit.Trail{DB: a.pool}.Events(ctx, f)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, evs)
		}
		return printEventList(stdout, evs)
	}
	note := ""
	if err := a.connectNATS(ctx, "hookstream events"); err != nil {
		note = "request not shown: " + oneLine(err)
	}
	rec, err := audit.Trail{DB: a.pool, JS: a.js}.Event(ctx, id)
	if errors.Is(err, ops.ErrNotFound) && note != "" {
		return fmt.Errorf("no outcomes recorded for event %q (and %s)", id, note)
	}
	if err != nil {
		return err
	}
	if note != "" {
		rec.RequestNote = note
	}
	if asJSON {
		return printJSON(stdout, rec)
	}
	return printAudit(stdout, rec)
}

func printEventList(w io.Writer, evs []audit.EventSummary) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tEVENT\tSOURCE\tSTATUS\tOUTCOME\tATTEMPTS\tTIME\tERROR")
	for _, e := range evs {
		at := e.At
		if e.ReceivedAt != nil {
			at = *e.ReceivedAt
		}
		ms := "-"
		if e.TotalMS != nil {
			ms = fmt.Sprintf("%.1fms", *e.TotalMS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", at.Local().Format("2006-01-02 15:04:05"), e.EventID, e.Source,
			e.Status, e.Outcome, e.Attempts, ms, short(oneLineString(e.Error), 80))
	}
	if len(evs) == 0 {
		fmt.Fprintln(tw, "(no events)")
	}
	return tw.Flush()
}

func printAudit(w io.Writer, r *audit.Record) error {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	p("Event       %s\n", r.EventID)
	p("Status      %s\n", r.Status)
	if r.Source != "" || r.WebhookID != "" {
		p("Source      %s %s\n", r.Source, r.WebhookID)
	}
	if r.Workspace != "" {
		p("Workspace   %s\n", r.Workspace)
	}
	if r.ReceivedAt != nil {
		p("Received    %s\n", r.ReceivedAt.Local().Format(time.RFC3339Nano))
	}
	if r.RequestID != "" {
		p("Request id  %s\n", r.RequestID)
	}
	if r.StreamSeq > 0 {
		p("Stream      %s #%d (%s)\n", r.Stream, r.StreamSeq, r.Subject)
	}
	if r.Processing.TotalMS != nil {
		p("Processing  %.1f ms (received → final outcome)", *r.Processing.TotalMS)
		if r.Processing.PipelineMS != nil {
			p("; %.1f ms to the last processor", *r.Processing.PipelineMS)
		}
		p("\n")
	}
	if len(r.Processing.Steps) > 0 {
		keys := make([]string, 0, len(r.Processing.Steps))
		for k := range r.Processing.Steps {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%.2f", strings.TrimSuffix(k, "_ms"), r.Processing.Steps[k]))
		}
		p("Steps (ms)  %s\n", strings.Join(parts, " "))
	}
	if len(r.Result) > 0 {
		b, _ := json.Marshal(r.Result)
		p("Result      %s\n", b)
	}
	if r.Erasure != nil {
		p("Erased      with contact %s at %s (erasure %d)\n", r.Erasure.ContactID, r.Erasure.ErasedAt.Local().Format(time.RFC3339), r.Erasure.ID)
	}
	p("\nOutcomes\n")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  AT\tPROCESSOR\tSTATUS\tATTEMPT\tDURATION\tSUBJECT\tERROR")
	for _, o := range r.Outcomes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%.2fms\t%s\t%s\n", o.At.Local().Format("15:04:05.000"), o.Processor, o.Status,
			o.Attempts, o.DurationMS, o.Subject, short(oneLineString(o.Error), 80))
	}
	if len(r.Outcomes) == 0 {
		fmt.Fprintln(tw, "  (none yet)")
	}
	tw.Flush()
	if len(r.Notifications) > 0 {
		p("\nNotifications\n")
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  ID\tCHANNEL\tSTATUS\tATTEMPTS\tTITLE\tERROR")
		for _, n := range r.Notifications {
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\t%s\n", n.ID, n.Channel, n.Status, n.Attempts, short(n.Title, 60), short(oneLineString(n.Error), 60))
		}
		tw.Flush()
	}
	if len(r.Errors) > 0 {
		p("\nErrors\n")
		for _, e := range r.Errors {
			p("  %s\n", oneLineString(e))
		}
	}
	p("\nRequest\n")
	if r.RequestNote != "" {
		p("  (%s)\n", r.RequestNote)
	}
	if r.Request != nil {
		keys := make([]string, 0, len(r.Request.Headers))
		for k := range r.Request.Headers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p("  %s: %s\n", k, r.Request.Headers[k])
		}
		if len(r.Request.Redacted) > 0 {
			p("  (withheld: %s)\n", strings.Join(r.Request.Redacted, ", "))
		}
		switch {
		case len(r.Request.Body) > 0:
			var v any
			if json.Unmarshal(r.Request.Body, &v) != nil {
				v = string(r.Request.Body) // not JSON (a form post): shown as text
			}
			b, _ := json.MarshalIndent(v, "  ", "  ")
			p("\n  %s\n", b)
		case r.Request.Form != nil:
			b, _ := json.MarshalIndent(r.Request.Form, "  ", "  ")
			p("\n  %s\n", b)
		case r.Request.Text != "":
			p("\n  %s\n", r.Request.Text)
		case r.Request.Base64 != "":
			p("\n  (binary, base64) %s\n", r.Request.Base64)
		}
	}
	return nil
}
