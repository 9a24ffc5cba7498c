//! One attempt at a group on PostgreSQL: its transaction (within a time budget), the group cut
//! into runs at integration changes, each run kept apart in a savepoint when asked, and what a
//! failure means for the attempt: tried again, rolled back to the request's savepoint, handed
//! back to the writer, or in doubt when the connection was lost during COMMIT.

use std::time::Duration;

use deadpool_postgres::{GenericClient, Pool};

use super::errors::{self, Class};
use super::segment::Segment;
use super::{flush, integrations};
use crate::store::writer::{Done, GroupError, Isolation, Work};
use crate::store::StoreError;
use crate::time::Clock;

/// What one attempt came to before it committed.
pub(super) enum Failed {
    /// A deadlock or serialization failure: the same work may well succeed at once.
    Retry(tokio_postgres::Error),
    Group(GroupError),
    /// The connection was lost while COMMIT was on its way: it may or may not have happened.
    InDoubt(Attempted),
}

/// What an attempt did, as it stood when COMMIT was sent.
pub(super) struct Attempted {
    /// The transaction's id, to ask the server afterwards whether it committed.
    pub xid: String,
    pub done: Vec<Done>,
    pub published: Published,
}

/// Each event the writer publishes after the commit: its seq (when it has a timeline entry),
/// the event and what it did.
pub(super) type Published = Vec<(
    Option<i64>,
    crate::lifecycle::Event,
    crate::lifecycle::Transition,
)>;

/// One attempt at `work`, within `budget`: past it the connection, mid-statement, is thrown
/// away (the server rolls back what it had), and the requests are told the database is out of
/// reach, unless COMMIT was already sent (then it is in doubt, and asked about).
pub(super) async fn attempt(
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
    // The transaction's id, for a COMMIT whose answer is lost; and synchronous_commit said
    // again for this transaction, in case something between (a pooler dropping startup
    // options) lost the session's setting: a 202 waits for the commit to be durable.
    let xid: String = transaction
        .query_one(
            "SELECT pg_current_xact_id()::text, set_config('synchronous_commit', 'on', true)",
            &[],
        )
        .await
        .map_err(transaction_failed)?
        .get(0);
    let mut done = Vec::with_capacity(work.len());
    let mut published = Published::new();
    let mut last_seq = None;
    let runs = runs(work, isolation);
    if runs.len() > 1 {
        // A later run would take its keys' and counters' locks while an earlier one holds the
        // log's sequence row, against the one order every transaction follows, and could wait
        // in a cycle with another node. Such groups (requests kept apart, an integration change
        // among deliveries) are rare: they take the sequence row first, and with it the whole
        // database's writes, one at a time.
        transaction
            .query_one("SELECT last FROM event_seq FOR UPDATE", &[])
            .await
            .map_err(transaction_failed)?;
    }
    for run in runs {
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
