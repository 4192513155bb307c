package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookstream/hookstream/ops"
	"github.com/hookstream/hookstream/ops/audit"
	"github.com/hookstream/hookstream/pipeline"
	"github.com/hookstream/hookstream/processors"
	"github.com/hookstream/hookstream/processors/notify"
)

const notifyUsage = `notify <rules|list|test> [flags]

  rules list --workspace W [--json]       the rules in force (the built-in defaults when W has none)
  rules add --workspace W --event E --channels live,email,slack,sms
            [--board NAME] [--product P] [--min-amount 1000.00 --currency usd]
            [--high-priority] [--email-to a@x,b@y] [--sms-to +1555…] [--json]
        E: contact.created, board.assigned, payment.succeeded, payment.failed, payment.*,
           dispute.created, dlq or *. Every condition given must hold; the channels of all
           matching rules are combined. Once a workspace has a rule, the defaults no longer apply.
  rules init --workspace W                copy the defaults into W's own rules, to edit
  rules remove RULE_ID
  list [--status pending|sent|dead|skipped] [--channel C] [--event EVENT_ID] [--since 1h] [--limit 50] [--json]
  test --channel email|slack|sms [--to RECIPIENT]   send a test message with the current settings

  Channel settings come from the environment (SMTP_URL, NOTIFY_EMAIL_FROM, NOTIFY_EMAIL_TO,
  SLACK_WEBHOOK_URL, TWILIO_API_URL, TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM,
  NOTIFY_SMS_TO); a channel without them is skipped. Dead deliveries are retried with
  hookstream dlq retry.`

func runNotify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb, args, err := splitVerb(args, notifyUsage, stdout, stderr, "rules")
	if err != nil {
		return err
	}
	var s settings
	var asJSON, high bool
	var workspace, event, channels, board, product, minAmount, currency, emailTo, smsTo string
	var status, channel, eventID, since, to string
	var limit int
	fs := newFlags("notify "+verb, notifyUsage, stderr)
	s.dbFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch verb {
	case "rules list", "rules init":
		fs.StringVar(&workspace, "workspace", "", "workspace id")
	case "rules add":
		fs.StringVar(&workspace, "workspace", "", "workspace id")
		fs.StringVar(&event, "event", "", "event kind (contact.created, board.assigned, payment.*, dispute.created, dlq, *)")
		fs.StringVar(&channels, "channels", "", "comma-separated: live, email, slack, sms")
		fs.StringVar(&board, "board", "", "only for this board (name, any case)")
		fs.StringVar(&product, "product", "", "only for this product / service type")
		fs.StringVar(&minAmount, "min-amount", "", "payments: only at least this amount, in major units (1000.00)")
		fs.StringVar(&currency, "currency", "", "payments: only in this currency (usd)")
		fs.BoolVar(&high, "high-priority", false, "mark the notifications high priority")
		fs.StringVar(&emailTo, "email-to", "", "e-mail recipients instead of NOTIFY_EMAIL_TO")
		fs.StringVar(&smsTo, "sms-to", "", "SMS numbers instead of NOTIFY_SMS_TO")
	case "rules remove":
	case "list":
		fs.StringVar(&status, "status", "", "pending, sent, dead or skipped")
		fs.StringVar(&channel, "channel", "", "live, email, slack or sms")
		fs.StringVar(&eventID, "event", "", "source event id")
		fs.StringVar(&since, "since", "", "look back this far (1h, 7d)")
		fs.IntVar(&limit, "limit", 50, "most notifications to list")
	case "test":
		fs.StringVar(&channel, "channel", "", "email, slack or sms")
		fs.StringVar(&to, "to", "", "recipient (default: NOTIFY_EMAIL_TO / NOTIFY_SMS_TO)")
	default:
		fmt.Fprintf(stderr, "hookstream notify: unknown verb %q\nUsage: hookstream %s\n", verb, notifyUsage)
		return errUsage
	}
	id, err := parseWithID(fs, args, stdout)
	if err != nil {
		return err
	}
	if strings.HasPrefix(verb, "rules ") && verb != "rules remove" && workspace == "" {
		return errors.New("--workspace is required")
	}
	if verb == "test" {
		return notifyTest(ctx, channel, to, stdout, asJSON)
	}
	a, err := openDBOnly(ctx, s)
	if err != nil {
		return err
	}
	defer a.close()
	rules := &notify.Rules{DB: a.pool}
	switch verb {
	case "rules list":
		rs, err := rules.Effective(ctx, workspace)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, rs)
		}
		return printRules(stdout, rs)
	case "rules init":
		rs, err := rules.Init(ctx, workspace)
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, rs)
		}
		return printRules(stdout, rs)
	case "rules add":
		r := notify.Rule{WorkspaceID: workspace, Event: event, Channels: notify.SplitList(channels), Board: board,
			Product: product, Currency: strings.ToLower(currency), HighPriority: high,
			EmailTo: notify.SplitList(emailTo), SMSTo: notify.SplitList(smsTo)}
		if minAmount != "" {
			v, err := notify.ParseAmount(minAmount, currency)
			if err != nil {
				return fmt.Errorf("--min-amount: %w", err)
			}
			r.MinAmount = &v
		}
		out, err := rules.Add(ctx, r)
		if err != nil {
			return err
		}
		return show(stdout, asJSON, out, fmt.Sprintf("added rule %s: %s → %s\n", out.ID, out.Event, strings.Join(out.Channels, ",")))
	case "rules remove":
		if id == "" {
			return errors.New("rule id required")
		}
		if err := rules.Remove(ctx, id); err != nil {
			return err
		}
		return show(stdout, asJSON, map[string]any{"removed": id}, "removed rule "+id+"\n")
	case "list":
		var look time.Time
		if since != "" {
			d, err := ops.ParseSince(since)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			if d > 0 {
				look = time.Now().Add(-d)
			}
		}
		ns, err := audit.Trail{DB: a.pool}.Notifications(ctx, audit.NotificationFilter{Status: status, Channel: channel,
			EventID: eventID, Since: look, Limit: limit})
		if err != nil {
			return err
		}
		if asJSON {
			return printJSON(stdout, ns)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tCHANNEL\tSTATUS\tATTEMPTS\tKIND\tEVENT\tTITLE\tERROR")
		for _, n := range ns {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", n.ID, n.CreatedAt.Local().Format("2006-01-02 15:04:05"),
				n.Channel, n.Status, n.Attempts, n.Kind, n.SourceEventID, short(n.Title, 50), short(oneLineString(n.Error), 60))
		}
		return tw.Flush()
	}
	return nil
}

