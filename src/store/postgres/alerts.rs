//! SQL for reading alerts and their timelines.

use deadpool_postgres::GenericClient;

use super::rows::{alert_at, prefixed_alert_columns, ALERT_COLUMNS};
use crate::lifecycle::Alert;
use crate::model::Source;
use crate::store::stored::{self, corrupt};
use crate::store::{AppliedEvent, StoreError, TimelineEntry};

pub(super) async fn load(
    client: &impl GenericClient,
    integration: &str,
    id: &str,
) -> Result<Option<Alert>, StoreError> {
    let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE integration = $1 AND id = $2");
    let statement = client.prepare_cached(&sql).await?;
    let row = client.query_opt(&statement, &[&integration, &id]).await?;
    row.map(|row| alert_at(&row, 0)).transpose()
}

/// The alert's timeline, oldest first, from `after_seq` on, at most `limit` entries.
pub(super) async fn timeline(
    client: &impl GenericClient,
    integration: &str,
    id: &str,
    after_seq: i64,
    limit: usize,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let statement = client
        .prepare_cached(
            "SELECT seq, at, action, outcome, reason, from_state, to_state, source, delivery, \
             by_whom, note, occurred_at FROM alert_events \
             WHERE integration = $1 AND alert_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(&statement, &[&integration, &id, &after_seq, &limit])
        .await?;
    rows.iter()
        .map(|row| {
            let action: String = row.try_get(2)?;
            let outcome: String = row.try_get(3)?;
            let reason: Option<String> = row.try_get(4)?;
            let from: Option<String> = row.try_get(5)?;
            let to: String = row.try_get(6)?;
            let source: String = row.try_get(7)?;
            Ok(TimelineEntry {
                seq: row.try_get(0)?,
                at: row.try_get(1)?,
                action: stored::action(&action)?,
                outcome: stored::outcome(&outcome, reason.as_deref())?,
                from_state: from.as_deref().map(stored::state).transpose()?,
                to_state: stored::state(&to)?,
                source: Source::parse(&source).ok_or_else(|| corrupt("source", &source))?,
                delivery: row.try_get(8)?,
                by: row.try_get(9)?,
                note: row.try_get(10)?,
                occurred_at: row.try_get(11)?,
            })
        })
        .collect()
}

/// Applied events with a seq in `(after, through]`, with each alert as it is now, for the live
/// stream: at most `limit`, and none more once their alerts' text reaches `max_bytes` (but
/// always one). The running total is summed by the server, so only the page crosses the wire.
pub(super) async fn applied_after(
    client: &impl GenericClient,
    after: i64,
    through: i64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<AppliedEvent>, StoreError> {
    let sql = format!(
        "SELECT seq, action, outcome, {ALERT_COLUMNS} FROM ( \
             SELECT e.seq, e.action, e.outcome, {}, \
                    sum(size.bytes) OVER (ORDER BY e.seq) - size.bytes AS before \
             FROM alert_events e \
             JOIN alerts a ON a.integration = e.integration AND a.id = e.alert_id \
             CROSS JOIN LATERAL (SELECT octet_length(a.integration) + octet_length(a.id) \
                 + octet_length(a.title) + octet_length(array_to_string(a.tags, ',')) \
                 + coalesce(octet_length(a.description), 0) \
                 + coalesce(octet_length(a.meta::text), 0) AS bytes) size \
             WHERE e.seq > $1 AND e.seq <= $2 AND e.outcome <> 'ignored' \
             ORDER BY e.seq LIMIT $3) page \
         WHERE before < $4 ORDER BY seq",
        prefixed_alert_columns()
    );
    let statement = client.prepare_cached(&sql).await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    // The first row's `before` is 0: a page always holds one, however large.
    let max_bytes = i64::try_from(max_bytes).unwrap_or(i64::MAX).max(1);
    let rows = client
        .query(&statement, &[&after, &through, &limit, &max_bytes])
        .await?;
    rows.iter()
        .map(|row| {
            let action: String = row.try_get(1)?;
            let outcome: String = row.try_get(2)?;
            Ok(AppliedEvent {
                seq: row.try_get(0)?,
                action: stored::action(&action)?,
                outcome: stored::outcome(&outcome, None)?,
                alert: alert_at(row, 3)?,
            })
        })
        .collect()
}
