//! SQL for `GET /v1/stats`, read from the counters the writer keeps (`counters`): counts by
//! integration and state, MTTA and MTTR from response times summed by when episodes opened.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection};

use super::{corrupt, StateCounts, Stats, StoreError};
use crate::model::State;
use crate::store::counters::{round_up, ResponseSums, GRAINS};

pub(super) fn alert_counts(connection: &Connection) -> Result<StateCounts, StoreError> {
    let mut statement =
        connection.prepare_cached("SELECT state, sum(count) FROM alert_counts GROUP BY state")?;
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
    let mut counts = connection
        .prepare_cached("SELECT integration, state, count FROM alert_counts WHERE count <> 0")?;
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
    let sums = response_times(connection, since)?;
    Ok(Stats {
        since,
        by_state,
        by_integration,
        mtta_seconds: sums.mean_to_acknowledge(),
        mttr_seconds: sums.mean_to_resolve(),
    })
}

/// The response times of every episode opened at or after `since`, from the fewest buckets that
/// cover that time: `since`'s own second in 1 ms buckets, the rest of its minute in 1 s buckets,
/// and so on up to whole days. At most a thousand rows and one per day, however many episodes.
fn response_times(
    connection: &Connection,
    since: DateTime<Utc>,
) -> Result<ResponseSums, StoreError> {
    let mut sum = connection.prepare_cached(
        "SELECT coalesce(sum(acknowledged), 0), coalesce(sum(to_acknowledge), 0), \
                coalesce(sum(resolved), 0), coalesce(sum(to_resolve), 0) \
         FROM response_times WHERE grain = ?1 AND bucket >= ?2 AND bucket < ?3",
    )?;
    let since = since.timestamp_millis();
    let mut total = ResponseSums::default();
    for (finer, coarser) in GRAINS
        .iter()
        .zip(GRAINS.iter().skip(1).map(Some).chain([None]))
    {
        let from = round_up(since, *finer);
        let until = coarser.map_or(i64::MAX, |coarser| round_up(since, *coarser));
        let part = sum.query_row(params![finer, from, until], |row| {
            Ok(ResponseSums {
                acknowledged: row.get(0)?,
                to_acknowledge: row.get(1)?,
                resolved: row.get(2)?,
                to_resolve: row.get(3)?,
            })
        })?;
        total.acknowledged += part.acknowledged;
        total.to_acknowledge += part.to_acknowledge;
        total.resolved += part.resolved;
        total.to_resolve += part.to_resolve;
    }
    Ok(total)
}
