package replay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hookstream/hookstream/ops/dlq"
	"github.com/hookstream/hookstream/projections"
	"github.com/hookstream/hookstream/streams"
)

// Replayer moves processors' consumers. The processors themselves run
// elsewhere (serve/process) and simply receive the re-delivered messages.
type Replayer struct {
	JS jetstream.JetStream
	// DB is needed by Rebuild (it clears tables).
	DB *pgxpool.Pool
	// Specs defaults to Registry.
	Specs []Spec
	Log   *slog.Logger

	// Progress, when set, is called every ProgressEvery (default 1s) while
	// waiting for processors to catch up, and once more when they have.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Settle is how long a paused consumer's unacknowledged deliveries must
	// stay unchanged before a rebuild considers its in-flight handlers done
	// (default 2s; 0 ack-pending ends the wait at once).
	Settle time.Duration
	// StallAfter marks progress as stalled when nothing was processed for
	// this long (default 30s): usually no serve/process runs the processor.
	StallAfter time.Duration
	// PauseFor is how long a rebuild pauses consumers at a time; the pause
	// is renewed while the rebuild runs and lifted when it ends, so a killed
	// rebuild does not leave processors paused for longer (default 5m).
	PauseFor time.Duration
	// Poll is how often consumer state is read (default 200ms).
	Poll time.Duration
}

// Progress is the state of a replay or rebuild in flight.
type Progress struct {
	// Label names what is being waited for ("contacts", "rebuild contacts,
	// payments", …).
	Label     string        `json:"label"`
	Processed uint64        `json:"processed"`
	Total     uint64        `json:"total"`
	Retrying  int           `json:"retrying"` // redelivered, not yet acknowledged
	Elapsed   time.Duration `json:"-"`
	Rate      float64       `json:"events_per_second"`
	// ETA is the estimated time left, -1 when unknown.
	ETA     time.Duration `json:"-"`
	Stalled bool          `json:"stalled,omitempty"`
	Done    bool          `json:"done,omitempty"`
}

// ConsumerRun is what happened to one consumer.
type ConsumerRun struct {
	Consumer
	FromSeq uint64 `json:"from_seq"`
	// Target is the stream's last sequence when the consumer was reset: the
	// replay is done once everything up to it was handled.
	Target uint64 `json:"target_seq"`
	Events uint64 `json:"events"`
}

// Summary is the result of Replay or Rebuild.
type Summary struct {
	Mode       string        `json:"mode"` // replay | rebuild
	Processors []string      `json:"processors"`
	Consumers  []ConsumerRun `json:"consumers"`
	// Skipped are external processors a rebuild left alone (no --resend).
	Skipped []string `json:"skipped,omitempty"`
	// Cleared counts the rows a rebuild removed, per table
	// ("processed:contacts" for ledger rows).
	Cleared map[string]int64 `json:"cleared,omitempty"`
	// Missing are tables of the registry this database does not have.
	Missing []string `json:"missing_tables,omitempty"`
	// DLQRepeats counts dead letters the rebuild wrote again for events
	// already in the DLQ; they were dropped.
	DLQRepeats      int     `json:"dlq_repeats_dropped,omitempty"`
	Waited          bool    `json:"waited"`
	Events          uint64  `json:"events"`
	Seconds         float64 `json:"seconds"`
	EventsPerSecond float64 `json:"events_per_second"`
}

func (r *Replayer) defaults() {
	if r.Specs == nil {
		r.Specs = Registry
	}
	if r.Log == nil {
		r.Log = slog.New(slog.DiscardHandler)
	}
	if r.ProgressEvery <= 0 {
		r.ProgressEvery = time.Second
	}
	if r.Settle <= 0 {
		r.Settle = 2 * time.Second
	}
	if r.StallAfter <= 0 {
		r.StallAfter = 30 * time.Second
	}
	if r.PauseFor <= 0 {
		r.PauseFor = 5 * time.Minute
	}
	if r.Poll <= 0 {
		r.Poll = 200 * time.Millisecond
	}
}

// Options choose a replay of one processor.
type Options struct {
	// Processor is the processor (all its durables) or one durable's name.
	Processor string
	// Stream limits the replay to the processor's consumer on this stream;
	// required with FromSeq when the processor has several.
	Stream string
	// FromSeq re-drives from this stream sequence; otherwise Since.
	FromSeq uint64
	Since   time.Time
	// Wait for the processor to handle everything up to the stream's end
	// (as of the reset), reporting progress.
	Wait bool
}

