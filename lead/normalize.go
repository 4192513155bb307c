package lead

import (
	"net/mail"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"

	"github.com/hookstream/hookstream/internal/panics"
	"github.com/hookstream/hookstream/internal/textcut"
)

// FieldError is one invalid field, shaped for an API error's "details".
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Stable FieldError codes.
const (
	CodeRequired     = "required"
	CodeInvalidEmail = "invalid_email"
	CodeInvalidPhone = "invalid_phone"
	CodeTooLong      = "too_long"
	CodeInvalidValue = "invalid_value"
)

// Length limits, in characters (runes) unless noted.
const (
	MaxNameLen    = 100  // first_name, last_name, full_name
	MaxCompanyLen = 200  // company
	MaxMessageLen = 5000 // message
	MaxFieldLen   = 255  // everything else not listed here
	MaxURLLen     = 2048 // page_url, referrer: real landing URLs with tracking parameters exceed 255
	MaxCustomLen  = 1000 // each custom.<name> value (free-text answers)
	MaxCustom     = 100  // custom.<name> entries
	MaxEmailLen   = 254  // bytes, RFC 5321
	maxPhoneInput = 64   // bytes of raw phone input considered at all
	maxPhoneDigit = 17   // digits, incl. a national or international prefix
)

// Normalize cleans and validates a candidate. It returns the cleaned Fields
// and one FieldError per invalid field, in a fixed field order (empty when
// the candidate is valid). A field that fails is cleared in the returned
// Fields, so a caller that proceeds anyway (say, a Facebook lead with a bad
// phone but a good email) never stores an invalid value.
//
//   - Every string is trimmed. Values containing NUL or invalid UTF-8 are
//     invalid_value; everything else is kept verbatim (no HTML stripping).
//   - Names: inner whitespace runs collapse to one space. With first and last
//     name empty, full_name is split at its first space (first word / rest);
//     with full_name empty it is set to "first last" (when that fits in
//     MaxNameLen). The output of Normalize normalizes to itself.
//   - Email: lower-cased; must be a bare addr-spec that net/mail accepts
//     unchanged (no display name, comments, quotes or spaces), ≤ 254 bytes,
//     local part ≤ 64 bytes, a domain of at least two dot-separated labels
//     made of letters (IDN allowed), digits and inner hyphens, whose last
//     label is not all digits (no address literals or bare IPs).
//   - Phone: E.164 via libphonenumber with defaultRegion ("US"; "" or an
//     unknown region means only "+"/international input parses). Input may
//     hold ASCII digits, one leading '+', spaces, '-', '.', '(', ')', '/'
//     and Unicode spaces/dashes; letters (vanity numbers, extensions) and
//     non-ASCII digits are rejected, as is any number libphonenumber does
//     not consider valid. Nothing is guessed.
//   - Lengths: see the Max*Len constants.
//   - Required: email or phone. When both are empty and neither was
//     reported invalid, both get a "required" error.
//   - UTM keys other than the five utm_* names, and custom names not in
//     SanitizeName form, are invalid_value; blank UTM/custom values are
//     dropped; more than MaxCustom custom entries is too_long on "custom".
func Normalize(f Fields, defaultRegion string) (Fields, []FieldError) {
	n := normalizer{}
	out := f
	out.UTM, out.Custom = nil, nil
	if f.MarketingConsent != nil {
		c := *f.MarketingConsent
		out.MarketingConsent = &c
	}

	n.text("first_name", &out.FirstName, MaxNameLen, true)
	n.text("last_name", &out.LastName, MaxNameLen, true)
	n.text("full_name", &out.FullName, MaxNameLen, true)
	if out.FirstName == "" && out.LastName == "" && out.FullName != "" {
		if i := strings.IndexByte(out.FullName, ' '); i >= 0 {
			out.FirstName, out.LastName = out.FullName[:i], out.FullName[i+1:]
		} else {
			out.FirstName = out.FullName
		}
	} else if out.FullName == "" && (out.FirstName != "" || out.LastName != "") {
		if full := strings.TrimSpace(out.FirstName + " " + out.LastName); utf8.RuneCountInString(full) <= MaxNameLen {
			out.FullName = full
		}
	}

	emailBad := !n.text("email", &out.Email, 0, false)
	if !emailBad && out.Email != "" {
		e, code, msg := normalizeEmail(out.Email)
		if code != "" {
			n.add("email", code, msg)
			emailBad = true
		}
		out.Email = e
	}
	phoneBad := !n.text("phone", &out.Phone, 0, false)
	if !phoneBad && out.Phone != "" {
		p, code, msg := normalizePhone(out.Phone, defaultRegion)
		if code != "" {
			n.add("phone", code, msg)
			phoneBad = true
		}
		out.Phone = p
	}

	n.text("crm_id", &out.CRMID, MaxFieldLen, false)
	n.text("company", &out.Company, MaxCompanyLen, false)
	n.text("product", &out.Product, MaxFieldLen, false)
	n.text("lead_status", &out.LeadStatus, MaxFieldLen, false)
	n.text("service_interest", &out.ServiceInterest, MaxFieldLen, false)
	n.text("message", &out.Message, MaxMessageLen, false)
	n.text("page_url", &out.PageURL, MaxURLLen, false)
	n.text("referrer", &out.Referrer, MaxURLLen, false)
	n.text("submission_id", &out.SubmissionID, MaxFieldLen, false)
	n.text("lead_id", &out.LeadID, MaxFieldLen, false)

	if len(f.UTM) > 0 {
		for _, k := range sortedKeys(f.UTM) {
			if !isUTMKey(k) {
				n.add("utm", CodeInvalidValue, "unknown UTM parameter "+strconv.Quote(textcut.Ellipsis(k, 64)))
				continue
			}
			v := f.UTM[k]
			if n.text(k, &v, MaxFieldLen, false) && v != "" {
				if out.UTM == nil {
					out.UTM = make(map[string]string, len(f.UTM))
				}
				out.UTM[k] = v
			}
		}
	}
	if len(f.Custom) > 0 {
		kept := 0
		for _, k := range sortedKeys(f.Custom) {
			if k == "" || len(k) > maxCustomName || SanitizeName(k) != k {
				n.add("custom."+textcut.Ellipsis(k, 64), CodeInvalidValue, "custom field name must be lower-case letters, digits and '_'")
				continue
			}
			v := f.Custom[k]
			if !n.text("custom."+k, &v, MaxCustomLen, false) || v == "" {
				continue
			}
			if kept == MaxCustom {
				n.add("custom", CodeTooLong, "more than "+strconv.Itoa(MaxCustom)+" custom fields")
				break
			}
			if out.Custom == nil {
				out.Custom = make(map[string]string, len(f.Custom))
			}
			out.Custom[k] = v
			kept++
		}
	}

	if out.Email == "" && out.Phone == "" && !emailBad && !phoneBad {
		n.add("email", CodeRequired, "an email or a phone number is required")
		n.add("phone", CodeRequired, "an email or a phone number is required")
	}
	return out, n.errs
}

