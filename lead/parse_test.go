package lead

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func errCode(err error) string {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return "untyped:" + err.Error()
	}
	return ""
}

func TestParse_Fixtures(t *testing.T) {
	v, err := Parse("application/json", fixture(t, "lead-vendor.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := Values{
		"firstname": "Benjie", "lastname": "Malinao", "phone_number": "+16266633444",
		"email": "Benjie@Example.com ", "external_crm_id": "crm_12345",
		"product": "Bath Remodel", "lead_status": "new",
	}
	if !maps.Equal(v, want) {
		t.Errorf("lead-vendor:\n got %v\nwant %v", v, want)
	}

	v, err = Parse("application/json; charset=utf-8", fixture(t, "contact-form.json"))
	if err != nil {
		t.Fatal(err)
	}
	want = Values{
		"form_type": "contact", "lead_id": "lead_7f3a9c",
		"page_url":              "https://example.com/services/bath-remodel",
		"timestamp":             "2025-11-22T08:26:40Z",
		"utm_params.utm_source": "google", "utm_params.utm_medium": "cpc", "utm_params.utm_campaign": "spring_remodel",
		"data.name": "Benjie Malinao", "data.email": "benjie@example.com", "data.phone": "(626) 663-3444",
		"data.company": "Malinao Homes", "data.service_interest": "Bath Remodel",
		"data.message":           "We'd like a quote for a full bathroom remodel.",
		"data.marketing_consent": "true",
	}
	if !maps.Equal(v, want) {
		t.Errorf("contact-form:\n got %v\nwant %v", v, want)
	}
}

func nested(depth int) string {
	// depth containers in total, the outermost being the top-level object.
	return strings.Repeat(`{"a":`, depth-1) + `{"x":1}` + strings.Repeat(`}`, depth-1)
}

func manyFields(n int) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"f` + strconv.Itoa(i) + `":` + strconv.Itoa(i))
	}
	b.WriteByte('}')
	return b.String()
}

func TestParse_JSON(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Values
		code string
	}{
		{"flat", `{"a":"b"}`, Values{"a": "b"}, ""},
		{"whitespace", " \t\r\n{ \"a\" : \"b\" } \n", Values{"a": "b"}, ""},
		{"bom", "\xEF\xBB\xBF{\"a\":\"b\"}", Values{"a": "b"}, ""},
		{"empty object", `{}`, Values{}, ""},
		{"nested", `{"contact":{"phone":"1","name":{"first":"A"}}}`, Values{"contact.phone": "1", "contact.name.first": "A"}, ""},
		{"number keeps literal", `{"phone":6266633444,"n":-1.50e+10,"z":0,"f":0.25}`, Values{"phone": "6266633444", "n": "-1.50e+10", "z": "0", "f": "0.25"}, ""},
		{"big number literal", `{"id":123456789012345678901234567890}`, Values{"id": "123456789012345678901234567890"}, ""},
		{"bools and null", `{"t":true,"f":false,"n":null}`, Values{"t": "true", "f": "false"}, ""},
		{"array of scalars", `{"a":["x","y"]}`, Values{"a": "x", "a.0": "x", "a.1": "y"}, ""},
		{"array of numbers", `{"a":[1,2]}`, Values{"a": "1", "a.0": "1", "a.1": "2"}, ""},
		{"array first null", `{"a":[null,"y"]}`, Values{"a.1": "y"}, ""},
		{"empty array", `{"a":[]}`, Values{}, ""},
		{"array of objects", `{"a":[{"n":"x"},{"n":"y"}]}`, Values{"a.0.n": "x", "a.1.n": "y"}, ""},
		{"nested arrays", `{"a":[[1,2],3]}`, Values{"a.0": "1", "a.0.0": "1", "a.0.1": "2", "a.1": "3"}, ""},
		{"escapes", `{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, Values{"s": "a\"b\\c/d\b\f\n\r\t\u00e9\U0001F600"}, ""},
		{"escaped key", `{"a\u002eb":"x"}`, Values{"a.b": "x"}, ""},
		{"empty keys", `{"":{"":"x","a":"y"},"b":{"":"z"}}`, Values{".": "x", ".a": "y", "b.": "z"}, ""},
		{"NUL escape kept by Parse", `{"s":"a\u0000b"}`, Values{"s": "a\x00b"}, ""},
		{"emoji raw", `{"name":"Zoë 🦄"}`, Values{"name": "Zoë 🦄"}, ""},
		{"depth 32 ok", nested(32), Values{strings.Repeat("a.", 31) + "x": "1"}, ""},
		{"1000 fields ok", manyFields(1000), nil, ""},

		{"empty", ``, nil, CodeEmptyBody},
		{"blank", " \n ", nil, CodeEmptyBody},
		{"top-level array", `[{"a":1}]`, nil, CodeNotObject},
		{"top-level string", `"hello"`, nil, CodeNotObject},
		{"top-level number", `6266633444`, nil, CodeNotObject},
		{"top-level null", `null`, nil, CodeNotObject},
		{"invalid utf8", "{\"a\":\"\xff\"}", nil, CodeInvalidUTF8},
		{"invalid utf8 in key", "{\"\xc3\x28\":1}", nil, CodeInvalidUTF8},
		{"overlong utf8", "{\"a\":\"\xc0\xaf\"}", nil, CodeInvalidUTF8},
		{"utf16 surrogate bytes", "{\"a\":\"\xed\xa0\x80\"}", nil, CodeInvalidUTF8},
		{"lone high surrogate", `{"a":"\ud800"}`, nil, CodeInvalidUTF8},
		{"lone low surrogate", `{"a":"\udc00x"}`, nil, CodeInvalidUTF8},
		{"high then non-low", `{"a":"\ud800\u0041"}`, nil, CodeInvalidUTF8},
		{"depth 33", nested(33), nil, CodeTooDeep},
		{"deep arrays", `{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, nil, CodeTooDeep},
		{"very deep", strings.Repeat(`{"a":`, 100000), nil, CodeTooDeep},
		{"1001 fields", manyFields(1001), nil, CodeTooManyFields},
		{"huge array", `{"a":[` + strings.Repeat("1,", 5000) + `1]}`, nil, CodeTooManyFields},
		{"duplicate key", `{"email":"a@x.com","email":"b@x.com"}`, nil, CodeDuplicateKey},
		{"duplicate object key", `{"a":{"x":1},"a":{"y":2}}`, nil, CodeDuplicateKey},
		{"duplicate null", `{"a":null,"a":1}`, nil, CodeDuplicateKey},
		{"duplicate array", `{"a":[1],"a":2}`, nil, CodeDuplicateKey},
		{"flatten collision", `{"a":{"b":1},"a.b":2}`, nil, CodeDuplicateKey},
		{"flatten collision reversed", `{"a.b":2,"a":{"b":1}}`, nil, CodeDuplicateKey},
		{"array index collision", `{"a":["x"],"a.0":"y"}`, nil, CodeDuplicateKey},
		{"empty-object collision", `{"a":{},"a":1}`, nil, CodeDuplicateKey},
		{"key too long", `{"` + strings.Repeat("k", MaxPathLen+1) + `":1}`, nil, CodeKeyTooLong},
		{"path too long", `{"` + strings.Repeat("k", 300) + `":{"` + strings.Repeat("k", 300) + `":1}}`, nil, CodeKeyTooLong},
		{"trailing data", `{"a":1} {"b":2}`, nil, CodeInvalidJSON},
		{"trailing comma", `{"a":1,}`, nil, CodeInvalidJSON},
		{"trailing comma array", `{"a":[1,]}`, nil, CodeInvalidJSON},
		{"unterminated", `{"a":"b`, nil, CodeInvalidJSON},
		{"unterminated object", `{"a":1`, nil, CodeInvalidJSON},
		{"missing colon", `{"a" 1}`, nil, CodeInvalidJSON},
		{"single quotes", `{'a':1}`, nil, CodeInvalidJSON},
		{"unquoted key", `{a:1}`, nil, CodeInvalidJSON},
		{"raw control char", "{\"a\":\"x\ny\"}", nil, CodeInvalidJSON},
		{"raw NUL", "{\"a\":\"x\x00y\"}", nil, CodeInvalidJSON},
		{"leading zero", `{"a":01}`, nil, CodeInvalidJSON},
		{"bare minus", `{"a":-}`, nil, CodeInvalidJSON},
		{"dot without digits", `{"a":1.}`, nil, CodeInvalidJSON},
		{"exponent without digits", `{"a":1e}`, nil, CodeInvalidJSON},
		{"NaN", `{"a":NaN}`, nil, CodeInvalidJSON},
		{"bad literal", `{"a":tru}`, nil, CodeInvalidJSON},
		{"bad escape", `{"a":"\x"}`, nil, CodeInvalidJSON},
		{"short unicode escape", `{"a":"\u12"}`, nil, CodeInvalidJSON},
		{"comment", `{"a":1 /* c */}`, nil, CodeInvalidJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse("application/json", []byte(tt.body))
			if got := errCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
			if tt.code != "" {
				if v != nil {
					t.Errorf("values returned with an error: %v", v)
				}
				var pe *ParseError
				if !errors.As(err, &pe) || pe.Error() == "" {
					t.Errorf("error is not a *ParseError: %T", err)
				}
				return
			}
			if tt.want != nil && !maps.Equal(v, tt.want) {
				t.Errorf("\n got %q\nwant %q", v, tt.want)
			}
		})
	}
}

func TestParse_Form(t *testing.T) {
	tests := []struct {
		name string
		body string
		want Values
		code string
	}{
		{"basic", "firstname=Benjie&email=Benjie%40Example.com+&phone=%28626%29+663-3444",
			Values{"firstname": "Benjie", "email": "Benjie@Example.com ", "phone": "(626) 663-3444"}, ""},
		{"no value", "a&b=", Values{"a": "", "b": ""}, ""},
		{"empty segments", "&&a=1&&", Values{"a": "1"}, ""},
		{"empty key skipped", "=x&a=1", Values{"a": "1"}, ""},
		{"equals in value", "a=b=c", Values{"a": "b=c"}, ""},
		{"repeated key is an array", "i=a&i=b&i=c", Values{"i": "a", "i.0": "a", "i.1": "b", "i.2": "c"}, ""},
		{"php brackets", "utm_params%5Butm_source%5D=google&data[email]=x%40y.com&tags[]=a&tags[]=b",
			Values{"utm_params.utm_source": "google", "data.email": "x@y.com", "tags": "a", "tags.0": "a", "tags.1": "b"}, ""},
		{"malformed brackets kept", "a[b=1&c]=2&[d]=3", Values{"a[b": "1", "c]": "2", "[d]": "3"}, ""},
		{"utf8 escapes", "name=Zo%C3%AB+%F0%9F%A6%84", Values{"name": "Zoë 🦄"}, ""},
		{"semicolon is literal", "a=1;b=2", Values{"a": "1;b=2"}, ""},
		{"NUL escape kept by Parse", "a=x%00y", Values{"a": "x\x00y"}, ""},

		{"empty", "", nil, CodeEmptyBody},
		{"bad escape", "a=%zz", nil, CodeInvalidForm},
		{"truncated escape", "a=%4", nil, CodeInvalidForm},
		{"bad escape in key", "%g=1", nil, CodeInvalidForm},
		{"invalid utf8 escape", "a=%FF", nil, CodeInvalidUTF8},
		{"invalid utf8 raw", "a=\xff", nil, CodeInvalidUTF8},
		{"too many", strings.Repeat("a=1&", MaxFields+1), nil, CodeTooManyFields},
		{"key too long", strings.Repeat("k", MaxPathLen+1) + "=1", nil, CodeKeyTooLong},
		{"generated collides with literal", "a.0=x&a=1&a=2", nil, CodeDuplicateKey},
		{"literal collides with generated", "a=1&a=2&a.1=x", nil, CodeDuplicateKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse("application/x-www-form-urlencoded", []byte(tt.body))
			if got := errCode(err); got != tt.code {
				t.Fatalf("code = %q (%v), want %q", got, err, tt.code)
			}
			if tt.code == "" && !maps.Equal(v, tt.want) {
				t.Errorf("\n got %q\nwant %q", v, tt.want)
			}
		})
	}
}

