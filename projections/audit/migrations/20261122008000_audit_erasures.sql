-- Audit trail and analytics read event_outcomes. Domain events carry
-- ids of the form "<kind>:<source event id>" (contact:wh:…, board:stripe:…,
-- ntf.….email.0:…), so an event's history is found by its id or by what
-- follows the first colon of a downstream id.
CREATE INDEX event_outcomes_source ON event_outcomes ((substr(event_id, strpos(event_id, ':') + 1)));
-- Per-source analytics scan the ingest processors' outcomes by time.
CREATE INDEX event_outcomes_ingest_at ON event_outcomes (at) WHERE subject LIKE 'ingest.%';

-- `hookstream contacts forget`: one row per erasure, what was blanked where.
CREATE TABLE erasures (
    id               bigserial PRIMARY KEY,
    contact_id       text NOT NULL,
    workspace_id     text,
    reason           text,
    requested_by     text,
    -- {"contacts": 1, "leads": 3, "notifications": 4, …}: rows changed per table
    tables           jsonb NOT NULL DEFAULT '{}',
    -- source event ids whose raw request bodies the audit trail no longer shows
    event_ids        text[] NOT NULL DEFAULT '{}',
    stream_messages_deleted integer NOT NULL DEFAULT 0,
    erased_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasures_contact ON erasures (contact_id);
CREATE INDEX erasures_events ON erasures USING gin (event_ids);
