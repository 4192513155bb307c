package notify

import (
	"regexp"
	"strings"
)

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+`)
	// Seven or more digits, optionally led by +, with the separators phone
	// numbers are written with.
	phoneRE = regexp.MustCompile(`\+?\(?\d[\d\s().\-]{5,}\d`)
)

// Scrub masks e-mail addresses and phone-number-like digit runs in s. Errors
// from destinations (an SMTP "550 <jane@…> unknown", Twilio's "The 'To'
// number +1… is not valid") pass through it before they are stored, logged
// or dead-lettered.
func Scrub(s string) string {
	if s == "" {
		return s
	}
	s = emailRE.ReplaceAllString(s, "[email]")
	return phoneRE.ReplaceAllStringFunc(s, func(m string) string {
		digits := 0
		for _, r := range m {
			if r >= '0' && r <= '9' {
				digits++
			}
		}
		if digits < 7 {
			return m
		}
		return "[phone]"
	})
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
