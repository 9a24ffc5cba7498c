//! SQL for `GET /v1/stats`: counts from `alerts`, MTTA and MTTR from the event log.

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

pub(super) fn alert_counts(connection: &Connection) -> Result<StateCounts, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT state, count(*) FROM alerts GROUP BY state")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut counts = StateCounts::default();
    for row in rows {
        let (state, count) = row?;
        counts.add(
            State::parse(&state).ok_or_else(|| corrupt("state", &state))?,
            count,
        );
    }
    Ok(counts)
}

pub(super) fn stats(connection: &Connection, since: DateTime<Utc>) -> Result<Stats, StoreError> {
    let mut by_integration: BTreeMap<String, StateCounts> = BTreeMap::new();
    let mut names = connection.prepare_cached("SELECT name FROM integrations")?;
    for name in names.query_map([], |row| row.get::<_, String>(0))? {
        by_integration.insert(name?, StateCounts::default());
    }
    let mut by_state = StateCounts::default();
    let mut counts = connection.prepare_cached(
        "SELECT integration, state, count(*) FROM alerts GROUP BY integration, state",
    )?;
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
        .prepare_cached(RESPONSE_TIMES)?
        .query_row([time::format(since)], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(Stats {
        since,
        by_state,
        by_integration,
        mtta_seconds,
        mttr_seconds,
    })
}
