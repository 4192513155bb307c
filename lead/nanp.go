package lead

import (
	"errors"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
)

// libphonenumber's check (Parse, IsValidNumber, Format) was the largest single
// cost of a lead, in the gateway's check and in the contacts processor alike
// (about half of the gateway handler's CPU): Parse runs a dozen regular
// expressions (the extension pattern alone is a third of it), and
// IsValidNumber rebuilds and runs each number-type pattern twice per NANP
// region it tries. The fast path below answers "certainly valid" for the
// common North American spellings without calling it, and only when it can
// prove libphonenumber would say the same (with the same E.164 form);
// everything else, and every rejection, still goes through libphonenumber.
// TestPhoneFastPathAgrees and FuzzPhoneFastPath check it against
// libphonenumber.

// nanp is the fast path, built once from libphonenumber's metadata (an
// immutable table); nil when the metadata lacks the properties it relies on.
var nanp = sync.OnceValue(func() *nanpPhones {
	p, err := newNANPPhones()
	if err != nil {
		return nil
	}
	return p
})

// nanpPhones decides validity for the plain NANP spellings:
//
//	+1 NXX NXX XXXX (any default region)
//	NXX NXX XXXX or 1 NXX NXX XXXX (default region US)
//
// with ASCII digits and the separators " -.()/" only, where N is 2-9.
// For these, libphonenumber's Parse yields country code 1 and the ten digits
// as the national number (no extension, no national prefix stripped), and
// IsValidNumber is true whenever the number is valid for US: US is the first
// region tried for +1 and has no leading-digits pattern. Numbers valid only
// elsewhere in the plan (Canada, the Caribbean) are left to libphonenumber.
type nanpPhones struct {
	general *digitDFA // US general description (the number's shape)
	typed   *digitDFA // any US number type a 10-digit number can have
}

const nanpDigits = 10

// newNANPPhones builds the fast path from libphonenumber's own US metadata,
// compiled to DFAs over digits. It returns an error when the metadata does
// not have the properties the reasoning above relies on (a future
// libphonenumber could change them): the caller then runs without it.
func newNANPPhones() (*nanpPhones, error) {
	coll, err := phonenumbers.MetadataCollection()
	if err != nil {
		return nil, err
	}
	var md *phonenumbers.PhoneMetadata
	for _, m := range coll.GetMetadata() {
		if m.GetId() == "US" {
			md = m
			break
		}
	}
	switch {
	case md == nil:
		return nil, errors.New("no US metadata")
	case phonenumbers.GetRegionCodeForCountryCode(1) != "US" || md.GetCountryCode() != 1:
		return nil, errors.New("US is not the main region of +1")
	case md.GetLeadingDigits() != "":
		return nil, errors.New("US metadata has leading digits")
	case md.GetNationalPrefixForParsing() != "1" || md.GetNationalPrefixTransformRule() != "":
		return nil, errors.New("US national prefix for parsing is not \"1\"")
	case md.GetInternationalPrefix() != "011":
		return nil, errors.New("US international prefix is not 011")
	}
	gen := md.GetGeneralDesc()
	if !slices.Contains(gen.GetPossibleLength(), nanpDigits) {
		return nil, errors.New("10 digits is not a possible US length")
	}
	// getNumberTypeHelper: a number is valid when it matches the general
	// description and then any type (mobile only when its pattern differs
	// from fixed line's). A type whose possible lengths exclude 10 cannot
	// match a 10-digit number.
	descs := []*phonenumbers.PhoneNumberDesc{md.GetPremiumRate(), md.GetTollFree(), md.GetSharedCost(),
		md.GetVoip(), md.GetPersonalNumber(), md.GetPager(), md.GetUan(), md.GetVoicemail(), md.GetFixedLine()}
	if !md.GetSameMobileAndFixedLinePattern() {
		descs = append(descs, md.GetMobile())
	}
	var alts []string
	for _, d := range descs {
		if pl := d.GetPossibleLength(); len(pl) > 0 && !slices.Contains(pl, nanpDigits) {
			continue
		}
		alts = append(alts, "(?:"+d.GetNationalNumberPattern()+")")
	}
	if len(alts) == 0 {
		return nil, errors.New("no US number type")
	}
	p := &nanpPhones{}
	if p.general, err = compileDigitDFA(gen.GetNationalNumberPattern()); err != nil {
		return nil, err
	}
	if p.typed, err = compileDigitDFA(strings.Join(alts, "|")); err != nil {
		return nil, err
	}
	return p, nil
}

