package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hookstream/hookstream/gateway/verify"
	"github.com/hookstream/hookstream/lead"
	webhooksdb "github.com/hookstream/hookstream/projections/webhooks"
)

// dbFlags are the flags of verbs that only need Postgres.
func (s *settings) dbFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.dataDir, "data-dir", "./data", "data dir of the serve whose private Postgres to use")
	fs.StringVar(&s.databaseURL, "database-url", "", "Postgres connection string; empty uses the private cluster under --data-dir")
	fs.StringVar(&s.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&s.logLevel, "log-level", "warn", "log level")
}

// openDBOnly connects to Postgres for a CLI verb.
func openDBOnly(ctx context.Context, s settings) (*app, error) {
	a, err := newApp(s)
	if err != nil {
		return nil, err
	}
	if err := a.openDB(ctx); err != nil {
		a.close()
		return nil, err
	}
	return a, nil
}

const webhooksUsage = `webhooks <create|list|show|disable|enable|rotate-secret> [flags]

  create --workspace W --name N --auth standard|hmac|token|basic|none [--secret S]
         [--hmac-header H] [--encoding hex|base64] [--token-header H]
         [--mapping FILE] [--rate-limit N/s] [--json]
  list [--workspace W] [--json]
  show ID [--show-secrets] [--json]
  disable ID | enable ID [--json]
  rotate-secret ID [--secret S] [--grace 24h] [--json]`

func runWebhooks(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb, args, err := splitVerb(args, webhooksUsage, stdout, stderr)
	if err != nil {
		return err
	}
	var s settings
	var asJSON, showSecrets bool
	var workspace, name, auth, secret, hmacHeader, encoding, tokenHeader, mappingFile, rateLimit string
	var grace time.Duration
	fs := newFlags("webhooks "+verb, webhooksUsage, stderr)
	s.dbFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	switch verb {
	case "create":
		fs.StringVar(&workspace, "workspace", "", "workspace id (free-form, e.g. 15213)")
		fs.StringVar(&name, "name", "", "a name for people")
		fs.StringVar(&auth, "auth", "standard", "verification scheme: standard, hmac, token, basic, none")
		fs.StringVar(&secret, "secret", "", "secret (standard/hmac), token (token) or user:pass (basic); generated when empty")
		fs.StringVar(&hmacHeader, "hmac-header", "", "hmac: header holding the signature (default X-Signature)")
		fs.StringVar(&encoding, "encoding", "", "hmac: hex (default) or base64")
		fs.StringVar(&tokenHeader, "token-header", "", "token: header holding the bare token (default Authorization: Bearer)")
		fs.StringVar(&mappingFile, "mapping", "", "JSON file mapping input field paths to contact fields")
		fs.StringVar(&rateLimit, "rate-limit", "", "requests per second for this webhook, e.g. 50/s (default: gateway's)")
	case "list":
		fs.StringVar(&workspace, "workspace", "", "only this workspace")
	case "show":
		fs.BoolVar(&showSecrets, "show-secrets", false, "include secret values")
	case "rotate-secret":
		fs.StringVar(&secret, "secret", "", "the new secret; generated when empty")
		fs.DurationVar(&grace, "grace", 24*time.Hour, "how long the previous secrets stay valid")
	case "disable", "enable":
	default:
		fmt.Fprintf(stderr, "hookstream webhooks: unknown verb %q\nUsage: hookstream %s\n", verb, webhooksUsage)
		return errUsage
	}
	id, err := parseWithID(fs, args, stdout)
	if err != nil {
		return err
	}
	needsID := verb != "create" && verb != "list"
	if needsID && id == "" {
		return errors.New("webhook id required")
	}
	var wh *webhooksdb.Webhook
	if verb == "create" {
		var err error
		if wh, err = webhookFromFlags(workspace, name, auth, secret, hmacHeader, encoding, tokenHeader, mappingFile, rateLimit); err != nil {
			return err
		}
		showSecrets = true // the operator needs the generated secret once
	}
	a, err := openDBOnly(ctx, s)
	if err != nil {
		return err
	}
	defer a.close()
	store := &webhooksdb.Webhooks{DB: a.pool}
	var out []*webhooksdb.Webhook
	switch verb {
	case "create":
		w, err := store.Create(ctx, wh)
		if err != nil {
			return err
		}
		out = []*webhooksdb.Webhook{w}
	case "list":
		if out, err = store.List(ctx, workspace); err != nil {
			return err
		}
	case "show":
		w, err := store.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("webhook %s: %w", id, err)
		}
		out = []*webhooksdb.Webhook{w}
	case "disable", "enable":
		w, err := store.SetActive(ctx, id, verb == "enable")
		if err != nil {
			return fmt.Errorf("webhook %s: %w", id, err)
		}
		out = []*webhooksdb.Webhook{w}
	case "rotate-secret":
		if secret != "" {
			if err := checkSecret(id, secret, store, ctx); err != nil {
				return err
			}
		}
		w, err := store.RotateSecret(ctx, id, secret, grace, time.Now())
		if err != nil {
			return fmt.Errorf("webhook %s: %w", id, err)
		}
		out = []*webhooksdb.Webhook{w}
		showSecrets = true
	}
	if !showSecrets {
		for _, w := range out {
			w.Secrets = redactSecrets(w.Secrets)
		}
	}
	if asJSON {
		if verb == "list" {
			if out == nil {
				out = []*webhooksdb.Webhook{}
			}
			return printJSON(stdout, out)
		}
		return printJSON(stdout, out[0])
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWORKSPACE\tNAME\tAUTH\tACTIVE\tSECRETS")
	for _, w := range out {
		secrets := strconv.Itoa(len(w.Secrets))
		if showSecrets && len(w.Secrets) > 0 {
			secrets = w.Secrets[0].Value
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", w.ID, w.WorkspaceID, w.Name, w.AuthScheme, w.Active, secrets)
	}
	return tw.Flush()
}

func redactSecrets(ss []webhooksdb.Secret) []webhooksdb.Secret {
	out := make([]webhooksdb.Secret, len(ss))
	for i, s := range ss {
		out[i] = webhooksdb.Secret{Value: "<redacted>", ExpiresAt: s.ExpiresAt}
	}
	return out
}

func checkSecret(id, secret string, store *webhooksdb.Webhooks, ctx context.Context) error {
	w, err := store.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", id, err)
	}
	return verify.Config{Scheme: verify.Scheme(w.AuthScheme), Secrets: []string{secret},
		Header: w.AuthHeader, Encoding: w.AuthEncoding}.Validate()
}

