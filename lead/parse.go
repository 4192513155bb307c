package lead

import (
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hookstream/hookstream/internal/textcut"
)

// Values is the flat view of a payload: path -> scalar value as text. Paths
// are the payload's own key spellings (case kept) joined with "." for nested
// objects; array elements are at "path.N" and, when the first element is a
// scalar, also at "path". Absent and JSON null values have no entry.
type Values map[string]string

// Limits enforced by Parse and FacebookFieldData.
const (
	// MaxDepth is the deepest container nesting accepted; the top-level
	// object is depth 1.
	MaxDepth = 32
	// MaxFields is the most values (object members plus array elements,
	// containers included, at any depth) a JSON body may hold, or the most
	// key=value pairs in a form body.
	MaxFields = 1000
	// MaxPathLen is the longest flattened path (or form key) in bytes.
	MaxPathLen = 512
)

// Stable ParseError codes.
const (
	CodeEmptyBody            = "empty_body"
	CodeInvalidJSON          = "invalid_json"
	CodeNotObject            = "not_object"
	CodeInvalidUTF8          = "invalid_utf8"
	CodeTooDeep              = "too_deep"
	CodeTooManyFields        = "too_many_fields"
	CodeDuplicateKey         = "duplicate_key"
	CodeKeyTooLong           = "key_too_long"
	CodeInvalidForm          = "invalid_form"
	CodeUnsupportedMediaType = "unsupported_media_type"
)

// ParseError is the error returned by Parse and FacebookFieldData. Code is
// one of the Code* constants and is stable (safe to put in an API answer or
// a metric label); Msg is for humans; Offset is the byte offset in the body
// where the problem was found, or -1.
type ParseError struct {
	Code   string
	Msg    string
	Offset int
}

func (e *ParseError) Error() string {
	if e.Offset >= 0 {
		return "lead: " + e.Code + ": " + e.Msg + " (at byte " + strconv.Itoa(e.Offset) + ")"
	}
	return "lead: " + e.Code + ": " + e.Msg
}

func perr(code string, off int, msg string) *ParseError {
	return &ParseError{Code: code, Msg: msg, Offset: off}
}

// Parse decodes a raw request body into Values.
//
// contentType selects the decoder: application/json, text/json and any
// "+json" type are JSON; application/x-www-form-urlencoded is a form; an
// empty type, text/plain and application/octet-stream are sniffed (first
// non-blank byte '{' or '[' means JSON, anything else a form). Parameters
// such as charset are ignored: the body must be UTF-8 in every case.
// Anything else is CodeUnsupportedMediaType.
//
// JSON: the top level must be an object (CodeNotObject otherwise); nested
// objects become dotted paths; an array at P puts element i at "P.i"
// (recursively) and, when element 0 is a scalar, also at P; numbers keep
// their literal text; booleans are "true"/"false"; null is absent. A leading
// UTF-8 BOM is ignored. Rejected: invalid UTF-8 anywhere or a lone surrogate
// escape (CodeInvalidUTF8), nesting deeper than MaxDepth (CodeTooDeep), more
// than MaxFields values (CodeTooManyFields), a path longer than MaxPathLen
// (CodeKeyTooLong), a duplicate member name or two members flattening to the
// same path (CodeDuplicateKey), and anything RFC 8259 rejects
// (CodeInvalidJSON).
//
// Forms: pairs split on '&', '+' and %XX decoded (bad escapes are
// CodeInvalidForm), PHP-style keys "a[b][c]" become "a.b.c" and "a[]" is "a";
// a key given once is stored at key, a repeated key is an array (first value
// at key, all at key.0, key.1, ...). Empty keys are skipped.
//
// The returned Values never alias body.
func Parse(contentType string, body []byte) (Values, error) {
	switch kind := bodyKind(contentType, body); kind {
	case kindJSON:
		return parseJSON(body)
	case kindForm:
		return parseForm(body)
	default:
		return nil, perr(CodeUnsupportedMediaType, -1, "unsupported content type "+strconv.Quote(textcut.Ellipsis(contentType, 100)))
	}
}