type normalizer struct {
	errs []FieldError
}

func (n *normalizer) add(field, code, msg string) {
	n.errs = append(n.errs, FieldError{Field: field, Code: code, Message: msg})
}

// text trims *v, checks it can be stored, optionally collapses whitespace
// and enforces max runes (0: no limit here). On failure it records the
// error, clears *v and returns false.
func (n *normalizer) text(field string, v *string, max int, collapse bool) bool {
	s := *v
	if s == "" {
		return true
	}
	if !utf8.ValidString(s) {
		n.add(field, CodeInvalidValue, "not valid UTF-8")
		*v = ""
		return false
	}
	if strings.IndexByte(s, 0) >= 0 {
		n.add(field, CodeInvalidValue, "contains a NUL character")
		*v = ""
		return false
	}
	s = strings.TrimSpace(s)
	if collapse {
		s = collapseSpace(s)
	}
	if max > 0 && len(s) > max && utf8.RuneCountInString(s) > max {
		n.add(field, CodeTooLong, "longer than "+strconv.Itoa(max)+" characters")
		*v = ""
		return false
	}
	*v = s
	return true
}

// collapseSpace replaces each run of Unicode white space with one ' '; s is
// already trimmed. It allocates only when something changes.
func collapseSpace(s string) string {
	clean := true
	prevSpace := false
	for _, r := range s {
		sp := unicode.IsSpace(r)
		if sp && (r != ' ' || prevSpace) {
			clean = false
			break
		}
		prevSpace = sp
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	prevSpace = false
	for _, r := range s {
		if unicode.IsSpace(r) {
			if !prevSpace {
				b.WriteByte(' ')
			}
			prevSpace = true
			continue
		}
		prevSpace = false
		b.WriteRune(r)
	}
	return b.String()
}

func isUTMKey(k string) bool {
	switch k {
	case "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content":
		return true
	}
	return false
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// NormalizeEmail returns the normalized form of an email address, or an
// error code (CodeInvalidEmail, CodeTooLong, CodeInvalidValue) and message.
// An empty or blank input returns ("", "", "").
func NormalizeEmail(s string) (email, code, msg string) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", CodeInvalidValue, "not valid text"
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", ""
	}
	return normalizeEmail(s)
}

