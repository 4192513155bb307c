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
