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

use super::doubt::{self, Committed};
use super::errors::{self, Class};
use super::segment::Segment;
use super::upkeep::{self, Pruner, SizeLimit};
use super::{flush, integrations};
use crate::store::writer::{AfterCommit, Backend, Done, GroupError, Isolation, Work};
use crate::store::{StoreError, UnrecordedRejections, WriterObserver, WriterSettings};
use crate::time::Clock;
use deadpool_postgres::{GenericClient, Pool};
use tokio::runtime::Handle;

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

    /// The database's size, for `/metrics` and `--max-db-mb`: asked at the first group or
    /// upkeep and every `SIZE_EVERY`.
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
            let client = self.connection.get().await?;
            let asked = tokio::time::timeout(budget, upkeep::database_size(&client)).await;
            asked.unwrap_or_else(|_| {
                // Mid-statement, the connection is of no use to the next group.
                drop(deadpool_postgres::Object::take(client));
                Err(StoreError::Unavailable("no answer in time".into()))
            })
        });
        match size {
            Ok(bytes) => {
                self.observer.database_size(bytes);
                self.space.measured(bytes);
            }
            Err(error) => log::debug!("cannot read the database's size: {error}"),
        }
    }
}

/// What one attempt came to before it committed.
enum Failed {
    /// A deadlock or serialization failure: the same work may well succeed at once.
    Retry(tokio_postgres::Error),
    Group(GroupError),
    /// The connection was lost while COMMIT was on its way: it may or may not have happened.
    InDoubt(Attempted),
}

/// What an attempt did, as it stood when COMMIT was sent.
struct Attempted {
    /// The transaction's id, to ask the server afterwards whether it committed.
    xid: String,
    done: Vec<Done>,
    published: Published,
}