// normalizeEmail expects trimmed, non-empty, valid UTF-8 without NUL.
func normalizeEmail(s string) (string, string, string) {
	if len(s) > MaxEmailLen {
		return "", CodeTooLong, "longer than " + strconv.Itoa(MaxEmailLen) + " bytes"
	}
	s = strings.ToLower(s)
	if len(s) > MaxEmailLen { // lower-casing can grow some runes
		return "", CodeTooLong, "longer than " + strconv.Itoa(MaxEmailLen) + " bytes"
	}
	const bad = "not a valid email address"
	if strings.ContainsAny(s, "\"\\ \t\r\n()<>[],;:") {
		return "", CodeInvalidEmail, bad
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > 64 {
		return "", CodeInvalidEmail, bad
	}
	domain := s[at+1:]
	if !validDomain(domain) {
		return "", CodeInvalidEmail, bad
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", CodeInvalidEmail, bad
	}
	return s, "", ""
}

func validDomain(d string) bool {
	if len(d) < 3 || len(d) > 253 {
		return false
	}
	labels := 0
	last := ""
	for d != "" {
		label := d
		if i := strings.IndexByte(d, '.'); i >= 0 {
			label, d = d[:i], d[i+1:]
			if d == "" { // trailing dot
				return false
			}
		} else {
			d = ""
		}
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if r != '-' && !unicode.IsLetter(r) && !unicode.IsDigit(r) {
				return false
			}
		}
		labels++
		last = label
	}
	return labels >= 2 && !allDigits(last)
}

// NormalizePhone returns the E.164 form of a phone number, or an error code
// (CodeInvalidPhone, CodeTooLong, CodeInvalidValue) and message. See
// Normalize for what is accepted. An empty or blank input returns
// ("", "", "").
func NormalizePhone(s, defaultRegion string) (e164, code, msg string) {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return "", CodeInvalidValue, "not valid text"
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", "", ""
	}
	return normalizePhone(s, defaultRegion)
}

