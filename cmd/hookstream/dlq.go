package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hookstream/hookstream/ops/dlq"
	"github.com/hookstream/hookstream/processors"
)

const dlqUsage = `dlq <list|show|retry|discard> [flags]

  list [--processor P] [--json]            dead letters, oldest first
  show ID [--json]                         one dead letter: origin, error, headers, body
  retry ID... | --all --processor P [--json]
                                           handle them again through the processor,
                                           with their original event id (exactly once);
                                           those that succeed leave the DLQ
  discard ID... | --all --processor P [--json]
                                           delete them for good

ID is the dead letter's sequence in the DLQ stream (first column of list).
retry runs the processor's code in this process, with this process's
environment (API keys, FACEBOOK_*, …): run it where serve/process runs.`

func runDLQ(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb, args, err := splitVerb(args, dlqUsage, stdout, stderr)
	if err != nil {
		return err
	}
	var s settings
	var asJSON, all bool
	var processor string
	fs := newFlags("dlq "+verb, dlqUsage, stderr)
	s.natsCLIFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch verb {
	case "list":
		s.logFlags(fs)
		fs.StringVar(&processor, "processor", "", "only this processor's dead letters")
	case "show":
		s.logFlags(fs)
	case "retry":
		s.dbFlags(fs)
		fs.StringVar(&s.region, "default-region", "US", "region for phone numbers written without a country code (as serve)")
		fs.StringVar(&processor, "processor", "", "with --all: this processor's dead letters")
		fs.BoolVar(&all, "all", false, "every dead letter of --processor")
	case "discard":
		s.logFlags(fs)
		fs.StringVar(&processor, "processor", "", "with --all: this processor's dead letters")
		fs.BoolVar(&all, "all", false, "every dead letter of --processor")
	default:
		fmt.Fprintf(stderr, "hookstream dlq: unknown verb %q\nUsage: hookstream %s\n", verb, dlqUsage)
		return errUsage
	}
	// IDs may come before the flags (show 12 --json).
	var ids []uint64
	for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, err := parseID(args[0])
		if err != nil {
			return err
		}
		ids, args = append(ids, id), args[1:]
	}
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	for _, a := range fs.Args() {
		id, err := parseID(a)
		if err != nil {
			return err
		}
		ids = append(ids, id)
	}
	switch verb {
	case "list":
		if len(ids) > 0 {
			return errors.New("list takes no id (use show ID)")
		}
	case "show":
		if len(ids) != 1 {
			return errors.New("show takes one dead-letter id")
		}
	case "retry", "discard":
		if all && processor == "" {
			return errors.New("--all needs --processor (one processor at a time)")
		}
		if all == (len(ids) > 0) {
			return fmt.Errorf("%s takes dead-letter ids or --all --processor P", verb)
		}
	}
	a, err := newApp(s)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.connectNATS(ctx, "hookstream dlq"); err != nil {
		return err
	}
	var entries []*dlq.Entry
	switch {
	case verb == "list" || all:
		if entries, err = dlq.List(ctx, a.js, processor, 0); err != nil {
			return err
		}
	default:
		for _, id := range ids {
			e, err := dlq.Get(ctx, a.js, id)
			if err != nil {
				return err
			}
			entries = append(entries, e)
		}
	}
	switch verb {
	case "list":
		return dlqList(stdout, entries, asJSON)
	case "show":
		return dlqShow(stdout, entries[0], asJSON)
	case "discard":
		return dlqDiscard(ctx, a, stdout, entries, asJSON)
	default:
		return dlqRetry(ctx, a, stdout, entries, asJSON)
	}
}

func (s *settings) logFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&s.logLevel, "log-level", "warn", "log level")
}

func parseID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("dead-letter id %q: want the DLQ sequence number (see hookstream dlq list)", s)
	}
	return id, nil
}

