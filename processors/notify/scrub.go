package notify

import (
	"regexp"
	"strings"
)

var (
	// Addresses, also URL-encoded (form bodies: jane%40example.com).
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+(?:@|%40)[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	// Phone numbers as people and APIs write them. Bare digit runs are left
	// alone: ids, timestamps and amounts look the same.
	phoneREs = []*regexp.Regexp{
		regexp.MustCompile(`(?:\+|%2B|%2b)\d[\d \-().]{5,18}\d`),     // +16266633444, +1 (626) 663-3444, %2B1626…
		regexp.MustCompile(`\(\d{3}\)\s?\d{3}[\-. ]\d{4}\b`),         // (626) 663-3444
		regexp.MustCompile(`\b\d{3}[\-.]\d{3}[\-.]\d{4}\b`),          // 626-663-3444
		regexp.MustCompile(`(?i)\b(?:tel|phone|mobile):\s*\d{7,15}`), // phone: 6266633444
	}
)

// Scrub masks e-mail addresses and phone numbers in s. Errors from
// destinations (an SMTP "550 <jane@…> unknown", Twilio's "The 'To' number
// +1… is not valid") pass through it before they are stored, logged or
// dead-lettered; the process's log handler applies it to every record.
func Scrub(s string) string {
	if s == "" {
		return s
	}
	s = emailRE.ReplaceAllString(s, "[email]")
	for _, re := range phoneREs {
		s = re.ReplaceAllString(s, "[phone]")
	}
	return s
}

// scrubber also removes configured secrets (a Slack webhook URL is a secret
// in its path; an SMTP password; a Twilio token).
type scrubber []string

func (s scrubber) scrub(msg string) string {
	for _, secret := range s {
		if len(secret) >= 6 {
			msg = strings.ReplaceAll(msg, secret, "[redacted]")
		}
	}
	return Scrub(msg)
}