const (
	kindUnsupported = iota
	kindJSON
	kindForm
)

func bodyKind(contentType string, body []byte) int {
	mt := contentType
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	mt = strings.TrimSpace(mt)
	switch {
	case strings.EqualFold(mt, "application/json"), strings.EqualFold(mt, "text/json"),
		len(mt) > 5 && strings.EqualFold(mt[len(mt)-5:], "+json"):
		return kindJSON
	case strings.EqualFold(mt, "application/x-www-form-urlencoded"):
		return kindForm
	case mt == "", strings.EqualFold(mt, "text/plain"), strings.EqualFold(mt, "application/octet-stream"):
		for _, c := range trimBOM(body) {
			if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
				continue
			}
			if c == '{' || c == '[' {
				return kindJSON
			}
			return kindForm
		}
		return kindForm
	}
	return kindUnsupported
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}

// firstInvalidUTF8 returns the offset of the first invalid UTF-8 sequence.
func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// ---- JSON ------------------------------------------------------------------

type jsonParser struct {
	b      []byte
	i      int
	off    int // bytes trimmed from the front (BOM), for error offsets
	out    Values
	fields int
	path   []byte
	// seen holds paths that exist in the document but have no entry in out
	// (containers and nulls), so that collisions with them are detected.
	seen    map[string]struct{}
	scratch []byte
}

func parseJSON(body []byte) (Values, error) {
	if !utf8.Valid(body) {
		return nil, perr(CodeInvalidUTF8, firstInvalidUTF8(body), "body is not valid UTF-8")
	}
	b := trimBOM(body)
	p := &jsonParser{b: b, off: len(body) - len(b)}
	p.skipWS()
	if p.i == len(b) {
		return nil, perr(CodeEmptyBody, -1, "empty body")
	}
	switch c := b[p.i]; {
	case c == '{':
	case c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n':
		return nil, p.err(CodeNotObject, "top-level JSON value must be an object")
	default:
		return nil, p.err(CodeInvalidJSON, "invalid character "+strconv.QuoteRune(rune(c))+" looking for a value")
	}
	p.out = make(Values, 16)
	p.path = make([]byte, 0, 64)
	if err := p.parseObject(1); err != nil {
		return nil, err
	}
	p.skipWS()
	if p.i != len(b) {
		return nil, p.err(CodeInvalidJSON, "unexpected data after the top-level object")
	}
	return p.out, nil
}

func (p *jsonParser) err(code, msg string) *ParseError {
	return perr(code, p.i+p.off, msg)
}

func (p *jsonParser) eof() *ParseError {
	return p.err(CodeInvalidJSON, "unexpected end of JSON")
}

func (p *jsonParser) skipWS() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

// markSeen records the current path as existing without a value.
func (p *jsonParser) markSeen() error {
	k := string(p.path)
	if _, dup := p.out[k]; dup {
		return p.err(CodeDuplicateKey, "duplicate key "+strconv.Quote(textcut.Ellipsis(k, 100)))
	}
	if _, dup := p.seen[k]; dup {
		return p.err(CodeDuplicateKey, "duplicate key "+strconv.Quote(textcut.Ellipsis(k, 100)))
	}
	if p.seen == nil {
		p.seen = make(map[string]struct{}, 4)
	}
	p.seen[k] = struct{}{}
	return nil
}

// set stores v at path; ownArray skips the seen-check for the array that
// path itself names (its first element is stored at its own path).
func (p *jsonParser) set(path []byte, v string, ownArray bool) error {
	k := string(path)
	_, dup := p.out[k]
	if !dup && !ownArray {
		_, dup = p.seen[k]
	}
	if dup {
		return p.err(CodeDuplicateKey, "duplicate key "+strconv.Quote(textcut.Ellipsis(k, 100)))
	}
	p.out[k] = v
	return nil
}

