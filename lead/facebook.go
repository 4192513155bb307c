package lead

import (
	"sort"
	"strconv"
	"strings"
)

// facebookStandard maps Lead Ads' standard question names to the names the
// default mapping recognizes; every other question becomes custom.<name>.
var facebookStandard = map[string]string{
	"full_name":    "full_name",
	"first_name":   "first_name",
	"last_name":    "last_name",
	"email":        "email",
	"phone_number": "phone_number",
	"phone":        "phone",
	"company_name": "company_name",
}

// facebookMeta are top-level Graph lead fields copied as they are.
var facebookMeta = []string{
	"created_time", "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id",
	"campaign_name", "form_id", "form_name", "page_id", "platform", "is_organic",
}

// FacebookFieldData turns a Graph API lead (GET /{leadgen_id}:
// {"id","created_time","field_data":[{"name","values":[…]}],…}) into Values
// for Apply with the default mapping. The body is parsed with the same rules
// and limits as Parse (JSON). The lead id is stored as "leadgen_id" and
// "submission_id"; created_time and the ad/form/campaign ids are copied as
// is. Each field_data entry is stored under its name when it is one of Lead
// Ads' standard questions (full_name, first_name, last_name, email,
// phone_number, phone, company_name; first value), and otherwise under
// "custom.<SanitizeName(name)>" with all values joined by ", " (a
// sanitized name that repeats gets "_2", "_3", …; one that sanitizes to
// nothing becomes "field_<index>"). Entries without a name or values are
// skipped.
func FacebookFieldData(body []byte) (Values, error) {
	raw, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	out := make(Values, 8)
	if id, ok := raw["id"]; ok && !isBlank(id) {
		out["leadgen_id"] = id
		out["submission_id"] = id
	}
	for _, k := range facebookMeta {
		if v, ok := raw[k]; ok {
			out[k] = v
		}
	}

	// Indices present under field_data (only array-like ones, bounded by
	// MaxFields, so a hostile {"field_data":{"999999999":…}} cannot make
	// us loop).
	seen := make(map[int]struct{}, 8)
	for k := range raw {
		rest, ok := strings.CutPrefix(k, "field_data.")
		if !ok {
			continue
		}
		if i := strings.IndexByte(rest, '.'); i >= 0 {
			rest = rest[:i]
		}
		if len(rest) == 0 || len(rest) > 4 || (len(rest) > 1 && rest[0] == '0') || !allDigits(rest) {
			continue
		}
		if idx, _ := strconv.Atoi(rest); idx < MaxFields {
			seen[idx] = struct{}{}
		}
	}
	indices := make([]int, 0, len(seen))
	for i := range seen {
		indices = append(indices, i)
	}
	sort.Ints(indices)

	used := make(map[string]bool, len(indices))
	var vals []string
	for _, i := range indices {
		prefix := "field_data." + strconv.Itoa(i)
		name, ok := raw[prefix+".name"]
		if !ok || isBlank(name) {
			continue
		}
		vals = vals[:0]
		for j := 0; ; j++ {
			v, ok := raw[prefix+".values."+strconv.Itoa(j)]
			if !ok {
				break
			}
			vals = append(vals, v)
		}
		if len(vals) == 0 {
			if v, ok := raw[prefix+".values"]; ok { // a scalar instead of an array
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		sname := SanitizeName(name)
		if std, ok := facebookStandard[sname]; ok && !used[std] {
			used[std] = true
			out[std] = vals[0]
			continue
		}
		if sname == "" {
			sname = "field_" + strconv.Itoa(i)
		}
		key := "custom." + sname
		for n := 2; used[key]; n++ {
			key = "custom." + withSuffix(sname, "_"+strconv.Itoa(n))
		}
		used[key] = true
		out[key] = strings.Join(vals, ", ")
	}
	return out, nil
}

// withSuffix appends suffix to a sanitized name, shortening the name so the
// result stays within the custom-name limit and in SanitizeName form.
func withSuffix(name, suffix string) string {
	if len(name)+len(suffix) <= maxCustomName {
		return name + suffix
	}
	cut := maxCustomName - len(suffix)
	for cut > 0 && cut < len(name) && !isRuneStart(name[cut]) {
		cut--
	}
	return strings.TrimRight(name[:cut], "_") + suffix
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
