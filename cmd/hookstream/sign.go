package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nats-io/nuid"

	"github.com/hookstream/hookstream/gateway/verify"
)

// runSign prints the Standard Webhooks headers for a body, so operators and
// the README can post correctly signed test events with curl.
func runSign(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var secret, file, id string
	var asJSON bool
	fs := newFlags("sign", "sign --secret whsec_… (--file BODY.json | --data '{…}') [--id ID] [--json]", stderr)
	fs.StringVar(&secret, "secret", "", "the webhook's Standard Webhooks secret")
	fs.StringVar(&file, "file", "", "file holding the exact body to send")
	data := fs.String("data", "", "the exact body to send")
	fs.StringVar(&id, "id", "", "webhook-id (generated when empty)")
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	if err := parse(fs, args, stdout); err != nil {
		return err
	}
	if secret == "" {
		return errors.New("--secret is required")
	}
	body := []byte(*data)
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		body = b
	}
	if len(body) == 0 {
		return errors.New("--file or --data is required")
	}
	if id == "" {
		id = "msg_" + nuid.Next()
	}
	ts := time.Now()
	sig := verify.SignStandard(secret, id, ts, body)
	if sig == "" {
		return errors.New("secret is not a valid Standard Webhooks secret")
	}
	if asJSON {
		return printJSON(stdout, map[string]string{"webhook-id": id, "webhook-timestamp": fmt.Sprint(ts.Unix()), "webhook-signature": sig})
	}
	fmt.Fprintf(stdout, "-H 'webhook-id: %s' -H 'webhook-timestamp: %d' -H 'webhook-signature: %s'\n", id, ts.Unix(), sig)
	return nil
}