func dlqList(w io.Writer, es []*dlq.Entry, asJSON bool) error {
	if asJSON {
		if es == nil {
			es = []*dlq.Entry{}
		}
		return printJSON(w, es)
	}
	if len(es) == 0 {
		fmt.Fprintln(w, "no dead letters")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROCESSOR\tSTATUS\tATTEMPTS\tAGE\tSUBJECT\tEVENT\tERROR")
	for _, e := range es {
		status := e.Status
		if e.Captured {
			status += "*"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Processor, status, e.Attempts,
			age(e.At), e.Subject, short(e.EventID, 40), short(oneLineString(e.Error), 70))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, e := range es {
		if e.Captured {
			fmt.Fprintln(w, "* captured from a MAX_DELIVERIES advisory (the processor stopped during its last attempt)")
			break
		}
	}
	return nil
}

func age(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func short(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func oneLineString(s string) string { return strings.Join(strings.Fields(s), " ") }

func dlqShow(w io.Writer, e *dlq.Entry, asJSON bool) error {
	if asJSON {
		type withBody struct {
			*dlq.Entry
			Body     any    `json:"body"`
			BodyText string `json:"body_text,omitempty"`
		}
		out := withBody{Entry: e}
		var v any
		if json.Unmarshal(e.Data, &v) == nil {
			out.Body = v
		} else {
			out.BodyText = string(e.Data)
		}
		return printJSON(w, out)
	}
	fmt.Fprintf(w, "dead letter:  %d\n", e.ID)
	fmt.Fprintf(w, "processor:    %s\n", e.Processor)
	fmt.Fprintf(w, "status:       %s after %d attempts\n", e.Status, e.Attempts)
	if e.Captured {
		fmt.Fprintln(w, "captured:     from a MAX_DELIVERIES advisory")
	}
	fmt.Fprintf(w, "at:           %s\n", e.At.Format(time.RFC3339))
	fmt.Fprintf(w, "event id:     %s\n", e.EventID)
	fmt.Fprintf(w, "original:     %s seq %d, subject %s\n", e.Stream, e.StreamSeq, e.Subject)
	fmt.Fprintf(w, "error:        %s\n", e.Error)
	fmt.Fprintln(w, "headers:")
	keys := make([]string, 0, len(e.Header))
	for k := range e.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s: %s\n", k, strings.Join(e.Header[k], ", "))
	}
	fmt.Fprintln(w, "body:")
	var buf bytes.Buffer
	if json.Indent(&buf, e.Data, "  ", "  ") == nil {
		fmt.Fprintf(w, "  %s\n", buf.String())
	} else if utf8.Valid(e.Data) {
		fmt.Fprintf(w, "  %s\n", e.Data)
	} else {
		fmt.Fprintf(w, "  %q\n", e.Data)
	}
	return nil
}

func dlqDiscard(ctx context.Context, a *app, w io.Writer, es []*dlq.Entry, asJSON bool) error {
	type result struct {
		ID        uint64 `json:"id"`
		Processor string `json:"processor"`
		EventID   string `json:"event_id"`
		Discarded bool   `json:"discarded"`
	}
	out := []result{}
	for _, e := range es {
		if err := dlq.Discard(ctx, a.js, e.ID); err != nil {
			return err
		}
		out = append(out, result{e.ID, e.Processor, e.EventID, true})
		if !asJSON {
			fmt.Fprintf(w, "discarded dead letter %d (%s, event %s)\n", e.ID, e.Processor, e.EventID)
		}
	}
	if asJSON {
		return printJSON(w, out)
	}
	if len(es) == 0 {
		fmt.Fprintln(w, "no dead letters")
	}
	return nil
}

func dlqRetry(ctx context.Context, a *app, w io.Writer, es []*dlq.Entry, asJSON bool) error {
	if err := a.openDB(ctx); err != nil {
		return err
	}
	built := map[string][]processors.Processor{}
	r := &dlq.Retrier{JS: a.js, Outcomes: processors.PGOutcomes{DB: a.pool}}
	out := []dlq.RetryResult{}
	failed := 0
	for _, e := range es {
		ps, ok := built[e.Processor]
		if !ok {
			var err error
			if ps, _, err = a.processors([]string{e.Processor}); err != nil {
				// A consumer named <processor>-… (notify-email, notify-dlq)
				// is built by its processor.
				base, _, cut := strings.Cut(e.Processor, "-")
				if !cut {
					return err
				}
				if ps, _, err = a.processors([]string{base}); err != nil {
					return err
				}
			}
			built[e.Processor] = ps
		}
		p, err := dlq.Pick(ps, e)
		if err != nil {
			return err
		}
		res := r.Retry(ctx, e, p)
		out = append(out, res)
		if res.Result == dlq.Failed {
			failed++
		}
		if !asJSON {
			switch res.Result {
			case dlq.Failed:
				fmt.Fprintf(w, "dead letter %d (%s, event %s): still failing: %s\n", e.ID, e.Processor, e.EventID, oneLineString(res.Error))
			case dlq.AlreadyApplied:
				fmt.Fprintf(w, "dead letter %d (%s, event %s): already applied; removed from the DLQ\n", e.ID, e.Processor, e.EventID)
			default:
				fmt.Fprintf(w, "dead letter %d (%s, event %s): applied; removed from the DLQ\n", e.ID, e.Processor, e.EventID)
			}
		}
	}
	if asJSON {
		if err := printJSON(w, out); err != nil {
			return err
		}
	} else if len(es) == 0 {
		fmt.Fprintln(w, "no dead letters")
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d retries failed; they stay in the DLQ", failed, len(es))
	}
	return nil
}
