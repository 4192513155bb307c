-- Team notifications (the notify processor): per-workspace rules and the
-- notifications outbox. A notification row is written in the same
-- transaction as the processed-ledger row of the event that caused it, and
-- its delivery message (events.notification.<channel>) leaves through the
-- outbox, so a restart loses nothing. The row is the record that a message
-- went out: a redelivery, replay or rebuild never sends a notification whose
-- row says "sent", so a projection rebuild must keep this table.

-- Which event kinds go to which channels. A workspace without active rules
-- uses the built-in defaults (`hookstream notify rules list --workspace W`
-- shows them). Every condition that is set must hold; the channels of all
-- matching rules are combined.
CREATE TABLE notify_rules (
    id             text PRIMARY KEY,
    workspace_id   text NOT NULL,
    -- contact.created | board.assigned | payment.succeeded | payment.failed |
    -- payment.* | dispute.created | dlq | *
    event          text NOT NULL,
    channels       text[] NOT NULL,          -- live, email, slack, sms
    board          text,                     -- board name (case-insensitive)
    product        text,                     -- contact product / payment product (case-insensitive)
    min_amount     bigint,                   -- payments: amount in minor units (cents) at least this
    currency       text,                     -- payments: ISO code, lower case
    high_priority  boolean NOT NULL DEFAULT false,
    email_to       text,                     -- overrides NOTIFY_EMAIL_TO (comma-separated)
    sms_to         text,                     -- overrides NOTIFY_SMS_TO (comma-separated, E.164)
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notify_rules_workspace ON notify_rules (workspace_id) WHERE active;

CREATE TABLE notifications (
    id               bigserial PRIMARY KEY,
    msg_id           text NOT NULL UNIQUE,   -- Nats-Msg-Id of its events.notification.<channel> message
    event_id         text NOT NULL,          -- the EVENTS/DLQ message that caused it
    source_event_id  text NOT NULL,          -- the ingest event it derives from
    workspace_id     text NOT NULL,
    kind             text NOT NULL,          -- contact.created, board.assigned, payment.succeeded, …, dlq
    channel          text NOT NULL,          -- live | email | slack | sms
    recipient        text NOT NULL,          -- addresses / number / "feed" / "webhook"
    contact_id       text,
    priority         text NOT NULL DEFAULT 'normal',  -- normal | high
    title            text NOT NULL,
    body             jsonb NOT NULL,         -- the rendered notice (lines, fields)
    -- pending → sent | dead (retries exhausted or refused) | skipped
    status           text NOT NULL DEFAULT 'pending',
    attempts         integer NOT NULL DEFAULT 0,
    batch_id         text,                   -- notifications sent together share it
    sent_at          timestamptz,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notifications_source ON notifications (source_event_id);
CREATE INDEX notifications_status ON notifications (status, channel, created_at);
CREATE INDEX notifications_contact ON notifications (contact_id) WHERE contact_id IS NOT NULL;
