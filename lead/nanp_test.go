package lead

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// The phone fast path must never accept what the libphonenumber path
// rejects, and should accept the plain NANP spellings it is meant for.

func newTestPhones(t testing.TB) *nanpPhones {
	t.Helper()
	p, err := newNANPPhones()
	if err != nil {
		t.Fatalf("fast path unavailable with this libphonenumber: %v", err)
	}
	return p
}

// checkPhoneAgrees fails when the fast path accepts a number libphonenumber
// rejects, or gives another E.164 form; it reports whether both accepted.
func checkPhoneAgrees(t testing.TB, p *nanpPhones, raw, region string) bool {
	t.Helper()
	fast, ok := p.e164(raw, region)
	if !ok {
		return false
	}
	if !utf8.ValidString(raw) || strings.TrimSpace(raw) == "" {
		t.Fatalf("fast path accepts %q, which normalizePhone never gets", raw)
	}
	lib, code, msg := libPhone(strings.TrimSpace(raw), region)
	if code != "" {
		t.Fatalf("fast path accepts %q (region %q); libphonenumber rejects it: %s %s", raw, region, code, msg)
	}
	if lib != fast {
		t.Fatalf("%q (region %q): fast path %s, libphonenumber %s", raw, region, fast, lib)
	}
	return true
}

var phoneRegions = []string{"US", "us", " US ", "", "CA", "GB", "ZZ", "XX"}

func TestPhoneFastPathAgrees(t *testing.T) {
	p := newTestPhones(t)
	rng := rand.New(rand.NewPCG(7, 11))
	seps := []string{"", " ", "-", ".", "(", ")", "/", "  ", ") ", " (", "+"}
	accepted := 0
	for i := range 60000 {
		var digits string
		switch i % 4 {
		case 0: // +1 NXX NXX XXXX, any area code (valid or not for US)
			digits = "1" + randDigits(rng, 10)
		case 1:
			digits = randDigits(rng, 10)
		case 2:
			digits = "1" + randDigits(rng, 10)
		default:
			digits = randDigits(rng, 9+rng.IntN(4))
		}
		var b strings.Builder
		if i%4 == 0 || rng.IntN(10) == 0 {
			b.WriteString("+")
		}
		for j := range len(digits) {
			if rng.IntN(3) == 0 {
				b.WriteString(seps[rng.IntN(len(seps))])
			}
			b.WriteByte(digits[j])
		}
		if rng.IntN(8) == 0 {
			b.WriteString(seps[rng.IntN(len(seps))])
		}
		raw := b.String()
		if rng.IntN(10) == 0 {
			raw = " \t" + raw + " "
		}
		if checkPhoneAgrees(t, p, raw, phoneRegions[i%len(phoneRegions)]) {
			accepted++
		}
	}
	if accepted < 5000 { // random area codes are often unassigned
		t.Fatalf("fast path accepted only %d of 60000 mostly well-formed NANP numbers", accepted)
	}

	// The spellings it exists for.
	for _, tc := range []struct {
		raw, region string
	}{
		{"+16266633444", "US"}, {"+1 626-663-3444", "ZZ"}, {"+1 (626) 663-3444", "GB"},
		{"(626) 663-3444", "US"}, {"626.663.3444", "us"}, {"1-626-663-3444", "US"},
		{" 6266633444 ", "US"}, {"+1 415-200-0042", ""},
	} {
		if !checkPhoneAgrees(t, p, tc.raw, tc.region) {
			t.Errorf("fast path does not accept %q (region %q)", tc.raw, tc.region)
		}
	}
	// Spellings it must leave to libphonenumber (valid or not).
	for _, tc := range []struct {
		raw, region string
	}{
		{"6266633444", "CA"}, {"+44 20 7946 0958", "US"}, {"011 1 626 663 3444", "US"},
		{"++1 626 663 3444", "US"}, {"(+1) 626 663 3444", "US"}, {"+1 626 663 3444 x12", "US"},
		{"+1 626 663 3444#", "US"}, {"+1\u00a0626 663 3444", "US"}, {"+1 ６２６ 663 3444", "US"},
		{"+1 126 663 3444", "US"}, {"+1 626 663 34440", "US"}, {"+1 416 555 0123", "US"},
	} {
		if _, ok := p.e164(tc.raw, tc.region); ok {
			t.Errorf("fast path accepts %q (region %q)", tc.raw, tc.region)
		}
	}
}

func randDigits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// Every area code with a spread of exchanges: the fast path never accepts
// what libphonenumber rejects, and accepts every number libphonenumber
// places in the US.
func TestPhoneFastPathEveryAreaCode(t *testing.T) {
	p := newTestPhones(t)
	rng := rand.New(rand.NewPCG(3, 5))
	for area := 200; area < 1000; area++ {
		for ex := 0; ex < 1000; ex += 37 {
			nsn := itoa3(area) + itoa3(ex) + randDigits(rng, 4)
			fast := checkPhoneAgrees(t, p, "+1"+nsn, "US")
			checkPhoneAgrees(t, p, nsn, "US")
			checkPhoneAgrees(t, p, "1"+nsn, "US")
			num, err := phonenumbers.Parse("+1"+nsn, "US")
			if err != nil {
				t.Fatal(err)
			}
			if us := phonenumbers.IsValidNumber(num) && phonenumbers.GetRegionCodeForNumber(num) == "US"; us != fast {
				t.Fatalf("+1%s: fast path %v, valid US number %v", nsn, fast, us)
			}
		}
	}
}

func itoa3(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func TestDigitDFAMatchesRegexp(t *testing.T) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	patterns := []string{`\d{3}`, `1|12|123`, `(?:0|[2-9]\d)?`, `^5\d$`, `\b\d+\b`, `(?:)`, `NA`, `a|\d`}
	for _, m := range coll.GetMetadata() {
		switch m.GetId() {
		case "US", "CA", "GB", "DE", "IT", "BR", "AG":
			for _, d := range []*phonenumbers.PhoneNumberDesc{m.GetGeneralDesc(), m.GetFixedLine(), m.GetMobile(),
				m.GetTollFree(), m.GetPremiumRate(), m.GetPersonalNumber(), m.GetVoip()} {
				patterns = append(patterns, d.GetNationalNumberPattern())
			}
		}
	}
	for _, pat := range patterns {
		dfa, err := compileDigitDFA(pat)
		if err != nil {
			t.Fatalf("%.60q: %v", pat, err)
		}
		re := regexp.MustCompile("^(?:" + pat + ")$")
		for i := range 3000 {
			s := randDigits(rng, i%18)
			if i%2 == 1 {
				// Mostly-matching inputs: mutate a member of the language.
				if g := re.FindString(s); g != "" {
					s = g
				}
			}
			if got, want := dfa.match([]byte(s)), re.MatchString(s); got != want {
				t.Fatalf("pattern %.60q on %q: dfa %v, regexp %v", pat, s, got, want)
			}
		}
	}
}

func FuzzPhoneFastPath(f *testing.F) {
	for _, s := range []string{"+16266633444", "(626) 663-3444", "1-626-663-3444", "+1 126 663 3444",
		"+1 626 663 3444 x12", "626.663.3444", "++1 626 663 3444", " +1 (800) 555-0199 "} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(3))
	}
	p := newTestPhones(f)
	f.Fuzz(func(t *testing.T, raw string, region uint8) {
		checkPhoneAgrees(t, p, raw, phoneRegions[int(region)%len(phoneRegions)])
	})
}
