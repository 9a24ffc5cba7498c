//! Test-only: the stats counted afresh from `alerts` and the event log, the way `GET /v1/stats`
//! computed them before it read counters. Tests compare the counters against it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{corrupt, StateCounts, Stats, StoreError};
use crate::model::State;
use crate::time;

/// Each episode opened since `?1`, with when it was first acknowledged and when it was resolved:
/// the first such event after the opening and before the next opening of the same alert.
const RESPONSE_TIMES: &str = "
    WITH openings AS (
        SELECT integration, alert_id, seq, at,
               lead(seq) OVER (PARTITION BY integration, alert_id ORDER BY seq) AS next_opening
        FROM alert_events
        WHERE outcome IN ('created', 'reopened') AND at >= ?1
    ),
    episodes AS (
        SELECT o.at AS opened,
               (SELECT min(e.at) FROM alert_events e
                 WHERE e.integration = o.integration AND e.alert_id = o.alert_id AND e.seq > o.seq
                   AND (o.next_opening IS NULL OR e.seq < o.next_opening)
                   AND e.outcome = 'acknowledged') AS acknowledged,
               (SELECT min(e.at) FROM alert_events e
                 WHERE e.integration = o.integration AND e.alert_id = o.alert_id AND e.seq > o.seq
                   AND (o.next_opening IS NULL OR e.seq < o.next_opening)
                   AND e.outcome = 'resolved') AS resolved
        FROM openings o
    )
    SELECT avg(unixepoch(acknowledged, 'subsec') - unixepoch(opened, 'subsec')),
           avg(unixepoch(resolved, 'subsec') - unixepoch(opened, 'subsec'))
    FROM episodes";

/// `Stats` from a full count of the current rows.
pub(super) fn recount(connection: &Connection, since: DateTime<Utc>) -> Result<Stats, StoreError> {
    let mut by_integration: BTreeMap<String, StateCounts> = BTreeMap::new();
    let mut names = connection.prepare("SELECT name FROM integrations")?;
    for name in names.query_map([], |row| row.get::<_, String>(0))? {
        by_integration.insert(name?, StateCounts::default());
    }
    let mut by_state = StateCounts::default();
    let mut counts =
        connection.prepare("SELECT integration, state, count(*) FROM alerts GROUP BY 1, 2")?;
    let rows = counts.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, i64>(2)?,
        ))
    })?;
    for row in rows {
        let (integration, state, count) = row?;
        let state = State::parse(&state).ok_or_else(|| corrupt("state", &state))?;
        by_state.add(state, count);
        by_integration
            .entry(integration)
            .or_default()
            .add(state, count);
    }
    let (mtta_seconds, mttr_seconds) = connection
        .prepare(RESPONSE_TIMES)?
        .query_row([time::format(since)], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(Stats {
        since,
        by_state,
        by_integration,
        mtta_seconds,
        mttr_seconds,
    })
}

/// Whether `counted` (from the counters) says what `recounted` does: the same counts, and means
/// equal up to the rounding of averaging seconds rather than summing milliseconds.
pub(super) fn agree(counted: &Stats, recounted: &Stats) -> bool {
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-6 * a.abs().max(1.0),
        _ => false,
    };
    counted.since == recounted.since
        && counted.by_state == recounted.by_state
        && counted.by_integration == recounted.by_integration
        && close(counted.mtta_seconds, recounted.mtta_seconds)
        && close(counted.mttr_seconds, recounted.mttr_seconds)
}
