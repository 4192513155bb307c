-- Domain events a processor emits are written here in the same transaction
-- as its projection and published after commit; a crash in between is healed
-- by the redelivery (the rows are published then). Results of ingest events
-- (what ?wait answers) are kept per processor.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    processor   text NOT NULL,
    event_id    text NOT NULL,
    subject     text NOT NULL,
    msg_id      text NOT NULL,
    headers     jsonb NOT NULL DEFAULT '{}',
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_event ON outbox (processor, event_id);

CREATE TABLE results (
    event_id    text NOT NULL,
    processor   text NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, processor)
);
