package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hookstream/hookstream/ops/replay"
	"github.com/hookstream/hookstream/projections/ledger"
	"github.com/hookstream/hookstream/streams"
)

const replayUsage = `replay --processor P (--from-seq N | --since TIME) [--stream S] [--no-wait] [--json]
       hookstream replay --rebuild [--processor P]... [--resend] [--force] [--json]

Re-drives processors from their streams. The work is done by the running
serve/process (it keeps running); replay moves their durable consumers and
waits until they caught up, showing progress (a bar on a terminal, a line
every few seconds otherwise, a summary with --json).

  --from-seq/--since  re-deliver one processor's messages from a stream
                      sequence or a time; events already applied are skipped
                      (processed ledger), dead-lettered or lost ones are applied
  --rebuild           clear the processors' projections and processed rows and
                      re-deliver from sequence 1 while the gateway keeps
                      accepting (default: every processor except those calling
                      external APIs; dependents such as boards come along)
  --resend            with --rebuild: also rebuild crm/mailerlite/ga4/notify,
                      sending everything to their APIs again

TIME is RFC 3339 (2025-01-02T15:04:05Z), "2025-01-02 15:04[:05]" or a date
in local time, or a duration ago (90m, 24h).`

// listFlag collects repeated and comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, splitList(v)...)
	return nil
}

// natsCLIFlags are the NATS flags of operator verbs that talk to a running
// pipeline.
func (s *settings) natsCLIFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.natsURL, "nats-url", "nats://127.0.0.1:4222", "NATS server(s) of the running serve/process (comma-separated)")
}

// connectNATS connects a CLI verb to the running pipeline's NATS and checks
// the streams exist (it never changes them).
func (a *app) connectNATS(ctx context.Context, name string) error {
	nc, err := streams.Connect(a.s.natsURL, nil, name, nil)
	if err != nil {
		return fmt.Errorf("%w (is hookstream serve running? set --nats-url / NATS_URL)", err)
	}
	a.nc = nc
	a.closers = append(a.closers, nc.Close)
	js, err := streams.JetStream(nc)
	if err != nil {
		return err
	}
	a.js = js
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := streams.Check(cctx, js); err != nil {
		return fmt.Errorf("%w (has hookstream serve run against %s?)", err, a.s.natsURL)
	}
	return nil
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s settings
	var procs listFlag
	var fromSeq uint64
	var since, stream, progress string
	var rebuild, resend, force, asJSON, noWait bool
	var timeout, every, settle time.Duration
	fs := newFlags("replay", replayUsage, stderr)
	s.natsCLIFlags(fs)
	s.dbFlags(fs)
	fs.Var(&procs, "processor", "processor to re-drive (rebuild: repeat or comma-separate; default all)")
	fs.Uint64Var(&fromSeq, "from-seq", 0, "re-deliver from this stream sequence")
	fs.StringVar(&since, "since", "", "re-deliver from this time (RFC 3339, date, or a duration ago)")
	fs.StringVar(&stream, "stream", "", "the processor's consumer on this stream only (INGEST, EVENTS, DLQ)")
	fs.BoolVar(&rebuild, "rebuild", false, "clear projections and rebuild them from sequence 1")
	fs.BoolVar(&resend, "resend", false, "with --rebuild: also rebuild processors that call external APIs, sending everything again")
	fs.BoolVar(&force, "force", false, "with --rebuild: go ahead even if no serve/process is consuming (projections stay empty until one runs)")
	fs.BoolVar(&noWait, "no-wait", false, "reset the consumer and return without waiting for the processor to catch up")
	fs.StringVar(&progress, "progress", "auto", "progress display: auto (a bar on a terminal, lines otherwise), bar, lines, none")
	fs.DurationVar(&every, "progress-every", 5*time.Second, "interval of progress lines (not the bar)")
	fs.DurationVar(&settle, "settle", 2*time.Second, "rebuild: how long paused consumers' in-flight deliveries must stay unchanged before clearing")
	fs.DurationVar(&timeout, "timeout", 0, "give up after this long (0: no limit)")
	fs.BoolVar(&asJSON, "json", false, "print a JSON summary at the end")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var sinceT time.Time
	if since != "" {
		t, err := parseSince(since, time.Now())
		if err != nil {
			return err
		}
		sinceT = t
	}
	switch {
	case rebuild && (fromSeq > 0 || since != "" || stream != ""):
		return errors.New("--rebuild always starts at sequence 1: drop --from-seq/--since/--stream")
	case !rebuild && (resend || force):
		return errors.New("--resend and --force only apply to --rebuild")
	case !rebuild && len(procs) != 1:
		return errors.New("give one --processor (or --rebuild)")
	case !rebuild && (fromSeq > 0) == (since != ""):
		return errors.New("give --from-seq N or --since TIME")
	case progress != "auto" && progress != "bar" && progress != "lines" && progress != "none":
		return fmt.Errorf("--progress must be auto, bar, lines or none, got %q", progress)
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	a, err := newApp(s)
	if err != nil {
		return err
	}
	defer a.close()
	if err := a.connectNATS(ctx, "hookstream replay"); err != nil {
		return err
	}
	pp := newProgressPrinter(stderr, progress, every)
	r := &replay.Replayer{JS: a.js, Log: a.log, Progress: pp.print, ProgressEvery: pp.every, Settle: settle}
	var sum *replay.Summary
	if rebuild {
		if err := a.openDB(ctx); err != nil {
			return err
		}
		r.DB = a.pool
		sum, err = r.Rebuild(ctx, replay.RebuildOptions{Processors: procs, Resend: resend, Force: force})
	} else {
		sum, err = r.Replay(ctx, replay.Options{Processor: procs[0], Stream: stream, FromSeq: fromSeq, Since: sinceT, Wait: !noWait})
	}
	pp.finish()
	if err != nil {
		if ctx.Err() != nil && rebuild {
			return fmt.Errorf("%w: the rebuild stopped part-way; run it again to finish (consumers were resumed)", err)
		}
		return err
	}
	if asJSON {
		return printJSON(stdout, sum)
	}
	printSummary(stdout, sum)
	return nil
}

func printSummary(w io.Writer, sum *replay.Summary) {
	verb := "replayed"
	if sum.Mode == "rebuild" {
		verb = "rebuilt"
	}
	if len(sum.Processors) == 0 {
		fmt.Fprintln(w, "nothing to rebuild")
	}
	for _, c := range sum.Consumers {
		if c.FromSeq == 0 {
			fmt.Fprintf(w, "%s: nothing to replay\n", c.Consumer)
			continue
		}
		if !sum.Waited {
			fmt.Fprintf(w, "%s: reset to sequence %d (stream end %d); the processor re-delivers it now\n", c.Consumer, c.FromSeq, c.Target)
			continue
		}
		fmt.Fprintf(w, "%s: %d events from sequence %d to %d\n", c.Consumer, c.Events, c.FromSeq, c.Target)
	}
	if len(sum.Cleared) > 0 {
		// The runner's ledger first, then the projections' tables.
		ledgerTables := ledger.Spec().ByProcessor
		var parts []string
		for _, t := range ledgerTables {
			parts = append(parts, fmt.Sprintf("%s %d", t, sum.Cleared[t]))
		}
		tables := make([]string, 0, len(sum.Cleared))
		for t := range sum.Cleared {
			if !slices.Contains(ledgerTables, t) {
				tables = append(tables, t)
			}
		}
		sort.Strings(tables)
		for _, t := range tables {
			parts = append(parts, fmt.Sprintf("%s %d", t, sum.Cleared[t]))
		}
		fmt.Fprintf(w, "cleared rows: %s\n", strings.Join(parts, ", "))
	}
	if len(sum.Skipped) > 0 {
		fmt.Fprintf(w, "left alone (external APIs, use --resend to send again): %s\n", strings.Join(sum.Skipped, ", "))
	}
	if sum.DLQRepeats > 0 {
		fmt.Fprintf(w, "dropped %d repeated dead letters (already in the DLQ)\n", sum.DLQRepeats)
	}
	if sum.Waited && len(sum.Processors) > 0 {
		fmt.Fprintf(w, "%s %s: %d events in %.1fs (%.0f events/s)\n", verb, strings.Join(sum.Processors, ", "),
			sum.Events, sum.Seconds, sum.EventsPerSecond)
	}
}

// parseSince reads an absolute time or a duration ago.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("--since %q: a duration ago must be positive", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, l := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(l, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want RFC 3339, \"2006-01-02 15:04[:05]\", a date, or a duration like 24h", s)
}

