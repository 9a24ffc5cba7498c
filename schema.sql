-- alertgate's database schema.
--
-- Each `-- step N` section migrates a database from user_version N-1 to N. Steps are applied in
-- order at start, each in its own transaction together with the new user_version. A step that has
-- shipped is never edited or removed: a change to the schema is a new step at the end.

-- step 1: integrations, alerts, their timelines, deliveries and idempotency keys.

-- One inbound endpoint (SPEC §1). Alerts do not reference it: removing an integration keeps them.
CREATE TABLE integrations (
    name            TEXT PRIMARY KEY,           -- ^[a-z0-9][a-z0-9_-]{0,63}$
    format          TEXT NOT NULL,              -- pagertree, plerion, pingara, alertmanager, mapping
    mapping         TEXT,                       -- format mapping: JSON {"pointers": {field: pointer}, "actions": {value: action}}
    auth_mode       TEXT NOT NULL,              -- none, token, bearer, basic, hmac-sha256, standard-webhooks
    auth_header     TEXT,                       -- token and hmac-sha256: the header, lower-case
    auth_prefix     TEXT,                       -- hmac-sha256: e.g. 'sha256='
    auth_encoding   TEXT,                       -- hmac-sha256: hex or base64
    capture_payload INTEGER NOT NULL DEFAULT 0, -- store each event's raw body
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,              -- RFC 3339 UTC with milliseconds, as every time here
    updated_at      TEXT NOT NULL
) STRICT;

