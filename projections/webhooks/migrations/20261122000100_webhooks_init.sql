-- Webhook configuration (written by operators: `hookstream webhooks …`).

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
