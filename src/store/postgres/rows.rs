//! Rows as PostgreSQL gives them, read into domain types, and domain values as they are bound.
//!
//! Times are `timestamptz`, written truncated to the millisecond, as SQLite's text keeps them,
//! so the two stores read back the same values. Everything that is text in SQLite and an enum
//! here parses the same way (`store::stored`).

use chrono::{DateTime, Timelike, Utc};
use tokio_postgres::Row;

use crate::lifecycle::Alert;
use crate::model::Severity;
use crate::store::stored::{self, corrupt};
use crate::store::StoreError;

/// The columns an `Alert` is read from, in `alert_at`'s order.
pub(super) const ALERT_COLUMNS: &str = "integration, id, state, title, description, severity, \
     tags, meta, occurrences, episode, created_at, opened_at, acknowledged_at, acknowledged_by, \
     resolved_at, resolved_by, updated_at, last_occurred_at";

/// `ALERT_COLUMNS` of the table called `a`, for queries that join it.
pub(super) fn prefixed_alert_columns() -> String {
    ALERT_COLUMNS
        .split(", ")
        .map(|column| format!("a.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `time` as stored: milliseconds, the rest dropped.
pub(super) fn ms(time: DateTime<Utc>) -> DateTime<Utc> {
    let millis = time.nanosecond() / 1_000_000 * 1_000_000;
    time.with_nanosecond(millis).unwrap_or(time)
}

/// The alert whose columns start at `start` in `row`.
pub(super) fn alert_at(row: &Row, start: usize) -> Result<Alert, StoreError> {
    let at = |index: usize| start + index;
    let state: String = row.try_get(at(2))?;
    let severity: Option<String> = row.try_get(at(5))?;
    let meta: Option<serde_json::Value> = row.try_get(at(7))?;
    let meta = match meta {
        None => None,
        Some(serde_json::Value::Object(meta)) => Some(meta),
        Some(other) => return Err(corrupt("meta", &other.to_string())),
    };
    Ok(Alert {
        integration: row.try_get(at(0))?,
        id: row.try_get(at(1))?,
        state: stored::state(&state)?,
        title: row.try_get(at(3))?,
        description: row.try_get(at(4))?,
        severity: severity
            .map(|text| Severity::parse(&text).ok_or_else(|| corrupt("severity", &text)))
            .transpose()?,
        tags: row.try_get(at(6))?,
        meta,
        occurrences: row.try_get(at(8))?,
        episode: row.try_get(at(9))?,
        created_at: row.try_get(at(10))?,
        opened_at: row.try_get(at(11))?,
        acknowledged_at: row.try_get(at(12))?,
        acknowledged_by: row.try_get(at(13))?,
        resolved_at: row.try_get(at(14))?,
        resolved_by: row.try_get(at(15))?,
        updated_at: row.try_get(at(16))?,
        last_occurred_at: row.try_get(at(17))?,
    })
}
