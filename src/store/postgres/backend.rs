//! The PostgreSQL side of the group committer: the writer's own connection, a group in one
//! transaction (READ COMMITTED, `synchronous_commit = on`), each request in a savepoint of its
//! own when the writer asks for them kept apart.
//!
//! A group is cut into runs at integration changes (which apply inline, in request order). Each
//! run claims and locks what it touches first (`segment`), is applied in memory, and is written
//! in one statement per table (`flush`). A deadlock or serialization failure rolls the attempt
//! back and tries again, for a while; then every request is told the store is busy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::attempt::{attempt, Attempted, Failed};
use super::doubt::{self, Committed};
use super::stats;
use super::upkeep::{self, Pruner, SizeLimit};
use crate::store::writer::{AfterCommit, Backend, Done, GroupError, Isolation, Work};
use crate::store::{StoreError, UnrecordedRejections, WriterObserver, WriterSettings};
use crate::time::Clock;
use deadpool_postgres::Pool;
use tokio::runtime::Handle;

/// An attempt with less time than this left is not started: it could not finish.
const MIN_ATTEMPT: Duration = Duration::from_millis(50);
/// The longest upkeep waits for the server: the next group waits behind it.
const UPKEEP_BUDGET: Duration = Duration::from_secs(1);
/// How often upkeep asks the server how large the database is; while it is over
/// `--max-db-mb`, every `SIZE_EVERY_WHILE_OVER`, so that writes resume soon after space returns.
const SIZE_EVERY: Duration = Duration::from_secs(10);
const SIZE_EVERY_WHILE_OVER: Duration = Duration::from_secs(1);

pub(super) struct PgBackend {
    runtime: Handle,
    /// The writer's connection: a pool of one, which reconnects after a failure.
    connection: Pool,
    clock: Clock,
    observer: Arc<dyn WriterObserver>,
    /// The longest one attempt at a group may take, COMMIT included (the statement timeout,
    /// itself at most the request timeout); past it the server is taken for out of reach.
    budget: Duration,
    /// When upkeep last asked for the database's size.
    sized: Option<Instant>,
    /// `--max-db-mb`, shared with the store's health check.
    space: Arc<SizeLimit>,
    pruner: Pruner,
}

impl PgBackend {
    pub(super) fn new(
        runtime: Handle,
        connection: Pool,
        clock: Clock,
        observer: Arc<dyn WriterObserver>,
        statement_timeout: Duration,
        settings: &WriterSettings,
        space: Arc<SizeLimit>,
    ) -> PgBackend {
        let pruner = Pruner::new(clock(), settings.keep_deliveries, settings.kept_rejections);
        PgBackend {
            runtime,
            connection,
            clock,
            observer,
            budget: statement_timeout,
            sized: None,
            space,
            pruner,
        }
    }

    /// Finds out whether a group whose COMMIT met a lost connection committed, asking the
    /// server on a new connection until the attempt's budget runs out: committed, it is
    /// answered as applied (and published); not, or not known, every request is told the
    /// database is out of reach, which the sender retries (an idempotency key makes that safe).
    fn resolve(&self, attempted: Attempted) -> Result<Attempted, Failed> {
        let status =
            self.runtime
                .block_on(doubt::status(&self.connection, &attempted.xid, self.budget));
        let unavailable = |why: &str| {
            Err(Failed::Group(GroupError::Transaction(
                StoreError::Unavailable(why.into()),
            )))
        };
        match status {
            Some(Committed::Yes) => Ok(attempted),
            Some(Committed::No) => unavailable("the connection was lost before the commit"),
            None => {
                log::error!(
                    "the connection was lost during a COMMIT and the server could not be asked \
                     whether it happened (transaction {}): its requests are answered 503, and \
                     may have been applied",
                    attempted.xid
                );
                unavailable("the connection was lost during the commit")
            }
        }
    }

    /// The database's size, for `/metrics` and `--max-db-mb`, and the alerts by state, for the
    /// gauge: asked at the first group or upkeep and every `SIZE_EVERY`.
    fn report_size(&mut self) {
        let every = if self.space.is_over() {
            SIZE_EVERY_WHILE_OVER
        } else {
            SIZE_EVERY
        };
        if self.sized.is_some_and(|sized| sized.elapsed() < every) {
            return;
        }
        self.sized = Some(Instant::now());
        let budget = UPKEEP_BUDGET;
        let size = self.runtime.block_on(async {
            let client = tokio::time::timeout(budget, self.connection.get())
                .await
                .map_err(|_| StoreError::Unavailable("no connection in time".into()))??;
            let ask = async {
                let size = upkeep::database_size(&client).await?;
                Ok::<_, StoreError>((size, stats::alert_counts(&client).await?))
            };
            let asked = tokio::time::timeout(budget, ask).await;
            asked.unwrap_or_else(|_| {
                // Mid-statement, the connection is of no use to the next group.
                drop(deadpool_postgres::Object::take(client));
                Err(StoreError::Unavailable("no answer in time".into()))
            })
        });
        match size {
            Ok((bytes, counts)) => {
                self.observer.database_size(bytes);
                self.space.measured(bytes);
                // Each node moves the alerts gauge by its own groups only: set it from the
                // counters again, so it shows every node's alerts.
                self.observer.alert_counts(&counts);
            }
            Err(error) => log::debug!("cannot read the database's size: {error}"),
        }
    }
}

