package notify

import (
	"strings"
	"testing"
	"time"
)

func TestRuleMatching(t *testing.T) {
	min := int64(100000)
	rules := []Rule{
		{ID: "a", Event: KindContactCreated, Channels: []string{ChannelLive}, Active: true},
		{ID: "b", Event: KindBoardAssigned, Board: "New Leads", Channels: []string{ChannelEmail}, EmailTo: []string{"b@example.com"}, Active: true},
		{ID: "c", Event: "payment.*", MinAmount: &min, Currency: "usd", Channels: []string{ChannelSMS}, HighPriority: true, Active: true},
		{ID: "d", Event: "*", Product: "bath remodel", Channels: []string{ChannelSlack}, Active: true},
		{ID: "e", Event: KindContactCreated, Channels: []string{ChannelSMS}, Active: false},
	}
	amt := func(v int64) *int64 { return &v }
	cases := []struct {
		n        Notice
		channels string
		high     bool
	}{
		{Notice{Kind: KindContactCreated}, "live", false},
		{Notice{Kind: KindContactCreated, product: "Bath Remodel"}, "live,slack", false},
		{Notice{Kind: KindBoardAssigned, board: "new leads"}, "email", false},
		{Notice{Kind: KindBoardAssigned, board: "Old Leads"}, "", false},
		{Notice{Kind: "payment.succeeded", amount: amt(100000), currency: "usd"}, "sms", true},
		{Notice{Kind: "payment.succeeded", amount: amt(99999), currency: "usd"}, "", false},
		{Notice{Kind: "payment.failed", amount: amt(500000), currency: "eur"}, "", false},
		{Notice{Kind: KindDisputeCreated, amount: amt(500000), currency: "usd"}, "", false},
	}
	for _, c := range cases {
		rt := match(rules, &c.n)
		var got []string
		for _, ch := range Channels {
			if rt.channels[ch] {
				got = append(got, ch)
			}
		}
		if strings.Join(got, ",") != c.channels || rt.high != c.high {
			t.Errorf("%+v: channels %v high %v, want %s %v", c.n, got, rt.high, c.channels, c.high)
		}
	}
	if rt := match(rules, &Notice{Kind: KindBoardAssigned, board: "New Leads"}); len(rt.emailTo) != 1 {
		t.Errorf("rule recipients: %v", rt.emailTo)
	}
	for _, d := range DefaultRules() {
		d.WorkspaceID = "w"
		if err := d.Validate(); err != nil {
			t.Errorf("default %s: %v", d.ID, err)
		}
	}
	bad := []Rule{
		{WorkspaceID: "w", Event: "contact.deleted", Channels: []string{"live"}},
		{WorkspaceID: "w", Event: "dlq", Channels: []string{"pager"}},
		{WorkspaceID: "w", Event: "dlq"},
		{WorkspaceID: "w", Event: "dlq", Channels: []string{"sms"}, SMSTo: []string{"5551234"}},
	}
	for _, r := range bad {
		if r.Validate() == nil {
			t.Errorf("%+v: accepted", r)
		}
	}
}

func TestRenderingEscapesAndBounds(t *testing.T) {
	n := &Notice{Title: "New contact: Evil\r\nBcc: victim@example.com", Priority: PriorityHigh, SourceEventID: "wh:x:1",
		Lines: []Line{{"Name", "<b>Evil</b> & co"}}, At: time.Unix(0, 0)}
	s := subject([]*Notice{n})
	if strings.ContainsAny(s, "\r\n") || !strings.HasPrefix(s, "[Hookstream] HIGH PRIORITY: ") {
		t.Errorf("subject %q", s)
	}
	msg, err := buildMail("alerts@example.com", []string{"team@example.com"}, []*Notice{n}, "nb_1", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	hdr, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	if strings.Contains(hdr, "\r\nBcc:") {
		t.Errorf("header injection:\n%s", hdr)
	}
	m, err := ParseMail(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.HTML, "&lt;b&gt;Evil&lt;/b&gt; &amp; co") {
		t.Errorf("html: %s", m.HTML)
	}
	if st := slackText([]*Notice{n}); !strings.Contains(st, "&lt;b&gt;Evil&lt;/b&gt; &amp; co") {
		t.Errorf("slack: %s", st)
	}
	long := &Notice{Title: strings.Repeat("x", 5000)}
	if got := smsText([]*Notice{long, long, long}); len([]rune(got)) > maxSMS {
		t.Errorf("sms of %d runes", len([]rune(got)))
	}
}

func TestScrub(t *testing.T) {
	in := "550 5.1.1 <jane.doe@example.com>: unknown; The 'To' number +1 (626) 663-3444 is not valid; gave up after 3 attempts at 2025-10-25"
	out := Scrub(in)
	if strings.Contains(out, "jane.doe") || strings.Contains(out, "663-3444") {
		t.Errorf("scrub: %s", out)
	}
	if !strings.Contains(out, "gave up after 3 attempts") || !strings.Contains(out, "550 5.1.1") {
		t.Errorf("scrub removed too much: %s", out)
	}
	s := scrubber{"https://hooks.slack.com/services/T1/B2/secretpath", "/services/T1/B2/secretpath"}
	if got := s.scrub("slack: POST /services/T1/B2/secretpath: 500"); strings.Contains(got, "secretpath") {
		t.Errorf("secret kept: %s", got)
	}
}

func TestAmountsAndSettings(t *testing.T) {
	for in, want := range map[[2]string]string{{"149900", "usd"}: "1,499.00 USD", {"5", "usd"}: "0.05 USD", {"1500", "jpy"}: "1,500 JPY"} {
		var v int64
		for _, r := range in[0] {
			v = v*10 + int64(r-'0')
		}
		if got := FormatAmount(v, in[1]); got != want {
			t.Errorf("FormatAmount(%s) = %q, want %q", in, got, want)
		}
	}
	if v, err := ParseAmount("1,000.5", "usd"); err != nil || v != 100050 {
		t.Errorf("ParseAmount: %d %v", v, err)
	}
	if _, err := ParseAmount("10.005", "usd"); err == nil {
		t.Error("three decimals accepted")
	}
	c, err := ParseSMTPURL("smtp://user:p%40ss@mail.example.com")
	if err != nil || c.Port != "587" || c.Password != "p@ss" || c.Implicit {
		t.Errorf("smtp url: %+v %v", c, err)
	}
	if c, err := ParseSMTPURL("smtps://mail.example.com"); err != nil || c.Port != "465" || !c.Implicit {
		t.Errorf("smtps url: %+v %v", c, err)
	}
	if _, err := ParseSMTPURL("http://user:hunter2@x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("bad scheme: %v", err)
	}
}
