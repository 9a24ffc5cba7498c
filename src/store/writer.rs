//! The writer: one thread that owns the only write connection and commits in groups.
//!
//! Handlers queue work on a bounded channel and await a reply. The thread takes everything
//! waiting at that moment (up to `max_group`), applies each request inside its own savepoint (so
//! one failing request rolls back alone), commits once, and only then answers them all. One
//! fsync thus covers a whole group, and "202 after a durable commit" costs no fsync per request.
//! SQLite work is blocking, which is why it lives on this thread and never on an actix worker.

use std::collections::BTreeMap;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::deliveries::{self, DeliveryRow};
use super::{
    alerts, EventResult, IngestReply, IngestRequest, Receipt, RejectedDelivery, StoreError,
};
use crate::lifecycle::{self, Event, Transition};
use crate::model::Source;

/// How often expired idempotency keys are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Tuning for the writer.
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Requests that may wait for the writer before new ones get `503`.
    pub queue_capacity: usize,
    /// Requests applied in one transaction at most.
    pub max_group: usize,
}

impl Default for WriterSettings {
    fn default() -> WriterSettings {
        WriterSettings {
            queue_capacity: 4096,
            max_group: 512,
        }
    }
}

type Reply = oneshot::Sender<Result<IngestReply, StoreError>>;

enum Job {
    Ingest(Box<IngestRequest>, Reply),
    Rejected(RejectedDelivery),
    Shutdown,
}

/// The handle through which everyone else sends work to the writer thread.
pub struct Writer {
    sender: SyncSender<Job>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub(super) fn start(
        connection: Connection,
        settings: WriterSettings,
    ) -> Result<Writer, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(settings.queue_capacity);
        let thread = std::thread::Builder::new()
            .name("alertgate-writer".into())
            .spawn(move || run(connection, &receiver, settings.max_group.max(1)))?;
        Ok(Writer {
            sender,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub(super) fn ingest(
        &self,
        request: IngestRequest,
    ) -> BoxFuture<'static, Result<IngestReply, StoreError>> {
        let (reply, answer) = oneshot::channel();
        match self.sender.try_send(Job::Ingest(Box::new(request), reply)) {
            Ok(()) => async move { answer.await.unwrap_or(Err(StoreError::Stopped)) }.boxed(),
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

fn run(mut connection: Connection, receiver: &Receiver<Job>, max_group: usize) {
    let mut last_prune = Instant::now();
    loop {
        let first = match receiver.recv_timeout(PRUNE_EVERY) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                prune(&connection, &mut last_prune);
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
        commit_group(&mut connection, group);
        if stopping {
            // Anything still queued behind the shutdown is committed too, then the thread ends.
            let rest: Vec<Job> = receiver.try_iter().collect();
            if !rest.is_empty() {
                commit_group(&mut connection, rest);
            }
            return;
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            prune(&connection, &mut last_prune);
        }
    }
}

/// Applies a group in one transaction and answers every request after the commit.
fn commit_group(connection: &mut Connection, group: Vec<Job>) {
    let mut replies: Vec<(Reply, Result<IngestReply, StoreError>)> =
        Vec::with_capacity(group.len());
    let outcome = (|| -> Result<(), StoreError> {
        let mut transaction =
            connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for job in group {
            match job {
                Job::Ingest(request, reply) => {
                    let mut savepoint = transaction.savepoint()?;
                    let result = apply_delivery(&savepoint, &request);
                    if result.is_ok() {
                        savepoint.commit()?;
                    } else {
                        savepoint.rollback()?;
                    }
                    replies.push((reply, result));
                }
                Job::Rejected(delivery) => {
                    if let Err(error) =
                        deliveries::insert(&transaction, &DeliveryRow::from(&delivery))
                    {
                        log::warn!("could not log a rejected delivery: {error}");
                    }
                }
                Job::Shutdown => {}
            }
        }
        transaction.commit()?;
        Ok(())
    })();
    if let Err(error) = outcome {
        log::error!(
            "a group commit failed; every request in it is answered with an error: {error}"
        );
        for (reply, _) in replies {
            let _ = reply.send(Err(StoreError::Stopped));
        }
        return;
    }
    for (reply, result) in replies {
        if let Err(error) = &result {
            log::error!("a delivery could not be applied and was rolled back: {error}");
        }
        // The handler may have gone (client hung up); the data is committed either way.
        let _ = reply.send(result);
    }
}

/// Applies one request: replay check, each event through the lifecycle, the delivery row and the
/// idempotency key, all inside the caller's savepoint.
fn apply_delivery(
    connection: &Connection,
    request: &IngestRequest,
) -> Result<IngestReply, StoreError> {
    let now = Utc::now();
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
            let transition = apply_event(
                connection,
                &event,
                delivery,
                request.captured_body.as_deref(),
            )?;
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

/// Runs one event through the lifecycle against the stored alert and persists the result: the
/// alert when it changed, and a timeline entry whenever the alert exists.
fn apply_event(
    connection: &Connection,
    event: &Event,
    delivery: Option<&str>,
    body: Option<&str>,
) -> Result<Transition, StoreError> {
    let current = alerts::load(connection, &event.integration, &event.id)?;
    let transition = lifecycle::apply(current.as_ref(), event);
    if let Some(alert) = &transition.alert {
        if alerts::changes_alert(transition.outcome) {
            alerts::save(connection, alert)?;
        }
        alerts::append_event(connection, event, &transition, alert.state, delivery, body)?;
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

fn prune(connection: &Connection, last_prune: &mut Instant) {
    *last_prune = Instant::now();
    match deliveries::prune_expired_keys(connection, Utc::now()) {
        Ok(0) => {}
        Ok(count) => log::debug!("pruned {count} expired idempotency keys"),
        Err(error) => log::warn!("could not prune idempotency keys: {error}"),
    }
}
