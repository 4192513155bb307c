// Package lead turns a raw inbound payload (lead-vendor webhook, website
// form post, Facebook Lead Ads Graph answer) into a validated contact
// candidate. It is pure: no database, no NATS, no clock, no globals that
// change. The gateway checks leads with it before publishing and the contacts
// processor maps them with it, so it belongs to neither. It is written for
// hostile input: every function here returns an error or a list of field
// errors instead of panicking, whatever the bytes.
//
// The pipeline is
//
//	v, err := lead.Parse(contentType, body)        // or FacebookFieldData(body)
//	f := lead.Apply(v, webhookMapping)             // nil mapping = default names
//	f, fieldErrs := lead.Normalize(f, "US")
//
// and, for the website forms, NormalizeForm (Normalize + ValidateForm with
// per-field details suitable for a 400 answer).
//
// # Decisions
//
// Duplicate keys. A JSON body must be I-JSON (RFC 7493): member names unique
// within an object, no lone UTF-16 surrogates in \u escapes. A duplicate key
// is rejected (CodeDuplicateKey) rather than resolved "last wins": two
// "email" members in one signed body are either a bug or an attempt to make
// two parsers see two different contacts. The same code is returned when two
// different spellings flatten to one path ({"a":{"b":1},"a.b":2}), so every
// path in Values has exactly one source. In form bodies a repeated key is the
// normal encoding of a multi-value field and is treated as an array.
//
// Non-ASCII digits. Phone numbers written with non-ASCII digits (Arabic-Indic
// "٦٢٦…", fullwidth "６２６…", …) are rejected with CodeInvalidPhone.
// libphonenumber would silently fold them to ASCII, but such input from a
// lead vendor is far more often a mangled or spoofed value than a real
// number, and a wrong phone merges two people (phone is an identity key for
// duplicate prevention). Letters (vanity numbers, "ext. 12") are rejected for
// the same reason: the candidate is never guessed.
//
// Verbatim storage. Apart from trimming, collapsing whitespace inside names,
// lower-casing emails and formatting phones as E.164, values are kept exactly
// as received: "<script>" or "'; DROP TABLE" in a name is data, and escaping
// is the renderer's job. Only what Postgres text cannot hold (NUL, invalid
// UTF-8) is refused.
package lead
