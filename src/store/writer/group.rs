//! One group: applied in one transaction, retried request by request when one request fails,
//! and answered after the commit (or all told why not).
//!
//! The first attempt keeps the requests of a group together, with nothing between them, because
//! keeping each apart has a price (in SQLite a savepoint per request copies every page the
//! request touches into a sub-journal, about a tenth of the writer's work per event). A request
//! failing is rare (a full disk, a fault); then that attempt is rolled back whole and the group
//! applied again with each request kept apart, so that only the failing request is refused.

use std::time::Instant;

use super::{AfterCommit, Backend, Done, Waiter, Work};
use crate::store::StoreError;

/// How the requests of one transaction are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::store) enum Isolation {
    /// Not at all: the cheapest, but one failing request spoils the whole attempt.
    Shared,
    /// Each request on its own (in SQL, a savepoint), so that a failing one rolls back alone.
    Apart,
}

/// Why an attempt at a group was rolled back.
#[derive(Debug)]
pub(in crate::store) enum GroupError {
    /// A request failed with nothing to roll back to but the whole group (`Isolation::Shared`).
    Request(StoreError),
    /// The transaction itself failed: the group cannot be applied.
    Transaction(StoreError),
}

/// Why a group's transaction failed, as its requests are told: a full database or one out of
/// reach is worth saying (it lasts until space returns, or the server does); anything else is a
/// store that could not take the work.
#[derive(Clone)]
enum Failure {
    Full,
    Unavailable(String),
    Other,
}

impl Failure {
    fn of(error: &StoreError) -> Failure {
        match error {
            StoreError::Full => Failure::Full,
            StoreError::Unavailable(cause) => Failure::Unavailable(cause.clone()),
            _ => Failure::Other,
        }
    }

    fn error(&self) -> StoreError {
        match self {
            Failure::Full => StoreError::Full,
            Failure::Unavailable(cause) => StoreError::Unavailable(cause.clone()),
            Failure::Other => StoreError::Stopped,
        }
    }
}

/// What a group came to, for the writer's own records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct GroupReport {
    /// The transaction committed (some of its requests may still have been refused).
    pub committed: bool,
    /// Requests someone waits for that were applied.
    pub applied: usize,
    /// A request someone waits for was refused because the database is full.
    pub full: bool,
}

/// Applies `jobs` in one transaction and answers every one of them after the commit.
pub(super) fn commit(
    backend: &mut impl Backend,
    jobs: Vec<(Work, Waiter)>,
    after: &mut AfterCommit,
) -> GroupReport {
    let started = Instant::now();
    let (work, waiters): (Vec<Work>, Vec<Waiter>) = jobs.into_iter().unzip();
    // Rejected deliveries never went through `submit`, so they are not in the queue depth.
    let queued = waiters
        .iter()
        .filter(|waiter| !matches!(waiter, Waiter::Nobody))
        .count();
    after.observer().dequeued(queued);
    let mut outcome = attempt(backend, &work, after, Isolation::Shared);
    if let Err(GroupError::Request(error)) = &outcome {
        log::debug!("a request failed ({error}); applying its group again, each request apart");
        outcome = attempt(backend, &work, after, Isolation::Apart);
    }
    match outcome {
        Ok(done) => {
            after.publish();
            after
                .observer()
                .committed(work.len(), started.elapsed().as_secs_f64());
            let mut report = GroupReport {
                committed: true,
                ..GroupReport::default()
            };
            for (waiter, done) in waiters.into_iter().zip(done) {
                let waited = !matches!(waiter, Waiter::Nobody);
                match done.error() {
                    Some(error) => {
                        log::error!("a request could not be applied and was rolled back: {error}");
                        report.full |= waited && matches!(error, StoreError::Full);
                    }
                    None => report.applied += usize::from(waited),
                }
                waiter.answer(done);
            }
            report
        }
        Err(GroupError::Request(error) | GroupError::Transaction(error)) => {
            log::error!(
                "a group commit failed; every request in it is answered with an error: {error}"
            );
            let why = Failure::of(&error);
            for waiter in waiters {
                waiter.fail(&why);
            }
            GroupReport {
                committed: false,
                applied: 0,
                full: queued > 0 && matches!(why, Failure::Full),
            }
        }
    }
}

/// One attempt at applying `work` in a transaction; on failure nothing of it stays in `after`.
fn attempt(
    backend: &mut impl Backend,
    work: &[Work],
    after: &mut AfterCommit,
    isolation: Isolation,
) -> Result<Vec<Done>, GroupError> {
    let applied = backend.apply_group(work, isolation, after);
    if applied.is_err() {
        // The transaction was rolled back; forget what it was going to publish.
        after.forget();
    }
    applied
}

impl Done {
    fn error(&self) -> Option<&StoreError> {
        match self {
            Done::Ingest(result) => result.as_ref().err(),
            Done::Manual(result) => result.as_ref().err(),
            Done::Integration(result) => result.as_ref().err(),
            Done::Nothing => None,
        }
    }
}

impl Waiter {
    /// Sends what the work came to; the handler may have gone (client hung up), the data is
    /// committed anyway.
    fn answer(self, done: Done) {
        match (self, done) {
            (Waiter::Ingest(reply), Done::Ingest(result)) => drop(reply.send(result)),
            (Waiter::Manual(reply), Done::Manual(result)) => drop(reply.send(result)),
            (Waiter::Integration(reply), Done::Integration(result)) => drop(reply.send(result)),
            (Waiter::Nobody, _) => {}
            // A backend answers each item with the `Done` of its own kind, so kinds always match.
            (waiter, _) => waiter.fail(&Failure::Other),
        }
    }

    /// Answers that the work was not committed, and why.
    fn fail(self, why: &Failure) {
        match self {
            Waiter::Ingest(reply) => drop(reply.send(Err(why.error()))),
            Waiter::Manual(reply) => drop(reply.send(Err(why.error()))),
            Waiter::Integration(reply) => drop(reply.send(Err(why.error()))),
            Waiter::Nobody => {}
        }
    }
}