// Replay resets one processor's consumer(s) to a sequence or a time. Every
// message from there on is delivered again; those already applied are
// skipped by the processed ledger, the rest (dead-lettered ones, events
// whose effect was lost) are applied now.
func (r *Replayer) Replay(ctx context.Context, o Options) (*Summary, error) {
	r.defaults()
	if o.Processor == "" {
		return nil, errors.New("a processor is required")
	}
	if (o.FromSeq == 0) == o.Since.IsZero() {
		return nil, errors.New("give exactly one of a start sequence (≥ 1) or a start time")
	}
	cs, err := ConsumersOf(ctx, r.JS, o.Processor)
	if err != nil {
		return nil, err
	}
	if o.Stream != "" {
		cs = slices.DeleteFunc(cs, func(c Consumer) bool { return c.Stream != o.Stream })
	}
	if len(cs) == 0 {
		where := "any stream"
		if o.Stream != "" {
			where = o.Stream
		}
		return nil, fmt.Errorf("no durable consumer %q on %s (has the processor run yet? see `nats consumer ls INGEST`)", o.Processor, where)
	}
	if o.FromSeq > 0 {
		for _, c := range cs[1:] {
			if c.Stream != cs[0].Stream {
				return nil, fmt.Errorf("%s has consumers on several streams (%v): a sequence belongs to one, choose it with --stream", o.Processor, cs)
			}
		}
	}
	sum := &Summary{Mode: "replay", Processors: []string{o.Processor}}
	start := time.Now()
	dlqStart, err := lastSeq(ctx, r.JS, streams.StreamDLQ)
	if err != nil {
		return nil, err
	}
	var runs []*tracked
	for _, c := range cs {
		seq := o.FromSeq
		if seq == 0 {
			info, err := consumerInfo(ctx, r.JS, c)
			if err != nil {
				return nil, err
			}
			var ok bool
			seq, ok, err = StartSeq(ctx, r.JS, c.Stream, filters(info.Config), o.Since)
			if err != nil {
				return nil, fmt.Errorf("%s: finding the first message since %s: %w", c, o.Since.Format(time.RFC3339), err)
			}
			if !ok {
				r.Log.Info("nothing to replay", "consumer", c.String(), "since", o.Since)
				sum.Consumers = append(sum.Consumers, ConsumerRun{Consumer: c})
				continue
			}
		}
		target, err := lastSeq(ctx, r.JS, c.Stream)
		if err != nil {
			return nil, err
		}
		if err := resetTo(ctx, r.JS, c, seq); err != nil {
			return nil, err
		}
		r.Log.Info("consumer reset", "consumer", c.String(), "seq", seq, "target", target)
		runs = append(runs, &tracked{run: ConsumerRun{Consumer: c, FromSeq: seq, Target: target}})
	}
	if o.Wait && len(runs) > 0 {
		sum.Waited = true
		if err := r.wait(ctx, o.Processor, runs, nil); err != nil {
			return nil, err
		}
		// Invalid events are rejected again (they have no ledger row): keep
		// their first dead letter only.
		if sum.DLQRepeats, err = dlq.DropRepeats(ctx, r.JS, dlqStart, dlqNames(sum.Processors)); err != nil {
			r.Log.Warn("checking the DLQ for repeated dead letters", "err", err)
		}
	}
	for _, t := range runs {
		sum.Consumers = append(sum.Consumers, t.run)
		sum.Events += t.run.Events
	}
	sum.finish(start)
	return sum, nil
}

func (s *Summary) finish(start time.Time) {
	s.Seconds = time.Since(start).Seconds()
	if s.Seconds > 0 {
		s.EventsPerSecond = float64(s.Events) / s.Seconds
	}
}

func consumerInfo(ctx context.Context, js jetstream.JetStream, c Consumer) (*jetstream.ConsumerInfo, error) {
	cons, err := js.Consumer(ctx, c.Stream, c.Durable)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	return cons.Info(ctx)
}

func filters(cfg jetstream.ConsumerConfig) []string {
	if len(cfg.FilterSubjects) > 0 {
		return cfg.FilterSubjects
	}
	if cfg.FilterSubject != "" {
		return []string{cfg.FilterSubject}
	}
	return nil
}

