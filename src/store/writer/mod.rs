//! The group committer: one thread takes the work queued by handlers, gathers whatever is
//! waiting into a group (up to `max_group`), has its backend apply the whole group in one
//! transaction, and answers each job only after the commit. One commit, and so one fsync,
//! covers a whole group: "202 after a durable commit" costs no fsync per request.
//!
//! It knows no SQL. A store supplies a `Backend` that applies one group in one transaction (and
//! keeps its database in shape between groups); this module owns the queue, the thread, the
//! group (`group`) and what is published once a group has committed (`publish`).

mod group;
mod publish;
mod rejections;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio::sync::oneshot;

use super::{
    IngestReply, IngestRequest, IntegrationChange, ManualAction, ManualReply, RejectedDelivery,
    StoreError, UnrecordedRejections, WriterSettings,
};
use rejections::{Admission, RejectionGate};

pub(super) use group::{GroupError, Isolation};
pub(super) use publish::AfterCommit;
pub use publish::{Publish, WriterObserver};

/// The longest the thread waits for work before it does its backend's upkeep anyway.
const IDLE_UPKEEP: Duration = Duration::from_mins(1);
/// How often the counts of rejections that were not recorded are written, while there are some.
const TALLY_EVERY: Duration = Duration::from_secs(1);

/// What a store supplies to the writer: applying one group in one transaction.
pub(super) trait Backend: Send + 'static {
    /// Applies `work` in one transaction, each item kept apart as `isolation` says, and commits.
    /// Answers one `Done` per item, in order. Each item kept apart runs inside `after.apart`,
    /// so what a failed one noted is forgotten with it. On an error nothing of the group stays,
    /// in the database or in `after` (the writer forgets `after`; the backend its own caches).
    fn apply_group(
        &mut self,
        work: &[Work],
        isolation: Isolation,
        after: &mut AfterCommit,
    ) -> Result<Vec<Done>, GroupError>;

    /// Keeps the database in shape (pruning, the log's size): after every group, and at least
    /// every minute while idle. Each call must be short; it holds up the next group.
    fn upkeep(&mut self);
}

/// One item of work for the writer.
pub(super) enum Work {
    Ingest(Box<IngestRequest>),
    Manual(ManualAction),
    Integration(IntegrationChange),
    /// Logged best effort; nobody waits for it.
    Rejected(RejectedDelivery),
    /// Counts of rejections beyond the recorded rate; nobody waits for them either.
    Unrecorded(Vec<UnrecordedRejections>),
}

/// What an item of work came to, held back until its group has committed.
pub(super) enum Done {
    Ingest(Result<IngestReply, StoreError>),
    Manual(Result<ManualReply, StoreError>),
    Integration(Result<(), StoreError>),
    /// A rejected delivery or a tally logged: nobody waits for an answer.
    Nothing,
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// Who waits for an item's answer.
enum Waiter {
    Ingest(Reply<IngestReply>),
    Manual(Reply<ManualReply>),
    Integration(Reply<()>),
    Nobody,
}

enum Message {
    Job(Work, Waiter),
    /// Nothing to do but look again: counts of rejections are waiting to be written.
    Wake,
    /// Commit what is queued before this, then stop.
    Shutdown,
}

/// The handle through which everyone else sends work to the writer thread.
pub(super) struct Writer {
    sender: SyncSender<Message>,
    thread: Mutex<Option<JoinHandle<()>>>,
    observer: Arc<dyn WriterObserver>,
    shared: Arc<Shared>,
}

/// What the handle and the thread both see.
struct Shared {
    rejections: RejectionGate,
    /// Whether the last commit failed because the database was full; the next one that
    /// succeeds clears it.
    full: AtomicBool,
}

impl Writer {
    /// Starts the thread. `queue_capacity` requests may wait before more are refused `Busy`;
    /// a group holds at most `max_group`. What each group applied goes to `sink` after its commit.
    pub(super) fn start(
        backend: impl Backend,
        settings: &WriterSettings,
        sink: Box<dyn Publish>,
        observer: Arc<dyn WriterObserver>,
    ) -> Result<Writer, StoreError> {
        let (sender, receiver) = mpsc::sync_channel(settings.queue_capacity);
        let after = AfterCommit::new(sink, observer.clone());
        let max_group = settings.max_group.max(1);
        let shared = Arc::new(Shared {
            rejections: RejectionGate::new(settings.recorded_rejections_per_second),
            full: AtomicBool::new(false),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("alertgate-writer".into())
                .spawn(move || run(backend, &receiver, max_group, after, &shared))?
        };
        Ok(Writer {
            sender,
            thread: Mutex::new(Some(thread)),
            observer,
            shared,
        })
    }

    pub(super) fn ingest(
        &self,
        request: IngestRequest,
    ) -> BoxFuture<'static, Result<IngestReply, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.submit(
            Work::Ingest(Box::new(request)),
            Waiter::Ingest(reply),
            answer,
        )
    }

