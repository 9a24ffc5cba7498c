//! SQL for `GET /v1/stats`, read from the counters the writer keeps, as on SQLite: counts by
//! integration and state, MTTA and MTTR from response times summed by when episodes opened.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use crate::store::counters::{round_up, ResponseSums, GRAINS};
use crate::store::stored;
use crate::store::{StateCounts, Stats, StoreError};

pub(super) async fn alert_counts(client: &impl GenericClient) -> Result<StateCounts, StoreError> {
    let statement = client
        .prepare_cached("SELECT state, sum(count)::bigint FROM alert_counts GROUP BY state")
        .await?;
    let mut counts = StateCounts::default();
    for row in client.query(&statement, &[]).await? {
        let state: String = row.try_get(0)?;
        counts.add(stored::state(&state)?, row.try_get(1)?);
    }
    Ok(counts)
}

/// The stats as of one snapshot: the caller runs this in a repeatable-read transaction, so the
/// counts and the response times agree.
pub(super) async fn stats(
    client: &impl GenericClient,
    since: DateTime<Utc>,
) -> Result<Stats, StoreError> {
    let mut by_integration: BTreeMap<String, StateCounts> = BTreeMap::new();
    let names = client
        .prepare_cached("SELECT name FROM integrations")
        .await?;
    for row in client.query(&names, &[]).await? {
        by_integration.insert(row.try_get(0)?, StateCounts::default());
    }
    let mut by_state = StateCounts::default();
    let counts = client
        .prepare_cached("SELECT integration, state, count FROM alert_counts WHERE count <> 0")
        .await?;
    for row in client.query(&counts, &[]).await? {
        let integration: String = row.try_get(0)?;
        let state: String = row.try_get(1)?;
        let state = stored::state(&state)?;
        let count: i64 = row.try_get(2)?;
        by_state.add(state, count);
        by_integration
            .entry(integration)
            .or_default()
            .add(state, count);
    }
    let sums = response_times(client, since).await?;
    Ok(Stats {
        since,
        by_state,
        by_integration,
        mtta_seconds: sums.mean_to_acknowledge(),
        mttr_seconds: sums.mean_to_resolve(),
    })
}

/// The response times of every episode opened at or after `since`, from the fewest buckets
/// that cover that time (as SQLite's `stats::response_times`), in one statement.
async fn response_times(
    client: &impl GenericClient,
    since: DateTime<Utc>,
) -> Result<ResponseSums, StoreError> {
    let since = since.timestamp_millis();
    let mut grains = Vec::new();
    let mut froms = Vec::new();
    let mut untils = Vec::new();
    for (finer, coarser) in GRAINS
        .iter()
        .zip(GRAINS.iter().skip(1).map(Some).chain([None]))
    {
        grains.push(*finer);
        froms.push(round_up(since, *finer));
        untils.push(coarser.map_or(i64::MAX, |coarser| round_up(since, *coarser)));
    }
    let statement = client
        .prepare_cached(
            "SELECT coalesce(sum(r.acknowledged), 0)::bigint, \
                    coalesce(sum(r.to_acknowledge), 0)::bigint, \
                    coalesce(sum(r.resolved), 0)::bigint, coalesce(sum(r.to_resolve), 0)::bigint \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS g (grain, first, until) \
             JOIN response_times r ON r.grain = g.grain AND r.bucket >= g.first \
                                  AND r.bucket < g.until",
        )
        .await?;
    let row = client
        .query_one(&statement, &[&grains, &froms, &untils])
        .await?;
    Ok(ResponseSums {
        acknowledged: row.try_get(0)?,
        to_acknowledge: row.try_get(1)?,
        resolved: row.try_get(2)?,
        to_resolve: row.try_get(3)?,
    })
}
