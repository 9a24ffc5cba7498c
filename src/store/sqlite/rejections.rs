//! SQL for what rejected deliveries may cost (SPEC §2): the tallies of those counted but not
//! recorded, and the bound on the rejected rows each integration keeps.
//!
//! A tally is one row per integration and minute. Rejections come in through the writer's gate
//! (`store::writer`), which records a few a second in full and counts the rest; the pruner
//! folds an integration's rejected rows beyond the newest `kept` into the same tallies, so
//! `deliveries_24h.rejected` counts every rejection while the space they take stays bounded.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::alerts::parse_optional_time;
use super::deliveries::PRUNE_BATCH;
use super::StoreError;
use crate::store::UnrecordedRejections;
use crate::time;

/// Adds counted rejections to their integration's tally for the minute of the latest of them.
pub(super) fn tally(
    connection: &Connection,
    tallies: &[UnrecordedRejections],
) -> Result<(), StoreError> {
    let mut statement = connection.prepare_cached(
        "INSERT INTO rejection_tallies (integration, minute, count, last_at) \
         VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (integration, minute) DO UPDATE \
         SET count = count + excluded.count, last_at = max(last_at, excluded.last_at)",
    )?;
    for tally in tallies {
        let last_at = time::format(tally.last_at);
        let count = i64::try_from(tally.count).unwrap_or(i64::MAX);
        statement.execute(params![tally.integration, minute(&last_at), count, last_at])?;
    }
    Ok(())
}

/// The rejections of `integration` counted but not recorded since `since`, and the latest.
pub(super) fn unrecorded_since(
    connection: &Connection,
    integration: &str,
    since: DateTime<Utc>,
) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT coalesce(sum(count), 0), max(last_at) FROM rejection_tallies \
         WHERE integration = ?1 AND minute >= ?2",
    )?;
    let since = time::format(since);
    let (count, last_at) = statement.query_row(params![integration, minute(&since)], |row| {
        Ok((row.get(0)?, row.get::<_, Option<String>>(1)?))
    })?;
    Ok((count, parse_optional_time(last_at.as_deref())?))
}

/// Folds up to one batch of rejected rows beyond the newest `kept` of each integration into the
/// tallies, in one transaction; answers how many rows went.
pub(super) fn prune_beyond_kept(connection: &Connection, kept: u32) -> Result<usize, StoreError> {
    let transaction = connection.unchecked_transaction()?;
    let mut pruned = 0;
    let mut after = String::new();
    while let Some(integration) = next_with_rejections(&transaction, &after)? {
        let room = PRUNE_BATCH - i64::try_from(pruned).unwrap_or(PRUNE_BATCH);
        if room <= 0 {
            break;
        }
        pruned += fold_oldest(&transaction, &integration, kept, room)?;
        after = integration;
    }
    transaction.commit()?;
    Ok(pruned)
}

/// The first integration after `after`, by name, that has rejected rows.
fn next_with_rejections(
    connection: &Connection,
    after: &str,
) -> Result<Option<String>, StoreError> {
    let mut statement = connection.prepare_cached(
        "SELECT min(integration) FROM deliveries \
         WHERE integration > ?1 AND status NOT BETWEEN 200 AND 299",
    )?;
    Ok(statement.query_row([after], |row| row.get(0))?)
}

/// Up to ?3 of the oldest rejected rows of ?1, none newer than ?2.
const OLDEST: &str = "SELECT id, at FROM deliveries \
     WHERE integration = ?1 AND status NOT BETWEEN 200 AND 299 AND id <= ?2 \
     ORDER BY id LIMIT ?3";

/// Moves up to `limit` of the oldest rejected rows of `integration` beyond the newest `kept`
/// into the tallies.
fn fold_oldest(
    connection: &Connection,
    integration: &str,
    kept: u32,
    limit: i64,
) -> Result<usize, StoreError> {
    let mut newest_pruned = connection.prepare_cached(
        "SELECT id FROM deliveries WHERE integration = ?1 AND status NOT BETWEEN 200 AND 299 \
         ORDER BY id DESC LIMIT 1 OFFSET ?2",
    )?;
    let Some(last): Option<String> = newest_pruned
        .query_row(params![integration, kept], |row| row.get(0))
        .optional()?
    else {
        return Ok(0);
    };
    connection
        .prepare_cached(&format!(
            "INSERT INTO rejection_tallies (integration, minute, count, last_at) \
             SELECT ?1, substr(at, 1, 16), count(*), max(at) FROM ({OLDEST}) WHERE true \
             GROUP BY substr(at, 1, 16) \
             ON CONFLICT (integration, minute) DO UPDATE \
             SET count = count + excluded.count, last_at = max(last_at, excluded.last_at)"
        ))?
        .execute(params![integration, last, limit])?;
    let deleted = connection
        .prepare_cached(&format!(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM ({OLDEST}))"
        ))?
        .execute(params![integration, last, limit])?;
    Ok(deleted)
}

