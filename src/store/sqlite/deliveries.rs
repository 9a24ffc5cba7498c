//! SQL for the delivery log and idempotency keys.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::alerts::{parse_optional_time, parse_time};
use super::{
    DeliveryCounts, DeliveryFilter, DeliveryPage, DeliveryRecord, RejectedDelivery, StoreError,
};
use crate::store::stored::{self, IDEMPOTENCY_WINDOW};
use crate::store::Receipt;
use crate::{ids, time};

/// Expired keys are deleted this many at a time, so pruning never holds the writer for long.
pub(super) const PRUNE_BATCH: i64 = 1000;

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

/// The receipt remembered with `key`, if it was stored within the window.
pub(super) fn remembered(
    connection: &Connection,
    integration: &str,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Receipt>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT body FROM idempotency_keys \
         WHERE integration = ?1 AND key = ?2 AND created_at > ?3",
    )?;
    let cutoff = time::format(now - IDEMPOTENCY_WINDOW);
    let stored: Option<String> = statement
        .query_row(params![integration, key, cutoff], |row| row.get(0))
        .optional()?;
    stored.map(|text| stored::read_receipt(&text)).transpose()
}

/// Remembers `receipt` for `key`, with the status the delivery was answered with; replaces an
/// expired row of the same key.
pub(super) fn remember(
    connection: &Connection,
    integration: &str,
    key: &str,
    now: DateTime<Utc>,
    status: u16,
    receipt: &Receipt,
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys (integration, key, created_at, status, body) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    let body = stored::write_receipt(receipt);
    statement.execute(params![integration, key, time::format(now), status, body])?;
    Ok(())
}

pub(super) fn list(
    connection: &Connection,
    filter: &DeliveryFilter,
) -> Result<DeliveryPage, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT id, at, status, error_code, outcomes, duration_ms, remote_addr, idempotency_key, body \
         FROM deliveries WHERE integration = ?1 AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR status = ?3) \
         ORDER BY id DESC LIMIT ?4",
    )?;
    let limit = i64::try_from(filter.limit)
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let rows = statement.query_map(
        params![filter.integration, filter.before, filter.status, limit],
        |row| {
            Ok(RawDelivery {
                id: row.get(0)?,
                at: row.get(1)?,
                status: row.get(2)?,
                error_code: row.get(3)?,
                outcomes: row.get(4)?,
                duration_ms: row.get(5)?,
                remote_addr: row.get(6)?,
                idempotency_key: row.get(7)?,
                body: row.get(8)?,
            })
        },
    )?;
    let mut deliveries = rows
        .map(|row| row?.into_record())
        .collect::<Result<Vec<_>, StoreError>>()?;
    let next = (deliveries.len() > filter.limit).then(|| {
        deliveries.truncate(filter.limit);
        deliveries
            .last()
            .map(|last| last.id.clone())
            .unwrap_or_default()
    });
    Ok(DeliveryPage { deliveries, next })
}

/// A row of `deliveries` as SQLite gives it, before its text is parsed.
struct RawDelivery {
    id: String,
    at: String,
    status: u16,
    error_code: Option<String>,
    outcomes: Option<String>,
    duration_ms: Option<i64>,
    remote_addr: Option<String>,
    idempotency_key: Option<String>,
    body: Option<String>,
}

impl RawDelivery {
    fn into_record(self) -> Result<DeliveryRecord, StoreError> {
        Ok(DeliveryRecord {
            at: parse_time(&self.at)?,
            outcomes: self.outcomes.as_deref().map(stored::outcomes).transpose()?,
            id: self.id,
            status: self.status,
            error_code: self.error_code,
            duration_ms: self.duration_ms,
            remote_addr: self.remote_addr,
            idempotency_key: self.idempotency_key,
            body: self.body,
        })
    }
}

