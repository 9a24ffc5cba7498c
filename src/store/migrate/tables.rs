//! What `migrate` copies: every table SQLite and PostgreSQL both have, column by column, with
//! what each column holds. SQLite keeps times, tags and JSON as text and flags as integers;
//! the kinds say how each side reads and writes them, so the two ends share one list.
//!
//! Left out on purpose: `alert_tags` and `alert_titles` (SQLite's indexes of tags and titles;
//! PostgreSQL indexes the columns themselves), `integrations_revision` (bumped on the target, not
//! copied) and `alert_keys` and `event_seq` (PostgreSQL's own, made from the alerts and the
//! highest `seq`).

/// How a column's values are held on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integer: `INTEGER` on SQLite; `bigint` or `int` on PostgreSQL.
    Int,
    /// `INTEGER` 0/1 on SQLite, `boolean` on PostgreSQL.
    Bool,
    Text,
    /// JSON text: `TEXT` on SQLite, `json` on PostgreSQL, the text kept byte for byte.
    Json,
    /// A JSON array of strings on SQLite, `text[]` on PostgreSQL.
    Tags,
    /// RFC 3339 text on SQLite, `timestamptz` on PostgreSQL.
    Time,
    /// A tally's minute, `YYYY-MM-DDTHH:MM` UTC on SQLite, `timestamptz` on PostgreSQL.
    Minute,
    /// `BLOB` on SQLite, `bytea` on PostgreSQL.
    Bytes,
}

#[derive(Debug)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
}

/// A table as both stores have it.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// Its primary key: the order rows are read in.
    pub key: &'static [&'static str],
    /// An identity column of PostgreSQL's whose values are copied as they are: written with
    /// `OVERRIDING SYSTEM VALUE`, its sequence moved past them after.
    pub identity: Option<&'static str>,
    pub columns: &'static [Column],
}

const fn column(name: &'static str, kind: Kind) -> Column {
    Column { name, kind }
}

use Kind::{Bool, Bytes, Int, Json, Minute, Tags, Text, Time};

/// Every copied table, in an order that satisfies PostgreSQL's foreign keys.
pub const TABLES: &[Table] = &[
    Table {
        name: "integrations",
        key: &["name"],
        identity: None,
        columns: &[
            column("name", Text),
            column("format", Text),
            column("mapping", Text),
            column("auth_mode", Text),
            column("auth_header", Text),
            column("auth_prefix", Text),
            column("auth_encoding", Text),
            column("capture_payload", Bool),
            column("enabled", Bool),
            column("created_at", Time),
            column("updated_at", Time),
        ],
    },
    Table {
        name: "integration_secrets",
        key: &["id"],
        identity: Some("id"),
        columns: &[
            column("id", Int),
            column("integration", Text),
            column("secret", Text),
            column("salt", Bytes),
            column("sha256", Bytes),
            column("created_at", Time),
            column("expires_at", Time),
        ],
    },
    // PostgreSQL's `alert_keys` rows are made from the first three columns (`key`,
    // `integration`, `id`): keep them first.
    Table {
        name: "alerts",
        key: &["key"],
        identity: None,
        columns: &[
            column("key", Int),
            column("integration", Text),
            column("id", Text),
            column("state", Text),
            column("title", Text),
            column("description", Text),
            column("severity", Text),
            column("tags", Tags),
            column("meta", Json),
            column("occurrences", Int),
            column("episode", Int),
            column("created_at", Time),
            column("opened_at", Time),
            column("acknowledged_at", Time),
            column("acknowledged_by", Text),
            column("resolved_at", Time),
            column("resolved_by", Text),
            column("updated_at", Time),
            column("last_occurred_at", Time),
            column("change_seq", Int),
        ],
    },
    Table {
        name: "alert_events",
        key: &["seq"],
        identity: None,
        columns: &[
            column("seq", Int),
            column("integration", Text),
            column("alert_id", Text),
            column("at", Time),
            column("action", Text),
            column("outcome", Text),
            column("reason", Text),
            column("from_state", Text),
            column("to_state", Text),
            column("source", Text),
            column("delivery", Text),
            column("by_whom", Text),
            column("note", Text),
            column("occurred_at", Time),
            column("body", Text),
        ],
    },
    Table {
        name: "deliveries",
        key: &["id"],
        identity: None,
        columns: &[
            column("id", Text),
            column("integration", Text),
            column("at", Time),
            column("status", Int),
            column("error_code", Text),
            column("outcomes", Json),
            column("duration_ms", Int),
            column("remote_addr", Text),
            column("idempotency_key", Text),
            column("body", Text),
        ],
    },
    Table {
        name: "idempotency_keys",
        key: &["integration", "key"],
        identity: None,
        columns: &[
            column("integration", Text),
            column("key", Text),
            column("created_at", Time),
            column("status", Int),
            column("body", Text),
        ],
    },
    Table {
        name: "rejection_tallies",
        key: &["integration", "minute"],
        identity: None,
        columns: &[
            column("integration", Text),
            column("minute", Minute),
            column("count", Int),
            column("last_at", Time),
        ],
    },
    Table {
        name: "alert_counts",
        key: &["integration", "state"],
        identity: None,
        columns: &[
            column("integration", Text),
            column("state", Text),
            column("count", Int),
        ],
    },
    Table {
        name: "response_times",
        key: &["grain", "bucket"],
        identity: None,
        columns: &[
            column("grain", Int),
            column("bucket", Int),
            column("acknowledged", Int),
            column("to_acknowledge", Int),
            column("resolved", Int),
            column("to_resolve", Int),
        ],
    },
];

/// The table PostgreSQL makes beside `alerts`, one row per alert.
pub const ALERT_KEYS: &str = "alert_keys";
