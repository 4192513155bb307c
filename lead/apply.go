package lead

import (
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hookstream/hookstream/internal/textcut"
)

// Fields is a mapped contact candidate. Apply fills it with raw values
// (untrimmed); Normalize returns it trimmed, normalized and validated.
type Fields struct {
	FirstName, LastName, FullName string
	Email, Phone                  string
	CRMID                         string
	Company, Product              string
	LeadStatus, ServiceInterest   string
	Message                       string
	// MarketingConsent is nil when the payload says nothing; otherwise true
	// only for an explicit yes (true, 1, yes, y, on, checked, agree(d),
	// accepted, opt-in): any other non-blank value is false.
	MarketingConsent *bool
	// UTM holds utm_source, utm_medium, utm_campaign, utm_term and
	// utm_content; nil when none.
	UTM                  map[string]string
	PageURL, Referrer    string
	SubmissionID, LeadID string
	// Custom holds custom.<name> values; names are sanitized (see
	// SanitizeName). nil when none.
	Custom map[string]string
	// SourceTime is when the source says the submission happened
	// ("timestamp", "created_time", "created_at", "submitted_at"; RFC 3339,
	// Facebook's "2006-01-02T15:04:05-0700", "2006-01-02 15:04:05" as UTC,
	// or Unix seconds/milliseconds), in UTC; zero when absent or unreadable.
	SourceTime time.Time
}

// Mapping maps an input path (as in Values: dotted for nested JSON, e.g.
// "contact.phone"; matched exactly, else ignoring ASCII case) to a contact
// field. Target names are the canonical ones — first_name, last_name,
// full_name, email, phone, crm_id, company, product, lead_status,
// service_interest, message, marketing_consent, page_url, referrer,
// submission_id, lead_id, utm_source, utm_medium, utm_campaign, utm_term,
// utm_content, source_time, custom.<name> — or any alias the default
// mapping knows (firstname, phone_number, external_crm_id, …, so mappings
// carried over from the original system keep working).
//
// With a non-empty Mapping, Apply uses only the Mapping: payload fields it
// does not name are ignored. When several inputs target one field, the first
// non-blank one in byte order of the input path wins.
type Mapping map[string]string

// Limits on a Mapping.
const (
	maxMappingEntries = 200
	maxCustomName     = 64
)

type target uint8

const (
	tFirstName target = iota
	tLastName
	tFullName
	tEmail
	tPhone
	tCRMID
	tCompany
	tProduct
	tLeadStatus
	tServiceInterest
	tMessage
	tConsent
	tPageURL
	tReferrer
	tSubmissionID
	tLeadID
	tSourceTime
	tUTMSource
	tUTMMedium
	tUTMCampaign
	tUTMTerm
	tUTMContent
	numTargets
	tCustom // not a slot: custom.<name>
)

var targetNames = [numTargets]string{
	"first_name", "last_name", "full_name", "email", "phone", "crm_id",
	"company", "product", "lead_status", "service_interest", "message",
	"marketing_consent", "page_url", "referrer", "submission_id", "lead_id",
	"source_time", "utm_source", "utm_medium", "utm_campaign", "utm_term",
	"utm_content",
}

type alias struct {
	t    target
	prio uint8 // lower wins when several aliases of one field are present
}

// defaultAliases are the lower-case payload names the default mapping
// recognizes, at top level or under "data.".
var defaultAliases = map[string]alias{
	"first_name": {tFirstName, 0}, "firstname": {tFirstName, 1}, "fname": {tFirstName, 2},
	"last_name": {tLastName, 0}, "lastname": {tLastName, 1}, "lname": {tLastName, 2},
	"full_name": {tFullName, 0}, "fullname": {tFullName, 1}, "name": {tFullName, 2},
	"email": {tEmail, 0}, "email_address": {tEmail, 1},
	"phone": {tPhone, 0}, "phone_number": {tPhone, 1}, "phone_1": {tPhone, 2}, "phone1": {tPhone, 3}, "mobile": {tPhone, 4},
	"crm_id": {tCRMID, 0}, "external_crm_id": {tCRMID, 1},
	"company": {tCompany, 0}, "company_name": {tCompany, 1},
	"product":     {tProduct, 0},
	"lead_status": {tLeadStatus, 0}, "status": {tLeadStatus, 1},
	"service_interest": {tServiceInterest, 0}, "service": {tServiceInterest, 1},
	"message": {tMessage, 0}, "comments": {tMessage, 1}, "comment": {tMessage, 2},
	"marketing_consent": {tConsent, 0}, "consent": {tConsent, 1},
	"page_url": {tPageURL, 0}, "landing_page_url": {tPageURL, 1}, "landing_page": {tPageURL, 2},
	"referrer": {tReferrer, 0}, "referer": {tReferrer, 1},
	"submission_id": {tSubmissionID, 0},
	"lead_id":       {tLeadID, 0},
	"timestamp":     {tSourceTime, 0}, "created_time": {tSourceTime, 1}, "created_at": {tSourceTime, 2}, "submitted_at": {tSourceTime, 3},
	"utm_source": {tUTMSource, 0}, "utm_medium": {tUTMMedium, 0}, "utm_campaign": {tUTMCampaign, 0},
	"utm_term": {tUTMTerm, 0}, "utm_content": {tUTMContent, 0},
}

