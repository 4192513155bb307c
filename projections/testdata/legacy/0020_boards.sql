-- Sales boards and the rules that route contacts to them.
CREATE TABLE boards (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    name          text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);

CREATE TABLE board_rules (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL,
    board_id      text NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
    priority      integer NOT NULL DEFAULT 100,
    -- [{"field":"product","op":"eq|in|contains|exists|gte","value":…}], all must hold
    conditions    jsonb NOT NULL DEFAULT '[]',
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX board_rules_workspace ON board_rules (workspace_id, priority);

CREATE TABLE board_assignments (
    id             bigserial PRIMARY KEY,
    event_id       text NOT NULL UNIQUE,   -- the contact event that was evaluated
    source_event_id text NOT NULL,
    contact_id     text NOT NULL,
    workspace_id   text NOT NULL,
    board_id       text,
    board_name     text,
    rule_id        text,
    assigned_at    timestamptz NOT NULL
);
CREATE INDEX board_assignments_contact ON board_assignments (contact_id);
