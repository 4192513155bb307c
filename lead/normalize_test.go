package lead

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNormalize_Phone(t *testing.T) {
	tests := []struct {
		in, region, want, code string
	}{
		{"(626) 663-3444", "US", "+16266633444", ""},
		{"+16266633444", "US", "+16266633444", ""},
		{"626-663-3444", "US", "+16266633444", ""},
		{"+1 626 663 3444", "US", "+16266633444", ""},
		{"16266633444", "US", "+16266633444", ""},
		{"6266633444", "US", "+16266633444", ""},
		{"626.663.3444", "us", "+16266633444", ""},
		{"  1 (626) 663-3444  ", "US", "+16266633444", ""},
		{"+1\u00a0626\u00a0663\u00a03444", "US", "+16266633444", ""}, // no-break spaces
		{"+1 626–663–3444", "US", "+16266633444", ""},                // en dashes
		{"(+1) 626 663 3444", "US", "+16266633444", ""},
		{"+44 20 7946 0958", "US", "+442079460958", ""},
		{"011 44 20 7946 0958", "US", "+442079460958", ""},
		{"020 7946 0958", "GB", "+442079460958", ""},
		{"+16266633444", "", "+16266633444", ""},
		{"(626) 555-0142", "US", "+16265550142", ""},
		{"", "US", "", ""},
		{"   ", "US", "", ""},

		{"6266633444", "", "", CodeInvalidPhone},   // national number without a region
		{"6266633444", "XX", "", CodeInvalidPhone}, // unknown region
		{"555-1234", "US", "", CodeInvalidPhone},   // too short for the US
		{"123", "US", "", CodeInvalidPhone},        // not a number
		{"+1 000 000 0000", "US", "", CodeInvalidPhone},
		{"0016266633444", "US", "", CodeInvalidPhone}, // not the US international prefix
		{"٦٢٦٦٦٣٣٤٤٤", "US", "", CodeInvalidPhone},    // Arabic-Indic digits: rejected, not folded
		{"６２６６６３３４４４", "US", "", CodeInvalidPhone},    // fullwidth digits
		{"＋16266633444", "US", "", CodeInvalidPhone},  // fullwidth plus
		{"1-800-FLOWERS", "US", "", CodeInvalidPhone}, // vanity: not guessed
		{"626-663-3444 ext 12", "US", "", CodeInvalidPhone},
		{"626-663-3444;ext=5", "US", "", CodeInvalidPhone},
		{"tel:+16266633444", "US", "", CodeInvalidPhone},
		{"1+6266633444", "US", "", CodeInvalidPhone},
		{"+1 626 663 3444 0000 0000 0000", "US", "", CodeInvalidPhone},
		{strings.Repeat("6", 200), "US", "", CodeInvalidPhone},
		{"'; DROP TABLE contacts;--", "US", "", CodeInvalidPhone},
		{"626\x00663\x003444", "US", "", CodeInvalidValue},
		{"626\xff6633444", "US", "", CodeInvalidValue},
	}
	for _, tt := range tests {
		got, code, msg := NormalizePhone(tt.in, tt.region)
		if got != tt.want || code != tt.code {
			t.Errorf("NormalizePhone(%q, %q) = %q, %q (%s); want %q, %q", tt.in, tt.region, got, code, msg, tt.want, tt.code)
		}
		if code != "" && msg == "" {
			t.Errorf("NormalizePhone(%q): error without a message", tt.in)
		}
	}
	a, _, _ := NormalizePhone("(626) 663-3444", "US")
	b, _, _ := NormalizePhone("+16266633444", "US")
	if a != b || a == "" {
		t.Errorf("(626) 663-3444 -> %q, +16266633444 -> %q: want the same E.164", a, b)
	}
}