func (p *jsonParser) parseObject(depth int) error {
	if depth > MaxDepth {
		return p.err(CodeTooDeep, "nesting deeper than "+strconv.Itoa(MaxDepth))
	}
	if depth > 1 {
		if err := p.markSeen(); err != nil {
			return err
		}
	}
	p.i++ // '{'
	p.skipWS()
	if p.i >= len(p.b) {
		return p.eof()
	}
	if p.b[p.i] == '}' {
		p.i++
		return nil
	}
	base := len(p.path)
	for {
		if p.i >= len(p.b) {
			return p.eof()
		}
		if p.b[p.i] != '"' {
			return p.err(CodeInvalidJSON, "expected a string key")
		}
		if depth > 1 {
			p.path = append(p.path, '.')
		}
		var err error
		if p.path, err = p.appendString(p.path); err != nil {
			return err
		}
		if len(p.path) > MaxPathLen {
			return p.err(CodeKeyTooLong, "key path longer than "+strconv.Itoa(MaxPathLen)+" bytes")
		}
		p.skipWS()
		if p.i >= len(p.b) {
			return p.eof()
		}
		if p.b[p.i] != ':' {
			return p.err(CodeInvalidJSON, "expected ':' after key")
		}
		p.i++
		p.skipWS()
		if _, _, err := p.parseValue(depth); err != nil {
			return err
		}
		p.path = p.path[:base]
		p.skipWS()
		if p.i >= len(p.b) {
			return p.eof()
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.skipWS()
		case '}':
			p.i++
			return nil
		default:
			return p.err(CodeInvalidJSON, "expected ',' or '}' in object")
		}
	}
}

func (p *jsonParser) parseArray(depth int) error {
	if depth > MaxDepth {
		return p.err(CodeTooDeep, "nesting deeper than "+strconv.Itoa(MaxDepth))
	}
	if err := p.markSeen(); err != nil {
		return err
	}
	p.i++ // '['
	p.skipWS()
	if p.i >= len(p.b) {
		return p.eof()
	}
	if p.b[p.i] == ']' {
		p.i++
		return nil
	}
	base := len(p.path)
	for idx := 0; ; idx++ {
		p.path = append(p.path, '.')
		p.path = strconv.AppendInt(p.path, int64(idx), 10)
		if len(p.path) > MaxPathLen {
			return p.err(CodeKeyTooLong, "key path longer than "+strconv.Itoa(MaxPathLen)+" bytes")
		}
		v, scalar, err := p.parseValue(depth)
		if err != nil {
			return err
		}
		p.path = p.path[:base]
		if idx == 0 && scalar {
			if err := p.set(p.path, v, true); err != nil {
				return err
			}
		}
		p.skipWS()
		if p.i >= len(p.b) {
			return p.eof()
		}
		switch p.b[p.i] {
		case ',':
			p.i++
			p.skipWS()
			if p.i >= len(p.b) {
				return p.eof()
			}
		case ']':
			p.i++
			return nil
		default:
			return p.err(CodeInvalidJSON, "expected ',' or ']' in array")
		}
	}
}

