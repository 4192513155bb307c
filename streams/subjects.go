package streams

import "strings"

// ValidToken reports whether s can stand as one or more subject tokens that came
// from the outside world (a Stripe event type, a webhook id). Only
// [A-Za-z0-9_-] and inner dots are allowed: wildcards, spaces and empty tokens
// could otherwise widen or break a consumer's filter.
func ValidToken(s string, allowDots bool) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	prevDot := true // a leading dot is an empty token
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			prevDot = false
		case c == '.' && allowDots && !prevDot:
			prevDot = true
		default:
			return false
		}
	}
	return !prevDot
}

// IngestSubject joins a root (SubjectIngestStripe, …) and a validated name.
func IngestSubject(root, name string) string {
	return root + "." + name
}

// DLQSubject is the dead-letter subject of one processor.
func DLQSubject(processor string) string { return "dlq." + processor }

// SubjectTail returns what follows prefix+"." in subject, or "".
func SubjectTail(subject, prefix string) string {
	if strings.HasPrefix(subject, prefix+".") {
		return subject[len(prefix)+1:]
	}
	return ""
}