func TestNormalize_Email(t *testing.T) {
	tests := []struct{ in, want, code string }{
		{"Benjie@Example.com ", "benjie@example.com", ""},
		{"  BENJIE@EXAMPLE.COM\t", "benjie@example.com", ""},
		{"first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk", ""},
		{"o'brien@example.ie", "o'brien@example.ie", ""},
		{"a@b.co", "a@b.co", ""},
		{"", "", ""},

		{"Benjie <benjie@example.com>", "", CodeInvalidEmail},
		{"<benjie@example.com>", "", CodeInvalidEmail},
		{"benjie@example.com (comment)", "", CodeInvalidEmail},
		{`"benjie malinao"@example.com`, "", CodeInvalidEmail},
		{"benjie@localhost", "", CodeInvalidEmail},
		{"benjie@example.", "", CodeInvalidEmail},
		{"benjie@.example.com", "", CodeInvalidEmail},
		{"benjie@example..com", "", CodeInvalidEmail},
		{"benjie@-example.com", "", CodeInvalidEmail},
		{"benjie@[127.0.0.1]", "", CodeInvalidEmail},
		{"benjie@1.2.3.4", "", CodeInvalidEmail},
		{"benjie@exa_mple.com", "", CodeInvalidEmail},
		{"benjie@exa!mple.com", "", CodeInvalidEmail},
		{"ÄÖÜ@Bücher.de", "äöü@bücher.de", ""},
		{"benjie..m@example.com", "", CodeInvalidEmail},
		{".benjie@example.com", "", CodeInvalidEmail},
		{"benjie.@example.com", "", CodeInvalidEmail},
		{"benjie@exa mple.com", "", CodeInvalidEmail},
		{"benjie", "", CodeInvalidEmail},
		{"@example.com", "", CodeInvalidEmail},
		{"benjie@", "", CodeInvalidEmail},
		{"a@b@example.com", "", CodeInvalidEmail},
		{"a,b@example.com", "", CodeInvalidEmail},
		{"a@example.com,b@example.com", "", CodeInvalidEmail},
		{"a@example.com\r\nBcc: x@y.com", "", CodeInvalidEmail},
		{"<script>@example.com", "", CodeInvalidEmail},
		{strings.Repeat("a", 65) + "@example.com", "", CodeInvalidEmail},
		{"a@" + strings.Repeat("b", 64) + ".com", "", CodeInvalidEmail},
		{strings.Repeat("a", 60) + "@" + strings.Repeat(strings.Repeat("b", 60)+".", 4) + "com", "", CodeTooLong},
		{"a\x00@example.com", "", CodeInvalidValue},
		{"a\xff@example.com", "", CodeInvalidValue},
	}
	for _, tt := range tests {
		got, code, msg := NormalizeEmail(tt.in)
		if got != tt.want || code != tt.code {
			t.Errorf("NormalizeEmail(%q) = %q, %q (%s); want %q, %q", tt.in, got, code, msg, tt.want, tt.code)
		}
	}
}

