//! The counters behind `GET /v1/stats` (tables `alert_counts` and `response_times`, schema step
//! 4), kept in the same transaction as the events that move them.
//!
//! The writer gathers a group's changes in a `Tally` and adds them up in one statement per
//! counter row before it commits: a group of a thousand creates is one `UPDATE`, not a thousand.
//! What a rolled-back group or request gathered is thrown away with it, and what was already
//! written is undone by SQLite with the rest, so the counters never count an event twice.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::StoreError;
use crate::lifecycle::{Alert, Outcome};
use crate::model::State;

/// The widths of the `response_times` buckets in milliseconds, finest first; each divides the
/// next, so a range of time splits into whole buckets of each grain.
pub(super) const GRAINS: [i64; 5] = [1, 1_000, 60_000, 3_600_000, 86_400_000];

/// The sums of one `response_times` bucket, or what a group adds to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct ResponseSums {
    pub acknowledged: i64,
    pub to_acknowledge: i64,
    pub resolved: i64,
    pub to_resolve: i64,
}

/// What the events of a group (or of one request, when requests are kept apart) add to the
/// counters, not yet written.
#[derive(Debug, Default)]
pub(super) struct Tally {
    counts: HashMap<(String, State), i64>,
    /// By (grain, bucket start).
    times: HashMap<(i64, i64), ResponseSums>,
}

impl Tally {
    /// Counts an alert written as `alert` that was `previous` (`None`: it is new) after an event
    /// with `outcome`.
    pub(super) fn record(&mut self, previous: Option<&Alert>, alert: &Alert, outcome: Outcome) {
        let before = previous.map(|previous| previous.state);
        if before != Some(alert.state) {
            if let Some(state) = before {
                *self
                    .counts
                    .entry((alert.integration.clone(), state))
                    .or_default() -= 1;
            }
            *self
                .counts
                .entry((alert.integration.clone(), alert.state))
                .or_default() += 1;
        }
        // The lifecycle acknowledges and resolves an episode at most once each, so these are
        // its first acknowledge and its resolve.
        match (outcome, alert.acknowledged_at, alert.resolved_at) {
            (Outcome::Acknowledged, Some(at), _) => {
                let took = millis(at) - millis(alert.opened_at);
                self.add_time(alert.opened_at, |sums| {
                    sums.acknowledged += 1;
                    sums.to_acknowledge += took;
                });
            }
            (Outcome::Resolved, _, Some(at)) => {
                let took = millis(at) - millis(alert.opened_at);
                self.add_time(alert.opened_at, |sums| {
                    sums.resolved += 1;
                    sums.to_resolve += took;
                });
            }
            _ => {}
        }
    }

    fn add_time(&mut self, opened: DateTime<Utc>, add: impl Fn(&mut ResponseSums)) {
        let opened = millis(opened);
        for grain in GRAINS {
            add(self
                .times
                .entry((grain, bucket(opened, grain)))
                .or_default());
        }
    }

    /// Forgets what was gathered: its events were rolled back.
    pub(super) fn clear(&mut self) {
        self.counts.clear();
        self.times.clear();
    }

    /// Adds what was gathered to the counter tables, in the caller's transaction, and starts
    /// over.
    pub(super) fn write(&mut self, connection: &Connection) -> Result<(), StoreError> {
        if !self.counts.is_empty() {
            let mut add = connection.prepare_cached(
                "INSERT INTO alert_counts (integration, state, count) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (integration, state) DO UPDATE SET count = count + excluded.count",
            )?;
            for ((integration, state), count) in self.counts.drain() {
                if count != 0 {
                    add.execute(params![integration, state.as_str(), count])?;
                }
            }
        }
        if !self.times.is_empty() {
            let mut add = connection.prepare_cached(ADD_RESPONSE_TIMES)?;
            for ((grain, bucket), sums) in self.times.drain() {
                add.execute(params![
                    grain,
                    bucket,
                    sums.acknowledged,
                    sums.to_acknowledge,
                    sums.resolved,
                    sums.to_resolve
                ])?;
            }
        }
        Ok(())
    }
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

/// Milliseconds since 1970: the precision times are stored with (`time::format` drops the
/// rest, as this does).
fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

/// The start of the bucket of `grain` that holds `millis`, as schema step 5 computes it.
pub(super) fn bucket(millis: i64, grain: i64) -> i64 {
    millis - millis % grain
}

#[cfg(test)]
mod tests;
