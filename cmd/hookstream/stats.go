package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/hookstream/hookstream/ops/stats"
)

const statsUsage = `stats [--webhook W] [--json]

  Per-source analytics from the recorded outcomes (correct across restarts): total,
  successful, failed and pending requests, success and error rate, average and
  p50/p95/p99 processing time (gateway receipt → the ingest processor's final outcome),
  all time and for the last 24 h. W: a webhook id, or stripe, facebook, mailerlite,
  form, form:<type>. Without --webhook: every source, busiest first.`

func runStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	var asJSON bool
	var source string
	fs := newFlags("stats", statsUsage, stderr)
	s.dbFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.StringVar(&source, "webhook", "", "one source: a webhook id, stripe, facebook, mailerlite, form, form:<type>")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (use --webhook W)", fs.Arg(0))
	}
	a, err := openDBOnly(ctx, s)
	if err != nil {
		return err
	}
	defer a.close()
	rd := stats.Reader{DB: a.pool}
	var reps []*stats.Report
	if source != "" {
		rep, err := rd.Source(ctx, source)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, rep)
		}
		reps = []*stats.Report{rep}
	} else {
		if reps, err = rd.Sources(ctx); err != nil {
			return err
		}
		if asJSON {
			if reps == nil {
				reps = []*stats.Report{}
			}
			return printJSON(stdout, map[string]any{"sources": reps})
		}
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SOURCE\tWINDOW\tTOTAL\tOK\tFAILED\tPENDING\tSUCCESS%\tERROR%\tAVG ms\tP50 ms\tP95 ms\tP99 ms\t")
	for _, r := range reps {
		for _, row := range []struct {
			window string
			m      stats.Metrics
		}{{"all", r.Metrics}, {"24h", r.Last24h}} {
			m := row.m
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%.2f\t%.2f\t%s\t%s\t%s\t%s\t\n", r.WebhookID, row.window,
				m.TotalRequests, m.SuccessfulRequests, m.FailedRequests, m.PendingRequests, m.SuccessRate, m.ErrorRate,
				ms(m.AverageProcessingTime), ms(m.P50ProcessingTime), ms(m.P95ProcessingTime), ms(m.P99ProcessingTime))
		}
	}
	if len(reps) == 0 {
		fmt.Fprintln(tw, "(no events recorded yet)\t")
	}
	return tw.Flush()
}

func ms(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *v)
}
