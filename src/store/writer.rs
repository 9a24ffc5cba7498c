//! The writer: one thread that owns the only write connection and commits in groups.
//!
//! Handlers queue work on a bounded channel and await a reply. The thread takes everything
//! waiting at that moment (up to `max_group`), applies them in one transaction (again with a
//! savepoint per request should one fail, so that it rolls back alone), commits once, and only
//! then answers them all. One fsync thus covers a whole group, and "202 after a durable commit"
//! costs no fsync per request.
//! SQLite work is blocking, which is why it lives on this thread and never on an actix worker.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::{broadcast, oneshot};

use super::alert_cache::AlertCache;
use super::deliveries::{self, DeliveryRow};
use super::integrations;
use super::schema;
use super::{
    alerts, AppliedEvent, EventResult, IngestReply, IngestRequest, IntegrationChange, ManualAction,
    ManualReply, Receipt, RejectedDelivery, StoreError,
};
use crate::lifecycle::{self, Alert, Event, Outcome, Reason, Transition};
use crate::metrics::Metrics;
use crate::model::{Action, Source, State};
use crate::time::Clock;

/// Applied events kept for live subscribers that fall behind; one that falls further is dropped.
const BROADCAST_CAPACITY: usize = 4096;
/// How often expired idempotency keys are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Tuning for the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Requests that may wait for the writer before new ones get `503`.
    pub queue_capacity: usize,
    /// Requests applied in one transaction at most.
    pub max_group: usize,
    /// How long the delivery log keeps a row.
    pub keep_deliveries: chrono::Duration,
    /// The most bytes the database may take; past it, writes fail as on a full disk.
    pub max_db_bytes: Option<u64>,
    /// How large the write-ahead log may grow before the writer restarts it (see `WalBound`).
    pub wal_limit_bytes: u64,
}

impl Default for WriterSettings {
    fn default() -> WriterSettings {
        WriterSettings {
            queue_capacity: 4096,
            max_group: 512,
            keep_deliveries: chrono::Duration::days(30),
            max_db_bytes: None,
            wal_limit_bytes: 1 << 30,
        }
    }
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Job {
    Ingest(Box<IngestRequest>, Reply<IngestReply>),
    Manual(ManualAction, Reply<ManualReply>),
    Integration(IntegrationChange, Reply<()>),
    Rejected(RejectedDelivery),
    Shutdown,
}

/// The handle through which everyone else sends work to the writer thread.
pub struct Writer {
    sender: SyncSender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
    applied: broadcast::Sender<Arc<AppliedEvent>>,
    metrics: Arc<Metrics>,
}

impl Writer {
    pub(super) fn start(
        connection: Connection,
        settings: WriterSettings,
        clock: Clock,
        metrics: Arc<Metrics>,
    ) -> Result<Writer, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(settings.queue_capacity);
        let (applied, _) = broadcast::channel(BROADCAST_CAPACITY);
        let after = AfterCommit {
            sender: applied.clone(),
            metrics: metrics.clone(),
            applied: Vec::new(),
            counted: Vec::new(),
            moved: Vec::new(),
            alerts: AlertCache::default(),
        };
        let thread = std::thread::Builder::new()
            .name("alertgate-writer".into())
            .spawn(move || {
                run(connection, &receiver, settings, after, &clock);
            })?;
        Ok(Writer {
            sender,
            thread: Mutex::new(Some(thread)),
            applied,
            metrics,
        })
    }