// parseValue parses the value at p.i, stores it at p.path and reports it
// (scalar is false for containers and null).
func (p *jsonParser) parseValue(depth int) (v string, scalar bool, err error) {
	p.fields++
	if p.fields > MaxFields {
		return "", false, p.err(CodeTooManyFields, "more than "+strconv.Itoa(MaxFields)+" fields")
	}
	if p.i >= len(p.b) {
		return "", false, p.eof()
	}
	switch c := p.b[p.i]; c {
	case '{':
		return "", false, p.parseObject(depth + 1)
	case '[':
		return "", false, p.parseArray(depth + 1)
	case '"':
		p.scratch, err = p.appendString(p.scratch[:0])
		if err != nil {
			return "", false, err
		}
		v = string(p.scratch)
	case 't':
		if err = p.literal("true"); err != nil {
			return "", false, err
		}
		v = "true"
	case 'f':
		if err = p.literal("false"); err != nil {
			return "", false, err
		}
		v = "false"
	case 'n':
		if err = p.literal("null"); err != nil {
			return "", false, err
		}
		return "", false, p.markSeen()
	default:
		if c != '-' && (c < '0' || c > '9') {
			return "", false, p.err(CodeInvalidJSON, "invalid character "+strconv.QuoteRune(rune(c))+" looking for a value")
		}
		start := p.i
		if err = p.number(); err != nil {
			return "", false, err
		}
		v = string(p.b[start:p.i])
	}
	if err = p.set(p.path, v, false); err != nil {
		return "", false, err
	}
	return v, true, nil
}

func (p *jsonParser) literal(lit string) error {
	if len(p.b)-p.i < len(lit) || string(p.b[p.i:p.i+len(lit)]) != lit {
		return p.err(CodeInvalidJSON, "invalid literal, expected "+lit)
	}
	p.i += len(lit)
	return nil
}

func (p *jsonParser) digits() int {
	n := 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
		n++
	}
	return n
}

// number validates an RFC 8259 number at p.i.
func (p *jsonParser) number() error {
	if p.b[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.b) {
		return p.eof()
	}
	switch c := p.b[p.i]; {
	case c == '0':
		p.i++
	case c >= '1' && c <= '9':
		p.digits()
	default:
		return p.err(CodeInvalidJSON, "invalid number")
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return p.err(CodeInvalidJSON, "invalid number: no digits after '.'")
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return p.err(CodeInvalidJSON, "invalid number: no digits in exponent")
		}
	}
	return nil
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

func (p *jsonParser) hex4() (rune, error) {
	if len(p.b)-p.i < 4 {
		return 0, p.eof()
	}
	var r rune
	for k := 0; k < 4; k++ {
		h := hexVal(p.b[p.i+k])
		if h < 0 {
			return 0, p.err(CodeInvalidJSON, "invalid \\u escape")
		}
		r = r<<4 | h
	}
	p.i += 4
	return r, nil
}

// appendString decodes the JSON string at p.i (which is '"') onto dst.
// The body is already known to be valid UTF-8.
func (p *jsonParser) appendString(dst []byte) ([]byte, error) {
	p.i++ // opening quote
	for {
		// Fast path: copy a run of plain bytes.
		start := p.i
		for p.i < len(p.b) {
			c := p.b[p.i]
			if c == '"' || c == '\\' || c < 0x20 {
				break
			}
			p.i++
		}
		dst = append(dst, p.b[start:p.i]...)
		if p.i >= len(p.b) {
			return dst, p.eof()
		}
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return dst, nil
		case c < 0x20:
			return dst, p.err(CodeInvalidJSON, "control character in string")
		}
		// Backslash escape.
		p.i++
		if p.i >= len(p.b) {
			return dst, p.eof()
		}
		e := p.b[p.i]
		p.i++
		switch e {
		case '"', '\\', '/':
			dst = append(dst, e)
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, err := p.hex4()
			if err != nil {
				return dst, err
			}
			if r >= 0xD800 && r < 0xE000 {
				if r >= 0xDC00 {
					return dst, p.err(CodeInvalidUTF8, "lone low surrogate in \\u escape")
				}
				if len(p.b)-p.i < 2 || p.b[p.i] != '\\' || p.b[p.i+1] != 'u' {
					return dst, p.err(CodeInvalidUTF8, "lone high surrogate in \\u escape")
				}
				p.i += 2
				r2, err := p.hex4()
				if err != nil {
					return dst, err
				}
				if r2 < 0xDC00 || r2 >= 0xE000 {
					return dst, p.err(CodeInvalidUTF8, "high surrogate not followed by a low surrogate")
				}
				r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return dst, p.err(CodeInvalidJSON, "invalid escape character "+strconv.QuoteRune(rune(e)))
		}
	}
}