func webhookFromFlags(workspace, name, auth, secret, hmacHeader, encoding, tokenHeader, mappingFile, rateLimit string) (*webhooksdb.Webhook, error) {
	if workspace == "" || name == "" {
		return nil, errors.New("--workspace and --name are required")
	}
	w := &webhooksdb.Webhook{WorkspaceID: workspace, Name: name, AuthScheme: auth, AuthEncoding: encoding}
	switch auth {
	case "hmac":
		w.AuthHeader = hmacHeader
	case "token":
		w.AuthHeader = tokenHeader
	}
	if secret == "" {
		secret = webhooksdb.GenerateSecret(auth)
	}
	if secret != "" {
		w.Secrets = []webhooksdb.Secret{{Value: secret}}
	}
	if auth == "basic" && secret == "" {
		return nil, errors.New("--secret user:pass is required for basic")
	}
	vals := make([]string, 0, 1)
	if secret != "" {
		vals = append(vals, secret)
	}
	if err := (verify.Config{Scheme: verify.Scheme(auth), Secrets: vals, Header: w.AuthHeader, Encoding: encoding}).Validate(); err != nil {
		return nil, err
	}
	if mappingFile != "" {
		b, err := os.ReadFile(mappingFile)
		if err != nil {
			return nil, err
		}
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("--mapping %s: %w", mappingFile, err)
		}
		if err := lead.Mapping(m).Validate(); err != nil {
			return nil, fmt.Errorf("--mapping %s: %w", mappingFile, err)
		}
		w.FieldMapping = m
	}
	if rateLimit != "" {
		v, err := strconv.ParseFloat(strings.TrimSuffix(rateLimit, "/s"), 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("--rate-limit %q: want N/s with N > 0", rateLimit)
		}
		w.RateLimit = v
	}
	return w, nil
}
