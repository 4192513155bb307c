package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// Usage mistakes in replay and dlq are caught before anything is touched,
// with a one-line reason.
func TestReplayAndDLQUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"replay"}, 1, "give one --processor"},
		{[]string{"replay", "--processor", "contacts"}, 1, "give --from-seq N or --since TIME"},
		{[]string{"replay", "--processor", "contacts", "--from-seq", "3", "--since", "1h"}, 1, "give --from-seq N or --since TIME"},
		{[]string{"replay", "--rebuild", "--from-seq", "3"}, 1, "always starts at sequence 1"},
		{[]string{"replay", "--processor", "contacts", "--from-seq", "3", "--resend"}, 1, "only apply to --rebuild"},
		{[]string{"replay", "--processor", "contacts", "--since", "yesterday"}, 1, "--since"},
		{[]string{"replay", "--processor", "contacts", "--from-seq", "1", "--progress", "fancy"}, 1, "--progress"},
		{[]string{"replay", "--help"}, 0, ""},
		{[]string{"dlq"}, 2, ""},
		{[]string{"dlq", "bogus"}, 2, ""},
		{[]string{"dlq", "show"}, 1, "show takes one dead-letter id"},
		{[]string{"dlq", "show", "x"}, 1, "want the DLQ sequence number"},
		{[]string{"dlq", "retry"}, 1, "dead-letter ids or --all --processor P"},
		{[]string{"dlq", "retry", "--all"}, 1, "--all needs --processor"},
		{[]string{"dlq", "discard", "3", "--all", "--processor", "crm"}, 1, "dead-letter ids or --all --processor P"},
		{[]string{"dlq", "list", "4"}, 1, "list takes no id"},
		{[]string{"dlq", "list", "--help"}, 0, ""},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), c.args, &out, &errOut)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, c.code, errOut.String())
			continue
		}
		if c.code == 1 {
			if !strings.Contains(errOut.String(), c.want) || strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
				t.Errorf("%v: stderr %q, want one line with %q", c.args, errOut.String(), c.want)
			}
		}
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	cases := map[string]time.Time{
		"24h":                  now.Add(-24 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"2025-01-02T15:04:05Z": time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
		"2025-01-02 15:04":     time.Date(2025, 1, 2, 15, 4, 0, 0, time.Local),
		"2025-01-02":           time.Date(2025, 1, 2, 0, 0, 0, 0, time.Local),
	}
	for in, want := range cases {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1h", "yesterday", "2025-13-01"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}
