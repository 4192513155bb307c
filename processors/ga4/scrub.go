package ga4

import (
	"regexp"
	"strings"
)

// GA4's terms forbid sending personally identifiable information. Scrub
// removes it from what we build (drop personal keys, mask personal-looking
// values); Validate refuses anything that still looks personal, so a payload
// holding PII never leaves the process.

// Masks that replace personal-looking substrings.
const (
	EmailMask = "[email_removed]"
	PhoneMask = "[phone_removed]"
)

var personalKeys = map[string]bool{
	"email": true, "e_mail": true, "mail": true, "email_address": true, "emailaddress": true,
	"phone": true, "phone_number": true, "phonenumber": true, "telephone": true, "tel": true,
	"mobile": true, "mobile_phone": true, "cell": true, "cellphone": true, "fax": true,
	"name": true, "first_name": true, "last_name": true, "full_name": true, "middle_name": true,
	"firstname": true, "lastname": true, "fullname": true, "given_name": true, "family_name": true,
	"surname": true, "contact_name": true, "customer_name": true, "user_name": true, "username": true,
	"address": true, "street": true, "street_address": true, "address1": true, "address2": true,
	"address_line1": true, "address_line2": true, "home_address": true, "postal_address": true,
	"ip": true, "ip_address": true, "ipaddress": true, "ip_addr": true, "client_ip": true,
	"remote_ip": true, "remote_addr": true, "user_ip": true, "ipv4": true, "ipv6": true,
	"ssn": true, "dob": true, "date_of_birth": true, "birthdate": true, "birthday": true, "password": true,
}

// personalTokens make a key personal wherever they appear as an
// underscore-separated word (billing_email, shipping_address, user_ip).
var personalTokens = map[string]bool{
	"email": true, "phone": true, "telephone": true, "mobile": true, "address": true,
	"ip": true, "ssn": true, "password": true, "birthdate": true,
}

// personalNamePrefixes make "<prefix>_name" personal (item_name, form_name
// and campaign_name are not).
var personalNamePrefixes = map[string]bool{
	"first": true, "last": true, "full": true, "given": true, "family": true, "middle": true,
	"contact": true, "customer": true, "user": true, "person": true, "billing": true,
	"shipping": true, "account": true, "holder": true, "cardholder": true,
}

// IsPersonalKey reports whether a parameter name denotes personal data
// (email, phone, name, address, IP address …).
func IsPersonalKey(k string) bool {
	k = strings.ToLower(k)
	if personalKeys[k] {
		return true
	}
	toks := strings.Split(k, "_")
	for _, t := range toks {
		if personalTokens[t] {
			return true
		}
	}
	if len(toks) >= 2 && toks[len(toks)-1] == "name" && personalNamePrefixes[toks[len(toks)-2]] {
		return true
	}
	return false
}

// emailRe finds e-mail addresses, also URL-encoded (%40).
var emailRe = regexp.MustCompile(`(?i)[a-z0-9._%+\-]+(?:@|%40)[a-z0-9.\-]+\.[a-z]{2,}`)

// phoneRe finds candidate digit runs; phoneLike decides.
var phoneRe = regexp.MustCompile(`\+?\(?\d[\d \t().\-/]*\d`)

var isoDateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// minPhoneDigits: seven digits (a local number) or more, in a run of digits
// and separators that stands on its own (not inside an identifier such as
// ld_8f2349871ab), is treated as a phone number. This also catches IPv4
// addresses and card numbers.
const minPhoneDigits = 7

func isWordByte(b byte) bool {
	return b == '_' || b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}

// phoneSpans returns the [start,end) spans of phone-like runs in s.
func phoneSpans(s string) [][2]int {
	var out [][2]int
	for _, loc := range phoneRe.FindAllStringIndex(s, -1) {
		a, b := loc[0], loc[1]
		if a > 0 && isWordByte(s[a-1]) || b < len(s) && isWordByte(s[b]) {
			continue
		}
		run := s[a:b]
		digits := 0
		for i := 0; i < len(run); i++ {
			if run[i] >= '0' && run[i] <= '9' {
				digits++
			}
		}
		if digits < minPhoneDigits || isoDateRe.MatchString(run) {
			continue
		}
		out = append(out, [2]int{a, b})
	}
	return out
}

// looksPersonal says what personal data s appears to hold ("" if none).
func looksPersonal(s string) string {
	if emailRe.MatchString(s) {
		return "an e-mail address"
	}
	if len(phoneSpans(s)) > 0 {
		return "a phone-number-like digit sequence"
	}
	return ""
}

// ScrubString masks e-mail addresses and phone-like digit runs in s.
func ScrubString(s string) string {
	s = emailRe.ReplaceAllString(s, EmailMask)
	spans := phoneSpans(s)
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(PhoneMask)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// Scrub returns params without personal keys and with personal-looking
// string values masked (items included). The input is not modified.
func Scrub(params map[string]any) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		if IsPersonalKey(k) {
			continue
		}
		switch x := v.(type) {
		case string:
			out[k] = ScrubString(x)
		case []Item:
			items := make([]Item, len(x))
			for i, it := range x {
				items[i] = Item(Scrub(it))
			}
			out[k] = items
		default:
			out[k] = v
		}
	}
	return out
}
