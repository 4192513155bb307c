-- The crm processor's record of what reached the CRM: one row per (kind,
-- source event). A row that says synced is never sent again — a replay or
-- rebuild of the streams skips it — so keep this table when dropping
-- projections for a rebuild (it records external effects, not derived state).
CREATE TABLE crm_sync (
    id               bigserial PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('lead', 'purchase')),
    source_event_id  text NOT NULL,          -- the ingest event; also the Idempotency-Key sent
    workspace_id     text,
    lead_id          text,                   -- leads.id
    contact_id       text,
    transaction_id   text,                   -- purchases: the PaymentIntent id
    remote_id        text,                   -- the CRM's id from the response's "id"
    status           text NOT NULL CHECK (status IN ('synced', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,  -- HTTP calls made (not calls refused by an open circuit)
    last_status      integer,                -- HTTP status of the last call (null: network error)
    last_error       text,
    first_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz NOT NULL DEFAULT now(),
    synced_at        timestamptz,
    UNIQUE (kind, source_event_id)
);
CREATE INDEX crm_sync_lead ON crm_sync (lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX crm_sync_status ON crm_sync (status, last_attempt_at);