func TestParse_ContentType(t *testing.T) {
	jsonBody := []byte(`{"email":"a@b.co"}`)
	formBody := []byte(`email=a%40b.co`)
	want := Values{"email": "a@b.co"}
	tests := []struct {
		ct   string
		body []byte
		code string
	}{
		{"application/json", jsonBody, ""},
		{"Application/JSON; charset=UTF-8", jsonBody, ""},
		{"application/vnd.api+json", jsonBody, ""},
		{"text/json", jsonBody, ""},
		{"application/x-www-form-urlencoded", formBody, ""},
		{"application/x-www-form-urlencoded; charset=utf-8", formBody, ""},
		{"", jsonBody, ""},
		{"", formBody, ""},
		{"text/plain", jsonBody, ""},
		{"text/plain;charset=UTF-8", formBody, ""},
		{"application/octet-stream", jsonBody, ""},
		{"", []byte(` [1]`), CodeNotObject},
		{"application/json", formBody, CodeInvalidJSON},
		{"application/json", []byte(`"email"`), CodeNotObject},
		{"multipart/form-data; boundary=x", formBody, CodeUnsupportedMediaType},
		{"application/xml", []byte(`<a/>`), CodeUnsupportedMediaType},
		{"application/jsonx", jsonBody, CodeUnsupportedMediaType},
	}
	for _, tt := range tests {
		v, err := Parse(tt.ct, tt.body)
		if got := errCode(err); got != tt.code {
			t.Errorf("Parse(%q, %q): code %q (%v), want %q", tt.ct, tt.body, got, err, tt.code)
			continue
		}
		if tt.code == "" && !maps.Equal(v, want) {
			t.Errorf("Parse(%q, %q) = %v", tt.ct, tt.body, v)
		}
	}
}

