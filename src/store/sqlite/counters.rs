//! The SQLite side of the counters behind `GET /v1/stats` (tables `alert_counts` and
//! `response_times`, schema step 5): adding a group's `Tally` in its transaction, and taking an
//! integration's share out when it is purged.

use rusqlite::{params, Connection};

use super::StoreError;
use crate::store::counters::Tally;

/// Adds what `tally` gathered to the counter tables, in the caller's transaction, and empties it.
pub(super) fn write(tally: &mut Tally, connection: &Connection) -> Result<(), StoreError> {
    let mut add_count = connection.prepare_cached(
        "INSERT INTO alert_counts (integration, state, count) VALUES (?1, ?2, ?3) \
         ON CONFLICT (integration, state) DO UPDATE SET count = count + excluded.count",
    )?;
    for ((integration, state), count) in tally.drain_counts() {
        add_count.execute(params![integration, state.as_str(), count])?;
    }
    let mut add_times = connection.prepare_cached(ADD_RESPONSE_TIMES)?;
    for ((grain, bucket), sums) in tally.drain_times() {
        add_times.execute(params![
            grain,
            bucket,
            sums.acknowledged,
            sums.to_acknowledge,
            sums.resolved,
            sums.to_resolve
        ])?;
    }
    Ok(())
}

const ADD_RESPONSE_TIMES: &str = "
    INSERT INTO response_times (grain, bucket, acknowledged, to_acknowledge, resolved, to_resolve)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6)
    ON CONFLICT (grain, bucket) DO UPDATE SET
        acknowledged = acknowledged + excluded.acknowledged,
        to_acknowledge = to_acknowledge + excluded.to_acknowledge,
        resolved = resolved + excluded.resolved,
        to_resolve = to_resolve + excluded.to_resolve";

/// Takes an integration's alerts and episodes out of the counters, before they are deleted with
/// it: its counts go, and its episodes' response times (read from the log, as schema step 5
/// first summed them) are subtracted from their buckets.
pub(super) fn forget_integration(connection: &Connection, name: &str) -> Result<(), StoreError> {
    connection.execute("DELETE FROM alert_counts WHERE integration = ?1", [name])?;
    connection.execute(
        "WITH openings AS (
             SELECT alert_id, seq, at,
                    lead(seq) OVER (PARTITION BY alert_id ORDER BY seq) AS next_opening
             FROM alert_events
             WHERE integration = ?1 AND (outcome = 'created' OR outcome = 'reopened')
         ),
         episodes AS (
             SELECT CAST(round(unixepoch(o.at, 'subsec') * 1000) AS INTEGER) AS opened,
                    (SELECT CAST(round(unixepoch(min(e.at), 'subsec') * 1000) AS INTEGER)
                      FROM alert_events e
                      WHERE e.integration = ?1 AND e.alert_id = o.alert_id AND e.seq > o.seq
                        AND (o.next_opening IS NULL OR e.seq < o.next_opening)
                        AND e.outcome = 'acknowledged') AS acknowledged,
                    (SELECT CAST(round(unixepoch(min(e.at), 'subsec') * 1000) AS INTEGER)
                      FROM alert_events e
                      WHERE e.integration = ?1 AND e.alert_id = o.alert_id AND e.seq > o.seq
                        AND (o.next_opening IS NULL OR e.seq < o.next_opening)
                        AND e.outcome = 'resolved') AS resolved
             FROM openings o
         ),
         grains (grain) AS (VALUES (1), (1000), (60000), (3600000), (86400000))
         INSERT INTO response_times (grain, bucket, acknowledged, to_acknowledge, resolved,
             to_resolve)
         SELECT grain, opened - opened % grain, -count(acknowledged),
                -coalesce(sum(acknowledged - opened), 0), -count(resolved),
                -coalesce(sum(resolved - opened), 0)
         FROM episodes, grains
         WHERE acknowledged IS NOT NULL OR resolved IS NOT NULL
         GROUP BY grain, opened - opened % grain
         ON CONFLICT (grain, bucket) DO UPDATE SET
             acknowledged = acknowledged + excluded.acknowledged,
             to_acknowledge = to_acknowledge + excluded.to_acknowledge,
             resolved = resolved + excluded.resolved,
             to_resolve = to_resolve + excluded.to_resolve",
        [name],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests;
