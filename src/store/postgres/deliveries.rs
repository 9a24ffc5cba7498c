//! SQL for reading the delivery log and its counts.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use crate::ids;
use crate::store::stored;
use crate::store::{DeliveryCounts, DeliveryFilter, DeliveryPage, DeliveryRecord, StoreError};

/// A page of an integration's deliveries, newest first. The statement is built for the filters
/// given (four variants, each prepared once), so none of them plans around a NULL parameter.
pub(super) async fn list(
    client: &impl GenericClient,
    filter: &DeliveryFilter,
) -> Result<DeliveryPage, StoreError> {
    let limit = i64::try_from(filter.limit)
        .unwrap_or(i64::MAX)
        .saturating_add(1);
    let status = filter.status.map(i32::from);
    let mut sql = String::from(
        "SELECT id, at, status, error_code, outcomes::text, duration_ms, remote_addr, idempotency_key, \
         body FROM deliveries WHERE integration = $1",
    );
    let mut values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
        vec![&filter.integration, &limit];
    if let Some(before) = &filter.before {
        values.push(before);
        let _ = write!(sql, " AND id < ${}", values.len());
    }
    if let Some(status) = &status {
        values.push(status);
        let _ = write!(sql, " AND status = ${}", values.len());
    }
    sql.push_str(" ORDER BY id DESC LIMIT $2");
    let statement = client.prepare_cached(&sql).await?;
    let rows = client.query(&statement, &values).await?;
    let mut deliveries = rows
        .iter()
        .map(|row| {
            let outcomes: Option<String> = row.try_get(4)?;
            let status: i32 = row.try_get(2)?;
            Ok(DeliveryRecord {
                id: row.try_get(0)?,
                at: row.try_get(1)?,
                status: u16::try_from(status)
                    .map_err(|_| stored::corrupt("status", &status.to_string()))?,
                error_code: row.try_get(3)?,
                outcomes: outcomes.as_deref().map(stored::outcomes).transpose()?,
                duration_ms: row.try_get(5)?,
                remote_addr: row.try_get(6)?,
                idempotency_key: row.try_get(7)?,
                body: row.try_get(8)?,
            })
        })
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

/// Accepted and rejected deliveries since `since`: delivery ids are time-ordered, so "since" is
/// a range of the integration's index; rejections counted but not recorded come from the
/// tallies, by minute, as on SQLite.
pub(super) async fn counts(
    client: &impl GenericClient,
    integration: &str,
    since: DateTime<Utc>,
) -> Result<DeliveryCounts, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE status BETWEEN 200 AND 299), \
                    count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299), \
                    max(at) FILTER (WHERE status BETWEEN 200 AND 299), \
                    max(at) FILTER (WHERE status NOT BETWEEN 200 AND 299), \
                    (SELECT coalesce(sum(count), 0)::bigint FROM rejection_tallies \
                      WHERE integration = $1 AND minute >= date_trunc('minute', $3::timestamptz)), \
                    (SELECT max(last_at) FROM rejection_tallies \
                      WHERE integration = $1 AND minute >= date_trunc('minute', $3::timestamptz)) \
             FROM deliveries WHERE integration = $1 AND id >= $2",
        )
        .await?;
    let floor = ids::delivery_id_floor(since);
    let row = client
        .query_one(&statement, &[&integration, &floor, &since])
        .await?;
    let rejected: i64 = row.try_get(1)?;
    let unrecorded: i64 = row.try_get(4)?;
    let last_rejected_at: Option<DateTime<Utc>> = row.try_get(3)?;
    let last_unrecorded_at: Option<DateTime<Utc>> = row.try_get(5)?;
    Ok(DeliveryCounts {
        accepted: row.try_get(0)?,
        rejected: rejected + unrecorded,
        unrecorded,
        last_accepted_at: row.try_get(2)?,
        last_rejected_at: last_rejected_at.max(last_unrecorded_at),
    })
}
