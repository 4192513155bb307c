package lead

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// refFlatten flattens a document decoded by encoding/json with the rules
// Parse documents; used as an oracle for bodies Parse accepts.
func refFlatten(out Values, path string, root bool, v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if !root {
				p = path + "." + k
			}
			refFlatten(out, p, false, e)
		}
	case []any:
		for i, e := range x {
			refFlatten(out, path+"."+strconv.Itoa(i), false, e)
		}
		if len(x) > 0 {
			switch e := x[0].(type) {
			case string:
				out[path] = e
			case json.Number:
				out[path] = string(e)
			case bool:
				out[path] = strconv.FormatBool(e)
			}
		}
	case string:
		out[path] = x
	case json.Number:
		out[path] = string(x)
	case bool:
		out[path] = strconv.FormatBool(x)
	}
}

func parseSeeds(f *testing.F) {
	for _, name := range []string{"lead-vendor.json", "contact-form.json", "facebook-lead-graph.json"} {
		f.Add("application/json", fixture(f, name))
	}
	for _, s := range []string{
		`{"a":[1,[2,{"b":null}],"x"],"c":{"d":true}}`,
		`{"a":"\ud83d\ude00\u0000\n","b":-0.5E-3}`,
		`{"a":1,"a":2}`, `{"a":{"b":1},"a.b":2}`, `[1]`, `"s"`, `1`, ``, `{`, `{"a":"\ud800"}`,
		nested(33), manyFields(1001),
	} {
		f.Add("application/json", []byte(s))
	}
	f.Add("application/x-www-form-urlencoded", []byte("a=1&a=2&b[c]=%41+&d[]=x&%zz"))
	f.Add("", []byte("email=a%40b.co&phone=6266633444"))
	f.Add("text/plain", []byte(" {\"email\":\"a@b.co\"}"))
}

func FuzzParse(f *testing.F) {
	parseSeeds(f)
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		v, err := Parse(ct, body)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Code == "" || v != nil {
				t.Fatalf("bad error %#v with values %v", err, v)
			}
			// Syntactically valid JSON is never called invalid JSON.
			if pe.Code == CodeInvalidJSON && bodyKind(ct, body) == kindJSON && json.Valid(trimBOM(body)) {
				t.Fatalf("valid JSON rejected as invalid_json: %v", err)
			}
			return
		}
		for k, s := range v {
			if !utf8.ValidString(k) || !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in %q=%q", k, s)
			}
			if len(k) > MaxPathLen {
				t.Fatalf("path too long: %d", len(k))
			}
		}
		if len(v) > 2*MaxFields {
			t.Fatalf("%d values", len(v))
		}
		if bodyKind(ct, body) != kindJSON {
			return
		}
		// Differential check against encoding/json.
		b := trimBOM(body)
		if !json.Valid(b) {
			t.Fatalf("accepted JSON that encoding/json rejects: %q", b)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var doc any
		if err := d.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		want := Values{}
		refFlatten(want, "", true, doc)
		if !maps.Equal(v, want) {
			t.Fatalf("Parse disagrees with encoding/json\n got %q\nwant %q", v, want)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"(626) 663-3444", "+16266633444", "626-663-3444", "+1 626 663 3444", "16266633444",
		"٦٢٦٦٦٣٣٤٤٤", "６２６６６３３４４４", "1-800-FLOWERS", "+44 20 7946 0958", "011 44 20 7946 0958", "+", "+0", "00",
		"+1 (626) 663–3444", "+1\u00a0626", "((((", "+800 1234 5678", "+882 1234 5678 90", "+979 123 456 789"} {
		f.Add(s, "US")
	}
	f.Add("020 7946 0958", "GB")
	f.Add("6266633444", "")
	f.Add("6266633444", "zz")
	f.Fuzz(func(t *testing.T, s, region string) {
		got, code, msg := NormalizePhone(s, region)
		if code != "" {
			if got != "" || msg == "" {
				t.Fatalf("error %q with value %q / no message", code, got)
			}
			return
		}
		if got == "" {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("%q: no value and no error", s)
			}
			return
		}
		if !isE164(got) {
			t.Fatalf("%q -> %q is not E.164", s, got)
		}
		if again, code, _ := NormalizePhone(got, region); again != got || code != "" {
			t.Fatalf("not idempotent: %q -> %q -> %q (%s)", s, got, again, code)
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Benjie@Example.com ", "a@b.co", "Benjie <b@example.com>", `"a b"@x.com`, "a@[1.2.3.4]",
		"a..b@x.com", "a@x..com", "ÄÖÜ@bücher.de", "a@b.c", "İ@x.com", "a@b.co\r\n", strings.Repeat("a", 300) + "@x.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, code, msg := NormalizeEmail(s)
		if code != "" {
			if got != "" || msg == "" {
				t.Fatalf("error %q with value %q / no message", code, got)
			}
			return
		}
		if got == "" {
			if strings.TrimSpace(s) != "" {
				t.Fatalf("%q: no value and no error", s)
			}
			return
		}
		if len(got) > MaxEmailLen || got != strings.ToLower(got) || strings.Count(got, "@") < 1 || strings.ContainsAny(got, " <>\"") {
			t.Fatalf("%q -> %q", s, got)
		}
		if again, code, _ := NormalizeEmail(got); again != got || code != "" {
			t.Fatalf("not idempotent: %q -> %q -> %q (%s)", s, got, again, code)
		}
	})
}