// utmSub names a UTM parameter under "utm_params." or "utm.".
var utmSub = map[string]target{
	"utm_source": tUTMSource, "utm_medium": tUTMMedium, "utm_campaign": tUTMCampaign,
	"utm_term": tUTMTerm, "utm_content": tUTMContent,
	"source": tUTMSource, "medium": tUTMMedium, "campaign": tUTMCampaign,
	"term": tUTMTerm, "content": tUTMContent,
}

// mappingTargets: canonical names plus every default alias.
var mappingTargets = func() map[string]target {
	m := make(map[string]target, len(defaultAliases)+int(numTargets))
	for name, a := range defaultAliases {
		m[name] = a.t
	}
	for t, name := range targetNames {
		m[name] = target(t)
	}
	return m
}()

// resolveTarget returns the field a Mapping target names.
func resolveTarget(t string) (target, string, bool) {
	lt := lowerASCII(t)
	if name, ok := strings.CutPrefix(lt, "custom."); ok {
		if name == "" || len(name) > maxCustomName || SanitizeName(name) != name {
			return 0, "", false
		}
		return tCustom, name, true
	}
	tg, ok := mappingTargets[lt]
	return tg, "", ok
}

// Validate reports the first problem with the mapping: an empty or overlong
// input path, an unknown target, or a custom.<name> whose name is not
// already in SanitizeName form.
func (m Mapping) Validate() error {
	if len(m) > maxMappingEntries {
		return errors.New("lead: mapping has more than " + strconv.Itoa(maxMappingEntries) + " entries")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report deterministically
	for _, in := range keys {
		t := m[in]
		if in == "" || len(in) > MaxPathLen || !utf8.ValidString(in) || strings.IndexByte(in, 0) >= 0 {
			return errors.New("lead: mapping input path " + strconv.Quote(textcut.Ellipsis(in, 100)) + " is empty, too long or not valid text")
		}
		if _, _, ok := resolveTarget(t); !ok {
			return errors.New("lead: mapping " + strconv.Quote(textcut.Ellipsis(in, 100)) + " -> " + strconv.Quote(textcut.Ellipsis(t, 100)) + ": unknown contact field")
		}
	}
	return nil
}

// cand is a candidate value for one field; better() decides between two.
type cand struct {
	key  string
	val  string
	rank int // lower wins
	set  bool
}

// better reports whether (key, rank) beats c. Ties on rank go to the key
// already in lower case, then to the smaller key, so the outcome never
// depends on map iteration order.
func (c *cand) better(key string, rank int, exact bool) bool {
	if !c.set {
		return true
	}
	if rank != c.rank {
		return rank < c.rank
	}
	cExact := c.key == lowerASCII(c.key)
	if exact != cExact {
		return exact
	}
	return key < c.key
}

// Apply maps v into Fields. With a non-empty Mapping only the Mapping is
// used (see Mapping). Otherwise the default mapping recognizes, ignoring
// ASCII case, at the top level or under "data." (website forms wrap their
// fields in "data"; top-level wins): firstname/first_name/fname,
// lastname/last_name/lname, name/full_name/fullname, email/email_address,
// phone/phone_number/phone_1/phone1/mobile, crm_id/external_crm_id, company/
// company_name, product, lead_status/status, service_interest/service,
// message/comments/comment, marketing_consent/consent, page_url/
// landing_page_url/landing_page, referrer/referer, submission_id, lead_id,
// timestamp/created_time/created_at/submitted_at, utm_* at the top level or
// under "utm_params." / "utm." (utm.source works too), and custom.<name>.
// Among several aliases for one field the first non-blank one in that list
// order wins. Values are copied unmodified; Normalize cleans them.
func Apply(v Values, m Mapping) Fields {
	var (
		slots  [numTargets]cand
		custom map[string]*cand
	)
	offer := func(t target, name, key, val string, rank int, exact bool) {
		if isBlank(val) {
			return
		}
		var c *cand
		if t == tCustom {
			if name == "" {
				return
			}
			if custom == nil {
				custom = make(map[string]*cand, 4)
			}
			c = custom[name]
			if c == nil {
				c = &cand{}
				custom[name] = c
			}
		} else {
			c = &slots[t]
		}
		if c.better(key, rank, exact) {
			*c = cand{key: key, val: val, rank: rank, set: true}
		}
	}

	if len(m) > 0 {
		var lowerIndex map[string]string // lower-cased path -> path, built on demand
		for in, tname := range m {
			t, name, ok := resolveTarget(tname)
			if !ok {
				continue
			}
			val, found := v[in]
			if !found {
				if lowerIndex == nil {
					lowerIndex = make(map[string]string, len(v))
					for k := range v {
						lk := lowerASCII(k)
						if prev, dup := lowerIndex[lk]; !dup || k < prev {
							lowerIndex[lk] = k
						}
					}
				}
				key, found := lowerIndex[lowerASCII(in)]
				if !found {
					continue
				}
				val = v[key]
			}
			// Rank by nothing: ties go to the smaller input path.
			offer(t, name, in, val, 0, true)
		}
	} else {
		for key, val := range v {
			if isBlank(val) {
				continue
			}
			lk := lowerASCII(key)
			exact := lk == key
			scope := 0
			if rest, ok := strings.CutPrefix(lk, "data."); ok {
				lk, scope = rest, 1
			}
			if a, ok := defaultAliases[lk]; ok {
				offer(a.t, "", key, val, scope*16+int(a.prio), exact)
				continue
			}
			if rest, ok := strings.CutPrefix(lk, "utm_params."); ok {
				if t, ok := utmSub[rest]; ok {
					offer(t, "", key, val, scope*16+1, exact)
				}
				continue
			}
			if rest, ok := strings.CutPrefix(lk, "utm."); ok {
				if t, ok := utmSub[rest]; ok {
					offer(t, "", key, val, scope*16+2, exact)
				}
				continue
			}
			if rest, ok := strings.CutPrefix(lk, "custom."); ok {
				// Keep the payload's spelling for sanitizing (it lower-cases).
				offer(tCustom, SanitizeName(key[len(key)-len(rest):]), key, val, scope, exact)
			}
		}
	}

	var f Fields
	str := func(t target) string { return slots[t].val }
	f.FirstName = str(tFirstName)
	f.LastName = str(tLastName)
	f.FullName = str(tFullName)
	f.Email = str(tEmail)
	f.Phone = str(tPhone)
	f.CRMID = str(tCRMID)
	f.Company = str(tCompany)
	f.Product = str(tProduct)
	f.LeadStatus = str(tLeadStatus)
	f.ServiceInterest = str(tServiceInterest)
	f.Message = str(tMessage)
	f.PageURL = str(tPageURL)
	f.Referrer = str(tReferrer)
	f.SubmissionID = str(tSubmissionID)
	f.LeadID = str(tLeadID)
	if slots[tConsent].set {
		b := parseConsent(slots[tConsent].val)
		f.MarketingConsent = &b
	}
	if slots[tSourceTime].set {
		f.SourceTime = parseTime(slots[tSourceTime].val)
	}
	for t := tUTMSource; t <= tUTMContent; t++ {
		if slots[t].set {
			if f.UTM == nil {
				f.UTM = make(map[string]string, 5)
			}
			f.UTM[targetNames[t]] = slots[t].val
		}
	}
	if len(custom) > 0 {
		f.Custom = make(map[string]string, len(custom))
		for name, c := range custom {
			f.Custom[name] = c.val
		}
	}
	return f
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\v', '\f':
		default:
			if s[i] < utf8.RuneSelf {
				return false
			}
			return strings.TrimSpace(s[i:]) == ""
		}
	}
	return true
}