    pub(super) fn ingest(
        &self,
        request: IngestRequest,
    ) -> BoxFuture<'static, Result<IngestReply, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Ingest(Box::new(request), reply), answer)
    }

    pub(super) fn act(
        &self,
        action: ManualAction,
    ) -> BoxFuture<'static, Result<ManualReply, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Manual(action, reply), answer)
    }

    pub(super) fn change_integration(
        &self,
        change: IntegrationChange,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Integration(change, reply), answer)
    }

    /// Every event applied from now on, after its commit.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<Arc<AppliedEvent>> {
        self.applied.subscribe()
    }

    /// Queues `job` without waiting: a full queue is `Busy` at once, never a slower ingest.
    fn submit<T: Send + 'static>(
        &self,
        job: Job,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> BoxFuture<'static, Result<T, StoreError>> {
        match self.sender.try_send(job) {
            Ok(()) => {
                self.metrics.queue_depth().inc();
                async move { answer.await.unwrap_or(Err(StoreError::Stopped)) }.boxed()
            }
            Err(TrySendError::Full(_)) => async { Err(StoreError::Busy) }.boxed(),
            Err(TrySendError::Disconnected(_)) => async { Err(StoreError::Stopped) }.boxed(),
        }
    }

    pub(super) fn record_rejected(&self, delivery: RejectedDelivery) {
        if self.sender.try_send(Job::Rejected(delivery)).is_err() {
            log::debug!("writer queue full; a rejected delivery was not logged");
        }
    }

    /// Whether the thread is still there to take work.
    pub(super) fn is_running(&self) -> bool {
        let thread = self.thread.lock().expect("writer handle lock");
        thread.as_ref().is_some_and(|thread| !thread.is_finished())
    }

    /// Commits whatever is queued, then stops the thread and waits for it.
    pub(super) fn shutdown(&self) {
        let Some(thread) = self.thread.lock().expect("writer handle lock").take() else {
            return;
        };
        // A blocking send: shutdown must queue behind the work already waiting, never drop it.
        if self.sender.send(Job::Shutdown).is_ok() && thread.join().is_err() {
            log::error!("the writer thread panicked while stopping");
        }
    }
}

/// What a group did, held back until its commit: events for live subscribers, and the metrics
/// they move. A request rolled back to its savepoint takes its share back out, and empties the
/// alert cache, whose copies may hold what was undone.
struct AfterCommit {
    sender: broadcast::Sender<Arc<AppliedEvent>>,
    metrics: Arc<Metrics>,
    applied: Vec<Arc<AppliedEvent>>,
    counted: Vec<(Action, Outcome)>,
    moved: Vec<(Option<State>, Option<State>)>,
    alerts: AlertCache,
}

/// How much an `AfterCommit` held at some point, to roll back to.
type Mark = (usize, usize, usize);

impl AfterCommit {
    /// Notes what one event did. Only changes reach the stream, and only when anyone listens.
    fn record(&mut self, seq: i64, event: &Event, transition: &Transition) {
        self.counted.push((event.action, transition.outcome));
        let Some(alert) = transition
            .alert
            .as_ref()
            .filter(|_| alerts::changes_alert(transition.outcome))
        else {
            return;
        };
        self.moved.push((transition.from, Some(alert.state)));
        if self.sender.receiver_count() > 0 {
            self.applied.push(Arc::new(AppliedEvent {
                seq,
                action: event.action,
                outcome: transition.outcome,
                alert: alert.clone(),
            }));
        }
    }

    fn mark(&self) -> Mark {
        (self.applied.len(), self.counted.len(), self.moved.len())
    }

    fn roll_back_to(&mut self, (applied, counted, moved): Mark) {
        self.applied.truncate(applied);
        self.counted.truncate(counted);
        self.moved.truncate(moved);
        self.alerts.clear();
    }

    /// The alert as it stands in this transaction: from the cache, or read and kept.
    fn load(
        &mut self,
        connection: &Connection,
        integration: &str,
        id: &str,
    ) -> Result<Option<Alert>, StoreError> {
        if let Some(alert) = self.alerts.get(integration, id) {
            return Ok(Some(alert.clone()));
        }
        let alert = alerts::load(connection, integration, id)?;
        if let Some(alert) = &alert {
            self.alerts.put(alert);
        }
        Ok(alert)
    }

    /// The group committed: publish its events and count them.
    fn finish(&mut self) {
        for (action, outcome) in self.counted.drain(..) {
            self.metrics.count_event(
                action.as_str(),
                outcome.reason().map_or(outcome.as_str(), Reason::as_str),
            );
        }
        for (from, to) in self.moved.drain(..) {
            self.metrics.move_alert(from, to);
        }
        for event in self.applied.drain(..) {
            // No receivers left is fine: the event is in the log for anyone who reconnects.
            let _ = self.sender.send(event);
        }
    }
}

