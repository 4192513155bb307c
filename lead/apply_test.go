package lead

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

func mustParse(t testing.TB, ct, body string) Values {
	t.Helper()
	v, err := Parse(ct, []byte(body))
	if err != nil {
		t.Fatalf("Parse(%q): %v", body, err)
	}
	return v
}

func TestApply_LeadVendor(t *testing.T) {
	v, err := Parse("application/json", fixture(t, "lead-vendor.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := Apply(v, nil)
	want := Fields{
		FirstName: "Benjie", LastName: "Malinao", Phone: "+16266633444",
		Email: "Benjie@Example.com ", CRMID: "crm_12345", Product: "Bath Remodel", LeadStatus: "new",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestApply_ContactForm(t *testing.T) {
	v, err := Parse("application/json", fixture(t, "contact-form.json"))
	if err != nil {
		t.Fatal(err)
	}
	got := Apply(v, nil)
	want := Fields{
		FullName: "Benjie Malinao", Email: "benjie@example.com", Phone: "(626) 663-3444",
		Company: "Malinao Homes", ServiceInterest: "Bath Remodel",
		Message:          "We'd like a quote for a full bathroom remodel.",
		MarketingConsent: ptr(true),
		UTM:              map[string]string{"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring_remodel"},
		PageURL:          "https://example.com/services/bath-remodel",
		LeadID:           "lead_7f3a9c",
		SourceTime:       time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestApply_Facebook(t *testing.T) {
	v, err := FacebookFieldData(fixture(t, "facebook-lead-graph.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantV := Values{
		"leadgen_id": "1323911018437852", "submission_id": "1323911018437852",
		"created_time": "2025-11-22T08:26:40+0000",
		"full_name":    "Ana Reyes", "email": "ana.reyes@example.com", "phone_number": "(626) 555-0142",
		"custom.what_project_are_you_planning": "Kitchen Remodel",
	}
	if !maps.Equal(v, wantV) {
		t.Errorf("values\n got %q\nwant %q", v, wantV)
	}
	got := Apply(v, nil)
	want := Fields{
		FullName: "Ana Reyes", Email: "ana.reyes@example.com", Phone: "(626) 555-0142",
		SubmissionID: "1323911018437852",
		Custom:       map[string]string{"what_project_are_you_planning": "Kitchen Remodel"},
		SourceTime:   time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}
}

func TestApply_FacebookEdgeCases(t *testing.T) {
	body := `{"id":"1","field_data":[
		{"name":"EMAIL","values":["a@b.co"]},
		{"name":"email","values":["second@b.co"]},
		{"name":"Which rooms?","values":["Kitchen","Bath"]},
		{"name":"which_rooms","values":["Garage"]},
		{"name":"???","values":["x"]},
		{"name":"no values"},
		{"values":["no name"]},
		null,
		{"name":"scalar","values":"s"},
		{"name":"` + strings.Repeat("q", 70) + `","values":["1"]},
		{"name":"` + strings.Repeat("q", 70) + `","values":["2"]}
	],"field_data_extra":{"x":1}}`
	v, err := FacebookFieldData([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	q64 := strings.Repeat("q", 64)
	want := Values{
		"leadgen_id": "1", "submission_id": "1",
		"email":                     "a@b.co",
		"custom.email":              "second@b.co",
		"custom.which_rooms":        "Kitchen, Bath",
		"custom.which_rooms_2":      "Garage",
		"custom.field_4":            "x",
		"custom.scalar":             "s",
		"custom." + q64:             "1",
		"custom." + q64[:62] + "_2": "2",
	}
	if !maps.Equal(v, want) {
		t.Errorf("\n got %q\nwant %q", v, want)
	}
	f, errs := Normalize(Apply(v, nil), "US")
	if len(errs) != 0 {
		t.Errorf("custom names from FacebookFieldData must pass Normalize: %v", errs)
	}
	if f.Email != "a@b.co" || len(f.Custom) != 7 {
		t.Errorf("got %+v", f)
	}

	// A sparse object posing as field_data must not make us loop.
	v, err = FacebookFieldData([]byte(`{"field_data":{"999999999":{"name":"email","values":["a@b.co"]},"1":{"name":"phone","values":["+16266633444"]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(v, Values{"phone": "+16266633444"}) {
		t.Errorf("got %q", v)
	}
	for _, bad := range []string{`[]`, `{"field_data":[{"name":"a","name":"b"}]}`, "{\"id\":\"\xff\"}"} {
		if _, err := FacebookFieldData([]byte(bad)); err == nil {
			t.Errorf("FacebookFieldData(%q) accepted", bad)
		}
	}
}

func TestApply_DefaultNames(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Fields
	}{
		{"aliases", `{"fname":"A","lname":"B","fullname":"A B","email_address":"a@b.co","mobile":"1","crm_id":"c","company_name":"Co",
			"status":"hot","service":"Roof","comments":"hi","consent":"yes","landing_page":"https://x","referer":"https://r","submission_id":"s","lead_id":"l"}`,
			Fields{FirstName: "A", LastName: "B", FullName: "A B", Email: "a@b.co", Phone: "1", CRMID: "c", Company: "Co",
				LeadStatus: "hot", ServiceInterest: "Roof", Message: "hi", MarketingConsent: ptr(true), PageURL: "https://x",
				Referrer: "https://r", SubmissionID: "s", LeadID: "l"}},
		{"case-insensitive", `{"FirstName":"A","LAST_NAME":"B","Email":"a@b.co","Phone_Number":"1"}`,
			Fields{FirstName: "A", LastName: "B", Email: "a@b.co", Phone: "1"}},
		{"alias priority", `{"mobile":"3","phone1":"2","phone_number":"1","phone":"0"}`, Fields{Phone: "0"}},
		{"blank alias skipped", `{"phone":"  ","mobile":"5"}`, Fields{Phone: "5"}},
		{"null alias skipped", `{"phone":null,"mobile":"5"}`, Fields{Phone: "5"}},
		{"top-level beats data", `{"email":"top@b.co","data":{"email":"data@b.co","name":"N"}}`, Fields{Email: "top@b.co", FullName: "N"}},
		{"exact case beats other case", `{"EMAIL":"upper@b.co","email":"lower@b.co","Email":"title@b.co"}`, Fields{Email: "lower@b.co"}},
		{"numeric phone", `{"phone":6266633444}`, Fields{Phone: "6266633444"}},
		{"array phone takes first", `{"phone":["+16266633444","+16265550142"]}`, Fields{Phone: "+16266633444"}},
		{"object where string expected", `{"email":{"x":"a@b.co"},"phone":"1"}`, Fields{Phone: "1"}},
		{"utm top-level beats nested", `{"utm_source":"top","utm_params":{"utm_source":"nested","utm_medium":"m"},"utm":{"campaign":"c","term":"t","utm_content":"x"}}`,
			Fields{UTM: map[string]string{"utm_source": "top", "utm_medium": "m", "utm_campaign": "c", "utm_term": "t", "utm_content": "x"}}},
		{"custom", `{"custom":{"Budget":"10k","zip code":"91001"},"email":"a@b.co"}`,
			Fields{Email: "a@b.co", Custom: map[string]string{"budget": "10k", "zip_code": "91001"}}},
		{"unknown keys ignored", `{"form_type":"contact","foo":"bar","name.x":"y"}`, Fields{}},
		{"consent false", `{"marketing_consent":false}`, Fields{MarketingConsent: ptr(false)}},
		{"consent unknown is false", `{"marketing_consent":"maybe"}`, Fields{MarketingConsent: ptr(false)}},
		{"consent on", `{"data":{"marketing_consent":"on"}}`, Fields{MarketingConsent: ptr(true)}},
		{"consent blank is nil", `{"marketing_consent":""}`, Fields{}},
		{"timestamp unix", `{"timestamp":1763800000}`, Fields{SourceTime: time.Unix(1763800000, 0).UTC()}},
		{"timestamp unix ms", `{"created_at":"1763800000123"}`, Fields{SourceTime: time.UnixMilli(1763800000123).UTC()}},
		{"timestamp facebook", `{"created_time":"2025-11-22T08:26:40+0000"}`, Fields{SourceTime: time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC)}},
		{"timestamp offset", `{"timestamp":"2025-11-22T10:26:40.5+02:00"}`, Fields{SourceTime: time.Date(2025, 11, 22, 8, 26, 40, 5e8, time.UTC)}},
		{"timestamp naive", `{"submitted_at":"2025-11-22 08:26:40"}`, Fields{SourceTime: time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC)}},
		{"timestamp garbage", `{"timestamp":"yesterday"}`, Fields{}},
		{"timestamp huge", `{"timestamp":99999999999999999999}`, Fields{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Apply(mustParse(t, "application/json", tt.body), nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestApply_Deterministic(t *testing.T) {
	// Many competing spellings: the winner must not depend on map order.
	v := mustParse(t, "application/json", `{"EMAIL":"1@b.co","eMail":"2@b.co","Email":"3@b.co","emAIL":"4@b.co",
		"custom":{"A b":"1","a_b":"2","A-B":"3"},"data":{"email":"5@b.co"}}`)
	first := Apply(v, nil)
	for i := 0; i < 200; i++ {
		if got := Apply(v, nil); !reflect.DeepEqual(got, first) {
			t.Fatalf("Apply is not deterministic: %+v vs %+v", got, first)
		}
	}
	if first.Email != "1@b.co" || first.Custom["a_b"] != "2" {
		t.Errorf("got %+v", first)
	}
}

func TestApply_Mapping(t *testing.T) {
	v := mustParse(t, "application/json", `{"contact":{"phone":"(626) 663-3444","Mail":"A@B.co"},"first":"Benjie","Surname":"Malinao",
		"extra":{"budget":"10k"},"email":"ignored@b.co","id":"crm-9","src":"fb","tags":["a","b"]}`)
	m := Mapping{
		"contact.phone": "phone",
		"contact.mail":  "email", // case-insensitive fallback
		"first":         "firstname",
		"surname":       "last_name",
		"id":            "external_crm_id",
		"extra.budget":  "custom.budget",
		"src":           "utm_source",
		"tags.1":        "custom.second_tag",
		"missing":       "company",
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	got := Apply(v, m)
	want := Fields{
		FirstName: "Benjie", LastName: "Malinao", Email: "A@B.co", Phone: "(626) 663-3444", CRMID: "crm-9",
		UTM:    map[string]string{"utm_source": "fb"},
		Custom: map[string]string{"budget": "10k", "second_tag": "b"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got %+v\nwant %+v", got, want)
	}

	// Several inputs to one target: first non-blank in input-path order.
	v = mustParse(t, "application/json", `{"a":"","b":"b@x.co","c":"c@x.co"}`)
	for i := 0; i < 50; i++ {
		if got := Apply(v, Mapping{"c": "email", "b": "email", "a": "email"}); got.Email != "b@x.co" {
			t.Fatalf("got %q", got.Email)
		}
	}
	// An unvalidated mapping with unknown targets is ignored, not a panic.
	if got := Apply(v, Mapping{"b": "nope", "c": "custom."}); !reflect.DeepEqual(got, Fields{}) {
		t.Errorf("got %+v", got)
	}
}

func TestMapping_Validate(t *testing.T) {
	good := []Mapping{
		nil, {},
		{"a": "first_name", "b": "LastName", "c": "phone_number", "d": "custom.zip_code", "e": "source_time", "f": "utm_term", "g": "Email"},
	}
	for _, m := range good {
		if err := m.Validate(); err != nil {
			t.Errorf("%v: %v", m, err)
		}
	}
	bad := []Mapping{
		{"a": "phone_numbers"},
		{"a": ""},
		{"": "email"},
		{"a": "custom."},
		{"a": "custom.Zip Code"},
		{"a": "custom._x"},
		{"a": "custom." + strings.Repeat("x", 65)},
		{"a\x00": "email"},
		{strings.Repeat("k", MaxPathLen+1): "email"},
	}
	for _, m := range bad {
		if err := m.Validate(); err == nil {
			t.Errorf("%q accepted", m)
		}
	}
	big := Mapping{}
	for i := 0; i <= maxMappingEntries; i++ {
		big[strings.Repeat("k", i+1)] = "email"
	}
	if err := big.Validate(); err == nil {
		t.Error("oversized mapping accepted")
	}
}

func TestSanitizeName(t *testing.T) {
	tests := map[string]string{
		"what_project_are_you_planning?": "what_project_are_you_planning",
		"  Zip Code ":                    "zip_code",
		"¿Cuál es tu proyecto?":          "cuál_es_tu_proyecto",
		"a--b__c":                        "a_b_c",
		"???":                            "",
		"ÉTÉ":                            "été",
		strings.Repeat("ab ", 40):        strings.TrimSuffix(strings.Repeat("ab_", 21), "_") + "_a",
	}
	for in, want := range tests {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
		if got := SanitizeName(want); got != want {
			t.Errorf("SanitizeName not idempotent on %q: %q", want, got)
		}
	}
}
