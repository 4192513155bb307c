-- One row per (processor, source event id), written in the same transaction as
-- the processor's projection: a redelivered or replayed event is a no-op.
CREATE TABLE processed (
    processor     text NOT NULL,
    event_id      text NOT NULL,
    stream_seq    bigint,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (processor, event_id)
);