// e164 returns raw's E.164 form when libphonenumber is sure to accept it
// with the default region. false means "not known": the caller runs
// libphonenumber.
func (p *nanpPhones) e164(raw, region string) (string, bool) {
	if p == nil {
		return "", false
	}
	s := strings.TrimSpace(raw)
	if s == "" || len(s) > 64 {
		return "", false
	}
	plus := s[0] == '+'
	if plus {
		s = s[1:]
	}
	var d [nanpDigits + 1]byte
	n := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if n == len(d) {
				return "", false
			}
			d[n] = c
			n++
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' || c == '/':
		default:
			return "", false
		}
	}
	var nsn []byte
	switch {
	case plus && n == 11 && d[0] == '1':
		nsn = d[1:11]
	case !plus && usRegion(region) && n == 10:
		nsn = d[:10]
	case !plus && usRegion(region) && n == 11 && d[0] == '1':
		// Without '+', libphonenumber strips the leading 1 only when the
		// eleven digits do not fit the US general pattern and the ten do.
		if p.general.match(d[:11]) {
			return "", false
		}
		nsn = d[1:11]
	default:
		return "", false
	}
	if nsn[0] < '2' {
		// A leading 0 or 1 would be treated as a national prefix, leading
		// zero or short number: leave it to libphonenumber.
		return "", false
	}
	if !p.general.match(nsn) || !p.typed.match(nsn) {
		return "", false
	}
	return "+1" + string(nsn), true
}

// usRegion is this package's reading of the default region (trimmed, upper-cased).
func usRegion(region string) bool {
	return strings.EqualFold(strings.TrimSpace(region), "US")
}

// digitDFA is a regular expression compiled to a deterministic automaton over
// ASCII digits, for full matches: it answers what
// regexp.MustCompile("^(?:"+pattern+")$").Match does for inputs made of
// digits, in one table lookup per digit and without allocating.
// libphonenumber's patterns describe finite sets of digit strings, so the
// automaton is small (a few thousand states for the US fixed-line pattern).
type digitDFA struct {
	next   [][10]int32 // state -> digit -> state; -1: no match possible
	accept []bool      // state matches when the input ends there
}

const maxDFAStates = 1 << 16

func (d *digitDFA) match(s []byte) bool {
	st := int32(0)
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
		if st = d.next[st][c-'0']; st < 0 {
			return false
		}
	}
	return d.accept[st]
}

// compileDigitDFA builds the automaton by subset construction over the
// program regexp itself compiles (same parser, flags and simplification), so
// the two agree on what the pattern means.
func compileDigitDFA(pattern string) (*digitDFA, error) {
	re, err := syntax.Parse("^(?:"+pattern+")$", syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	// Empty-width context: only whether we are at the start and at the end
	// of the input matters, since every character is a digit.
	ctx := func(start, end bool) syntax.EmptyOp {
		r1, r2 := rune('0'), rune('0')
		if start {
			r1 = -1
		}
		if end {
			r2 = -1
		}
		return syntax.EmptyOpContext(r1, r2)
	}
	// closure follows the empty transitions from kernel under the given
	// context and returns the consuming and matching instructions reached.
	closure := func(kernel []uint32, op syntax.EmptyOp) ([]uint32, error) {
		seen := make(map[uint32]bool, len(kernel)*2)
		var out []uint32
		stack := slices.Clone(kernel)
		for len(stack) > 0 {
			pc := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[pc] {
				continue
			}
			seen[pc] = true
			in := &prog.Inst[pc]
			switch in.Op {
			case syntax.InstAlt, syntax.InstAltMatch:
				stack = append(stack, in.Out, in.Arg)
			case syntax.InstCapture, syntax.InstNop:
				stack = append(stack, in.Out)
			case syntax.InstEmptyWidth:
				if syntax.EmptyOp(in.Arg)&^op == 0 {
					stack = append(stack, in.Out)
				}
			case syntax.InstFail:
			case syntax.InstMatch, syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
				out = append(out, pc)
			default:
				return nil, errors.New("unsupported instruction " + strconv.Itoa(int(in.Op)))
			}
		}
		return out, nil
	}
	type state struct {
		kernel []uint32
		start  bool
	}
	d := &digitDFA{}
	states := []state{{kernel: []uint32{uint32(prog.Start)}, start: true}}
	ids := map[string]int32{}
	key := func(k []uint32) string {
		b := make([]byte, 0, len(k)*4)
		for _, pc := range k {
			b = append(b, byte(pc), byte(pc>>8), byte(pc>>16), byte(pc>>24))
		}
		return string(b)
	}
	for i := 0; i < len(states); i++ {
		st := states[i]
		atEnd, err := closure(st.kernel, ctx(st.start, true))
		if err != nil {
			return nil, err
		}
		accept := false
		for _, pc := range atEnd {
			if prog.Inst[pc].Op == syntax.InstMatch {
				accept = true
			}
		}
		mid, err := closure(st.kernel, ctx(st.start, false))
		if err != nil {
			return nil, err
		}
		var row [10]int32
		for digit := range 10 {
			var next []uint32
			for _, pc := range mid {
				in := &prog.Inst[pc]
				if in.Op != syntax.InstMatch && in.MatchRune(rune('0'+digit)) {
					next = append(next, in.Out)
				}
			}
			if len(next) == 0 {
				row[digit] = -1
				continue
			}
			slices.Sort(next)
			next = slices.Compact(next)
			k := key(next)
			id, ok := ids[k]
			if !ok {
				if len(states) >= maxDFAStates {
					return nil, errors.New("pattern too large for a digit DFA")
				}
				id = int32(len(states))
				ids[k] = id
				states = append(states, state{kernel: next})
			}
			row[digit] = id
		}
		d.next = append(d.next, row)
		d.accept = append(d.accept, accept)
	}
	return d, nil
}
