//! Keeping a PostgreSQL database in shape between groups, on the writer's connection: pruning
//! what has expired as SQLite's pruner does (so both stop growing at the same point), and
//! `--max-db-mb`.
//!
//! Each batch deletes by `ctid`: the rows its subquery locked, found by a TID scan (a join on
//! the key hashed the whole table: 86 ms instead of 4 for 1,000 tallies out of 100,000).
//!
//! Several nodes share the database: each batch takes `PRUNE_LOCK` with
//! `pg_try_advisory_xact_lock`, so one node prunes at a time and the others skip their turn.
//! Every batch is also correct without it: rows are claimed `FOR UPDATE SKIP LOCKED`, and the
//! fold of rejected rows into tallies counts exactly the rows its own `DELETE … RETURNING`
//! removed, so two folds never count a row twice.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};
use deadpool_postgres::{GenericClient, Pool};

use super::rows::ms;
use super::schema::MIGRATE_LOCK;
use crate::ids;
use crate::store::stored::IDEMPOTENCY_WINDOW;
use crate::store::StoreError;

/// Rows deleted per batch, as on SQLite: each batch is its own short transaction.
const PRUNE_BATCH: i64 = 1000;
/// How often a batch of each is pruned, by the server's clock.
const PRUNE_EVERY: Duration = Duration::minutes(1);
/// Taken per batch: alertgate's namespace (as the migrations' lock), then 2 for pruning.
const PRUNE_LOCK: (i32, i32) = (MIGRATE_LOCK.0, 2);

/// Deletes expired idempotency keys, old deliveries and tallies, and rejected deliveries beyond
/// those each integration keeps: one batch of each a minute, and again after the next group
/// while the last batch was full.
pub(super) struct Pruner {
    last: DateTime<Utc>,
    keep_deliveries: Duration,
    kept_rejections: u32,
}

/// One kind of batch.
#[derive(Clone, Copy)]
enum Batch {
    ExpiredKeys,
    OldDeliveries,
    RejectedBeyondKept,
    OldTallies,
}

impl Batch {
    fn what(self) -> &'static str {
        match self {
            Batch::ExpiredKeys => "expired idempotency keys",
            Batch::OldDeliveries => "old deliveries",
            Batch::RejectedBeyondKept => "rejected deliveries beyond those kept",
            Batch::OldTallies => "old rejection tallies",
        }
    }
}

impl Pruner {
    pub(super) fn new(now: DateTime<Utc>, keep_deliveries: Duration, kept_rejections: u32) -> Self {
        Pruner {
            last: now,
            keep_deliveries,
            kept_rejections,
        }
    }

    /// Prunes one batch of each when a minute has passed since the last time (or the clock
    /// went back), or when the last time found more than one batch.
    pub(super) async fn run_if_due(&mut self, pool: &Pool, now: DateTime<Utc>) {
        if now >= self.last && now - self.last < PRUNE_EVERY {
            return;
        }
        let mut more = false;
        for batch in [
            Batch::ExpiredKeys,
            Batch::OldDeliveries,
            Batch::RejectedBeyondKept,
            Batch::OldTallies,
        ] {
            let started = Instant::now();
            match self.batch(pool, batch, now).await {
                Ok(None) => {
                    log::debug!("another node is pruning; this one skips its turn");
                    break;
                }
                Ok(Some(0)) => {}
                Ok(Some(count)) => {
                    log::debug!("pruned {count} {} in {:?}", batch.what(), started.elapsed());
                    more |= count == PRUNE_BATCH;
                }
                Err(error) => log::warn!("could not prune {}: {error}", batch.what()),
            }
        }
        // A full batch means more are waiting: stay due, and take the next batch after the
        // next group instead of a minute later.
        if !more {
            self.last = now;
        }
    }

    /// One batch in a transaction of its own; `None` when another node holds the lock.
    async fn batch(
        &self,
        pool: &Pool,
        batch: Batch,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let mut client = pool.get().await?;
        let transaction = client.transaction().await?;
        let lock = transaction
            .prepare_cached("SELECT pg_try_advisory_xact_lock($1, $2)")
            .await?;
        let locked: bool = transaction
            .query_one(&lock, &[&PRUNE_LOCK.0, &PRUNE_LOCK.1])
            .await?
            .try_get(0)?;
        if !locked {
            transaction.rollback().await?;
            return Ok(None);
        }
        let pruned = match batch {
            Batch::ExpiredKeys => expired_keys(&transaction, now).await?,
            Batch::OldDeliveries => {
                old_deliveries(&transaction, now - self.keep_deliveries).await?
            }
            Batch::RejectedBeyondKept => beyond_kept(&transaction, self.kept_rejections).await?,
            Batch::OldTallies => old_tallies(&transaction, now - self.keep_deliveries).await?,
        };
        transaction.commit().await?;
        Ok(Some(pruned))
    }
}

/// Deletes up to a batch of idempotency keys older than the window.
async fn expired_keys(client: &impl GenericClient, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let statement = client
        .prepare_cached(
            "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid \
             FROM idempotency_keys WHERE created_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED))",
        )
        .await?;
    let deleted = client
        .execute(&statement, &[&ms(now - IDEMPOTENCY_WINDOW), &PRUNE_BATCH])
        .await?;
    Ok(i64::try_from(deleted).unwrap_or(i64::MAX))
}

/// Deletes up to a batch of deliveries from before `before`: ids are minted in time order.
async fn old_deliveries(
    client: &impl GenericClient,
    before: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let statement = client
        .prepare_cached(
            "DELETE FROM deliveries WHERE ctid = ANY(ARRAY(SELECT ctid FROM deliveries \
             WHERE id < $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED))",
        )
        .await?;
    let deleted = client
        .execute(&statement, &[&ids::delivery_id_floor(before), &PRUNE_BATCH])
        .await?;
    Ok(i64::try_from(deleted).unwrap_or(i64::MAX))
}