/// What a job came to, held back until its group has committed.
enum Done {
    Ingest(Result<IngestReply, StoreError>),
    Manual(Result<ManualReply, StoreError>),
    Integration(Result<(), StoreError>),
    /// A rejected delivery logged, or the shutdown marker: nobody waits for an answer.
    Nothing,
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

/// Why a group's transaction failed, as its requests are told: a full database is worth saying
/// (it lasts until space returns); anything else is a store that could not take the work.
#[derive(Clone, Copy)]
enum GroupFailure {
    Full,
    Other,
}

impl GroupFailure {
    fn of(error: &StoreError) -> GroupFailure {
        match error {
            StoreError::Full => GroupFailure::Full,
            _ => GroupFailure::Other,
        }
    }

    fn error(self) -> StoreError {
        match self {
            GroupFailure::Full => StoreError::Full,
            GroupFailure::Other => StoreError::Stopped,
        }
    }
}

impl Job {
    /// Sends what the job came to; the handler may have gone (client hung up), the data is
    /// committed anyway.
    fn answer(self, done: Done) {
        match (self, done) {
            (Job::Ingest(_, reply), Done::Ingest(result)) => drop(reply.send(result)),
            (Job::Manual(_, reply), Done::Manual(result)) => drop(reply.send(result)),
            (Job::Integration(_, reply), Done::Integration(result)) => drop(reply.send(result)),
            (Job::Rejected(_) | Job::Shutdown, _) => {}
            // `apply_group` makes each job's `Done` from the job itself, so kinds always match.
            (job, _) => job.fail(GroupFailure::Other),
        }
    }