// ---- forms -----------------------------------------------------------------

func parseForm(body []byte) (Values, error) {
	if !utf8.Valid(body) {
		return nil, perr(CodeInvalidUTF8, firstInvalidUTF8(body), "body is not valid UTF-8")
	}
	s := string(trimBOM(body))
	if strings.TrimSpace(s) == "" {
		return nil, perr(CodeEmptyBody, -1, "empty body")
	}
	out := make(Values, 16)
	var (
		gen    map[string]struct{} // paths generated for repeated keys
		counts map[string]int      // repeated key -> values seen
		pairs  int
	)
	insertGen := func(path, v string, off int) error {
		if _, dup := out[path]; dup {
			return perr(CodeDuplicateKey, off, "duplicate key "+strconv.Quote(textcut.Ellipsis(path, 100)))
		}
		if gen == nil {
			gen = make(map[string]struct{}, 4)
		}
		gen[path] = struct{}{}
		out[path] = v
		return nil
	}
	off := 0
	for len(s) > 0 {
		seg := s
		next := len(s)
		if i := strings.IndexByte(s, '&'); i >= 0 {
			seg, next = s[:i], i+1
		}
		segOff := off
		s = s[next:]
		off += next
		if seg == "" {
			continue
		}
		pairs++
		if pairs > MaxFields {
			return nil, perr(CodeTooManyFields, segOff, "more than "+strconv.Itoa(MaxFields)+" fields")
		}
		rawK, rawV := seg, ""
		if i := strings.IndexByte(seg, '='); i >= 0 {
			rawK, rawV = seg[:i], seg[i+1:]
		}
		k, err := url.QueryUnescape(rawK)
		if err != nil {
			return nil, perr(CodeInvalidForm, segOff, "invalid %-escape in key")
		}
		v, err := url.QueryUnescape(rawV)
		if err != nil {
			return nil, perr(CodeInvalidForm, segOff, "invalid %-escape in value")
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, perr(CodeInvalidUTF8, segOff, "decoded field is not valid UTF-8")
		}
		k = bracketPath(k)
		if k == "" {
			continue
		}
		if len(k) > MaxPathLen {
			return nil, perr(CodeKeyTooLong, segOff, "key longer than "+strconv.Itoa(MaxPathLen)+" bytes")
		}
		if _, isGen := gen[k]; isGen {
			return nil, perr(CodeDuplicateKey, segOff, "duplicate key "+strconv.Quote(textcut.Ellipsis(k, 100)))
		}
		first, repeated := out[k]
		if !repeated {
			out[k] = v
			continue
		}
		n := counts[k]
		if n == 0 {
			if counts == nil {
				counts = make(map[string]int, 2)
			}
			if err := insertGen(k+".0", first, segOff); err != nil {
				return nil, err
			}
			n = 1
		}
		if err := insertGen(k+"."+strconv.Itoa(n), v, segOff); err != nil {
			return nil, err
		}
		counts[k] = n + 1
	}
	return out, nil
}

// bracketPath rewrites PHP/Rails-style keys: "a[b][c]" -> "a.b.c",
// "a[]" -> "a". Malformed bracket syntax is left as is.
func bracketPath(k string) string {
	i := strings.IndexByte(k, '[')
	if i <= 0 || k[len(k)-1] != ']' {
		return k
	}
	var b strings.Builder
	b.Grow(len(k))
	b.WriteString(k[:i])
	rest := k[i:]
	for len(rest) > 0 {
		if rest[0] != '[' {
			return k
		}
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return k
		}
		seg := rest[1:j]
		if strings.IndexByte(seg, '[') >= 0 {
			return k
		}
		if seg != "" {
			b.WriteByte('.')
			b.WriteString(seg)
		}
		rest = rest[j+1:]
	}
	return b.String()
}
