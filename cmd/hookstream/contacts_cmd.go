package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"

	"github.com/hookstream/hookstream/ops/erasure"
)

const contactsUsage = `contacts forget CONTACT_ID [--reason R] [--purge-streams] [--json]

  Removes the contact's personal data from the projections (contacts, leads, payments,
  MailerLite subscribers, notifications, …: the columns are blanked and contacts.erased_at
  is set) and records the erasure in the erasures table. The audit trail stops showing
  the raw requests of the contact's events. --purge-streams also deletes those requests
  from INGEST, their domain events from EVENTS and their dead letters from DLQ (needs
  the running pipeline's NATS: --nats-url).`

func runContacts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	verb, args, err := splitVerb(args, contactsUsage, stdout, stderr)
	if err != nil {
		return err
	}
	if verb != "forget" {
		fmt.Fprintf(stderr, "hookstream contacts: unknown verb %q\nUsage: hookstream %s\n", verb, contactsUsage)
		return errUsage
	}
	var s settings
	var asJSON, purge bool
	var reason string
	fs := newFlags("contacts forget", contactsUsage, stderr)
	s.dbFlags(fs)
	s.natsCLIFlags(fs)
	fs.BoolVar(&asJSON, "json", false, "print JSON")
	fs.BoolVar(&purge, "purge-streams", false, "also delete the contact's messages from INGEST, EVENTS and DLQ")
	fs.StringVar(&reason, "reason", "", "why (kept with the erasure record)")
	id, err := parseWithID(fs, args, stdout)
	if err != nil {
		return err
	}
	if id == "" {
		return errors.New("contact id required (hookstream contacts forget CONTACT_ID)")
	}
	a, err := openDBOnly(ctx, s)
	if err != nil {
		return err
	}
	defer a.close()
	if purge {
		if err := a.connectNATS(ctx, "hookstream contacts"); err != nil {
			return err
		}
	}
	by := "cli"
	if u, err := user.Current(); err == nil {
		by = "cli:" + u.Username
	} else if n := os.Getenv("USER"); n != "" {
		by = "cli:" + n
	}
	e, err := erasure.Forget(ctx, a.pool, a.js, id, erasure.ForgetOptions{Reason: reason, RequestedBy: by, PurgeStreams: purge})
	if errors.Is(err, erasure.ErrNotFound) {
		return fmt.Errorf("no contact %q", id)
	}
	if err != nil && e == nil {
		return err
	}
	if asJSON {
		if perr := printJSON(stdout, e); perr != nil {
			return perr
		}
		return err
	}
	tables := make([]string, 0, len(e.Tables))
	for t, n := range e.Tables {
		tables = append(tables, fmt.Sprintf("%s=%d", t, n))
	}
	sort.Strings(tables)
	fmt.Fprintf(stdout, "erased contact %s (erasure %d): %s\n", e.ContactID, e.ID, strings.Join(tables, " "))
	fmt.Fprintf(stdout, "events: %s\n", strings.Join(e.EventIDs, " "))
	if purge {
		fmt.Fprintf(stdout, "stream messages deleted: %d\n", e.StreamMessagesDeleted)
	} else if e.Note != "" {
		fmt.Fprintln(stdout, "note: "+e.Note)
	}
	return err
}
