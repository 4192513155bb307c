package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hookstream/hookstream/processors/contacts"
)

const scoringUsage = `scoring <show|set> --workspace W [--json]
  set --workspace W --weight phone=20 --weight email=15 … (names: phone, email,
      marketing_consent, service_interest_or_product, company, utm_source,
      utm_medium, repeat_contact)`

func runScoring(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb, args, err := splitVerb(args, scoringUsage, stdout, stderr)
	if err != nil {
		return err
	}
	var s settings
	var asJSON bool
	var workspace string
	var weights multiFlag
	fs := newFlags("scoring "+verb, scoringUsage, stderr)
	s.dbFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.StringVar(&workspace, "workspace", "", "workspace id")
	if verb == "set" {
		fs.Var(&weights, "weight", "name=points (repeatable)")
	} else if verb != "show" {
		return fmt.Errorf("unknown verb %q (show, set)", verb)
	}
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if workspace == "" {
		return errors.New("--workspace is required")
	}
	a, err := openDBOnly(ctx, s)
	if err != nil {
		return err
	}
	defer a.close()
	w, err := contacts.LoadWeights(ctx, a.pool, workspace)
	if err != nil {
		return err
	}
	if verb == "set" {
		for _, kv := range weights {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("--weight %q: want name=points", kv)
			}
			p := map[string]*int{"phone": &w.Phone, "email": &w.Email, "marketing_consent": &w.Consent,
				"service_interest_or_product": &w.Interest, "company": &w.Company, "utm_source": &w.UTMSource,
				"utm_medium": &w.UTMMedium, "repeat_contact": &w.RepeatContact}[k]
			if p == nil {
				return fmt.Errorf("unknown weight %q", k)
			}
			*p = n
		}
		if err := contacts.SaveWeights(ctx, a.pool, workspace, w); err != nil {
			return err
		}
	}
	if asJSON {
		return printJSON(stdout, w)
	}
	fmt.Fprintf(stdout, "phone=%d email=%d marketing_consent=%d service_interest_or_product=%d company=%d utm_source=%d utm_medium=%d repeat_contact=%d\n",
		w.Phone, w.Email, w.Consent, w.Interest, w.Company, w.UTMSource, w.UTMMedium, w.RepeatContact)
	return nil
}