/// Deletes up to one batch of tallies older than `before`; answers how many went.
pub(super) fn prune_old_tallies(
    connection: &Connection,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut statement = connection.prepare_cached(
        "DELETE FROM rejection_tallies WHERE (integration, minute) IN \
         (SELECT integration, minute FROM rejection_tallies WHERE minute < ?1 LIMIT ?2)",
    )?;
    let before = time::format(before);
    Ok(statement.execute(params![minute(&before), PRUNE_BATCH])?)
}

/// `2026-12-06T02:21` of `2026-12-06T02:21:45.123Z`: the minute a tally counts in.
fn minute(formatted: &str) -> &str {
    formatted.get(..16).unwrap_or(formatted)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::super::deliveries::{self, DeliveryRow};
    use super::super::schema;
    use super::*;
    use crate::ids;

    fn rejected(connection: &Connection, integration: &str, at: DateTime<Utc>, status: u16) {
        let id = ids::delivery_id(at);
        deliveries::insert(
            connection,
            &DeliveryRow {
                id: &id,
                integration,
                at,
                status,
                error_code: Some("unauthorized"),
                outcomes: None,
                duration_ms: 0,
                remote_addr: None,
                idempotency_key: Some("k"),
                body: None,
            },
        )
        .unwrap();
    }

    /// Now, to the millisecond the database keeps.
    fn now() -> DateTime<Utc> {
        time::parse(&time::format(Utc::now())).unwrap()
    }

    fn rows(connection: &Connection, integration: &str) -> (i64, i64) {
        connection
            .query_row(
                "SELECT count(*) FILTER (WHERE status BETWEEN 200 AND 299), \
                        count(*) FILTER (WHERE status NOT BETWEEN 200 AND 299) \
                 FROM deliveries WHERE integration = ?1",
                [integration],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap()
    }

    #[test]
    fn rows_beyond_the_kept_ones_become_tallies_and_every_rejection_still_counts() {
        let dir = tempfile::tempdir().unwrap();
        let connection = schema::open_for_writing(&dir.path().join("t.db")).unwrap();
        let start = now() - Duration::minutes(30);
        connection.execute_batch("BEGIN").unwrap();
        for n in 0..1500 {
            let at = start + Duration::seconds(n);
            rejected(&connection, "a", at, 401);
            if n % 3 == 0 {
                rejected(&connection, "a", at, 202);
                rejected(&connection, "b", at, 401);
            }
        }
        connection.execute_batch("COMMIT").unwrap();
        assert_eq!(rows(&connection, "a"), (500, 1500));
        let since = start - Duration::minutes(1);
        let mut pruned = 0;
        loop {
            let batch = prune_beyond_kept(&connection, 100).unwrap();
            pruned += batch;
            if batch == 0 {
                break;
            }
        }
        assert_eq!(pruned, 1400 + 400);
        assert_eq!(rows(&connection, "a"), (500, 100), "accepted rows stay");
        assert_eq!(rows(&connection, "b").1, 100);
        let (counted, last) = unrecorded_since(&connection, "a", since).unwrap();
        assert_eq!(counted, 1400);
        assert_eq!(last, Some(start + Duration::seconds(1399)));
        // The newest rows are the ones kept.
        let oldest_kept: String = connection
            .query_row(
                "SELECT min(at) FROM deliveries WHERE integration = 'a' AND status = 401",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert_eq!(oldest_kept, time::format(start + Duration::seconds(1400)));
    }

    #[test]
    fn tallies_add_up_per_minute_and_age_out() {
        let dir = tempfile::tempdir().unwrap();
        let connection = schema::open_for_writing(&dir.path().join("t.db")).unwrap();
        let now = now();
        let old = now - Duration::days(40);
        let counted = |integration: &str, count, last_at| UnrecordedRejections {
            integration: integration.into(),
            count,
            last_at,
        };
        tally(&connection, &[counted("a", 5, now), counted("b", 1, now)]).unwrap();
        tally(&connection, &[counted("a", 7, now), counted("a", 3, old)]).unwrap();
        let day_ago = now - Duration::hours(24);
        assert_eq!(
            unrecorded_since(&connection, "a", day_ago).unwrap(),
            (12, Some(now))
        );
        assert_eq!(
            unrecorded_since(&connection, "c", day_ago).unwrap(),
            (0, None)
        );
        assert_eq!(
            prune_old_tallies(&connection, now - Duration::days(30)).unwrap(),
            1
        );
        assert_eq!(
            unrecorded_since(&connection, "a", old - Duration::hours(1))
                .unwrap()
                .0,
            12
        );
    }
}
