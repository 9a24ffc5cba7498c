//! The SQLite side of the group committer: one write connection, a group in one `IMMEDIATE`
//! transaction, each request in a savepoint of its own when the writer asks for them kept apart.
//! SQLite work is blocking, which is why it runs on the writer's thread and never on an actix
//! worker.

use rusqlite::{Connection, TransactionBehavior};

use super::alert_cache::AlertCache;
use super::rejections;
use super::upkeep::{Pruner, WalBound};
use super::{apply, counters};
use crate::store::counters::Tally;
use crate::store::writer::{AfterCommit, Backend, Done, GroupError, Isolation, Work};
use crate::store::{StoreError, WriterSettings};
use crate::time::Clock;

/// The writer's connection and what it keeps between groups.
pub(super) struct SqliteBackend {
    connection: Connection,
    clock: Clock,
    /// The alerts the writer last read or wrote (see `AlertCache`).
    alerts: AlertCache,
    wal: WalBound,
    pruner: Pruner,
}

impl SqliteBackend {
    pub(super) fn new(
        mut connection: Connection,
        settings: &WriterSettings,
        clock: Clock,
    ) -> SqliteBackend {
        let wal = WalBound::watch(&mut connection, settings.wal_limit_bytes);
        SqliteBackend {
            connection,
            clock,
            alerts: AlertCache::default(),
            wal,
            pruner: Pruner::new(settings.keep_deliveries, settings.kept_rejections),
        }
    }
}

impl Backend for SqliteBackend {
    fn apply_group(
        &mut self,
        work: &[Work],
        isolation: Isolation,
        after: &mut AfterCommit,
    ) -> Result<Vec<Done>, GroupError> {
        let applied = apply_group(
            &mut self.connection,
            &mut self.alerts,
            &self.clock,
            work,
            isolation,
            after,
        );
        if applied.is_err() {
            // The transaction rolled back, and with it what the cached copies were made from.
            self.alerts.clear();
        }
        applied
    }

    fn upkeep(&mut self) {
        self.wal.restart_if_full(&self.connection);
        self.pruner.run_if_due(&self.connection, (self.clock)());
    }
}

fn apply_group(
    connection: &mut Connection,
    alerts: &mut AlertCache,
    clock: &Clock,
    work: &[Work],
    isolation: Isolation,
    after: &mut AfterCommit,
) -> Result<Vec<Done>, GroupError> {
    let failed = |error: rusqlite::Error| GroupError::Transaction(error.into());
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    alerts
        .check_revision(&transaction)
        .map_err(GroupError::Transaction)?;
    // What the group's events add to the stats counters, written just before the commit (or,
    // with requests kept apart, at the end of each request's savepoint). Dropped with the group
    // should it fail: the transaction takes back whatever of it was written.
    let mut tally = Tally::default();
    let mut done = Vec::with_capacity(work.len());
    for item in work {
        let mut writes = apply::Writes {
            connection: &transaction,
            alerts,
            tally: &mut tally,
            after,
            now: clock(),
        };
        done.push(match item {
            Work::Ingest(request) => Done::Ingest(isolated(&mut writes, isolation, |writes| {
                apply::delivery(writes, request)
            })?),
            Work::Manual(action) => Done::Manual(isolated(&mut writes, isolation, |writes| {
                apply::manual(writes, action)
            })?),
            Work::Integration(change) => {
                // A purge deletes alerts the cache may hold, and takes their share out of the
                // counters: what earlier requests of the group add must be there first.
                writes.alerts.clear();
                counters::write(writes.tally, writes.connection)
                    .map_err(GroupError::Transaction)?;
                Done::Integration(isolated(&mut writes, isolation, |writes| {
                    apply::integration_change(writes, change)
                })?)
            }
            Work::Rejected(delivery) => {
                apply::rejected(&transaction, delivery).map_err(GroupError::Transaction)?;
                Done::Nothing
            }
            Work::Unrecorded(tallies) => {
                rejections::tally(&transaction, tallies).map_err(GroupError::Transaction)?;
                Done::Nothing
            }
        });
    }
    counters::write(&mut tally, &transaction).map_err(GroupError::Transaction)?;
    transaction.commit().map_err(failed)?;
    Ok(done)
}

