package gateway

import (
	"encoding/json"
	"errors"

	"github.com/hookstream/hookstream/internal/httperr"
	"github.com/hookstream/hookstream/lead"
)

// checkLead is checkSyntax followed by validateLead's checks, answering 400
// at once when the mapped payload is plainly invalid (unparseable, no phone
// or email, malformed values), so a sender hears about it instead of the
// event being rejected later by the contacts processor. The processor runs
// the same checks again: the stream is the source of truth.
//
// The body is parsed once: a JSON body lead.Parse accepts is valid
// UTF-8, valid JSON (lead's FuzzParse holds it to encoding/json) and an
// object, so checkSyntax — encoding/json's validator, 8% of a request's CPU —
// runs only when Parse fails (its error, if any, still comes first) or for
// forms (whose syntax check is only UTF-8). FuzzCheckLead compares the
// result with the two checks run in order.
//
// Normalize proves common North American numbers valid without
// libphonenumber (the lead package's NANP fast path), which was half of this check.
func checkLead(mt string, body []byte, mapping map[string]string, region string) error {
	vals, err := lead.Parse(mt, body)
	if err != nil || mt != ctJSON {
		if serr := checkSyntax(mt, body); serr != nil {
			return serr
		}
	}
	if err != nil {
		return parseError(err)
	}
	_, ferrs := lead.Normalize(lead.Apply(vals, lead.Mapping(mapping)), region)
	if len(ferrs) > 0 {
		return validationError("the lead is invalid", ferrs)
	}
	return nil
}

// validateForm checks a website form: required fields for its type and value
// formats. It returns the parsed values for the dedup id.
func validateForm(formType, mt string, body []byte, region string) (lead.Values, error) {
	vals, err := lead.Parse(mt, body)
	if err != nil {
		return nil, parseError(err)
	}
	_, ferrs := lead.NormalizeForm(formType, lead.Apply(vals, nil), region)
	if len(ferrs) > 0 {
		return nil, validationError("the form is invalid", ferrs)
	}
	return vals, nil
}

func parseError(err error) error {
	var pe *lead.ParseError
	if errors.As(err, &pe) {
		code := httperr.Malformed
		switch pe.Code {
		case lead.CodeNotObject, lead.CodeTooDeep, lead.CodeTooManyFields,
			lead.CodeDuplicateKey, lead.CodeKeyTooLong, lead.CodeEmptyBody:
			code = httperr.Invalid
		case lead.CodeUnsupportedMediaType:
			code = httperr.UnsupportedMedia
		}
		return &httperr.Error{Code: code, Message: pe.Msg, Details: []httperr.Detail{{Code: pe.Code, Message: pe.Msg}}}
	}
	return httperr.New(httperr.Malformed, "body could not be parsed")
}

func validationError(msg string, ferrs []lead.FieldError) error {
	e := &httperr.Error{Code: httperr.Validation, Message: msg}
	for _, f := range ferrs {
		e.Details = append(e.Details, httperr.Detail{Field: f.Field, Code: f.Code, Message: f.Message})
	}
	return e
}

// isRejection reports whether a ?wait result says the event was rejected.
func isRejection(res []byte) bool {
	var r struct {
		Success *bool `json:"success"`
	}
	return json.Unmarshal(res, &r) == nil && r.Success != nil && !*r.Success
}
