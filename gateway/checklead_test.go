package gateway

import (
	"reflect"
	"testing"

	"github.com/hookstream/hookstream/lead"
)

// referenceLeadChecks is the lead webhook's validation as it was before the
// single parse: checkSyntax, then lead's Parse, Apply and Normalize.
func referenceLeadChecks(mt string, body []byte, mapping map[string]string, region string) error {
	if err := checkSyntax(mt, body); err != nil {
		return err
	}
	vals, err := lead.Parse(mt, body)
	if err != nil {
		return parseError(err)
	}
	_, ferrs := lead.Normalize(lead.Apply(vals, lead.Mapping(mapping)), region)
	if len(ferrs) > 0 {
		return validationError("the lead is invalid", ferrs)
	}
	return nil
}

// regions the fuzz target picks from: US spellings, other and unknown ones.
var phoneRegions = []string{"US", "us", " US ", "", "CA", "GB", "ZZ", "XX"}

var leadSeeds = []string{
	`{"email":"a@example.com","phone":"+1 415-200-0042"}`,
	`{"phone":"(415) 200-0042"}`,
	`{"phone":"+1 126 200 0042","first_name":"  Ada  "}`,
	`{"phone":"+1 415 200 0042","email":"not an email"}`,
	`{"phone_number":"1-415-200-0042","full_name":"Ada Lovelace","utm":{"utm_source":"x","bad":"y"}}`,
	`{"phone":"","email":""}`,
	`{}`,
	"\xef\xbb\xbf{\"phone\":\"4152000042\"}",
	`{"phone":"4152000042","phone":"4152000043"}`,
	`{"phone":"4152000042",}`,
	`[{"phone":"4152000042"}]`,
	`{"a":"\ud800","phone":"+14152000042"}`,
	`{"phone":"+14152000042"} x`,
	"{\"phone\":\"+14152000042\",\"n\":01}",
	"{\"first_name\":\"\xff\",\"phone\":\"+14152000042\"}",
	`phone=%2B1+415+200+0042&email=a%40example.com`,
	`phone=415.200.0042`,
	"phone=4152000042&x=\xff",
	`phone=%FF`,
	`phone=+1+800+555+0199&email=`,
}

// The single-parse validation gives exactly the reference's answer (status,
// code, message and details).
func FuzzCheckLead(f *testing.F) {
	for _, s := range leadSeeds {
		f.Add(s, false, uint8(0))
		f.Add(s, true, uint8(1))
	}
	mappings := []map[string]string{nil, {"phone": "tel", "email": "mail"}}
	f.Fuzz(func(t *testing.T, body string, form bool, pick uint8) {
		mt := ctJSON
		if form {
			mt = ctForm
		}
		mapping := mappings[int(pick)%len(mappings)]
		region := phoneRegions[int(pick)%len(phoneRegions)]
		got := checkLead(mt, []byte(body), mapping, region)
		want := referenceLeadChecks(mt, []byte(body), mapping, region)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s %q (region %q):\n got %#v\nwant %#v", mt, body, region, got, want)
		}
	})
}