func TestParse_ErrorOffset(t *testing.T) {
	_, err := Parse("application/json", []byte(`{"a":1,"b":x}`))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Code != CodeInvalidJSON || pe.Offset != 11 {
		t.Fatalf("got %#v", err)
	}
	_, err = Parse("application/json", []byte("{\"a\":\"ok\xff\"}"))
	if !errors.As(err, &pe) || pe.Code != CodeInvalidUTF8 || pe.Offset != 8 {
		t.Fatalf("got %#v", err)
	}
	if s := pe.Error(); !strings.Contains(s, "invalid_utf8") || !strings.Contains(s, "8") {
		t.Errorf("Error() = %q", s)
	}
}

func TestParse_DoesNotAliasBody(t *testing.T) {
	body := []byte(`{"name":"Benjie"}`)
	v, err := Parse("application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	copy(body, strings.Repeat("x", len(body)))
	if v["name"] != "Benjie" {
		t.Fatalf("value changed with the body: %q", v["name"])
	}
	body = []byte(`name=Benjie`)
	v, err = Parse("application/x-www-form-urlencoded", body)
	if err != nil {
		t.Fatal(err)
	}
	copy(body, strings.Repeat("x", len(body)))
	if v["name"] != "Benjie" {
		t.Fatalf("form value changed with the body: %q", v["name"])
	}
}