/// Delivery ids are time-ordered ULIDs, so "since" is a range of ids on the integration's index.
pub(super) fn counts(
    connection: &Connection,
    integration: &str,
    since: DateTime<Utc>,
) -> Result<DeliveryCounts, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT count(*) FILTER (WHERE status BETWEEN 200 AND 299), \
                count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299), \
                max(at) FILTER (WHERE status BETWEEN 200 AND 299), \
                max(at) FILTER (WHERE status NOT BETWEEN 200 AND 299) \
         FROM deliveries WHERE integration = ?1 AND id >= ?2",
    )?;
    let (accepted, rejected, last_accepted_at, last_rejected_at) =
        statement.query_row(params![integration, ids::delivery_id_floor(since)], |row| {
            Ok((
                row.get(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })?;
    let (unrecorded, last_unrecorded_at) =
        super::rejections::unrecorded_since(connection, integration, since)?;
    let last_rejected_at = parse_optional_time(last_rejected_at.as_deref())?;
    Ok(DeliveryCounts {
        accepted,
        rejected: rejected + unrecorded,
        unrecorded,
        last_accepted_at: parse_optional_time(last_accepted_at.as_deref())?,
        last_rejected_at: last_rejected_at.max(last_unrecorded_at),
    })
}

/// Deletes up to one batch of deliveries older than `keep`; answers how many went.
pub(super) fn prune_old_deliveries(
    connection: &Connection,
    now: DateTime<Utc>,
    keep: Duration,
) -> Result<usize, StoreError> {
    let mut statement = connection.prepare_cached(
        "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE id < ?1 LIMIT ?2)",
    )?;
    Ok(statement.execute(params![ids::delivery_id_floor(now - keep), PRUNE_BATCH])?)
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
    use crate::lifecycle::{EventResult, Outcome};
    use crate::model::{Action, State};

    #[test]
    fn keys_expire_after_24_hours_and_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let connection = super::super::schema::open_for_writing(&dir.path().join("t.db")).unwrap();
        let now = Utc::now();
        let day_ago = now - IDEMPOTENCY_WINDOW - Duration::seconds(1);
        let receipt = Receipt {
            delivery: "dlv_1".into(),
            results: vec![EventResult {
                id: "a-1".into(),
                action: Action::Acknowledge,
                outcome: Outcome::Ignored(crate::lifecycle::Reason::AlreadyResolved),
                state: Some(State::Resolved),
            }],
        };
        remember(&connection, "a", "old", day_ago, 202, &receipt).unwrap();
        remember(&connection, "a", "new", now, 202, &receipt).unwrap();
        assert_eq!(remembered(&connection, "a", "old", now).unwrap(), None);
        assert_eq!(
            remembered(&connection, "a", "new", now).unwrap(),
            Some(receipt)
        );
        assert_eq!(
            remembered(&connection, "b", "new", now).unwrap(),
            None,
            "keys are per integration"
        );
        assert_eq!(prune_expired_keys(&connection, now).unwrap(), 1);
        assert_eq!(prune_expired_keys(&connection, now).unwrap(), 0);
    }

    #[test]
    fn deliveries_older_than_the_keep_period_are_pruned_and_counted_by_id_range() {
        let dir = tempfile::tempdir().unwrap();
        let connection = super::super::schema::open_for_writing(&dir.path().join("t.db")).unwrap();
        let now = Utc::now();
        for (index, (age_days, status)) in [(40, 202), (31, 401), (2, 202), (0, 401), (0, 202)]
            .into_iter()
            .enumerate()
        {
            let at = now
                - Duration::days(age_days)
                - Duration::milliseconds(i64::try_from(index).unwrap());
            // The id of exactly `at`: minting one would follow the process's newest id.
            let id = ids::delivery_id_floor(at);
            let row = DeliveryRow {
                id: &id,
                integration: "a",
                at,
                status,
                error_code: None,
                outcomes: None,
                duration_ms: 1,
                remote_addr: None,
                idempotency_key: None,
                body: None,
            };
            insert(&connection, &row).unwrap();
        }
        let recent = counts(&connection, "a", now - Duration::hours(24)).unwrap();
        assert_eq!((recent.accepted, recent.rejected), (1, 1));
        assert_eq!(
            prune_old_deliveries(&connection, now, Duration::days(30)).unwrap(),
            2
        );
        let all = counts(&connection, "a", now - Duration::days(365)).unwrap();
        assert_eq!((all.accepted, all.rejected), (2, 1));
    }
}
