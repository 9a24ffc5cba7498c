//! The PostgreSQL side of the counters behind `GET /v1/stats`: adding a group's `Tally` in its
//! transaction (one statement per table, however many rows), and taking an integration's share
//! out when it is purged.
//!
//! Counter rows are updated by every group on every node; each statement takes its rows in key
//! order, so two groups never wait on each other's rows in a cycle.

use deadpool_postgres::GenericClient;

use crate::store::counters::Tally;
use crate::store::StoreError;

/// Adds what `tally` gathered to the counter tables, in the caller's transaction, and empties it.
pub(super) async fn write(
    tally: &mut Tally,
    client: &impl GenericClient,
) -> Result<(), StoreError> {
    add_counts(tally, client).await?;
    add_times(tally, client).await
}

async fn add_counts(tally: &mut Tally, client: &impl GenericClient) -> Result<(), StoreError> {
    let mut counts: Vec<((String, &'static str), i64)> = tally
        .drain_counts()
        .map(|((integration, state), count)| ((integration, state.as_str()), count))
        .collect();
    if counts.is_empty() {
        return Ok(());
    }
    counts.sort();
    let (keys, deltas): (Vec<_>, Vec<i64>) = counts.into_iter().unzip();
    let (integrations, states): (Vec<String>, Vec<&str>) = keys.into_iter().unzip();
    let statement = client
        .prepare_cached(
            "INSERT INTO alert_counts AS c (integration, state, count) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) \
             ON CONFLICT (integration, state) DO UPDATE SET count = c.count + excluded.count",
        )
        .await?;
    client
        .execute(&statement, &[&integrations, &states, &deltas])
        .await?;
    Ok(())
}

async fn add_times(tally: &mut Tally, client: &impl GenericClient) -> Result<(), StoreError> {
    let mut times: Vec<_> = tally.drain_times().collect();
    if times.is_empty() {
        return Ok(());
    }
    times.sort_by_key(|(key, _)| *key);
    let mut columns: [Vec<i64>; 6] = Default::default();
    for ((grain, bucket), sums) in times {
        let values = [
            grain,
            bucket,
            sums.acknowledged,
            sums.to_acknowledge,
            sums.resolved,
            sums.to_resolve,
        ];
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
    }
    let statement = client
        .prepare_cached(
            "INSERT INTO response_times AS r (grain, bucket, acknowledged, to_acknowledge, \
                 resolved, to_resolve) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
                 $5::bigint[], $6::bigint[]) \
             ON CONFLICT (grain, bucket) DO UPDATE SET \
                 acknowledged = r.acknowledged + excluded.acknowledged, \
                 to_acknowledge = r.to_acknowledge + excluded.to_acknowledge, \
                 resolved = r.resolved + excluded.resolved, \
                 to_resolve = r.to_resolve + excluded.to_resolve",
        )
        .await?;
    let [grains, buckets, acknowledged, to_acknowledge, resolved, to_resolve] = &columns;
    client
        .execute(
            &statement,
            &[
                grains,
                buckets,
                acknowledged,
                to_acknowledge,
                resolved,
                to_resolve,
            ],
        )
        .await?;
    Ok(())
}

/// Takes an integration's alerts and episodes out of the counters before they are deleted with
/// it: its counts go, and its episodes' response times (read from the log, as the writer summed
/// them) are subtracted from their buckets.
pub(super) async fn forget_integration(
    client: &impl GenericClient,
    name: &str,
) -> Result<(), StoreError> {
    client
        .execute("DELETE FROM alert_counts WHERE integration = $1", &[&name])
        .await?;
    client
        .execute(
            "WITH openings AS (
                 SELECT alert_id, seq, at,
                        lead(seq) OVER (PARTITION BY alert_id ORDER BY seq) AS next_opening
                 FROM alert_events
                 WHERE integration = $1 AND outcome IN ('created', 'reopened')
             ),
             episodes AS (
                 SELECT millis(o.at) AS opened,
                        (SELECT millis(min(e.at)) FROM alert_events e
                          WHERE e.integration = $1 AND e.alert_id = o.alert_id AND e.seq > o.seq
                            AND (o.next_opening IS NULL OR e.seq < o.next_opening)
                            AND e.outcome = 'acknowledged') AS acknowledged,
                        (SELECT millis(min(e.at)) FROM alert_events e
                          WHERE e.integration = $1 AND e.alert_id = o.alert_id AND e.seq > o.seq
                            AND (o.next_opening IS NULL OR e.seq < o.next_opening)
                            AND e.outcome = 'resolved') AS resolved
                 FROM openings o
             ),
             grains (grain) AS (VALUES (1::bigint), (1000), (60000), (3600000), (86400000))
             INSERT INTO response_times AS r (grain, bucket, acknowledged, to_acknowledge,
                 resolved, to_resolve)
             SELECT grain, opened - opened % grain, -count(acknowledged),
                    -coalesce(sum(acknowledged - opened), 0), -count(resolved),
                    -coalesce(sum(resolved - opened), 0)
             FROM episodes, grains
             WHERE acknowledged IS NOT NULL OR resolved IS NOT NULL
             GROUP BY grain, opened - opened % grain
             ORDER BY 1, 2
             ON CONFLICT (grain, bucket) DO UPDATE SET
                 acknowledged = r.acknowledged + excluded.acknowledged,
                 to_acknowledge = r.to_acknowledge + excluded.to_acknowledge,
                 resolved = r.resolved + excluded.resolved,
                 to_resolve = r.to_resolve + excluded.to_resolve",
            &[&name],
        )
        .await?;
    Ok(())
}