func TestNormalize_Names(t *testing.T) {
	tests := []struct {
		name string
		in   Fields
		want Fields
	}{
		{"split full name", Fields{FullName: "  Benjie   Malinao ", Email: "a@b.co"},
			Fields{FirstName: "Benjie", LastName: "Malinao", FullName: "Benjie Malinao", Email: "a@b.co"}},
		{"split at first space", Fields{FullName: "Mary Ann\tvan der Berg", Email: "a@b.co"},
			Fields{FirstName: "Mary", LastName: "Ann van der Berg", FullName: "Mary Ann van der Berg", Email: "a@b.co"}},
		{"single name", Fields{FullName: "Cher", Email: "a@b.co"},
			Fields{FirstName: "Cher", FullName: "Cher", Email: "a@b.co"}},
		{"full from first+last", Fields{FirstName: " Benjie ", LastName: "Malinao", Email: "a@b.co"},
			Fields{FirstName: "Benjie", LastName: "Malinao", FullName: "Benjie Malinao", Email: "a@b.co"}},
		{"full from first only", Fields{FirstName: "Benjie", Email: "a@b.co"},
			Fields{FirstName: "Benjie", FullName: "Benjie", Email: "a@b.co"}},
		{"no split when first present", Fields{FirstName: "B", FullName: "Benjie Malinao", Email: "a@b.co"},
			Fields{FirstName: "B", FullName: "Benjie Malinao", Email: "a@b.co"}},
		{"emoji kept", Fields{FullName: "Zoë 🦄 Ünïcødé 👩‍👩‍👧", Email: "a@b.co"},
			Fields{FirstName: "Zoë", LastName: "🦄 Ünïcødé 👩‍👩‍👧", FullName: "Zoë 🦄 Ünïcødé 👩‍👩‍👧", Email: "a@b.co"}},
		{"html kept verbatim", Fields{FirstName: "<script>alert(1)</script>", LastName: "<b>x</b>", Email: "a@b.co"},
			Fields{FirstName: "<script>alert(1)</script>", LastName: "<b>x</b>", FullName: "<script>alert(1)</script> <b>x</b>", Email: "a@b.co"}},
		{"sql kept verbatim", Fields{FirstName: "Robert'); DROP TABLE contacts;--", Company: "' OR '1'='1", Message: "1; DELETE FROM leads", Email: "a@b.co"},
			Fields{FirstName: "Robert'); DROP TABLE contacts;--", FullName: "Robert'); DROP TABLE contacts;--", Company: "' OR '1'='1", Message: "1; DELETE FROM leads", Email: "a@b.co"}},
		{"message keeps inner newlines", Fields{Message: "\n line 1\n\n  line 2  \n", Email: "a@b.co"},
			Fields{Message: "line 1\n\n  line 2", Email: "a@b.co"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Normalize(tt.in, "US")
			if len(errs) != 0 {
				t.Fatalf("errors: %v", errs)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNormalize_Validation(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name string
		in   Fields
		want []FieldError // Field and Code only
	}{
		{"valid email only", Fields{Email: "a@b.co"}, nil},
		{"valid phone only", Fields{Phone: "6266633444"}, nil},
		{"nothing", Fields{FirstName: "A"}, []FieldError{{Field: "email", Code: CodeRequired}, {Field: "phone", Code: CodeRequired}}},
		{"blank identity", Fields{Email: " ", Phone: "\t"}, []FieldError{{Field: "email", Code: CodeRequired}, {Field: "phone", Code: CodeRequired}}},
		{"invalid phone, no email", Fields{Phone: "12"}, []FieldError{{Field: "phone", Code: CodeInvalidPhone}}},
		{"invalid phone, good email", Fields{Phone: "555-1234", Email: "a@b.co"}, []FieldError{{Field: "phone", Code: CodeInvalidPhone}}},
		{"invalid email", Fields{Email: "nope"}, []FieldError{{Field: "email", Code: CodeInvalidEmail}}},
		{"NUL in name", Fields{FirstName: "A\x00B", Email: "a@b.co"}, []FieldError{{Field: "first_name", Code: CodeInvalidValue}}},
		{"NUL in email", Fields{Email: "a@b.co\x00"}, []FieldError{{Field: "email", Code: CodeInvalidValue}}},
		{"NUL in custom", Fields{Email: "a@b.co", Custom: map[string]string{"q": "\x00"}}, []FieldError{{Field: "custom.q", Code: CodeInvalidValue}}},
		{"invalid utf8", Fields{Company: "\xff", Email: "a@b.co"}, []FieldError{{Field: "company", Code: CodeInvalidValue}}},
		{"name 100 ok", Fields{FirstName: long(100), Email: "a@b.co"}, nil},
		{"name 100 runes ok", Fields{FirstName: strings.Repeat("é", 100), Email: "a@b.co"}, nil},
		{"name 101", Fields{FirstName: long(101), Email: "a@b.co"}, []FieldError{{Field: "first_name", Code: CodeTooLong}}},
		{"full name 101", Fields{FullName: long(101), Email: "a@b.co"}, []FieldError{{Field: "full_name", Code: CodeTooLong}}},
		{"company 200 ok", Fields{Company: long(200), Email: "a@b.co"}, nil},
		{"company 201", Fields{Company: long(201), Email: "a@b.co"}, []FieldError{{Field: "company", Code: CodeTooLong}}},
		{"message 5000 ok", Fields{Message: long(5000), Email: "a@b.co"}, nil},
		{"message 5001", Fields{Message: long(5001), Email: "a@b.co"}, []FieldError{{Field: "message", Code: CodeTooLong}}},
		{"crm id 256", Fields{CRMID: long(256), Email: "a@b.co"}, []FieldError{{Field: "crm_id", Code: CodeTooLong}}},
		{"product 256", Fields{Product: long(256), Email: "a@b.co"}, []FieldError{{Field: "product", Code: CodeTooLong}}},
		{"page url 2048 ok", Fields{PageURL: long(2048), Email: "a@b.co"}, nil},
		{"page url 2049", Fields{PageURL: long(2049), Email: "a@b.co"}, []FieldError{{Field: "page_url", Code: CodeTooLong}}},
		{"utm 256", Fields{UTM: map[string]string{"utm_source": long(256)}, Email: "a@b.co"}, []FieldError{{Field: "utm_source", Code: CodeTooLong}}},
		{"utm unknown key", Fields{UTM: map[string]string{"utm_x": "1"}, Email: "a@b.co"}, []FieldError{{Field: "utm", Code: CodeInvalidValue}}},
		{"custom bad name", Fields{Custom: map[string]string{"Bad Name": "1"}, Email: "a@b.co"}, []FieldError{{Field: "custom.Bad Name", Code: CodeInvalidValue}}},
		{"custom 1001", Fields{Custom: map[string]string{"q": long(1001)}, Email: "a@b.co"}, []FieldError{{Field: "custom.q", Code: CodeTooLong}}},
		{"several, in field order", Fields{LastName: long(101), Email: "x", Phone: "x", Message: long(5001)},
			[]FieldError{{Field: "last_name", Code: CodeTooLong}, {Field: "email", Code: CodeInvalidEmail}, {Field: "phone", Code: CodeInvalidPhone}, {Field: "message", Code: CodeTooLong}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Normalize(tt.in, "US")
			var gotFC []FieldError
			for _, e := range errs {
				if e.Message == "" {
					t.Errorf("error without a message: %+v", e)
				}
				gotFC = append(gotFC, FieldError{Field: e.Field, Code: e.Code})
			}
			if !reflect.DeepEqual(gotFC, tt.want) {
				t.Errorf("errors\n got %+v\nwant %+v", gotFC, tt.want)
			}
			// Whatever failed is cleared in the result.
			for _, e := range errs {
				switch e.Field {
				case "email":
					if got.Email != "" {
						t.Errorf("invalid email kept: %q", got.Email)
					}
				case "phone":
					if got.Phone != "" {
						t.Errorf("invalid phone kept: %q", got.Phone)
					}
				case "first_name":
					if got.FirstName != "" {
						t.Errorf("invalid first name kept")
					}
				}
			}
			for k, v := range got.Custom {
				if strings.IndexByte(v, 0) >= 0 || len(v) > 4*MaxCustomLen {
					t.Errorf("bad custom value kept for %q", k)
				}
			}
		})
	}
}

func TestNormalize_CustomAndUTM(t *testing.T) {
	custom := map[string]string{"blank": "  ", "q": " answer "}
	for i := 0; i < MaxCustom+5; i++ {
		custom["k"+strings.Repeat("x", i%10)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	in := Fields{Email: "a@b.co", Custom: custom, UTM: map[string]string{"utm_source": " google ", "utm_term": ""}, MarketingConsent: ptr(true)}
	got, errs := Normalize(in, "US")
	if got.MarketingConsent == in.MarketingConsent || !*got.MarketingConsent {
		t.Error("MarketingConsent must be copied, not shared")
	}
	if len(errs) != 1 || errs[0].Field != "custom" || errs[0].Code != CodeTooLong {
		t.Errorf("errs = %v", errs)
	}
	if len(got.Custom) != MaxCustom {
		t.Errorf("kept %d custom fields", len(got.Custom))
	}
	if _, ok := got.Custom["blank"]; ok {
		t.Error("blank custom value kept")
	}
	if !reflect.DeepEqual(got.UTM, map[string]string{"utm_source": "google"}) {
		t.Errorf("UTM = %v", got.UTM)
	}
	// The input maps are not modified.
	if in.UTM["utm_source"] != " google " || len(in.Custom) != len(custom) {
		t.Error("Normalize modified its input")
	}
}

func TestNormalize_Fixtures(t *testing.T) {
	// End to end: Parse -> Apply -> Normalize on each fixture.
	v, err := Parse("application/json", fixture(t, "lead-vendor.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, errs := Normalize(Apply(v, nil), "US")
	want := Fields{
		FirstName: "Benjie", LastName: "Malinao", FullName: "Benjie Malinao", Phone: "+16266633444",
		Email: "benjie@example.com", CRMID: "crm_12345", Product: "Bath Remodel", LeadStatus: "new",
	}
	if len(errs) != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("lead-vendor: %v\n got %+v\nwant %+v", errs, got, want)
	}

	v, err = Parse("application/json", fixture(t, "contact-form.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, errs = NormalizeForm(v["form_type"], Apply(v, nil), "US")
	want = Fields{
		FirstName: "Benjie", LastName: "Malinao", FullName: "Benjie Malinao",
		Email: "benjie@example.com", Phone: "+16266633444",
		Company: "Malinao Homes", ServiceInterest: "Bath Remodel",
		Message:          "We'd like a quote for a full bathroom remodel.",
		MarketingConsent: ptr(true),
		UTM:              map[string]string{"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "spring_remodel"},
		PageURL:          "https://example.com/services/bath-remodel",
		LeadID:           "lead_7f3a9c",
		SourceTime:       time.Date(2025, 11, 22, 8, 26, 40, 0, time.UTC),
	}
	if len(errs) != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("contact-form: %v\n got %+v\nwant %+v", errs, got, want)
	}

	v, err = FacebookFieldData(fixture(t, "facebook-lead-graph.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, errs = Normalize(Apply(v, nil), "US")
	if len(errs) != 0 || got.Phone != "+16265550142" || got.FirstName != "Ana" || got.LastName != "Reyes" ||
		got.Email != "ana.reyes@example.com" || got.Custom["what_project_are_you_planning"] != "Kitchen Remodel" {
		t.Errorf("facebook: %v %+v", errs, got)
	}
}

func TestNormalize_FormURLEncoded(t *testing.T) {
	v, err := Parse("application/x-www-form-urlencoded",
		[]byte("first_name=Benjie&last_name=Malinao&email=Benjie%40Example.com+&phone=%28626%29+663-3444&utm_source=google&marketing_consent=on"))
	if err != nil {
		t.Fatal(err)
	}
	got, errs := Normalize(Apply(v, nil), "US")
	if len(errs) != 0 || got.Email != "benjie@example.com" || got.Phone != "+16266633444" ||
		got.MarketingConsent == nil || !*got.MarketingConsent || got.UTM["utm_source"] != "google" {
		t.Errorf("%v %+v", errs, got)
	}
}

func TestNormalize_NumericPhone(t *testing.T) {
	for _, body := range []string{`{"phone":6266633444}`, `{"phone":16266633444}`, `{"data":{"phone_number":6266633444}}`, `{"mobile":["6266633444"]}`} {
		got, errs := Normalize(Apply(mustParse(t, "application/json", body), nil), "US")
		if len(errs) != 0 || got.Phone != "+16266633444" {
			t.Errorf("%s: %v %q", body, errs, got.Phone)
		}
	}
	// A float or exponent is not a phone number.
	for _, body := range []string{`{"phone":6.266633444e9}`, `{"phone":true}`} {
		_, errs := Normalize(Apply(mustParse(t, "application/json", body), nil), "US")
		if len(errs) != 1 || errs[0].Code != CodeInvalidPhone {
			t.Errorf("%s: %v", body, errs)
		}
	}
}

func TestValidateForm(t *testing.T) {
	full := Fields{FullName: "B M", Email: "a@b.co", Message: "hi", Phone: "6266633444"}
	tests := []struct {
		form string
		in   Fields
		want []string // "field:code"
	}{
		{"contact", full, nil},
		{"contact", Fields{FirstName: "B", Email: "a@b.co", Message: "hi"}, nil},
		{"contact", Fields{}, []string{"name:required", "email:required", "message:required"}},
		{"contact", Fields{FullName: " ", Email: "a@b.co", Message: "\n"}, []string{"name:required", "message:required"}},
		{"newsletter", Fields{Email: "a@b.co"}, nil},
		{"newsletter", Fields{Phone: "1"}, []string{"email:required"}},
		{"consultation", full, nil},
		{"consultation", Fields{FullName: "B", Email: "a@b.co"}, []string{"phone:required"}},
		{" Consultation ", Fields{}, []string{"name:required", "email:required", "phone:required"}},
		{"quote", full, []string{"form_type:invalid_value"}},
		{"", full, []string{"form_type:invalid_value"}},
	}
	for _, tt := range tests {
		var got []string
		for _, e := range ValidateForm(tt.form, tt.in) {
			got = append(got, e.Field+":"+e.Code)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ValidateForm(%q, %+v) = %v, want %v", tt.form, tt.in, got, tt.want)
		}
	}
}

func TestNormalizeForm(t *testing.T) {
	tests := []struct {
		form string
		in   Fields
		want []string
	}{
		{"contact", Fields{FullName: "B M", Email: "a@b.co", Message: "hi"}, nil},
		// Missing email: one error for it, and no "phone required" from the email-or-phone rule.
		{"newsletter", Fields{}, []string{"email:required"}},
		{"contact", Fields{FullName: strings.Repeat("x", 101), Email: "bad", Message: "hi"}, []string{"name:too_long", "email:invalid_email"}},
		{"consultation", Fields{FullName: "B", Email: "a@b.co", Phone: "123"}, []string{"phone:invalid_phone"}},
		{"consultation", Fields{Email: "bad"}, []string{"name:required", "phone:required", "email:invalid_email"}},
		{"nope", Fields{Email: "a@b.co"}, []string{"form_type:invalid_value"}},
	}
	for _, tt := range tests {
		var got []string
		_, errs := NormalizeForm(tt.form, tt.in, "US")
		for _, e := range errs {
			got = append(got, e.Field+":"+e.Code)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("NormalizeForm(%q, %+v) = %v, want %v", tt.form, tt.in, got, tt.want)
		}
	}
}
