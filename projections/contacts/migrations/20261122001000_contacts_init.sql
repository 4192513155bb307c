-- Contacts and leads (the contacts processor), lead scoring weights, and the
-- Facebook leads fetched from the Graph API (kept so a replay does not fetch
-- again).
CREATE TABLE contacts (
    id                 text PRIMARY KEY,
    workspace_id       text NOT NULL,
    crm_id             text,
    email              text,
    phone              text,
    first_name         text,
    last_name          text,
    company            text,
    product            text,
    lead_status        text,
    service_interest   text,
    marketing_consent  boolean,
    score              integer NOT NULL DEFAULT 0,
    board_id           text,
    board_name         text,
    custom             jsonb NOT NULL DEFAULT '{}',
    source_time        timestamptz NOT NULL,  -- time of the newest event applied
    created_event_id   text NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    erased_at          timestamptz
);
CREATE UNIQUE INDEX contacts_crm ON contacts (workspace_id, crm_id) WHERE crm_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_phone ON contacts (workspace_id, phone) WHERE phone IS NOT NULL;
CREATE UNIQUE INDEX contacts_email ON contacts (workspace_id, email) WHERE email IS NOT NULL;

CREATE TABLE leads (
    id                 text PRIMARY KEY,
    event_id           text NOT NULL UNIQUE,
    contact_id         text NOT NULL REFERENCES contacts(id),
    workspace_id       text NOT NULL,
    webhook_id         text,
    form_type          text,
    source             text NOT NULL,
    match_type         text NOT NULL,
    is_new_contact     boolean NOT NULL,
    lead_status        text,
    product_interest   text,
    service_interest   text,
    message            text,
    marketing_consent  boolean,
    utm_source         text,
    utm_medium         text,
    utm_campaign       text,
    utm_term           text,
    utm_content        text,
    page_url           text,
    referrer           text,
    submission_id      text,
    external_lead_id   text,
    score              integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL
);
CREATE INDEX leads_contact ON leads (contact_id);
CREATE INDEX leads_workspace_created ON leads (workspace_id, created_at);

CREATE TABLE scoring_weights (
    workspace_id  text PRIMARY KEY,
    weights       jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE facebook_leads (
    leadgen_id   text PRIMARY KEY,
    body         jsonb NOT NULL,
    fetched_at   timestamptz NOT NULL DEFAULT now()
);