// lowerASCII lower-cases ASCII letters, allocating only when it must.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + ('a' - 'A')
				}
			}
			return string(b)
		}
	}
	return s
}

// SanitizeName turns a free-form field name ("What project are you
// planning?") into a custom field name: Unicode letters and digits
// lower-cased, every other run of characters one '_', no leading or
// trailing '_', at most 64 bytes. It returns "" when nothing is left.
func SanitizeName(s string) string {
	var b strings.Builder
	b.Grow(min(len(s), maxCustomName))
	pendingSep := false
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			r = unicode.ToLower(r)
			n := utf8.RuneLen(r)
			extra := 0
			if pendingSep && b.Len() > 0 {
				extra = 1
			}
			if b.Len()+extra+n > maxCustomName {
				break
			}
			if extra == 1 {
				b.WriteByte('_')
			}
			pendingSep = false
			b.WriteRune(r)
			continue
		}
		pendingSep = true
	}
	return b.String()
}

func parseConsent(s string) bool {
	switch lowerASCII(strings.TrimSpace(s)) {
	case "true", "1", "yes", "y", "on", "checked", "agree", "agreed", "accepted",
		"opt-in", "opt_in", "optin", "opted_in", "opted-in":
		return true
	}
	return false
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05Z0700", // Facebook: 2025-11-22T08:26:40+0000
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02",
}

// parseTime reads a source timestamp; the zero time when it cannot.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 64 {
		return time.Time{}
	}
	if allDigits(s) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}
		}
		var t time.Time
		switch {
		case len(s) <= 11: // seconds (until year 5138)
			t = time.Unix(n, 0)
		case len(s) <= 14: // milliseconds
			t = time.UnixMilli(n)
		default:
			return time.Time{}
		}
		return t.UTC()
	}
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if y := t.Year(); y < 1 || y > 9999 {
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}
