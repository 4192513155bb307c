-- GA4 Measurement Protocol events (the ga4 processor): one row per domain
-- event and GA4 event name. The row is the record that the event reached
-- GA4 — a redelivery, replay or rebuild never sends an event whose row says
-- "sent" — so a projection rebuild must keep this table.
CREATE TABLE ga4_events (
    id               bigserial PRIMARY KEY,
    event_id         text NOT NULL,          -- the EVENTS message id (Nats-Msg-Id)
    name             text NOT NULL,          -- generate_lead | purchase | payment_failed
    source_event_id  text,                   -- the ingest event it derives from
    workspace_id     text,
    client_id        text NOT NULL,          -- derived from the contact/lead id, never personal
    transaction_id   text,                   -- purchase: one per transaction
    payload          jsonb NOT NULL,         -- the body sent (or refused); no API secret
    -- sent | validated (debug mode: validation server only) | invalid (never reached GA4)
    status           text NOT NULL,
    debug            boolean NOT NULL DEFAULT false,
    -- {"checked_by":"local"|"ga4_validation_server","valid":…,"problems"|"validationMessages":[…]}
    validation       jsonb,
    http_status      integer,
    attempts         integer NOT NULL DEFAULT 1,
    sent_at          timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, name)
);
CREATE INDEX ga4_events_transaction ON ga4_events (transaction_id) WHERE transaction_id IS NOT NULL;
CREATE INDEX ga4_events_source ON ga4_events (source_event_id);