// tracked is a consumer being waited for.
type tracked struct {
	run  ConsumerRun
	last stateOf
	done bool
	// quiet counts consecutive polls that saw nothing pending, nothing
	// unacknowledged and no new delivery. The target is the stream's last
	// sequence, which a filtered consumer may never reach, so idleness ends
	// the wait too — but only when it lasts: right after a reset (or a
	// publish) a consumer briefly reports 0 pending before it has counted.
	quiet int
}

func (t *tracked) processed(st stateOf) uint64 {
	if st.delivered < uint64(st.ackPending) {
		return 0
	}
	return st.delivered - uint64(st.ackPending)
}

// wait polls the consumers until each has handled everything up to its
// target, calling Progress. tick, when set, runs on every poll (the rebuild
// renews its pauses there).
func (r *Replayer) wait(ctx context.Context, label string, runs []*tracked, tick func(context.Context)) error {
	start := time.Now()
	lastReport := time.Time{}
	lastMove := time.Now()
	var lastProcessed uint64
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	for {
		var p Progress
		p.Label = label
		allDone := true
		for _, tr := range runs {
			if !tr.done {
				st, _, err := consumerState(ctx, r.JS, tr.run.Consumer)
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					// A leader election or a restarting server: try again.
					r.Log.Debug("consumer state", "consumer", tr.run.Consumer.String(), "err", err)
				} else {
					if st.pending == 0 && st.ackPending == 0 && st.delivered == tr.last.delivered {
						tr.quiet++
					} else {
						tr.quiet = 0
					}
					tr.last = st
					tr.run.Events = tr.processed(st)
					if st.ackFloor >= tr.run.Target || (tr.quiet >= 3 && time.Since(start) >= 250*time.Millisecond) {
						tr.done = true
					}
				}
			}
			p.Processed += tr.run.Events
			if tr.done {
				p.Total += tr.run.Events
			} else {
				allDone = false
				p.Total += tr.run.Events + uint64(tr.last.ackPending) + tr.last.pending
				p.Retrying += tr.last.redeliv
			}
		}
		p.Elapsed = time.Since(start)
		if s := p.Elapsed.Seconds(); s > 0 {
			p.Rate = float64(p.Processed) / s
		}
		p.ETA = -1
		if p.Rate > 0 && p.Total >= p.Processed {
			p.ETA = time.Duration(float64(p.Total-p.Processed) / p.Rate * float64(time.Second))
		}
		if p.Processed != lastProcessed {
			lastProcessed, lastMove = p.Processed, time.Now()
		}
		p.Stalled = !allDone && time.Since(lastMove) >= r.StallAfter
		p.Done = allDone
		if r.Progress != nil && (allDone || time.Since(lastReport) >= r.ProgressEvery) {
			r.Progress(p)
			lastReport = time.Now()
		}
		if allDone {
			return nil
		}
		if tick != nil {
			tick(ctx)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// RebuildOptions choose a rebuild.
type RebuildOptions struct {
	// Processors to rebuild (their dependents are added); all non-external
	// ones when empty.
	Processors []string
	// Resend also rebuilds external processors: their sync ledgers and
	// processed rows are cleared, so everything is sent again.
	Resend bool
	// Force rebuilds even when no process is pulling from a consumer (the
	// projections stay empty until one runs).
	Force bool
}

// ErrNotRunning is returned by Rebuild when a consumer has no process
// pulling from it: clearing its projection would leave it empty.
var ErrNotRunning = errors.New("no running processor consumes")

// checkLive makes sure some process pulls from every consumer: a runner
// always has a pull request waiting while it has a free handler slot.
func (r *Replayer) checkLive(ctx context.Context, cs []Consumer) error {
	live := map[Consumer]bool{}
	firstAck := map[Consumer]uint64{}
	deadline := time.Now().Add(3 * time.Second)
	for {
		var dead []string
		for _, c := range cs {
			if live[c] {
				continue
			}
			st, info, err := consumerState(ctx, r.JS, c)
			if err != nil {
				return err
			}
			// A waiting pull means an idle consumer has a runner; a busy
			// runner has no pull waiting (every slot is handling a message),
			// but then deliveries are unacknowledged or the ack floor moves.
			prev, seen := firstAck[c]
			if !seen {
				firstAck[c] = st.ackFloor
			}
			if info.NumWaiting > 0 || info.NumAckPending > 0 || (seen && st.ackFloor > prev) {
				live[c] = true
				continue
			}
			dead = append(dead, c.String())
		}
		if len(dead) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w %s: start hookstream serve/process first (or force the rebuild)", ErrNotRunning, strings.Join(dead, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(r.Poll):
		}
	}
}

// Rebuild rebuilds projections from the streams while the gateway keeps
// accepting:
//
//  1. pause every consumer of the chosen processors and wait until their
//     in-flight handlers have finished;
//  2. in one transaction, empty their projection tables and delete their
//     processed, outbox and results rows;
//  3. level by level (contacts before boards, which writes onto contacts):
//     reset the consumers to sequence 1, lift the pause, and wait until they
//     have handled everything up to the stream's end as of the reset.
//
// Re-emitted domain events carry the same Nats-Msg-Id as the originals, so
// processors that were not rebuilt (CRM, MailerLite, GA4) find them in their
// processed ledger and send nothing. Consumers are always unpaused on return.
func (r *Replayer) Rebuild(ctx context.Context, o RebuildOptions) (*Summary, error) {
	r.defaults()
	if r.DB == nil {
		return nil, errors.New("rebuild needs the database")
	}
	plan, err := NewPlan(r.Specs, o.Processors, o.Resend)
	if err != nil {
		return nil, err
	}
	sum := &Summary{Mode: "rebuild", Processors: plan.Processors(), Skipped: plan.Skipped, Cleared: map[string]int64{}, Waited: true}
	start := time.Now()
	if len(sum.Processors) == 0 {
		sum.finish(start)
		return sum, nil
	}
	// Every consumer, per level.
	levels := make([][]Consumer, len(plan.Levels))
	var all []Consumer
	for i, l := range plan.Levels {
		for _, s := range l {
			cs, err := consumersFor(ctx, r.JS, s)
			if err != nil {
				return nil, err
			}
			if len(cs) == 0 {
				r.Log.Warn("processor has no consumer yet; its tables are cleared and it starts from sequence 1 when it runs",
					"processor", s.Processor)
			}
			levels[i] = append(levels[i], cs...)
			all = append(all, cs...)
		}
	}
	if !o.Force {
		if err := r.checkLive(ctx, all); err != nil {
			return nil, err
		}
	}
	dlqStart, err := lastSeq(ctx, r.JS, streams.StreamDLQ)
	if err != nil {
		return nil, err
	}

	// 1. Pause and let in-flight handlers finish.
	pausedUntil := time.Now().Add(r.PauseFor)
	paused := map[Consumer]bool{}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for c := range paused {
			if _, err := r.JS.ResumeConsumer(rctx, c.Stream, c.Durable); err != nil {
				r.Log.Error("could not resume consumer; run `nats consumer resume "+c.Stream+" "+c.Durable+"`",
					"consumer", c.String(), "err", err)
			}
		}
	}()
	for _, c := range all {
		if _, err := r.JS.PauseConsumer(ctx, c.Stream, c.Durable, pausedUntil); err != nil {
			return nil, fmt.Errorf("pausing %s: %w", c, err)
		}
		paused[c] = true
	}
	renew := func(ctx context.Context) {
		if time.Until(pausedUntil) > r.PauseFor/2 {
			return
		}
		pausedUntil = time.Now().Add(r.PauseFor)
		for c := range paused {
			if _, err := r.JS.PauseConsumer(ctx, c.Stream, c.Durable, pausedUntil); err != nil {
				r.Log.Warn("renewing pause", "consumer", c.String(), "err", err)
			}
		}
	}
	if err := r.quiesce(ctx, all); err != nil {
		return nil, err
	}

	// 2. Clear.
	if err := r.clear(ctx, plan, all, sum); err != nil {
		return nil, err
	}

	// 3. Re-drive, level by level.
	for i, cs := range levels {
		var runs []*tracked
		for _, c := range cs {
			target, err := lastSeq(ctx, r.JS, c.Stream)
			if err != nil {
				return nil, err
			}
			if err := resetTo(ctx, r.JS, c, 1); err != nil {
				return nil, err
			}
			runs = append(runs, &tracked{run: ConsumerRun{Consumer: c, FromSeq: 1, Target: target}})
		}
		for _, c := range cs {
			if _, err := r.JS.ResumeConsumer(ctx, c.Stream, c.Durable); err != nil {
				return nil, fmt.Errorf("resuming %s: %w", c, err)
			}
			delete(paused, c)
		}
		var names []string
		for _, s := range plan.Levels[i] {
			names = append(names, s.Processor)
		}
		if len(runs) > 0 {
			if err := r.wait(ctx, fmt.Sprintf("rebuild %s", strings.Join(names, ", ")), runs, renew); err != nil {
				return nil, err
			}
		}
		for _, t := range runs {
			sum.Consumers = append(sum.Consumers, t.run)
			sum.Events += t.run.Events
		}
	}
	n, err := dlq.DropRepeats(ctx, r.JS, dlqStart, dlqNames(sum.Processors))
	if err != nil {
		r.Log.Warn("checking the DLQ for repeated dead letters", "err", err)
	}
	sum.DLQRepeats = n
	sum.finish(start)
	return sum, nil
}