impl PgBackend {
    /// Applies `work` in one transaction, trying it again after deadlocks for a while.
    fn apply(
        &mut self,
        work: &[&Work],
        isolation: Isolation,
        after: &mut AfterCommit,
    ) -> Result<Vec<Done>, GroupError> {
        let started = Instant::now();
        loop {
            let attempt = self.runtime.block_on(attempt(
                &self.connection,
                &self.clock,
                work,
                isolation,
                self.budget,
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
                // Tried again for as long as one attempt may take: within the request timeout.
                Err(Failed::Retry(error)) if started.elapsed() < self.budget => {
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
        let pruned = self.runtime.block_on(tokio::time::timeout(
            self.budget,
            self.pruner.run_if_due(&self.connection, now),
        ));
        if pruned.is_err() {
            log::debug!("pruning waited for the database longer than the statement timeout");
        }
    }
}

/// Each event the writer publishes after the commit: its seq (when it has a timeline entry),
/// the event and what it did.
type Published = Vec<(
    Option<i64>,
    crate::lifecycle::Event,
    crate::lifecycle::Transition,
)>;

/// One attempt at `work`, within `budget`: past it the connection, mid-statement, is thrown
/// away (the server rolls back what it had), and the requests are told the database is out of
/// reach, unless COMMIT was already sent (then it is in doubt, and asked about).
async fn attempt(
    pool: &Pool,
    clock: &Clock,
    work: &[&Work],
    isolation: Isolation,
    budget: Duration,
) -> Result<Attempted, Failed> {
    let out_of_time = || {
        Failed::Group(GroupError::Transaction(StoreError::Unavailable(format!(
            "the database did not answer within {} s",
            budget.as_secs()
        ))))
    };
    let deadline = tokio::time::Instant::now() + budget;
    let mut client = tokio::time::timeout_at(deadline, pool.get())
        .await
        .map_err(|_| out_of_time())?
        .map_err(|error| Failed::Group(GroupError::Transaction(StoreError::from(error))))?;
    let mut committing = None;
    let outcome = tokio::time::timeout_at(
        deadline,
        transact(&mut client, clock, work, isolation, &mut committing),
    )
    .await;
    let Ok(outcome) = outcome else {
        drop(deadpool_postgres::Object::take(client));
        return match committing {
            Some(attempted) => Err(Failed::InDoubt(attempted)),
            None => Err(out_of_time()),
        };
    };
    outcome
}

/// The attempt's transaction; what it did is put in `committing` just before COMMIT is sent.
async fn transact(
    client: &mut deadpool_postgres::Object,
    clock: &Clock,
    work: &[&Work],
    isolation: Isolation,
    committing: &mut Option<Attempted>,
) -> Result<Attempted, Failed> {
    let transaction = client.transaction().await.map_err(transaction_failed)?;
    let xid: String = transaction
        .query_one("SELECT pg_current_xact_id()::text", &[])
        .await
        .map_err(transaction_failed)?
        .get(0);
    let mut done = Vec::with_capacity(work.len());
    let mut published = Published::new();
    let mut last_seq = None;
    for run in runs(work, isolation) {
        let answers = run_kept(
            &transaction,
            &run,
            isolation,
            clock,
            &mut published,
            &mut last_seq,
        )
        .await?;
        done.extend(answers);
    }
    if let Some(last) = last_seq {
        flush::announce(&transaction, last)
            .await
            .map_err(|error| Failed::Group(GroupError::Transaction(error)))?;
    }
    *committing = Some(Attempted {
        xid,
        done,
        published,
    });
    match transaction.commit().await {
        Ok(()) => Ok(committing.take().expect("set before the commit")),
        Err(error) if errors::class(&error) == Class::Unavailable => Err(Failed::InDoubt(
            committing.take().expect("set before the commit"),
        )),
        Err(error) => {
            *committing = None;
            Err(transaction_failed(error))
        }
    }
}

/// Applies one run as `isolation` keeps it: apart, in a savepoint that a failing request rolls
/// back to (answering it alone with its error); together, any failure fails the attempt.
async fn run_kept(
    transaction: &deadpool_postgres::Transaction<'_>,
    run: &[&Work],
    isolation: Isolation,
    clock: &Clock,
    published: &mut Published,
    last_seq: &mut Option<i64>,
) -> Result<Vec<Done>, Failed> {
    let apart = isolation == Isolation::Apart;
    if apart {
        transaction
            .batch_execute("SAVEPOINT request")
            .await
            .map_err(transaction_failed)?;
    }
    let outcome = apply_run(transaction, run, clock, published, last_seq).await;
    match outcome {
        Ok(answers) => {
            if apart {
                transaction
                    .batch_execute("RELEASE SAVEPOINT request")
                    .await
                    .map_err(transaction_failed)?;
            }
            Ok(answers)
        }
        Err(RunError::Statement(error)) if apart && errors::class(&error) == Class::Statement => {
            transaction
                .batch_execute("ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request")
                .await
                .map_err(transaction_failed)?;
            let error = StoreError::from(error);
            Ok(run.iter().map(|item| failed_answer(item, &error)).collect())
        }
        Err(RunError::Statement(error)) => Err(statement_failed(error)),
        Err(RunError::Store(error)) if apart && !is_unavailable(&error) => {
            transaction
                .batch_execute("ROLLBACK TO SAVEPOINT request; RELEASE SAVEPOINT request")
                .await
                .map_err(transaction_failed)?;
            Ok(run.iter().map(|item| failed_answer(item, &error)).collect())
        }
        Err(RunError::Store(error)) if is_unavailable(&error) => {
            Err(Failed::Group(GroupError::Transaction(error)))
        }
        Err(RunError::Store(error)) => Err(Failed::Group(GroupError::Request(error))),
    }
}

/// Why a run failed: a statement (whose SQLSTATE decides what happens next), or the store's
/// own answer (an integration that exists already, a value that does not read back …).
enum RunError {
    Statement(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for RunError {
    fn from(error: tokio_postgres::Error) -> RunError {
        RunError::Statement(error)
    }
}

impl From<StoreError> for RunError {
    fn from(error: StoreError) -> RunError {
        RunError::Store(error)
    }
}

/// Applies one run and writes it; answers one `Done` per item. What it applied is added to
/// `published` with its seqs, and `last_seq` moves to its last entry.
async fn apply_run(
    client: &impl GenericClient,
    run: &[&Work],
    clock: &Clock,
    published: &mut Published,
    last_seq: &mut Option<i64>,
) -> Result<Vec<Done>, RunError> {
    if let [Work::Integration(change)] = run {
        integrations::change(client, change, clock()).await?;
        return Ok(vec![Done::Integration(Ok(()))]);
    }
    let now = clock();
    let mut segment = Segment::load(client, run, now).await?;
    let mut done = Vec::with_capacity(run.len());
    let mut rejected = Vec::new();
    let mut unrecorded = Vec::new();
    for item in run {
        done.push(match item {
            Work::Ingest(request) => Done::Ingest(Ok(segment.delivery(request, now)?)),
            Work::Manual(action) => Done::Manual(Ok(segment.manual(action, now)?)),
            Work::Rejected(delivery) => {
                rejected.push(delivery);
                Done::Nothing
            }
            Work::Unrecorded(tallies) => {
                unrecorded.extend(tallies);
                Done::Nothing
            }
            Work::Integration(_) => unreachable!("integration changes are runs of their own"),
        });
    }
    let flushed = flush::segment(client, &mut segment).await?;
    flush::rejected(client, &rejected).await?;
    flush::unrecorded(client, &unrecorded).await?;
    for applied in segment.applied {
        let seq = applied
            .entry
            .map(|ordinal| flushed.base + i64::try_from(ordinal).expect("a small ordinal"));
        published.push((seq, applied.event, applied.transition));
    }
    if flushed.entries > 0 {
        *last_seq = Some(flushed.base + i64::try_from(flushed.entries).expect("few") - 1);
    }
    Ok(done)
}

/// The runs of a group: with requests kept together, each stretch between integration changes
/// and each change on its own; kept apart, every item on its own.
fn runs<'a>(work: &[&'a Work], isolation: Isolation) -> Vec<Vec<&'a Work>> {
    let mut runs: Vec<Vec<&Work>> = Vec::new();
    for &item in work {
        let alone = isolation == Isolation::Apart || matches!(item, Work::Integration(_));
        match runs.last_mut() {
            Some(run) if !alone && !matches!(run.first(), Some(Work::Integration(_))) => {
                run.push(item);
            }
            _ => runs.push(vec![item]),
        }
    }
    runs
}

/// The answer for an item whose run was rolled back alone.
fn failed_answer(item: &Work, error: &StoreError) -> Done {
    let error = || match error {
        StoreError::NoSuchIntegration(name) => StoreError::NoSuchIntegration(name.clone()),
        StoreError::IntegrationExists(name) => StoreError::IntegrationExists(name.clone()),
        StoreError::TooManySecrets(name) => StoreError::TooManySecrets(name.clone()),
        StoreError::Full => StoreError::Full,
        StoreError::Unavailable(cause) => StoreError::Unavailable(cause.clone()),
        other => StoreError::Corrupt(other.to_string()),
    };
    match item {
        Work::Ingest(_) => Done::Ingest(Err(error())),
        Work::Manual(_) => Done::Manual(Err(error())),
        Work::Integration(_) => Done::Integration(Err(error())),
        Work::Rejected(_) | Work::Unrecorded(_) => Done::Nothing,
    }
}

fn is_unavailable(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(_) | StoreError::Full)
}

/// A failure of the transaction itself (BEGIN, a savepoint, COMMIT).
fn transaction_failed(error: tokio_postgres::Error) -> Failed {
    match errors::class(&error) {
        Class::Retry => Failed::Retry(error),
        _ => Failed::Group(GroupError::Transaction(error.into())),
    }
}

/// A statement failed with nothing to roll back to but the whole attempt: tried again when
/// another transaction was in the way, the group failed when the server is, and otherwise the
/// writer applies the group again with each request apart, to find the one at fault.
fn statement_failed(error: tokio_postgres::Error) -> Failed {
    match errors::class(&error) {
        Class::Retry => Failed::Retry(error),
        Class::Unavailable | Class::Full => Failed::Group(GroupError::Transaction(error.into())),
        Class::Statement => Failed::Group(GroupError::Request(error.into())),
    }
}