    /// Answers that the work was not committed, and why.
    fn fail(self, why: GroupFailure) {
        match self {
            Job::Ingest(_, reply) => drop(reply.send(Err(why.error()))),
            Job::Manual(_, reply) => drop(reply.send(Err(why.error()))),
            Job::Integration(_, reply) => drop(reply.send(Err(why.error()))),
            Job::Rejected(_) | Job::Shutdown => {}
        }
    }
}

fn run(
    mut connection: Connection,
    receiver: &Receiver<Job>,
    settings: WriterSettings,
    mut after: AfterCommit,
    clock: &Clock,
) {
    let max_group = settings.max_group.max(1);
    let wal = WalBound::watch(&mut connection, settings.wal_limit_bytes);
    let mut pruner = Pruner {
        last: Instant::now(),
        keep_deliveries: settings.keep_deliveries,
    };
    loop {
        let first = match receiver.recv_timeout(PRUNE_EVERY) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                pruner.run(&connection, clock());
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut group = vec![first];
        while group.len() < max_group {
            match receiver.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let stopping = group.iter().any(|job| matches!(job, Job::Shutdown));
        commit_group(&mut connection, group, &mut after, clock);
        wal.restart_if_full(&connection);
        if stopping {
            // Anything still queued behind the shutdown is committed too, then the thread ends.
            let rest: Vec<Job> = receiver.try_iter().collect();
            if !rest.is_empty() {
                commit_group(&mut connection, rest, &mut after, clock);
            }
            return;
        }
        if pruner.last.elapsed() >= PRUNE_EVERY {
            pruner.run(&connection, clock());
        }
    }
}

/// Applies a group in one transaction and answers every request after the commit.
///
/// The first attempt keeps no savepoints: a savepoint per request makes SQLite copy every page
/// the request touches into a sub-journal, about a tenth of the writer's work per event. A
/// request failing is rare (a full disk, a fault); then that attempt is rolled back whole and
/// the group is applied again with a savepoint per request, so that only the failing request
/// is refused.
fn commit_group(
    connection: &mut Connection,
    group: Vec<Job>,
    after: &mut AfterCommit,
    clock: &Clock,
) {
    let started = Instant::now();
    let requests = group.len();
    // Rejected deliveries never went through `submit`, so they are not in the queue depth.
    let queued = group.iter().filter(|job| {
        matches!(
            job,
            Job::Ingest(..) | Job::Manual(..) | Job::Integration(..)
        )
    });
    after
        .metrics
        .queue_depth()
        .dec_by(i64::try_from(queued.count()).unwrap_or(0));
    let mut outcome = attempt(connection, &group, after, clock, Isolation::Shared);
    if let Err(GroupError::Request(error)) = &outcome {
        log::debug!("a request failed ({error}); applying its group again, a savepoint each");
        outcome = attempt(connection, &group, after, clock, Isolation::Savepoints);
    }
    match outcome {
        Ok(done) => {
            after.finish();
            after
                .metrics
                .observe_commit(requests, started.elapsed().as_secs_f64());
            for (job, done) in group.into_iter().zip(done) {
                if let Some(error) = done.error() {
                    log::error!("a request could not be applied and was rolled back: {error}");
                }
                job.answer(done);
            }
        }
        Err(GroupError::Request(error) | GroupError::Transaction(error)) => {
            log::error!(
                "a group commit failed; every request in it is answered with an error: {error}"
            );
            let why = GroupFailure::of(&error);
            group.into_iter().for_each(|job| job.fail(why));
        }
    }
}

/// How the requests of one transaction are kept apart.
#[derive(Clone, Copy)]
enum Isolation {
    /// Not at all: the cheapest, but one failing request spoils the whole attempt.
    Shared,
    /// A savepoint per request, so that a failing one rolls back alone.
    Savepoints,
}

/// Why an attempt at a group was rolled back.
enum GroupError {
    /// A request failed with no savepoint to roll back to (`Isolation::Shared`).
    Request(StoreError),
    /// The transaction itself failed: the group cannot be applied.
    Transaction(StoreError),
}

/// One attempt at applying `group` in a transaction; on failure nothing of it stays, in the
/// database or in `after`.
fn attempt(
    connection: &mut Connection,
    group: &[Job],
    after: &mut AfterCommit,
    clock: &Clock,
    isolation: Isolation,
) -> Result<Vec<Done>, GroupError> {
    let applied = apply_group(connection, group, after, clock, isolation);
    if applied.is_err() {
        // Dropping the transaction rolled it back; forget what it was going to publish.
        after.roll_back_to((0, 0, 0));
    }
    applied
}

fn apply_group(
    connection: &mut Connection,
    group: &[Job],
    after: &mut AfterCommit,
    clock: &Clock,
    isolation: Isolation,
) -> Result<Vec<Done>, GroupError> {
    let failed = |error: rusqlite::Error| GroupError::Transaction(error.into());
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    after
        .alerts
        .check_revision(&transaction)
        .map_err(GroupError::Transaction)?;
    let mut done = Vec::with_capacity(group.len());
    for job in group {
        done.push(match job {
            Job::Ingest(request, _) => Done::Ingest(isolated(
                &transaction,
                after,
                isolation,
                |connection, after| apply_delivery(connection, request, clock(), after),
            )?),
            Job::Manual(action, _) => Done::Manual(isolated(
                &transaction,
                after,
                isolation,
                |connection, after| apply_manual(connection, action, clock(), after),
            )?),
            Job::Integration(change, _) => {
                // A purge deletes alerts the cache may hold.
                after.alerts.clear();
                let now = clock();
                Done::Integration(isolated(
                    &transaction,
                    after,
                    isolation,
                    |connection, _| apply_integration_change(connection, change, now),
                )?)
            }
            Job::Rejected(delivery) => {
                log_rejected(&transaction, delivery).map_err(GroupError::Transaction)?;
                Done::Nothing
            }
            Job::Shutdown => Done::Nothing,
        });
    }
    transaction.commit().map_err(failed)?;
    Ok(done)
}

/// Runs one request's `work` as `isolation` says. The inner result is the request's own; the
/// outer error rolls back the attempt.
fn isolated<T>(
    transaction: &Transaction<'_>,
    after: &mut AfterCommit,
    isolation: Isolation,
    work: impl FnOnce(&Connection, &mut AfterCommit) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, GroupError> {
    match isolation {
        Isolation::Shared => work(transaction, after)
            .map(Ok)
            .map_err(GroupError::Request),
        Isolation::Savepoints => {
            in_savepoint(transaction, after, work).map_err(GroupError::Transaction)
        }
    }
}

/// Logs a rejected delivery: best effort, unless the error took the whole transaction with it
/// (a full disk does). A failed INSERT undoes itself, so nothing half-written stays.
fn log_rejected(
    transaction: &Transaction<'_>,
    delivery: &RejectedDelivery,
) -> Result<(), StoreError> {
    if let Err(error) = deliveries::insert(transaction, &DeliveryRow::from(delivery)) {
        if transaction.is_autocommit() {
            return Err(error);
        }
        log::warn!("could not log a rejected delivery: {error}");
    }
    Ok(())
}

/// Runs `work` in a savepoint of its own, so a failing request rolls back alone (and publishes
/// nothing). The outer error is the savepoint's own failure, which sinks the whole group.
///
/// The savepoint statements are prepared once and cached like every other statement here:
/// rusqlite's `Savepoint` parses its SQL anew each time, which cost a few percent per request.
fn in_savepoint<T>(
    transaction: &Transaction<'_>,
    after: &mut AfterCommit,
    work: impl FnOnce(&Connection, &mut AfterCommit) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    let run = |sql: &str| -> Result<(), rusqlite::Error> {
        transaction.prepare_cached(sql)?.execute([]).map(drop)
    };
    let mark = after.mark();
    run("SAVEPOINT request")?;
    match work(transaction, after) {
        Ok(value) => {
            run("RELEASE request")?;
            Ok(Ok(value))
        }
        Err(error) => {
            // Some errors (a full disk among them) make SQLite roll back the whole transaction,
            // savepoint and all: then the group fails, and with the error that caused it.
            if run("ROLLBACK TO request")
                .and_then(|()| run("RELEASE request"))
                .is_err()
            {
                return Err(error);
            }
            after.roll_back_to(mark);
            Ok(Err(error))
        }
    }
}

/// An admin change to integrations, with the same SQL the CLI uses.
fn apply_integration_change(
    connection: &Connection,
    change: &IntegrationChange,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    match change {
        IntegrationChange::Add(new) => integrations::add(connection, new, now),
        IntegrationChange::Update {
            integration,
            secret,
        } => integrations::update(connection, integration, secret.as_ref(), now),
        IntegrationChange::Remove { name, purge } => integrations::remove(connection, name, *purge),
        IntegrationChange::RotateSecret {
            name,
            secret,
            keep_old,
        } => integrations::rotate_secret(connection, name, secret, *keep_old, now),
    }
}

/// A person's acknowledge or resolve from the API: the same lifecycle, source `api`.
fn apply_manual(
    connection: &Connection,
    action: &ManualAction,
    now: DateTime<Utc>,
    after: &mut AfterCommit,
) -> Result<ManualReply, StoreError> {
    let Some(current) = after.load(connection, &action.integration, &action.id)? else {
        return Ok(ManualReply::UnknownAlert);
    };
    let event = Event {
        integration: action.integration.clone(),
        id: action.id.clone(),
        action: action.action,
        fields: lifecycle::Fields::default(),
        occurred_at: None,
        source: Source::Api,
        at: now,
        by: action.by.clone(),
        note: action.note.clone(),
    };
    let transition = apply_event(connection, Some(&current), &event, None, None, after)?;
    Ok(ManualReply::Done {
        alert: Box::new(transition.alert.unwrap_or(current)),
        outcome: transition.outcome,
    })
}

/// Applies one request: replay check, each event through the lifecycle, the delivery row and the
/// idempotency key, all inside the caller's savepoint.
fn apply_delivery(
    connection: &Connection,
    request: &IngestRequest,
    now: DateTime<Utc>,
    after: &mut AfterCommit,
) -> Result<IngestReply, StoreError> {
    let integration = request.integration.as_str();
    if let Some(key) = &request.idempotency_key {
        if let Some((status, body)) =
            deliveries::remembered_answer(connection, integration, key, now)?
        {
            return Ok(IngestReply::Replayed { status, body });
        }
    }
    let results = request
        .events
        .iter()
        .map(|parsed| {
            if parsed.informational {
                after
                    .counted
                    .push((parsed.action, Outcome::Ignored(Reason::Informational)));
                return Ok(EventResult {
                    id: parsed.id.clone(),
                    action: parsed.action,
                    outcome: Outcome::Ignored(Reason::Informational),
                    state: None,
                    reason: Some(Reason::Informational.as_str()),
                });
            }
            let event = Event {
                integration: request.integration.clone(),
                id: parsed.id.clone(),
                action: parsed.action,
                fields: parsed.fields.clone(),
                occurred_at: parsed.occurred_at,
                source: Source::Hook,
                at: now,
                by: None,
                note: None,
            };
            let delivery = Some(request.delivery_id.as_str());
            let current = after.load(connection, integration, &event.id)?;
            let body = request.captured_body.as_deref();
            let transition =
                apply_event(connection, current.as_ref(), &event, delivery, body, after)?;
            Ok(EventResult {
                id: event.id,
                action: event.action,
                outcome: transition.outcome,
                state: transition.alert.as_ref().map(|alert| alert.state),
                reason: transition.outcome.reason().map(|reason| reason.as_str()),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let receipt = Receipt {
        delivery: request.delivery_id.clone(),
        results,
    };
    let body = serde_json::to_string(&receipt).expect("a receipt serializes");
    let outcomes = outcome_counts(&receipt.results);
    deliveries::insert(
        connection,
        &DeliveryRow {
            id: &request.delivery_id,
            integration,
            at: request.received_at,
            status: 202,
            error_code: None,
            outcomes: Some(&outcomes),
            duration_ms: (now - request.received_at).num_milliseconds(),
            remote_addr: request.remote_addr.as_deref(),
            idempotency_key: request.idempotency_key.as_deref(),
            body: request.captured_body.as_deref(),
        },
    )?;
    if let Some(key) = &request.idempotency_key {
        deliveries::remember_answer(connection, integration, key, now, 202, &body)?;
    }
    Ok(IngestReply::Applied { receipt, body })
}

/// Runs one event through the lifecycle against `current` (the stored alert) and persists the
/// result: a timeline entry whenever the alert exists, and the alert itself when it changed.
fn apply_event(
    connection: &Connection,
    current: Option<&Alert>,
    event: &Event,
    delivery: Option<&str>,
    body: Option<&str>,
    after: &mut AfterCommit,
) -> Result<Transition, StoreError> {
    let transition = lifecycle::apply(current, event);
    if let Some(alert) = &transition.alert {
        let seq =
            alerts::append_event(connection, event, &transition, alert.state, delivery, body)?;
        if alerts::changes_alert(transition.outcome) {
            alerts::save(connection, current, alert, seq)?;
            after.alerts.put(alert);
        }
        after.record(seq, event, &transition);
    }
    Ok(transition)
}

/// `{"created": 2, "ignored": 1}` for the delivery log.
fn outcome_counts(results: &[EventResult]) -> String {
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for result in results {
        *counts.entry(result.outcome.as_str()).or_default() += 1;
    }
    serde_json::to_string(&counts).expect("counts serialize")
}

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
struct WalBound {
    /// Frames in the log after the last commit, as SQLite's WAL hook reports them.
    frames: Arc<AtomicI64>,
    limit_frames: i64,
}

impl WalBound {
    fn watch(connection: &mut Connection, limit_bytes: u64) -> WalBound {
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

    fn restart_if_full(&self, connection: &Connection) {
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

/// Deletes expired idempotency keys and old deliveries, one small batch of each at a time, each
/// batch its own short transaction between groups: never one long delete that stalls ingest.
struct Pruner {
    last: Instant,
    keep_deliveries: chrono::Duration,
}

impl Pruner {
    fn run(&mut self, connection: &Connection, now: DateTime<Utc>) {
        let keys = deliveries::prune_expired_keys(connection, now);
        let old = deliveries::prune_old_deliveries(connection, now, self.keep_deliveries);
        let mut more = false;
        for (what, pruned) in [("expired idempotency keys", keys), ("old deliveries", old)] {
            match pruned {
                Ok(0) => {}
                Ok(count) => {
                    log::debug!("pruned {count} {what}");
                    more |= count == deliveries::PRUNE_BATCH as usize;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn after(database: &std::path::Path) -> AfterCommit {
        AfterCommit {
            sender: broadcast::channel(4).0,
            metrics: Arc::new(Metrics::new(database)),
            applied: Vec::new(),
            counted: Vec::new(),
            moved: Vec::new(),
            alerts: AlertCache::default(),
        }
    }

    fn remember(connection: &Connection, key: &str) -> Result<(), StoreError> {
        deliveries::remember_answer(connection, "a", key, Utc::now(), 202, "{}")
    }

    fn ingest(id: &str) -> (Job, oneshot::Receiver<Result<IngestReply, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let request = IngestRequest {
            integration: "a".into(),
            delivery_id: crate::ids::delivery_id(Utc::now()),
            events: vec![crate::formats::ParsedEvent {
                id: id.into(),
                action: Action::Create,
                fields: lifecycle::Fields {
                    title: Some("t".into()),
                    ..lifecycle::Fields::default()
                },
                occurred_at: None,
                informational: false,
            }],
            received_at: Utc::now(),
            idempotency_key: None,
            captured_body: None,
            remote_addr: None,
        };
        (Job::Ingest(Box::new(request), reply), answer)
    }

    /// Commits 300 groups of four creates back to back, as a writer under sustained load does
    /// (the checkpointer thread is not running), and answers the log file's largest size.
    fn largest_log(bound: Option<u64>) -> u64 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut connection = super::super::schema::open_for_writing(&path).unwrap();
        connection
            .pragma_update(None, "wal_autocheckpoint", 0)
            .unwrap();
        let wal = bound.map(|limit| WalBound::watch(&mut connection, limit));
        let mut after = after(&path);
        let clock: Clock = Arc::new(Utc::now);
        let log = std::path::PathBuf::from(format!("{}-wal", path.display()));
        let mut largest = 0;
        for round in 0..300 {
            let group = (0..4).map(|n| ingest(&format!("{round}-{n}")).0).collect();
            commit_group(&mut connection, group, &mut after, &clock);
            if let Some(wal) = &wal {
                wal.restart_if_full(&connection);
            }
            largest = largest.max(std::fs::metadata(&log).unwrap().len());
        }
        largest
    }

    #[test]
    fn the_write_ahead_log_starts_over_once_past_its_limit() {
        let unbounded = largest_log(None);
        let bounded = largest_log(Some(64 * 1024));
        assert!(
            unbounded > 2 << 20,
            "the log grows without the bound: {unbounded}"
        );
        assert!(
            bounded < 256 * 1024,
            "the bounded log reached {bounded} bytes"
        );
    }

    /// A group whose middle request fails: the first attempt (no savepoints) is rolled back
    /// whole, the second applies the others exactly once and refuses only the failing one.
    #[test]
    fn a_failing_request_is_refused_alone_and_the_others_apply_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut connection = super::super::schema::open_for_writing(&path).unwrap();
        let mut after = after(&path);
        let (first, first_answer) = ingest("first");
        let (last, last_answer) = ingest("last");
        let (reply, change_answer) = oneshot::channel();
        let missing = IntegrationChange::Remove {
            name: "missing".into(),
            purge: false,
        };
        let clock: Clock = Arc::new(Utc::now);
        let group = vec![first, Job::Integration(missing, reply), last];
        commit_group(&mut connection, group, &mut after, &clock);

        for mut answer in [first_answer, last_answer] {
            assert!(matches!(
                answer.try_recv(),
                Ok(Ok(IngestReply::Applied { .. }))
            ));
        }
        assert!(matches!(
            change_answer.blocking_recv(),
            Ok(Err(StoreError::NoSuchIntegration(_)))
        ));
        let count = |sql: &str| -> i64 { connection.query_row(sql, [], |row| row.get(0)).unwrap() };
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
        let path = dir.path().join("t.db");
        let mut connection = super::super::schema::open_for_writing(&path).unwrap();
        let mut after = after(&path);
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        for round in 0..3 {
            let kept = format!("kept-{round}");
            let undone = format!("undone-{round}");
            let outcome = in_savepoint(&transaction, &mut after, |connection, _| {
                remember(connection, &kept)
            });
            assert!(matches!(outcome, Ok(Ok(()))));
            let outcome = in_savepoint(&transaction, &mut after, |connection, _| {
                remember(connection, &undone)?;
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