    pub(super) fn act(
        &self,
        action: ManualAction,
    ) -> BoxFuture<'static, Result<ManualReply, StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.submit(Work::Manual(action), Waiter::Manual(reply), answer)
    }

    pub(super) fn change_integration(
        &self,
        change: IntegrationChange,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let (reply, answer) = oneshot::channel();
        self.submit(
            Work::Integration(change),
            Waiter::Integration(reply),
            answer,
        )
    }

    /// Queues work without waiting: a full queue is `Busy` at once, never a slower ingest.
    fn submit<T: Send + 'static>(
        &self,
        work: Work,
        waiter: Waiter,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> BoxFuture<'static, Result<T, StoreError>> {
        match self.sender.try_send(Message::Job(work, waiter)) {
            Ok(()) => {
                self.observer.queued();
                async move { answer.await.unwrap_or(Err(StoreError::Stopped)) }.boxed()
            }
            Err(TrySendError::Full(_)) => async { Err(StoreError::Busy) }.boxed(),
            Err(TrySendError::Disconnected(_)) => async { Err(StoreError::Stopped) }.boxed(),
        }
    }

    /// Queues a rejected delivery for the log while its integration is within its rate of
    /// recorded rejections and the queue has room; otherwise it is only counted (SPEC §2). So
    /// a flood of rejections costs the writer and the disk no more than the rate, and never
    /// fills the queue that accepted deliveries wait in.
    pub(super) fn record_rejected(&self, delivery: RejectedDelivery) {
        let gate = &self.shared.rejections;
        let first_count = match gate.admit(&delivery.integration, delivery.at, Instant::now()) {
            Admission::Counted { first } => first,
            Admission::Record => {
                let (integration, at) = (delivery.integration.clone(), delivery.at);
                let job = Message::Job(Work::Rejected(delivery), Waiter::Nobody);
                if self.sender.try_send(job).is_ok() {
                    return;
                }
                log::debug!("writer queue full; a rejected delivery was counted, not logged");
                gate.count(&integration, at)
            }
        };
        // An idle writer waits a minute for work; counts must be written within a second. A
        // full queue means a busy writer, which looks at the counts between groups anyway.
        if first_count {
            let _ = self.sender.try_send(Message::Wake);
        }
    }

    /// Whether the last write failed because the database was full.
    pub(super) fn is_full(&self) -> bool {
        self.shared.full.load(Ordering::Relaxed)
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
        if self.sender.send(Message::Shutdown).is_ok() && thread.join().is_err() {
            log::error!("the writer thread panicked while stopping");
        }
    }
}

