-- Stripe projections (the payments processor). Every row keeps the state of
-- its newest Stripe event by the event's `created` (stripe_created, then
-- status_rank, then stripe_event_id break ties), so out-of-order and repeated
-- deliveries converge on the same row. Link columns (contact, lead, email,
-- utm …) keep the newest non-null value, whatever the arrival order.

-- Every Stripe event applied, handled or not, keyed by Stripe's id: a second
-- delivery of the same Stripe event under another message id changes nothing.
CREATE TABLE stripe_events (
    id              text PRIMARY KEY,         -- evt_…
    type            text NOT NULL,
    workspace_id    text NOT NULL,
    api_version     text,
    livemode        boolean NOT NULL DEFAULT false,
    object_id       text,                     -- data.object.id
    handled         boolean NOT NULL,         -- false: stored and counted as unhandled
    stripe_created  timestamptz NOT NULL,
    source_event_id text NOT NULL,            -- the INGEST event id (stripe:evt_…)
    stream_seq      bigint,
    processed_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX stripe_events_type ON stripe_events (type, stripe_created);

CREATE TABLE payments (
    transaction_id       text PRIMARY KEY,    -- PaymentIntent id (pi_…)
    workspace_id         text NOT NULL,
    amount_minor         bigint NOT NULL,     -- Stripe's amount, in the currency's minor unit
    amount               numeric NOT NULL, -- the same as a decimal (149900 usd → 1499.000)
    currency             text NOT NULL,       -- ISO 4217, upper case
    status               text NOT NULL,       -- succeeded | failed
    stripe_status        text,                -- the PaymentIntent's status
    status_rank          smallint NOT NULL,   -- tie-break for events with the same created
    lead_id              text,                -- leads.id
    lead_ref             text,                -- metadata.lead_id as given
    contact_id           text,                -- contacts.id
    email                text,
    customer_id          text,
    service_type         text,
    payment_method_type  text,
    payment_method_id    text,
    description          text,
    utm_source           text,
    utm_medium           text,
    utm_campaign         text,
    utm_term             text,
    utm_content          text,
    failure_code         text,
    decline_code         text,
    failure_message      text,
    livemode             boolean NOT NULL,
    metadata             jsonb NOT NULL DEFAULT '{}',
    stripe_created       timestamptz NOT NULL,  -- created of the event this state came from
    api_version          text,
    stripe_event_id      text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_contact ON payments (contact_id);
CREATE INDEX payments_lead ON payments (lead_id);
CREATE INDEX payments_workspace_created ON payments (workspace_id, stripe_created);

CREATE TABLE disputes (
    dispute_id        text PRIMARY KEY,       -- dp_…
    workspace_id      text NOT NULL,
    charge_id         text,
    transaction_id    text,                   -- the disputed PaymentIntent
    amount_minor      bigint NOT NULL,
    amount            numeric NOT NULL,
    currency          text NOT NULL,
    reason            text,
    status            text NOT NULL,
    evidence_due_by   timestamptz,
    lead_id           text,
    contact_id        text,
    email             text,
    livemode          boolean NOT NULL,
    stripe_created    timestamptz NOT NULL,
    api_version       text,
    stripe_event_id   text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX disputes_transaction ON disputes (transaction_id);

CREATE TABLE invoices (
    invoice_id        text PRIMARY KEY,       -- in_…
    workspace_id      text NOT NULL,
    number            text,
    customer_id       text,
    subscription_id   text,
    transaction_id    text,                   -- its PaymentIntent, if any
    amount_minor      bigint NOT NULL,        -- amount_paid
    amount            numeric NOT NULL,
    currency          text NOT NULL,
    status            text NOT NULL,
    billing_reason    text,
    lead_id           text,
    lead_ref          text,
    contact_id        text,
    email             text,
    service_type      text,
    livemode          boolean NOT NULL,
    stripe_created    timestamptz NOT NULL,
    api_version       text,
    stripe_event_id   text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_subscription ON invoices (subscription_id);
CREATE INDEX invoices_contact ON invoices (contact_id);

CREATE TABLE subscriptions (
    subscription_id       text PRIMARY KEY,   -- sub_…
    workspace_id          text NOT NULL,
    customer_id           text,
    status                text NOT NULL,
    price_id              text,
    product_id            text,
    interval              text,
    interval_count        bigint,
    amount_minor          bigint NOT NULL,
    amount                numeric NOT NULL,
    currency              text NOT NULL,
    current_period_start  timestamptz,
    current_period_end    timestamptz,
    trial_end             timestamptz,
    lead_id               text,
    lead_ref              text,
    contact_id            text,
    email                 text,
    service_type          text,
    livemode              boolean NOT NULL,
    stripe_created        timestamptz NOT NULL,
    api_version           text,
    stripe_event_id       text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_contact ON subscriptions (contact_id);

-- PaymentMethods fetched from the Stripe API (STRIPE_SECRET_KEY), kept so a
-- replay does not fetch again.
CREATE TABLE stripe_payment_methods (
    id          text PRIMARY KEY,             -- pm_…
    type        text NOT NULL,
    fetched_at  timestamptz NOT NULL DEFAULT now()
);