// progressPrinter draws replay progress: a redrawn bar on a terminal, plain
// lines otherwise.
type progressPrinter struct {
	w       io.Writer
	bar     bool
	none    bool
	every   time.Duration
	drawn   bool
	stalled bool
}

func newProgressPrinter(w io.Writer, mode string, every time.Duration) *progressPrinter {
	p := &progressPrinter{w: w, every: every}
	switch mode {
	case "none":
		p.none = true
	case "bar":
		p.bar = true
	case "auto":
		p.bar = isTerminal(w)
	}
	if p.bar {
		p.every = 200 * time.Millisecond
	}
	return p
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (p *progressPrinter) print(pr replay.Progress) {
	if p.none {
		return
	}
	if pr.Stalled && !p.stalled {
		p.stalled = true
		if p.drawn {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
		fmt.Fprintf(p.w, "no progress for a while: is hookstream serve/process running this processor? (%s)\n", pr.Label)
	}
	if !pr.Stalled {
		p.stalled = false
	}
	pct := 100.0
	if pr.Total > 0 {
		pct = float64(pr.Processed) * 100 / float64(pr.Total)
	}
	eta := "?"
	if pr.Done {
		eta = "0s"
	} else if pr.ETA >= 0 {
		eta = pr.ETA.Round(time.Second).String()
	}
	retry := ""
	if pr.Retrying > 0 {
		retry = fmt.Sprintf(" (%d retrying)", pr.Retrying)
	}
	if !p.bar {
		fmt.Fprintf(p.w, "%s: %d/%d events (%.0f%%), %.0f events/s, ETA %s%s\n", pr.Label, pr.Processed, pr.Total, pct, pr.Rate, eta, retry)
		return
	}
	const width = 30
	fill := int(pct / 100 * width)
	fill = min(max(fill, 0), width)
	bar := strings.Repeat("█", fill) + strings.Repeat("░", width-fill)
	fmt.Fprintf(p.w, "\r\033[K%s [%s] %d/%d %3.0f%% %.0f ev/s ETA %s%s", pr.Label, bar, pr.Processed, pr.Total, pct, pr.Rate, eta, retry)
	p.drawn = true
	if pr.Done {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

func (p *progressPrinter) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