/// The thread: wait for work, gather a group, commit it, keep the database in shape; on
/// shutdown, commit whatever is still queued and end.
fn run(
    mut backend: impl Backend,
    receiver: &Receiver<Message>,
    max_group: usize,
    mut after: AfterCommit,
    shared: &Shared,
) {
    let mut tallied = Instant::now();
    loop {
        let wait = if shared.rejections.has_unrecorded() {
            TALLY_EVERY.saturating_sub(tallied.elapsed())
        } else {
            IDLE_UPKEEP
        };
        let (jobs, stopping) = match receiver.recv_timeout(wait) {
            Ok(first) => gather(first, receiver, max_group),
            Err(RecvTimeoutError::Timeout) => (Vec::new(), false),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        commit_apart_from_rejections(&mut backend, jobs, &mut after, shared);
        if stopping || tallied.elapsed() >= TALLY_EVERY {
            tally_unrecorded(&mut backend, &mut after, shared);
            tallied = Instant::now();
        }
        backend.upkeep();
        if stopping {
            // Anything still queued behind the shutdown is committed too, then the thread ends.
            let rest: Vec<_> = receiver
                .try_iter()
                .filter_map(|message| match message {
                    Message::Job(work, waiter) => Some((work, waiter)),
                    Message::Wake | Message::Shutdown => None,
                })
                .collect();
            commit_apart_from_rejections(&mut backend, rest, &mut after, shared);
            tally_unrecorded(&mut backend, &mut after, shared);
            return;
        }
    }
}

/// The jobs waiting after `first`, up to `max_group` in all, and whether a shutdown came.
fn gather(
    first: Message,
    receiver: &Receiver<Message>,
    max_group: usize,
) -> (Vec<(Work, Waiter)>, bool) {
    let mut stopping = false;
    let mut jobs = Vec::new();
    for message in std::iter::once(first).chain(receiver.try_iter().take(max_group - 1)) {
        match message {
            Message::Job(work, waiter) => jobs.push((work, waiter)),
            Message::Wake => {}
            Message::Shutdown => stopping = true,
        }
    }
    (jobs, stopping)
}

/// Commits one group and keeps the writer's record of a full database: set when a request was
/// refused for want of space, cleared only when a request has been applied since. Rejected
/// deliveries and tallies are small enough to fit where an alert does not, so they say nothing
/// either way.
fn commit(
    backend: &mut impl Backend,
    jobs: Vec<(Work, Waiter)>,
    after: &mut AfterCommit,
    shared: &Shared,
) -> bool {
    let report = group::commit(backend, jobs, after);
    if report.full {
        shared.full.store(true, Ordering::Relaxed);
    } else if report.applied > 0 {
        shared.full.store(false, Ordering::Relaxed);
    }
    report.committed
}

/// Commits `jobs`, the rejected deliveries among them in a transaction of their own after the
/// rest: a rejected delivery that cannot be written (a full disk rolls back the whole
/// transaction) must never take accepted deliveries down with it (SPEC §2).
fn commit_apart_from_rejections(
    backend: &mut impl Backend,
    jobs: Vec<(Work, Waiter)>,
    after: &mut AfterCommit,
    shared: &Shared,
) {
    let (rejected, accepted): (Vec<_>, Vec<_>) = jobs
        .into_iter()
        .partition(|(work, _)| matches!(work, Work::Rejected(_)));
    for group in [accepted, rejected] {
        if !group.is_empty() {
            commit(backend, group, after, shared);
        }
    }
}

/// Writes the counts of rejections that were not recorded, in a transaction of their own so
/// that a failure puts them back for the next try instead of losing them with someone's group.
fn tally_unrecorded(backend: &mut impl Backend, after: &mut AfterCommit, shared: &Shared) {
    let tallies = shared.rejections.take_unrecorded();
    if tallies.is_empty() {
        return;
    }
    let job = (Work::Unrecorded(tallies.clone()), Waiter::Nobody);
    if !commit(backend, vec![job], after, shared) {
        shared.rejections.restore(tallies);
    }
}

/// Commits `work` as one group, exactly as the thread would, and answers what each item came
/// to: for testing a backend without a thread in between.
#[cfg(test)]
pub(super) fn commit_now(backend: &mut impl Backend, work: Vec<Work>) -> Vec<Done> {
    enum Answer {
        Ingest(oneshot::Receiver<Result<IngestReply, StoreError>>),
        Manual(oneshot::Receiver<Result<ManualReply, StoreError>>),
        Integration(oneshot::Receiver<Result<(), StoreError>>),
        Nothing,
    }
    fn stopped<T>() -> Result<T, StoreError> {
        Err(StoreError::Stopped)
    }
    let mut answers = Vec::new();
    let jobs = work
        .into_iter()
        .map(|work| {
            let waiter = match &work {
                Work::Ingest(_) => {
                    let (reply, answer) = oneshot::channel();
                    answers.push(Answer::Ingest(answer));
                    Waiter::Ingest(reply)
                }
                Work::Manual(_) => {
                    let (reply, answer) = oneshot::channel();
                    answers.push(Answer::Manual(answer));
                    Waiter::Manual(reply)
                }
                Work::Integration(_) => {
                    let (reply, answer) = oneshot::channel();
                    answers.push(Answer::Integration(answer));
                    Waiter::Integration(reply)
                }
                Work::Rejected(_) | Work::Unrecorded(_) => {
                    answers.push(Answer::Nothing);
                    Waiter::Nobody
                }
            };
            (work, waiter)
        })
        .collect();
    let mut after = AfterCommit::new(Box::new(()), Arc::new(()));
    group::commit(backend, jobs, &mut after);
    answers
        .into_iter()
        .map(|answer| match answer {
            Answer::Ingest(mut answer) => {
                Done::Ingest(answer.try_recv().unwrap_or_else(|_| stopped()))
            }
            Answer::Manual(mut answer) => {
                Done::Manual(answer.try_recv().unwrap_or_else(|_| stopped()))
            }
            Answer::Integration(mut answer) => {
                Done::Integration(answer.try_recv().unwrap_or_else(|_| stopped()))
            }
            Answer::Nothing => Done::Nothing,
        })
        .collect()
}