impl PgBackend {
    /// Applies `work` in one transaction, trying it again after deadlocks for a while.
    fn apply(
        &mut self,
        work: &[&Work],
        isolation: Isolation,
        after: &mut AfterCommit,
    ) -> Result<Vec<Done>, GroupError> {
        // One budget for the group, its retries included: the senders wait within it.
        let deadline = Instant::now() + self.budget;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left < MIN_ATTEMPT {
                return Err(GroupError::Transaction(StoreError::Busy));
            }
            let attempt = self.runtime.block_on(attempt(
                &self.connection,
                &self.clock,
                work,
                isolation,
                left,
            ));
            let attempt = match attempt {
                Err(Failed::InDoubt(attempted)) => self.resolve(attempted),
                other => other,
            };
            match attempt {
                Ok(Attempted {
                    done, published, ..
                }) => {
                    // Only what committed is noted, so nothing rolled back (a request kept
                    // apart, or an attempt tried again) can be published.
                    for (seq, event, transition) in published {
                        after.record(seq, &event, &transition);
                    }
                    return Ok(done);
                }
                // Tried again while the group's budget lasts: within the request timeout.
                Err(Failed::Retry(error)) if Instant::now() < deadline => {
                    log::debug!("a group met another transaction ({error}); trying it again");
                    let jitter = rand::random::<u64>() % 45 + 5;
                    std::thread::sleep(Duration::from_millis(jitter));
                }
                Err(Failed::Retry(error)) => {
                    log::warn!("a group kept meeting other transactions: {error}");
                    return Err(GroupError::Transaction(StoreError::Busy));
                }
                Err(Failed::Group(error)) => return Err(error),
                Err(Failed::InDoubt(_)) => unreachable!("resolved above"),
            }
        }
    }

    /// A group while the database is over `--max-db-mb`: ingest and manual actions are refused
    /// `Full` and apply nothing; a rejected delivery is counted in its tally instead of
    /// recorded; integration changes and tallies, which an operator and `deliveries_24h` need
    /// and which take next to no space, are applied.
    fn apply_while_over(
        &mut self,
        work: &[Work],
        isolation: Isolation,
        after: &mut AfterCommit,
    ) -> Result<Vec<Done>, GroupError> {
        let counted: Vec<Work> = work
            .iter()
            .filter_map(|item| match item {
                Work::Rejected(delivery) => Some(Work::Unrecorded(vec![UnrecordedRejections {
                    integration: delivery.integration.clone(),
                    count: 1,
                    last_at: delivery.at,
                }])),
                _ => None,
            })
            .collect();
        let written: Vec<&Work> = work
            .iter()
            .filter(|item| matches!(item, Work::Integration(_) | Work::Unrecorded(_)))
            .chain(&counted)
            .collect();
        let mut applied = if written.is_empty() {
            Vec::new()
        } else {
            self.apply(&written, isolation, after)?
        }
        .into_iter();
        Ok(work
            .iter()
            .map(|item| match item {
                Work::Ingest(_) => Done::Ingest(Err(StoreError::Full)),
                Work::Manual(_) => Done::Manual(Err(StoreError::Full)),
                Work::Rejected(_) => Done::Nothing,
                Work::Integration(_) | Work::Unrecorded(_) => {
                    applied.next().unwrap_or(Done::Nothing)
                }
            })
            .collect())
    }
}

impl Backend for PgBackend {
    fn apply_group(
        &mut self,
        work: &[Work],
        isolation: Isolation,
        after: &mut AfterCommit,
    ) -> Result<Vec<Done>, GroupError> {
        if self.sized.is_none() {
            self.report_size();
        }
        if self.space.is_over() {
            return self.apply_while_over(work, isolation, after);
        }
        let work: Vec<&Work> = work.iter().collect();
        self.apply(&work, isolation, after)
    }

    fn upkeep(&mut self) {
        self.report_size();
        let now = (self.clock)();
        // Each batch is short and bounded by the statement timeout; a server gone silent must
        // not hold the next group for longer than that either.
        let (budget, pruner, connection) = (self.budget, &mut self.pruner, &self.connection);
        let pruned = self.runtime.block_on(async {
            tokio::time::timeout(budget, pruner.run_if_due(connection, now)).await
        });
        if pruned.is_err() {
            log::debug!("pruning waited for the database longer than the statement timeout");
        }
    }
}
