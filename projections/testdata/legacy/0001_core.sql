-- Core tables: webhook configuration, the processed ledger that makes every
-- processor's effect exactly-once, and the outcome log behind the audit trail
-- and analytics.

CREATE TABLE webhooks (
    id             text PRIMARY KEY,
    workspace_id   text NOT NULL,
    name           text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    auth_scheme    text NOT NULL,
    -- [{"value": "...", "expires_at": null | RFC 3339}]: several entries while a
    -- rotated secret's grace period runs.
    secrets        jsonb NOT NULL DEFAULT '[]',
    auth_header    text NOT NULL DEFAULT '',
    auth_encoding  text NOT NULL DEFAULT '',
    field_mapping  jsonb,
    rate_limit     double precision NOT NULL DEFAULT 0,  -- requests/s, 0 = gateway default
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_workspace ON webhooks (workspace_id);

-- Gateways cache webhook rows; a change tells them at once.
CREATE FUNCTION hookstream_webhooks_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('hookstream_webhooks', COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER webhooks_notify AFTER INSERT OR UPDATE OR DELETE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION hookstream_webhooks_notify();

-- One row per (processor, source event id), written in the same transaction as
-- the processor's projection: a redelivered or replayed event is a no-op.
CREATE TABLE processed (
    processor     text NOT NULL,
    event_id      text NOT NULL,
    stream_seq    bigint,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (processor, event_id)
);

-- Every attempt's outcome (ok, rejected, retry, dead, skipped, unhandled).
CREATE TABLE event_outcomes (
    id            bigserial PRIMARY KEY,
    processor     text NOT NULL,
    event_id      text NOT NULL,
    webhook_id    text,
    workspace_id  text,
    subject       text NOT NULL DEFAULT '',
    stream_seq    bigint,
    status        text NOT NULL,
    attempts      integer NOT NULL DEFAULT 1,
    duration_ms   double precision NOT NULL DEFAULT 0,
    received_at   timestamptz,
    error         text,
    detail        jsonb,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_outcomes_event ON event_outcomes (event_id);
CREATE INDEX event_outcomes_webhook_at ON event_outcomes (webhook_id, at);
CREATE INDEX event_outcomes_processor_at ON event_outcomes (processor, at);