func FuzzApply(f *testing.F) {
	parseSeeds(f)
	f.Add("application/json", []byte(`{"EMAIL":"A@B.co","Email":"c@d.co","custom":{"A b":"1","a_b":"2"},"utm":{"source":"x"},"data":{"name":"  A  B "}}`))
	f.Add("application/json", []byte(`{"field_data":[{"name":"Q?","values":["a","b"]},{"name":"q","values":"c"}],"id":"1"}`))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		vals := []Values{}
		if v, err := Parse(ct, body); err == nil {
			vals = append(vals, v)
		}
		if v, err := FacebookFieldData(body); err == nil {
			vals = append(vals, v)
		}
		for _, v := range vals {
			first := Apply(v, nil)
			if again := Apply(v, nil); !reflect.DeepEqual(first, again) {
				t.Fatalf("Apply not deterministic:\n%+v\n%+v", first, again)
			}
			// A mapping built from the payload's own keys.
			m := Mapping{}
			for k := range v {
				m[k] = "custom." + SanitizeName(k)
				if len(m) == 10 {
					break
				}
			}
			_ = m.Validate()
			mapped := Apply(v, m)

			for _, in := range []Fields{first, mapped} {
				out, errs := Normalize(in, "US")
				for _, e := range errs {
					if e.Field == "" || e.Code == "" || e.Message == "" {
						t.Fatalf("incomplete error %+v", e)
					}
				}
				if len(errs) == 0 && out.Email == "" && out.Phone == "" {
					t.Fatalf("valid candidate without email or phone: %+v", out)
				}
				checkClean(t, out)
				again, errs2 := Normalize(out, "US")
				if len(errs) == 0 && (len(errs2) != 0 || !reflect.DeepEqual(again, out)) {
					t.Fatalf("Normalize not idempotent:\n%+v\n%+v\n%v", out, again, errs2)
				}
				_, _ = NormalizeForm("contact", in, "US")
			}
		}
	})
}

// checkClean asserts the invariants of Normalize's output.
func checkClean(t *testing.T, f Fields) {
	t.Helper()
	strs := []string{f.FirstName, f.LastName, f.FullName, f.Email, f.Phone, f.CRMID, f.Company, f.Product,
		f.LeadStatus, f.ServiceInterest, f.Message, f.PageURL, f.Referrer, f.SubmissionID, f.LeadID}
	for _, m := range []map[string]string{f.UTM, f.Custom} {
		for k, v := range m {
			strs = append(strs, k, v)
			if strings.TrimSpace(v) == "" {
				t.Fatalf("blank map value kept for %q", k)
			}
		}
	}
	for _, s := range strs {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || s != strings.TrimSpace(s) {
			t.Fatalf("unclean value %q", s)
		}
	}
	if utf8.RuneCountInString(f.FirstName) > MaxNameLen || utf8.RuneCountInString(f.Message) > MaxMessageLen {
		t.Fatalf("length limit broken")
	}
	if f.Phone != "" && !isE164(f.Phone) {
		t.Fatalf("phone %q", f.Phone)
	}
	for k := range f.Custom {
		if SanitizeName(k) != k || k == "" {
			t.Fatalf("custom name %q", k)
		}
	}
}