// quiesce waits until the paused consumers' in-flight deliveries are done:
// ack-pending at zero, or unchanged for Settle (what remains waits for a
// retry, which the pause holds back), but at most the consumer's AckWait
// plus Settle.
func (r *Replayer) quiesce(ctx context.Context, cs []Consumer) error {
	for _, c := range cs {
		st, info, err := consumerState(ctx, r.JS, c)
		if err != nil {
			return err
		}
		deadline := time.Now().Add(info.Config.AckWait + r.Settle)
		last, since := st.ackPending, time.Now()
		for st.ackPending > 0 && time.Since(since) < r.Settle && time.Now().Before(deadline) {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(r.Poll):
			}
			if st, _, err = consumerState(ctx, r.JS, c); err != nil {
				return err
			}
			if st.ackPending != last {
				last, since = st.ackPending, time.Now()
			}
		}
	}
	return nil
}

// clear empties the plan's tables and ledger rows in one transaction.
func (r *Replayer) clear(ctx context.Context, plan *Plan, cs []Consumer, sum *Summary) error {
	return pgx.BeginFunc(ctx, r.DB, func(tx pgx.Tx) error {
		var tables []string
		var stmts []Statement
		type ledger struct {
			names  []string
			prefix string
		}
		var ledgers []ledger
		for _, l := range plan.Levels {
			for _, s := range l {
				tables = append(tables, s.Tables...)
				if s.External && plan.Resend {
					tables = append(tables, s.Ledger...)
				}
				stmts = append(stmts, s.Clear...)
				names := []string{s.ledgerName()}
				if s.LedgerPrefix == "" {
					// Every consumer of the processor, in case one keeps its
					// own ledger name (notify-dlq).
					for _, c := range cs {
						if (c.Durable == s.Processor || strings.HasPrefix(c.Durable, s.Processor+"-")) && !slices.Contains(names, c.Durable) {
							names = append(names, c.Durable)
						}
					}
				}
				ledgers = append(ledgers, ledger{names, s.LedgerPrefix})
			}
		}
		var existing []string
		for _, t := range tables {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+t).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				sum.Missing = append(sum.Missing, t)
				continue
			}
			var n int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t}.Sanitize()).Scan(&n); err != nil {
				return err
			}
			sum.Cleared[t] = n
			existing = append(existing, pgx.Identifier{t}.Sanitize())
		}
		for _, s := range stmts {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "public."+s.Table).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				continue
			}
			if _, err := tx.Exec(ctx, s.SQL); err != nil {
				return fmt.Errorf("rebuild: %s: %w", s.SQL, err)
			}
		}
		if len(existing) > 0 {
			q := "TRUNCATE " + strings.Join(existing, ", ")
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("rebuild: %s: %w", q, err)
			}
		}
		for _, t := range byProcessorTables() {
			for _, l := range ledgers {
				tag, err := tx.Exec(ctx, `DELETE FROM `+t+` WHERE processor = ANY($1) AND starts_with(event_id, $2)`, l.names, l.prefix)
				if err != nil {
					return err
				}
				sum.Cleared[t] += tag.RowsAffected()
			}
		}
		return nil
	})
}

// byProcessorTables are the tables the projection specs key by processor
// (the runner's processed ledger, outbox and results): a rebuild deletes
// the rebuilt processors' rows from them, found by their processor and
// event_id columns.
func byProcessorTables() []string {
	var out []string
	for _, s := range projections.Specs() {
		out = append(out, s.ByProcessor...)
	}
	return out
}

// dlqNames are the dead-letter subjects' processor names of processors or
// durables: a durable <processor>-… dead-letters under either name.
func dlqNames(names []string) []string {
	var out []string
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
		if base, _, ok := strings.Cut(n, "-"); ok && !slices.Contains(out, base) {
			out = append(out, base)
		}
	}
	return out
}