/// Runs one request's `work` as `isolation` says. The inner result is the request's own; the
/// outer error rolls back the attempt.
fn isolated<T>(
    writes: &mut apply::Writes<'_>,
    isolation: Isolation,
    work: impl FnOnce(&mut apply::Writes<'_>) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, GroupError> {
    match isolation {
        Isolation::Shared => work(writes).map(Ok).map_err(GroupError::Request),
        Isolation::Apart => in_savepoint(writes, work).map_err(GroupError::Transaction),
    }
}

/// Runs `work` in a savepoint of its own, so a failing request rolls back alone (and publishes
/// nothing). The outer error is the savepoint's own failure, which sinks the whole group.
///
/// The savepoint statements are prepared once and cached like every other statement here:
/// rusqlite's `Savepoint` parses its SQL anew each time, which cost a few percent per request.
fn in_savepoint<T>(
    writes: &mut apply::Writes<'_>,
    work: impl FnOnce(&mut apply::Writes<'_>) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    let apply::Writes {
        connection,
        alerts,
        tally,
        after,
        now,
    } = writes;
    let run = |sql: &str| -> Result<(), rusqlite::Error> {
        connection.prepare_cached(sql)?.execute([]).map(drop)
    };
    after.apart(|after| {
        let mut writes = apply::Writes {
            connection,
            alerts,
            tally,
            after,
            now: *now,
        };
        run("SAVEPOINT request")?;
        // The request's counts are written inside its savepoint, so that they stand or fall
        // with it.
        match work(&mut writes).and_then(|value| {
            counters::write(writes.tally, writes.connection)?;
            Ok(value)
        }) {
            Ok(value) => {
                run("RELEASE request")?;
                Ok(Ok(value))
            }
            Err(error) => {
                // Some errors (a full disk among them) make SQLite roll back the whole
                // transaction, savepoint and all: then the group fails, with the error that
                // caused it.
                if run("ROLLBACK TO request")
                    .and_then(|()| run("RELEASE request"))
                    .is_err()
                {
                    return Err(error);
                }
                // The cached copies and the gathered counts may hold what was just undone.
                writes.alerts.clear();
                writes.tally.clear();
                Ok(Err(error))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;

    use super::super::{deliveries, schema};
    use super::*;
    use crate::lifecycle::{Fields, ParsedEvent};
    use crate::model::Action;
    use crate::store::writer::commit_now;
    use crate::store::{IngestReply, IngestRequest, IntegrationChange, Receipt};

    fn backend(path: &std::path::Path, wal_limit_bytes: u64) -> SqliteBackend {
        let connection = schema::open_for_writing(path).unwrap();
        connection
            .pragma_update(None, "wal_autocheckpoint", 0)
            .unwrap();
        let settings = WriterSettings {
            wal_limit_bytes,
            ..WriterSettings::default()
        };
        SqliteBackend::new(connection, &settings, Arc::new(Utc::now))
    }

    fn ingest(id: &str) -> Work {
        Work::Ingest(Box::new(IngestRequest {
            integration: "a".into(),
            delivery_id: crate::ids::delivery_id(Utc::now()),
            events: vec![ParsedEvent {
                id: id.into(),
                action: Action::Create,
                fields: Fields {
                    title: Some("t".into()),
                    ..Fields::default()
                },
                occurred_at: None,
                informational: false,
            }],
            received_at: Utc::now(),
            idempotency_key: None,
            captured_body: None,
            remote_addr: None,
            status: 202,
        }))
    }

    /// Commits 300 groups of four creates back to back, as a writer under sustained load does
    /// (the checkpointer thread is not running), and answers the log file's largest size.
    fn largest_log(wal_limit_bytes: u64) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut backend = backend(&path, wal_limit_bytes);
        let log = std::path::PathBuf::from(format!("{}-wal", path.display()));
        let mut largest = 0;
        for round in 0..300 {
            let group = (0..4).map(|n| ingest(&format!("{round}-{n}"))).collect();
            commit_now(&mut backend, group);
            backend.upkeep();
            largest = largest.max(std::fs::metadata(&log).unwrap().len());
        }
        largest
    }

    #[test]
    fn the_write_ahead_log_starts_over_once_past_its_limit() {
        let unbounded = largest_log(1 << 40);
        let bounded = largest_log(64 * 1024);
        assert!(
            unbounded > 2 << 20,
            "the log grows without the bound: {unbounded}"
        );
        assert!(
            bounded < 256 * 1024,
            "the bounded log reached {bounded} bytes"
        );
    }

    /// A group whose middle request fails: the first attempt (nothing between requests) is
    /// rolled back whole, the second applies the others exactly once and refuses only the
    /// failing one.
    #[test]
    fn a_failing_request_is_refused_alone_and_the_others_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut backend = backend(&path, 1 << 30);
        let missing = Work::Integration(IntegrationChange::Remove {
            name: "missing".into(),
            purge: false,
        });
        let done = commit_now(&mut backend, vec![ingest("first"), missing, ingest("last")]);

        assert!(matches!(done[0], Done::Ingest(Ok(IngestReply::Applied(_)))));
        assert!(matches!(
            done[1],
            Done::Integration(Err(StoreError::NoSuchIntegration(_)))
        ));
        assert!(matches!(done[2], Done::Ingest(Ok(IngestReply::Applied(_)))));
        let count = |sql: &str| -> i64 {
            backend
                .connection
                .query_row(sql, [], |row| row.get(0))
                .unwrap()
        };
        assert_eq!(
            count("SELECT count(*) FROM alerts WHERE occurrences = 1"),
            2
        );
        assert_eq!(count("SELECT count(*) FROM alert_events"), 2);
        assert_eq!(count("SELECT count(*) FROM deliveries"), 2);
    }

    #[test]
    fn a_failing_request_rolls_back_alone_and_the_savepoint_is_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut connection = schema::open_for_writing(&dir.path().join("t.db")).unwrap();
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let mut alerts = AlertCache::default();
        let mut after = AfterCommit::new(Box::new(()), Arc::new(()));
        let mut tally = Tally::default();
        let mut writes = apply::Writes {
            connection: &transaction,
            alerts: &mut alerts,
            tally: &mut tally,
            after: &mut after,
            now: Utc::now(),
        };
        let receipt = Receipt {
            delivery: "dlv".into(),
            results: Vec::new(),
        };
        let remember = |writes: &apply::Writes<'_>, key: &str| {
            deliveries::remember(writes.connection, "a", key, writes.now, 202, &receipt)
        };
        for round in 0..3 {
            let kept = format!("kept-{round}");
            let undone = format!("undone-{round}");
            let outcome = in_savepoint(&mut writes, |writes| remember(writes, &kept));
            assert!(matches!(outcome, Ok(Ok(()))));
            let outcome = in_savepoint(&mut writes, |writes| {
                remember(writes, &undone)?;
                Err::<(), _>(StoreError::Corrupt("made to fail".into()))
            });
            assert!(matches!(outcome, Ok(Err(StoreError::Corrupt(_)))));
        }
        transaction.commit().unwrap();
        let keys: Vec<String> = connection
            .prepare("SELECT key FROM idempotency_keys ORDER BY key")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys, ["kept-0", "kept-1", "kept-2"]);
    }
}
