//! SQL for the delivery log and idempotency keys.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{RejectedDelivery, StoreError};
use crate::time;

/// SPEC §3: an idempotency key is remembered for 24 hours.
pub(super) const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);
/// Expired keys are deleted this many at a time, so pruning never holds the writer for long.
const PRUNE_BATCH: i64 = 1000;

/// One row of the delivery log.
pub(super) struct DeliveryRow<'a> {
    pub id: &'a str,
    pub integration: &'a str,
    pub at: DateTime<Utc>,
    pub status: u16,
    pub error_code: Option<&'a str>,
    /// JSON object: outcome -> count.
    pub outcomes: Option<&'a str>,
    pub duration_ms: i64,
    pub remote_addr: Option<&'a str>,
    pub idempotency_key: Option<&'a str>,
    pub body: Option<&'a str>,
}

impl<'a> From<&'a RejectedDelivery> for DeliveryRow<'a> {
    fn from(rejected: &'a RejectedDelivery) -> DeliveryRow<'a> {
        DeliveryRow {
            id: &rejected.id,
            integration: &rejected.integration,
            at: rejected.at,
            status: rejected.status,
            error_code: Some(rejected.error_code),
            outcomes: None,
            duration_ms: rejected.duration_ms,
            remote_addr: rejected.remote_addr.as_deref(),
            idempotency_key: rejected.idempotency_key.as_deref(),
            body: rejected.captured_body.as_deref(),
        }
    }
}

pub(super) fn insert(connection: &Connection, row: &DeliveryRow<'_>) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO deliveries (id, integration, at, status, error_code, outcomes, duration_ms, \
         remote_addr, idempotency_key, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    statement.execute(params![
        row.id,
        row.integration,
        time::format(row.at),
        row.status,
        row.error_code,
        row.outcomes,
        row.duration_ms,
        row.remote_addr,
        row.idempotency_key,
        row.body,
    ])?;
    Ok(())
}

/// The remembered answer for `key`, if it was stored within the window.
pub(super) fn remembered_answer(
    connection: &Connection,
    integration: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<(u16, String)>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT status, body FROM idempotency_keys \
         WHERE integration = ?1 AND key = ?2 AND created_at > ?3",
    )?;
    let cutoff = time::format(now - IDEMPOTENCY_WINDOW);
    Ok(statement
        .query_row(params![integration, key, cutoff], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?)
}

/// Remembers the answer for `key`; replaces an expired row of the same key.
pub(super) fn remember_answer(
    connection: &Connection,
    integration: &str,
    key: &str,
    now: DateTime<Utc>,
    status: u16,
    body: &str,
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys (integration, key, created_at, status, body) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    statement.execute(params![integration, key, time::format(now), status, body])?;
    Ok(())
}

/// Deletes up to one batch of expired keys; answers how many went.
pub(super) fn prune_expired_keys(
    connection: &Connection,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut statement = connection.prepare_cached(
        "DELETE FROM idempotency_keys WHERE (integration, key) IN (SELECT integration, key \
         FROM idempotency_keys WHERE created_at <= ?1 LIMIT ?2)",
    )?;
    Ok(statement.execute(params![time::format(now - IDEMPOTENCY_WINDOW), PRUNE_BATCH])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_expire_after_24_hours_and_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let connection = crate::store::schema::open_for_writing(&dir.path().join("t.db")).unwrap();
        let now = Utc::now();
        let day_ago = now - IDEMPOTENCY_WINDOW - Duration::seconds(1);
        remember_answer(&connection, "a", "old", day_ago, 202, "{}").unwrap();
        remember_answer(&connection, "a", "new", now, 202, "{}").unwrap();
        assert_eq!(
            remembered_answer(&connection, "a", "old", now).unwrap(),
            None
        );
        assert_eq!(
            remembered_answer(&connection, "a", "new", now).unwrap(),
            Some((202, "{}".into()))
        );
        assert_eq!(
            remembered_answer(&connection, "b", "new", now).unwrap(),
            None,
            "keys are per integration"
        );
        assert_eq!(prune_expired_keys(&connection, now).unwrap(), 1);
        assert_eq!(prune_expired_keys(&connection, now).unwrap(), 0);
    }
}
