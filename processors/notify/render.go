package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"

	"github.com/hookstream/hookstream/internal/textcut"
)

// Rendering: one message per batch. Every value may come from a sender, so
// each format escapes it its own way (html/template for e-mail HTML,
// Slack's &<> entities, CR/LF stripped from header fields).

func isHigh(ns []*Notice) bool {
	for _, n := range ns {
		if n.Priority == PriorityHigh {
			return true
		}
	}
	return false
}

// subject is the e-mail subject (and the first line elsewhere).
func subject(ns []*Notice) string {
	var s string
	if len(ns) == 1 {
		s = ns[0].Title
	} else {
		s = fmt.Sprintf("%d notifications: %s (+%d more)", len(ns), ns[0].Title, len(ns)-1)
	}
	if isHigh(ns) {
		s = "HIGH PRIORITY: " + s
	}
	return oneLine("[Hookstream] "+s, 200)
}

// oneLine removes control characters (no header injection) and bounds s.
func oneLine(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return textcut.Runes(strings.TrimSpace(s), max)
}

func plainText(ns []*Notice) string {
	var b strings.Builder
	for i, n := range ns {
		if i > 0 {
			b.WriteString("\n")
		}
		title := oneLine(n.Title, 300)
		if n.Priority == PriorityHigh {
			title = "HIGH PRIORITY: " + title
		}
		b.WriteString(title + "\n")
		for _, l := range n.Lines {
			fmt.Fprintf(&b, "  %s: %s\n", oneLine(l.Label, 80), oneLine(l.Value, 1000))
		}
		fmt.Fprintf(&b, "  Event: %s\n  At: %s\n", oneLine(n.SourceEventID, 300), n.At.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	b.WriteString("\n-- \nSent by Hookstream. Look an event up with: hookstream events show <event id>\n")
	return b.String()
}

var htmlTmpl = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#222">
{{range .Notices}}<div style="margin:0 0 18px 0;padding:10px 14px;border-left:4px solid {{if eq .Priority "high"}}#d93025{{else}}#1a73e8{{end}}">
<h3 style="margin:0 0 6px 0">{{if eq .Priority "high"}}<span style="color:#d93025">HIGH PRIORITY:</span> {{end}}{{.Title}}</h3>
<table style="border-collapse:collapse">{{range .Lines}}
<tr><td style="padding:2px 12px 2px 0;color:#666">{{.Label}}</td><td style="padding:2px 0">{{.Value}}</td></tr>{{end}}
<tr><td style="padding:2px 12px 2px 0;color:#666">Event</td><td style="padding:2px 0"><code>{{.SourceEventID}}</code></td></tr>
<tr><td style="padding:2px 12px 2px 0;color:#666">At</td><td style="padding:2px 0">{{.At.UTC.Format "2006-01-02 15:04:05 MST"}}</td></tr>
</table></div>
{{end}}<p style="color:#888;font-size:12px">Sent by Hookstream. Look an event up with <code>hookstream events show &lt;event id&gt;</code>.</p>
</body></html>
`))

func htmlBody(ns []*Notice) (string, error) {
	var b bytes.Buffer
	err := htmlTmpl.Execute(&b, struct {
		Subject string
		Notices []*Notice
	}{subject(ns), ns})
	return b.String(), err
}

// slackEscape escapes the three characters Slack's mrkdwn treats as control
// sequences (links, mentions).
func slackEscape(s string) string {
	s = strings.ReplaceAll(s, "&", "&amp;")
	s = strings.ReplaceAll(s, "<", "&lt;")
	return strings.ReplaceAll(s, ">", "&gt;")
}

// slackText is the mrkdwn text of one Slack message.
func slackText(ns []*Notice) string {
	var b strings.Builder
	if len(ns) > 1 {
		fmt.Fprintf(&b, "*%d notifications*\n", len(ns))
	}
	for i, n := range ns {
		if i > 0 {
			b.WriteString("\n")
		}
		title := slackEscape(oneLine(n.Title, 300))
		if n.Priority == PriorityHigh {
			title = ":rotating_light: HIGH PRIORITY: " + title
		}
		b.WriteString("*" + title + "*\n")
		for _, l := range n.Lines {
			fmt.Fprintf(&b, "• %s: %s\n", slackEscape(oneLine(l.Label, 80)), slackEscape(oneLine(l.Value, 500)))
		}
		fmt.Fprintf(&b, "• Event: `%s`\n", slackEscape(oneLine(n.SourceEventID, 300)))
	}
	return textcut.Runes(b.String(), 39000) // Slack truncates text over 40,000 characters
}

// maxSMS is Twilio's limit on a message body.
const maxSMS = 1600

// smsText is a compact rendering: titles and the lines that matter most.
func smsText(ns []*Notice) string {
	var b strings.Builder
	if isHigh(ns) {
		b.WriteString("HIGH PRIORITY ")
	}
	if len(ns) == 1 {
		b.WriteString("Hookstream: " + oneLine(ns[0].Title, 300))
		for _, l := range ns[0].Lines {
			switch l.Label {
			case "Phone", "Email", "Product", "Board", "Amount", "Reason", "Error":
				fmt.Fprintf(&b, "\n%s: %s", l.Label, oneLine(l.Value, 200))
			}
		}
		return textcut.Runes(b.String(), maxSMS)
	}
	fmt.Fprintf(&b, "Hookstream: %d notifications", len(ns))
	for i, n := range ns {
		fmt.Fprintf(&b, "\n%d) %s", i+1, oneLine(n.Title, 200))
	}
	return textcut.Runes(b.String(), maxSMS)
}