-- The active secrets of an integration, at most five (rotation). Stored as given: HMAC needs the
-- key itself, so the database file is created readable by its owner only.
CREATE TABLE integration_secrets (
    integration TEXT NOT NULL REFERENCES integrations (name) ON DELETE CASCADE,
    secret      TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX integration_secrets_by_integration ON integration_secrets (integration, created_at);

-- Bumped by every change to integrations, so that a running server notices changes made by the
-- CLI from another process with one cheap read.
CREATE TABLE integrations_revision (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    revision INTEGER NOT NULL
) STRICT;
INSERT INTO integrations_revision (id, revision) VALUES (1, 0);

-- The current state of each alert, keyed by the sender's own Id (SPEC §4).
CREATE TABLE alerts (
    key              INTEGER PRIMARY KEY,       -- internal: links tags and the title index
    integration      TEXT NOT NULL,
    id               TEXT NOT NULL,             -- 1-255 bytes of UTF-8
    state            TEXT NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
    title            TEXT NOT NULL,
    description      TEXT,
    severity         TEXT CHECK (severity IN ('critical', 'error', 'warning', 'info')),
    tags             TEXT NOT NULL DEFAULT '[]', -- JSON array of strings, as shown; alert_tags indexes them
    meta             TEXT,                       -- JSON object
    occurrences      INTEGER NOT NULL,           -- creates in this episode
    episode          INTEGER NOT NULL,           -- 1 + times reopened
    created_at       TEXT NOT NULL,              -- first ever seen
    opened_at        TEXT NOT NULL,              -- this episode
    acknowledged_at  TEXT,
    acknowledged_by  TEXT,
    resolved_at      TEXT,
    resolved_by      TEXT,
    updated_at       TEXT NOT NULL,
    last_occurred_at TEXT,                       -- the ordering watermark: senders' latest occurred_at
    change_seq       INTEGER NOT NULL,           -- seq of the event that last changed it: "newest change first"
    UNIQUE (integration, id)
) STRICT;
-- One index per filter of GET /v1/alerts, each ending in change_seq so that a filtered page comes
-- out of the index already in order.
CREATE INDEX alerts_by_change ON alerts (change_seq);
CREATE INDEX alerts_by_state ON alerts (state, change_seq);
CREATE INDEX alerts_by_integration ON alerts (integration, change_seq);
CREATE INDEX alerts_by_severity ON alerts (severity, change_seq);
CREATE INDEX alerts_by_update ON alerts (updated_at);

-- Each tag of each alert, so that filtering by tag is an index search, not a scan of JSON.
CREATE TABLE alert_tags (
    tag       TEXT NOT NULL,
    alert_key INTEGER NOT NULL REFERENCES alerts (key) ON DELETE CASCADE,
    PRIMARY KEY (tag, alert_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX alert_tags_by_alert ON alert_tags (alert_key);

-- Trigram index of titles for the case-insensitive substring search `q`; kept in step with
-- alerts.title by the store.
CREATE VIRTUAL TABLE alert_titles USING fts5 (title, content = 'alerts', content_rowid = 'key', tokenize = 'trigram');

-- Every event applied to, or ignored by, an existing alert. Append-only: rows are never changed.
-- AUTOINCREMENT keeps seq strictly increasing even after the newest rows are deleted.
CREATE TABLE alert_events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    at          TEXT NOT NULL,                  -- when alertgate applied it
    action      TEXT NOT NULL,                  -- create, update, acknowledge, resolve
    outcome     TEXT NOT NULL,                  -- created, deduplicated, …, ignored
    reason      TEXT,                           -- set when ignored
    from_state  TEXT,                           -- null when the event created the alert
    to_state    TEXT NOT NULL,
    source      TEXT NOT NULL CHECK (source IN ('hook', 'api')),
    delivery    TEXT,                           -- dlv_…, hooks only
    by_whom     TEXT,                           -- manual actions only
    note        TEXT,                           -- manual actions only
    occurred_at TEXT,                           -- the sender's time, when given
    body        TEXT                            -- the raw request body, when the integration captures payloads
) STRICT;
CREATE INDEX alert_events_by_alert ON alert_events (integration, alert_id, seq);
-- The episodes' openings, by time: where MTTA and MTTR start (GET /v1/stats).
CREATE INDEX alert_events_openings ON alert_events (at) WHERE outcome IN ('created', 'reopened');

-- One row per request to a hook, accepted or rejected (SPEC §1).
CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,           -- dlv_ + ULID, time-ordered
    integration     TEXT NOT NULL,
    at              TEXT NOT NULL,
    status          INTEGER NOT NULL,
    error_code      TEXT,
    outcomes        TEXT,                       -- JSON object: outcome -> count
    duration_ms     INTEGER,
    remote_addr     TEXT,
    idempotency_key TEXT,
    body            TEXT                        -- only when capturing payloads, never for a 401
) STRICT, WITHOUT ROWID;
CREATE INDEX deliveries_by_integration ON deliveries (integration, id);

-- Answers to accepted deliveries that carried an idempotency key, replayed for 24 hours.
CREATE TABLE idempotency_keys (
    integration TEXT NOT NULL,
    key         TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT NOT NULL,                  -- the JSON answer, byte for byte
    PRIMARY KEY (integration, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- step 2: the state and severity checks of alerts as OR chains.
--
-- SQLite evaluates an IN list of three or more values through a temporary b-tree built on every
-- write that touches the column, which cost more than the rest of an alert's UPDATE. The checks
-- mean the same; SQLite cannot change a CHECK in place, so the table is rebuilt (keys kept, so
-- tags and the title index still match) with foreign keys off, as SQLite's ALTER TABLE page says.
CREATE TABLE alerts_rebuilt (
    key              INTEGER PRIMARY KEY,
    integration      TEXT NOT NULL,
    id               TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state = 'open' OR state = 'acknowledged' OR state = 'resolved'),
    title            TEXT NOT NULL,
    description      TEXT,
    severity         TEXT CHECK (severity = 'critical' OR severity = 'error' OR severity = 'warning' OR severity = 'info'),
    tags             TEXT NOT NULL DEFAULT '[]',
    meta             TEXT,
    occurrences      INTEGER NOT NULL,
    episode          INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    opened_at        TEXT NOT NULL,
    acknowledged_at  TEXT,
    acknowledged_by  TEXT,
    resolved_at      TEXT,
    resolved_by      TEXT,
    updated_at       TEXT NOT NULL,
    last_occurred_at TEXT,
    change_seq       INTEGER NOT NULL,
    UNIQUE (integration, id)
) STRICT;
INSERT INTO alerts_rebuilt (key, integration, id, state, title, description, severity, tags, meta,
    occurrences, episode, created_at, opened_at, acknowledged_at, acknowledged_by, resolved_at,
    resolved_by, updated_at, last_occurred_at, change_seq)
SELECT key, integration, id, state, title, description, severity, tags, meta,
    occurrences, episode, created_at, opened_at, acknowledged_at, acknowledged_by, resolved_at,
    resolved_by, updated_at, last_occurred_at, change_seq
FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_rebuilt RENAME TO alerts;
CREATE INDEX alerts_by_change ON alerts (change_seq);
CREATE INDEX alerts_by_state ON alerts (state, change_seq);
CREATE INDEX alerts_by_integration ON alerts (integration, change_seq);
CREATE INDEX alerts_by_severity ON alerts (severity, change_seq);
CREATE INDEX alerts_by_update ON alerts (updated_at);

-- step 3: what rejected deliveries may cost (SPEC §2).
--
-- Beyond a per-integration rate, rejected deliveries are counted, not recorded, and the log keeps
-- only the newest few thousand of each integration's rejected rows; what is counted or pruned
-- lands here, one row per integration and minute, so `deliveries_24h.rejected` still counts
-- every one. The partial index finds an integration's rejected rows without walking its accepted
-- ones, and only rejected rows pay for it.
CREATE TABLE rejection_tallies (
    integration TEXT NOT NULL,
    minute      TEXT NOT NULL,                  -- YYYY-MM-DDTHH:MM, UTC
    count       INTEGER NOT NULL,
    last_at     TEXT NOT NULL,
    PRIMARY KEY (integration, minute)
) STRICT, WITHOUT ROWID;
CREATE INDEX rejected_deliveries ON deliveries (integration, id)
    WHERE status NOT BETWEEN 200 AND 299;

-- step 4: secrets only compared are kept as salted hashes; secrets kept by a rotation expire.
--
-- A token, Bearer or Basic secret is only ever compared with what a sender sends, so its row
-- keeps SHA-256 of a random salt and the secret instead of the secret. HMAC and Standard Webhooks
-- keys sign, and PagerDuty routing keys are looked up and shown, so those stay as they are. SQL
-- cannot hash: right after this step, in the same transaction, alertgate hashes the secrets of
-- token, bearer and basic integrations copied here as text (src/store/sqlite/schema.rs), with
-- `secure_delete` on so that no freed page keeps one. `rotate-secret --keep-old` now gives the
-- old secrets an expiry (SPEC §6); those an earlier version kept forever, every secret but each
-- integration's newest, get 24 hours from this upgrade.
CREATE TABLE integration_secrets_rebuilt (
    id          INTEGER PRIMARY KEY,
    integration TEXT NOT NULL REFERENCES integrations (name) ON DELETE CASCADE,
    secret      TEXT,                           -- hmac-sha256, standard-webhooks, routing-key: the secret
    salt        BLOB,                           -- token, bearer, basic: 16 random bytes
    sha256      BLOB,                           -- ... and SHA-256(salt || secret), 32 bytes
    created_at  TEXT NOT NULL,
    expires_at  TEXT,                           -- refused from then on; NULL: until the next rotation
    CHECK ((secret IS NULL) = (sha256 IS NOT NULL) AND (salt IS NULL) = (sha256 IS NULL))
) STRICT;
INSERT INTO integration_secrets_rebuilt (id, integration, secret, created_at, expires_at)
SELECT rowid, integration, secret, created_at,
    CASE WHEN rowid = (SELECT newest.rowid FROM integration_secrets AS newest
                       WHERE newest.integration = integration_secrets.integration
                       ORDER BY newest.created_at DESC, newest.rowid DESC LIMIT 1)
         THEN NULL
         ELSE strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+1 day')
    END
FROM integration_secrets;
DROP TABLE integration_secrets;
ALTER TABLE integration_secrets_rebuilt RENAME TO integration_secrets;
CREATE INDEX integration_secrets_by_integration ON integration_secrets (integration, created_at);

-- step 5: counters for GET /v1/stats, kept by the writer in the transaction of each event.
--
-- Counting alerts by state and averaging response times over the event log took 2.5 s at a
-- million alerts, for every call. These tables hold the same figures already summed; the writer
-- adds each group's changes before it commits, so a rollback undoes them with everything else,
-- and removing an integration with its alerts takes its share out again. Both are filled here
-- from the rows already stored.

-- How many alerts each integration has in each state.
CREATE TABLE alert_counts (
    integration TEXT NOT NULL,
    state       TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (integration, state)
) STRICT, WITHOUT ROWID;
INSERT INTO alert_counts (integration, state, count)
SELECT integration, state, count(*) FROM alerts GROUP BY integration, state;

-- The response times of episodes, summed by when the episode opened, at five grains: 1 ms, 1 s,
-- 1 min, 1 h and 1 day (times here have milliseconds, so the finest is exact). Any `since` is
-- covered by under a thousand 1 ms buckets, 59 of 1 s, 59 of 1 min, 23 of 1 h and then whole
-- days, so MTTA and MTTR read a few hundred rows however many episodes there are.
CREATE TABLE response_times (
    grain          INTEGER NOT NULL,            -- the bucket's width in milliseconds
    bucket         INTEGER NOT NULL,            -- its start in milliseconds since 1970, a multiple of grain
    acknowledged   INTEGER NOT NULL,            -- episodes opened in it that were acknowledged
    to_acknowledge INTEGER NOT NULL,            -- the sum of their opened -> first acknowledge, in ms
    resolved       INTEGER NOT NULL,            -- episodes opened in it that were resolved
    to_resolve     INTEGER NOT NULL,            -- the sum of their opened -> resolved, in ms
    PRIMARY KEY (grain, bucket)
) STRICT, WITHOUT ROWID;
-- Each episode in the log (opened by `created` or `reopened`, up to the next opening) with when
-- it opened and its acknowledge and resolve times, if any: the definition `stats.rs` keeps.
WITH openings AS (
    SELECT integration, alert_id, seq, at,
           lead(seq) OVER (PARTITION BY integration, alert_id ORDER BY seq) AS next_opening
    FROM alert_events
    WHERE outcome = 'created' OR outcome = 'reopened'
),
episodes AS (
    SELECT CAST(round(unixepoch(o.at, 'subsec') * 1000) AS INTEGER) AS opened,
           (SELECT CAST(round(unixepoch(min(e.at), 'subsec') * 1000) AS INTEGER) FROM alert_events e
             WHERE e.integration = o.integration AND e.alert_id = o.alert_id AND e.seq > o.seq
               AND (o.next_opening IS NULL OR e.seq < o.next_opening)
               AND e.outcome = 'acknowledged') AS acknowledged,
           (SELECT CAST(round(unixepoch(min(e.at), 'subsec') * 1000) AS INTEGER) FROM alert_events e
             WHERE e.integration = o.integration AND e.alert_id = o.alert_id AND e.seq > o.seq
               AND (o.next_opening IS NULL OR e.seq < o.next_opening)
               AND e.outcome = 'resolved') AS resolved
    FROM openings o
),
grains (grain) AS (VALUES (1), (1000), (60000), (3600000), (86400000))
INSERT INTO response_times (grain, bucket, acknowledged, to_acknowledge, resolved, to_resolve)
SELECT grain, opened - opened % grain, count(acknowledged), coalesce(sum(acknowledged - opened), 0),
       count(resolved), coalesce(sum(resolved - opened), 0)
FROM episodes, grains
WHERE acknowledged IS NOT NULL OR resolved IS NOT NULL
GROUP BY grain, opened - opened % grain;
