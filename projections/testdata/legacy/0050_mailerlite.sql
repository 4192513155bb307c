-- MailerLite (the mailerlite processor).
--
-- mailerlite_subscribers projects what MailerLite holds for each address of a
-- workspace: the subscriber id, the groups we put it in, and its status —
-- "active" after our upsert, "unsubscribed" / "bounced" / "junk" after
-- MailerLite's webhooks say so.
CREATE TABLE mailerlite_subscribers (
    workspace_id   text NOT NULL,
    email          text NOT NULL,          -- lower-cased
    subscriber_id  text,                   -- MailerLite's id (data.id)
    groups         text[] NOT NULL DEFAULT '{}',
    status         text NOT NULL,          -- active | unconfirmed | unsubscribed | bounced | junk
    status_at      timestamptz,            -- time of the source event that set the status
    request_hash   text,                   -- the last upsert's body, to skip unchanged re-sends
    synced_at      timestamptz,            -- last successful API call
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, email)
);
CREATE INDEX mailerlite_subscribers_id ON mailerlite_subscribers (subscriber_id);

-- One row per source event an API call was made for: a redelivery, replay or
-- rebuild never calls MailerLite again for an event found here, so a
-- projection rebuild must keep this table.
CREATE TABLE mailerlite_syncs (
    event_id         text PRIMARY KEY,     -- the EVENTS message id (Nats-Msg-Id)
    source_event_id  text,                 -- the ingest event it derives from
    kind             text NOT NULL,        -- subscribe | customer_group
    workspace_id     text NOT NULL,
    email            text NOT NULL,
    subscriber_id    text,
    group_ids        text[] NOT NULL DEFAULT '{}',
    http_status      integer,
    synced_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mailerlite_syncs_email ON mailerlite_syncs (workspace_id, email);
