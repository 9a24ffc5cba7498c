//! Keeping the database in shape between groups, on the writer's connection: the write-ahead
//! log's size, and pruning what has expired. The checkpointer (`checkpointer`) does the rest of
//! the log's upkeep on a connection of its own.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::{deliveries, rejections, schema};

/// How often expired idempotency keys and old deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_mins(1);

/// Keeps the write-ahead log from growing without end under sustained load.
///
/// The checkpointer thread copies the log into the database file, but SQLite starts writing the
/// log from its beginning again only when a write transaction begins with every frame copied,
/// which never happens while the writer commits without pause: the checkpointer's copy always
/// trails the newest commit. Under `bench/run --batch 4` the log grew past 2 GiB in 30 s and
/// ingest slowed by a third. So once the log holds more than the limit, the writer itself runs a
/// passive checkpoint between two groups, after answering the first: it copies what the
/// checkpointer has not yet, and the next group starts the log over. That costs one pause of
/// 20-40 ms (a copy and an fsync of the database file) per limit's worth of log: about every
/// nine seconds at full speed with the default 1 GiB. A limit of 256 MiB paused every two
/// seconds and doubled the p99 latency.
pub(super) struct WalBound {
    /// Frames in the log after the last commit, as SQLite's WAL hook reports them.
    frames: Arc<AtomicI64>,
    limit_frames: i64,
}

impl WalBound {
    pub(super) fn watch(connection: &mut Connection, limit_bytes: u64) -> WalBound {
        let frames = Arc::new(AtomicI64::new(0));
        let page_size = schema::page_size(connection).unwrap_or(4096);
        let limit_frames = i64::try_from(limit_bytes).unwrap_or(i64::MAX) / page_size.max(512);
        let seen = frames.clone();
        let hooked = connection.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages| {
            seen.store(i64::from(pages), Ordering::Relaxed);
            Ok(())
        }));
        // After a restart the log file is cut back to the limit, should it have grown past it
        // while readers kept the log from restarting.
        let limited = connection.query_row(
            &format!("PRAGMA journal_size_limit = {limit_bytes}"),
            [],
            |_| Ok(()),
        );
        if let Err(error) = hooked.and(limited) {
            log::warn!("cannot bound the write-ahead log: {error}");
        }
        WalBound {
            frames,
            limit_frames: limit_frames.max(1),
        }
    }

    pub(super) fn restart_if_full(&self, connection: &Connection) {
        if self.frames.load(Ordering::Relaxed) < self.limit_frames {
            return;
        }
        let started = Instant::now();
        // (busy, frames in the log, frames copied); busy when the checkpointer is mid-copy, in
        // which case the next group tries again.
        let done = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        });
        match done {
            Ok((busy, log, copied)) => log::debug!(
                "write-ahead log at {log} frames, {copied} copied (busy {busy}) in {:?}",
                started.elapsed()
            ),
            Err(error) => log::warn!("checkpoint to restart the write-ahead log failed: {error}"),
        }
    }
}

/// Deletes expired idempotency keys, old deliveries and tallies, and rejected deliveries beyond
/// those each integration keeps, one small batch of each at a time, each batch its own short
/// transaction between groups: never one long delete that stalls ingest.
pub(super) struct Pruner {
    last: Instant,
    keep_deliveries: chrono::Duration,
    kept_rejections: u32,
}

impl Pruner {
    pub(super) fn new(keep_deliveries: chrono::Duration, kept_rejections: u32) -> Pruner {
        Pruner {
            last: Instant::now(),
            keep_deliveries,
            kept_rejections,
        }
    }

    /// Prunes one batch of each when a minute has passed since the last time, or when the last
    /// time found more than one batch.
    pub(super) fn run_if_due(&mut self, connection: &Connection, now: DateTime<Utc>) {
        if self.last.elapsed() < PRUNE_EVERY {
            return;
        }
        let keys = deliveries::prune_expired_keys(connection, now);
        let old = deliveries::prune_old_deliveries(connection, now, self.keep_deliveries);
        let rejected = rejections::prune_beyond_kept(connection, self.kept_rejections);
        let tallies = rejections::prune_old_tallies(connection, now - self.keep_deliveries);
        let mut more = false;
        for (what, pruned) in [
            ("expired idempotency keys", keys),
            ("old deliveries", old),
            ("rejected deliveries beyond those kept", rejected),
            ("old rejection tallies", tallies),
        ] {
            match pruned {
                Ok(0) => {}
                Ok(count) => {
                    log::debug!("pruned {count} {what}");
                    more |=
                        i64::try_from(count).is_ok_and(|count| count == deliveries::PRUNE_BATCH);
                }
                Err(error) => log::warn!("could not prune {what}: {error}"),
            }
        }
        // A full batch means more are waiting: stay due, and take the next batch after the
        // next group instead of a minute later.
        if !more {
            self.last = Instant::now();
        }
    }
}