// normalizePhone expects trimmed, non-empty, valid UTF-8 without NUL.
func normalizePhone(s, region string) (e164, code, msg string) {
	if len(s) > maxPhoneInput {
		return "", CodeInvalidPhone, "too long to be a phone number"
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+':
			if digits > 0 {
				return "", CodeInvalidPhone, "'+' is only allowed before the number"
			}
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')' || r == '/':
		case unicode.IsDigit(r):
			return "", CodeInvalidPhone, "non-ASCII digits are not accepted"
		case unicode.Is(unicode.Zs, r) || unicode.Is(unicode.Pd, r):
		default:
			return "", CodeInvalidPhone, "unexpected character " + strconv.QuoteRune(r) + " in phone number"
		}
	}
	if digits < 3 || digits > maxPhoneDigit {
		return "", CodeInvalidPhone, "not a phone number"
	}
	if out, ok := nanp().e164(s, region); ok {
		return out, "", "" // what libphonenumber would answer, without it
	}
	return libPhone(s, region)
}

// libPhone is normalizePhone's libphonenumber path.
func libPhone(s, region string) (e164, code, msg string) {
	region = strings.ToUpper(strings.TrimSpace(region))
	if region == "" {
		region = "ZZ"
	}
	out, ok := parsePhone(s, region)
	if !ok {
		return "", CodeInvalidPhone, "not a valid phone number"
	}
	return out, "", ""
}

// parsePhone wraps libphonenumber; a panic inside it (there have been such
// bugs) is an invalid number, never a crashed processor.
func parsePhone(s, region string) (out string, ok bool) {
	perr := panics.Call(func() error {
		num, err := phonenumbers.Parse(s, region)
		if err == nil && phonenumbers.IsValidNumber(num) {
			out = phonenumbers.Format(num, phonenumbers.E164)
		}
		return nil
	})
	if perr != nil || out == "" || !isE164(out) {
		return "", false
	}
	return out, true
}

func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	return allDigits(s[1:])
}

// ValidateForm checks that a website form carries what its type requires:
// "contact" needs name, email and message; "newsletter" email;
// "consultation" name, email and phone ("name" is satisfied by full, first
// or last name). Blank counts as missing. Errors use the website's field
// names ("name", "email", "message", "phone"); an unknown type is one
// invalid_value error on "form_type". It checks presence only: formats are
// Normalize's job (NormalizeForm runs both).
func ValidateForm(formType string, f Fields) []FieldError {
	var need []string
	switch lowerASCII(strings.TrimSpace(formType)) {
	case "contact":
		need = []string{"name", "email", "message"}
	case "newsletter":
		need = []string{"email"}
	case "consultation":
		need = []string{"name", "email", "phone"}
	default:
		return []FieldError{{Field: "form_type", Code: CodeInvalidValue, Message: "unknown form type " + strconv.Quote(textcut.Ellipsis(formType, 64))}}
	}
	var errs []FieldError
	for _, field := range need {
		var present bool
		switch field {
		case "name":
			present = !isBlank(f.FullName) || !isBlank(f.FirstName) || !isBlank(f.LastName)
		case "email":
			present = !isBlank(f.Email)
		case "message":
			present = !isBlank(f.Message)
		case "phone":
			present = !isBlank(f.Phone)
		}
		if !present {
			errs = append(errs, FieldError{Field: field, Code: CodeRequired, Message: field + " is required"})
		}
	}
	return errs
}

// NormalizeForm is ValidateForm followed by Normalize for a website form,
// with one error per field: the form's required-field errors first, then
// Normalize's format errors for fields that are present (Normalize's own
// email-or-phone rule is subsumed, since every form requires email).
// full_name errors are reported as "name", the website's field. For an
// unknown form type it returns f unchanged and the form_type error.
func NormalizeForm(formType string, f Fields, defaultRegion string) (Fields, []FieldError) {
	errs := ValidateForm(formType, f)
	if len(errs) == 1 && errs[0].Field == "form_type" {
		return f, errs
	}
	out, nerrs := Normalize(f, defaultRegion)
	for _, e := range nerrs {
		if e.Code == CodeRequired {
			continue
		}
		if e.Field == "full_name" {
			e.Field = "name"
		}
		dup := false
		for i := range errs {
			if errs[i].Field == e.Field {
				dup = true
				break
			}
		}
		if !dup {
			errs = append(errs, e)
		}
	}
	return out, errs
}