func printRules(w io.Writer, rs []notify.Rule) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEVENT\tCHANNELS\tCONDITIONS\tPRIORITY")
	for _, r := range rs {
		var conds []string
		if r.Board != "" {
			conds = append(conds, "board="+r.Board)
		}
		if r.Product != "" {
			conds = append(conds, "product="+r.Product)
		}
		if r.MinAmount != nil {
			conds = append(conds, "amount>="+notify.FormatAmount(*r.MinAmount, r.Currency))
		} else if r.Currency != "" {
			conds = append(conds, "currency="+r.Currency)
		}
		if len(r.EmailTo) > 0 {
			conds = append(conds, fmt.Sprintf("email_to=%d addresses", len(r.EmailTo)))
		}
		if len(r.SMSTo) > 0 {
			conds = append(conds, fmt.Sprintf("sms_to=%d numbers", len(r.SMSTo)))
		}
		prio := "normal"
		if r.HighPriority {
			prio = "high"
		}
		id := r.ID
		if r.Default {
			id += " (default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", id, r.Event, strings.Join(r.Channels, ","), strings.Join(conds, " "), prio)
	}
	return tw.Flush()
}

func notifyTest(ctx context.Context, channel, to string, stdout io.Writer, asJSON bool) error {
	if channel == "" {
		return errors.New("--channel is required (email, slack or sms)")
	}
	cfg := pipeline.DefaultConfig()
	if err := readEnv(&cfg, os.Getenv, false, []string{notify.Name}); err != nil {
		return err
	}
	n, err := notify.New(processors.Deps{}, cfg.Notify)
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := n.SendTest(tctx, channel, to); err != nil {
		return err
	}
	return show(stdout, asJSON, map[string]any{"sent": true, "channel": channel}, "sent a test notification on "+channel+"\n")
}