/// Folds up to a batch of rejected rows beyond the newest `kept` of each integration into the
/// tallies, integration by integration in name order; answers how many rows went.
async fn beyond_kept(client: &impl GenericClient, kept: u32) -> Result<i64, StoreError> {
    let next = client
        .prepare_cached(
            "SELECT min(integration) FROM deliveries \
             WHERE integration > $1 AND status NOT BETWEEN 200 AND 299",
        )
        .await?;
    let newest_pruned = client
        .prepare_cached(
            "SELECT id FROM deliveries WHERE integration = $1 AND status NOT BETWEEN 200 AND 299 \
             ORDER BY id DESC LIMIT 1 OFFSET $2",
        )
        .await?;
    // Rows no newer than $2 are beyond the kept ones whatever comes in meanwhile: new rows
    // only push more of them out. Tallies are upserted in key order, as the writer's are. The
    // row comparison keeps the planner on `rejected_deliveries`: with `id <= $2` it walks the
    // primary key from the oldest row, over every other integration's (measured: 55-107 ms
    // instead of 17-37 for a batch).
    let fold = client
        .prepare_cached(
            "WITH gone AS (DELETE FROM deliveries WHERE ctid = ANY(ARRAY(SELECT ctid \
               FROM deliveries WHERE integration = $1 AND status NOT BETWEEN 200 AND 299 \
               AND (integration, id) <= ($1, $2) ORDER BY integration, id LIMIT $3 \
               FOR UPDATE SKIP LOCKED)) RETURNING at), \
             folded AS (INSERT INTO rejection_tallies AS r (integration, minute, count, last_at) \
               SELECT $1, date_trunc('minute', at, 'UTC'), count(*), max(at) FROM gone \
               GROUP BY 2 ORDER BY 2 \
               ON CONFLICT (integration, minute) DO UPDATE \
               SET count = r.count + excluded.count, last_at = greatest(r.last_at, excluded.last_at)) \
             SELECT count(*) FROM gone",
        )
        .await?;
    let kept = i64::from(kept);
    let mut pruned = 0;
    let mut after = String::new();
    while pruned < PRUNE_BATCH {
        let integration: Option<String> = client.query_one(&next, &[&after]).await?.try_get(0)?;
        let Some(integration) = integration else {
            break;
        };
        let last = client
            .query_opt(&newest_pruned, &[&integration, &kept])
            .await?;
        if let Some(last) = last {
            let last: String = last.try_get(0)?;
            let room = PRUNE_BATCH - pruned;
            let folded: i64 = client
                .query_one(&fold, &[&integration, &last, &room])
                .await?
                .try_get(0)?;
            pruned += folded;
        }
        after = integration;
    }
    Ok(pruned)
}

/// Deletes up to a batch of tallies of minutes before `before`'s.
async fn old_tallies(
    client: &impl GenericClient,
    before: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let minute = before
        .duration_trunc(Duration::minutes(1))
        .unwrap_or(before);
    let statement = client
        .prepare_cached(
            "DELETE FROM rejection_tallies WHERE ctid = ANY(ARRAY(SELECT ctid \
             FROM rejection_tallies WHERE minute < $1 LIMIT $2 FOR UPDATE SKIP LOCKED))",
        )
        .await?;
    let deleted = client.execute(&statement, &[&minute, &PRUNE_BATCH]).await?;
    Ok(i64::try_from(deleted).unwrap_or(i64::MAX))
}

/// `--max-db-mb` on PostgreSQL: the database's size as the server reports it
/// (`pg_database_size`), measured by the writer's upkeep and, while over, by the health check.
/// While over, ingest and manual actions are refused `storage_full`; rejected deliveries are
/// only counted. Shared by the writer's backend and the store.
pub(super) struct SizeLimit {
    limit: Option<u64>,
    over: AtomicBool,
}

impl SizeLimit {
    pub(super) fn new(limit: Option<u64>) -> SizeLimit {
        SizeLimit {
            limit,
            over: AtomicBool::new(false),
        }
    }

    /// Notes the size just measured.
    pub(super) fn measured(&self, bytes: u64) {
        let over = self.limit.is_some_and(|limit| bytes > limit);
        if over != self.over.swap(over, Ordering::Relaxed) {
            if over {
                log::warn!(
                    "the database takes {bytes} bytes, over --max-db-mb: refusing writes until \
                     it is back under"
                );
            } else {
                log::info!("the database takes {bytes} bytes, under --max-db-mb again");
            }
        }
    }

    /// Whether the last size measured was over the limit.
    pub(super) fn is_over(&self) -> bool {
        self.over.load(Ordering::Relaxed)
    }

    /// What the health check says about space, given whether the writer's last write was
    /// refused for want of it: full while over the limit; after a refusal without a limit, a
    /// full disk, which only the next write can tell.
    pub(super) fn says_full(&self, writer_full: bool) -> bool {
        self.is_over() || (writer_full && self.limit.is_none())
    }
}

/// The database's size in bytes, as `pg_database_size` reports it.
pub(super) async fn database_size(client: &impl GenericClient) -> Result<u64, StoreError> {
    let statement = client
        .prepare_cached("SELECT pg_database_size(current_database())")
        .await?;
    let bytes: i64 = client.query_one(&statement, &[]).await?.try_get(0)?;
    Ok(u64::try_from(bytes).unwrap_or(0))
}
