-- alertgate's schema on PostgreSQL, version 1: what schema.sql's steps 1-5 build on SQLite.
--
-- Applied once, in one transaction, and recorded in schema_migrations (src/store/postgres/
-- schema.rs). A file that has shipped is never edited: a change is a new file after it. Table and
-- column names are SQLite's, so the same counting queries run on both. Keys and ordering columns
-- are COLLATE "C" (byte order, as SQLite's BINARY and Rust's String::cmp: the writers' lock order
-- depends on both sorting alike). Times are timestamptz, written truncated to milliseconds. JSON
-- is json, not jsonb: jsonb refuses \u0000 in a sender's text and reorders keys.

-- One inbound endpoint (SPEC §1). Alerts do not reference it: removing an integration keeps them.
CREATE TABLE integrations (
    name            text COLLATE "C" PRIMARY KEY,
    format          text NOT NULL,
    mapping         text,
    auth_mode       text NOT NULL,
    auth_header     text,
    auth_prefix     text,
    auth_encoding   text,
    capture_payload boolean NOT NULL DEFAULT false,
    enabled         boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- The active secrets of an integration: the secret itself where it signs or is shown, a salted
-- SHA-256 where it is only compared (schema.sql step 4). id orders them, newest last.
CREATE TABLE integration_secrets (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    integration text COLLATE "C" NOT NULL REFERENCES integrations (name) ON DELETE CASCADE,
    secret      text,
    salt        bytea,
    sha256      bytea,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    CHECK ((secret IS NULL) = (sha256 IS NOT NULL) AND (salt IS NULL) = (sha256 IS NULL))
);
CREATE INDEX integration_secrets_by_integration ON integration_secrets (integration, created_at);

-- Bumped by every change to integrations, so that every node notices with one cheap read.
CREATE TABLE integrations_revision (
    id       int PRIMARY KEY CHECK (id = 1),
    revision bigint NOT NULL
) WITH (fillfactor = 10);
INSERT INTO integrations_revision (id, revision) VALUES (1, 0);

-- One row per alert that exists or is being created: what writers lock, in (integration, id)
-- order, so that two nodes applying events to the same alerts queue instead of racing. Never
-- updated; its key is the alert's.
CREATE TABLE alert_keys (
    integration text COLLATE "C" NOT NULL,
    id          text COLLATE "C" NOT NULL,
    key         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    PRIMARY KEY (integration, id)
);

-- The current state of each alert, keyed by the sender's own Id (SPEC §4).
CREATE TABLE alerts (
    key              bigint PRIMARY KEY REFERENCES alert_keys (key) ON DELETE CASCADE,
    integration      text COLLATE "C" NOT NULL,
    id               text COLLATE "C" NOT NULL,
    state            text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    title            text NOT NULL,
    description      text,
    severity         text CHECK (severity IN ('critical', 'error', 'warning', 'info')),
    tags             text[] NOT NULL DEFAULT '{}',
    meta             json,
    occurrences      bigint NOT NULL,
    episode          bigint NOT NULL,
    created_at       timestamptz NOT NULL,
    opened_at        timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    resolved_at      timestamptz,
    resolved_by      text,
    updated_at       timestamptz NOT NULL,
    last_occurred_at timestamptz,
    change_seq       bigint NOT NULL,
    UNIQUE (integration, id)
);
-- One index per filter of GET /v1/alerts, each ending in change_seq, as on SQLite; tags are an
-- array with a GIN index instead of SQLite's alert_tags table.
CREATE INDEX alerts_by_change ON alerts (change_seq);
CREATE INDEX alerts_by_state ON alerts (state, change_seq);
CREATE INDEX alerts_by_integration ON alerts (integration, change_seq);
CREATE INDEX alerts_by_severity ON alerts (severity, change_seq);
CREATE INDEX alerts_by_update ON alerts (updated_at);
CREATE INDEX alerts_by_tag ON alerts USING gin (tags);

-- The last seq handed out: bumped once per committed group, as late as possible, so that seq
-- order is commit order across nodes (a sequence would hand out numbers in start order).
CREATE TABLE event_seq (
    id   int PRIMARY KEY CHECK (id = 1),
    last bigint NOT NULL
) WITH (fillfactor = 10);
INSERT INTO event_seq (id, last) VALUES (1, 0);

-- Every event applied to, or ignored by, an existing alert. Append-only.
CREATE TABLE alert_events (
    seq         bigint PRIMARY KEY,
    integration text COLLATE "C" NOT NULL,
    alert_id    text COLLATE "C" NOT NULL,
    at          timestamptz NOT NULL,
    action      text NOT NULL,
    outcome     text NOT NULL,
    reason      text,
    from_state  text,
    to_state    text NOT NULL,
    source      text NOT NULL CHECK (source IN ('hook', 'api')),
    delivery    text COLLATE "C",
    by_whom     text,
    note        text,
    occurred_at timestamptz,
    body        text
);
CREATE INDEX alert_events_by_alert ON alert_events (integration, alert_id, seq);
CREATE INDEX alert_events_openings ON alert_events (at) WHERE outcome IN ('created', 'reopened');

-- One row per request to a hook, accepted or rejected (SPEC §1).
CREATE TABLE deliveries (
    id              text COLLATE "C" PRIMARY KEY,
    integration     text COLLATE "C" NOT NULL,
    at              timestamptz NOT NULL,
    status          int NOT NULL,
    error_code      text,
    outcomes        json,
    duration_ms     bigint,
    remote_addr     text,
    idempotency_key text,
    body            text
);
CREATE INDEX deliveries_by_integration ON deliveries (integration, id);
CREATE INDEX rejected_deliveries ON deliveries (integration, id)
    WHERE status NOT BETWEEN 200 AND 299;

-- Answers to accepted deliveries that carried an idempotency key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    integration text COLLATE "C" NOT NULL,
    key         text COLLATE "C" NOT NULL,
    created_at  timestamptz NOT NULL,
    status      int NOT NULL,
    body        text NOT NULL,
    PRIMARY KEY (integration, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- Rejected deliveries counted rather than recorded, one row per integration and minute.
CREATE TABLE rejection_tallies (
    integration text COLLATE "C" NOT NULL,
    minute      timestamptz NOT NULL,
    count       bigint NOT NULL,
    last_at     timestamptz NOT NULL,
    PRIMARY KEY (integration, minute)
);

-- Counters for GET /v1/stats, added to by the writer in the transaction of each group, as
-- schema.sql's step 5 explains: alerts by integration and state, and the response times of
-- episodes summed by when they opened, at five grains (1 ms, 1 s, 1 min, 1 h, 1 day).
CREATE TABLE alert_counts (
    integration text COLLATE "C" NOT NULL,
    state       text NOT NULL,
    count       bigint NOT NULL,
    PRIMARY KEY (integration, state)
);
CREATE TABLE response_times (
    grain          bigint NOT NULL,
    bucket         bigint NOT NULL,
    acknowledged   bigint NOT NULL,
    to_acknowledge bigint NOT NULL,
    resolved       bigint NOT NULL,
    to_resolve     bigint NOT NULL,
    PRIMARY KEY (grain, bucket)
);
-- Milliseconds since 1970, as the counters' buckets count time.
CREATE FUNCTION millis(timestamptz) RETURNS bigint
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$ SELECT round(extract(epoch FROM $1) * 1000)::bigint $$;

-- Title search `q`: a trigram index on lower(title). pg_trgm is a trusted extension since
-- PostgreSQL 13, but a server may lack it or the role may not create it; then search scans.
DO $$ BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXECUTE 'CREATE INDEX alerts_by_title ON alerts USING gin (lower(title) gin_trgm_ops)';
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm unavailable (%): title search scans', SQLERRM;
END $$;
