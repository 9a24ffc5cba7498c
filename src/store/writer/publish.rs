//! What a group did, held back until its commit, then published: applied events to the store's
//! sink (the live stream), and counts to whoever observes the writer (the metrics). A request
//! rolled back alone takes its share back out; a group rolled back publishes nothing.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::lifecycle::{Event, Outcome, Transition};
use crate::model::{Action, State};
use crate::store::{AppliedEvent, LiveEvent, StateCounts};

/// What the writer reports as it works. `/metrics` implements it; the store never imports the
/// metrics, so what is counted is decided above the store.
pub trait WriterObserver: Send + Sync {
    /// One request joined the queue.
    fn queued(&self);
    /// `count` queued requests were taken into a group.
    fn dequeued(&self, count: usize);
    /// A group of `requests` committed, `seconds` after it was taken.
    fn committed(&self, requests: usize, seconds: f64);
    /// One committed event, applied or ignored.
    fn event(&self, action: Action, outcome: Outcome);
    /// A committed alert moved between states (`None`: it did not exist).
    fn alert_moved(&self, from: Option<State>, to: Option<State>);
    /// The database takes `bytes`, as a server database says (a SQLite file's size is read
    /// from the file system instead).
    fn database_size(&self, bytes: u64) {
        let _ = bytes;
    }
    /// How many alerts are in each state, all told, as a store shared by several nodes
    /// counts them now and then (each node's own moves miss the others').
    fn alert_counts(&self, counts: &StateCounts) {
        let _ = counts;
    }
}

/// Observes nothing: for tests and tools that run a writer without metrics.
impl WriterObserver for () {
    fn queued(&self) {}
    fn dequeued(&self, _: usize) {}
    fn committed(&self, _: usize, _: f64) {}
    fn event(&self, _: Action, _: Outcome) {}
    fn alert_moved(&self, _: Option<State>, _: Option<State>) {}
}

/// Where a committed group's applied events go. SQLite's store sends them straight to the live
/// stream's broadcast; a store shared by several nodes hands them to what puts them in order
/// with the other nodes' events, so the stream never sees a later `seq` before an earlier one.
pub trait Publish: Send {
    /// Whether anyone would see events now; while not, the writer does not collect them.
    fn wanted(&self) -> bool;
    /// A group committed; `events` are what it applied, in `seq` order.
    fn committed(&mut self, events: Vec<Arc<LiveEvent>>);
}

/// The live stream of a single node: a subscriber gets each event once, after its commit.
impl Publish for broadcast::Sender<Arc<LiveEvent>> {
    fn wanted(&self) -> bool {
        self.receiver_count() > 0
    }

    fn committed(&mut self, events: Vec<Arc<LiveEvent>>) {
        for event in events {
            // One shared value for every subscriber, rendered once by the first that sends it.
            // No receivers left is fine: the event is in the log for anyone who reconnects.
            let _ = self.send(event);
        }
    }
}

/// Publishes nothing: for tests and tools that run a writer without a live stream.
impl Publish for () {
    fn wanted(&self) -> bool {
        false
    }

    fn committed(&mut self, _: Vec<Arc<LiveEvent>>) {}
}

/// How much an `AfterCommit` held at some point, to roll back to.
#[derive(Debug, Clone, Copy)]
struct Mark(usize, usize, usize);

/// The events and counts of the group being applied.
pub(in crate::store) struct AfterCommit {
    sink: Box<dyn Publish>,
    observer: Arc<dyn WriterObserver>,
    applied: Vec<Arc<LiveEvent>>,
    counted: Vec<(Action, Outcome)>,
    moved: Vec<(Option<State>, Option<State>)>,
}

impl AfterCommit {
    pub(in crate::store) fn new(
        sink: Box<dyn Publish>,
        observer: Arc<dyn WriterObserver>,
    ) -> AfterCommit {
        AfterCommit {
            sink,
            observer,
            applied: Vec::new(),
            counted: Vec::new(),
            moved: Vec::new(),
        }
    }

    pub(super) fn observer(&self) -> &dyn WriterObserver {
        self.observer.as_ref()
    }

    /// Notes what one event did: every event is counted; only changes reach the sink, and only
    /// when it wants them. `seq` is its timeline entry, when it has one.
    pub(in crate::store) fn record(
        &mut self,
        seq: Option<i64>,
        event: &Event,
        transition: &Transition,
    ) {
        self.counted.push((event.action, transition.outcome));
        let (Some(seq), Some(alert)) = (seq, transition.alert.as_ref()) else {
            return;
        };
        if !transition.outcome.changes_alert() {
            return;
        }
        self.moved.push((transition.from, Some(alert.state)));
        if self.sink.wanted() {
            self.applied.push(Arc::new(LiveEvent::new(AppliedEvent {
                seq,
                action: event.action,
                outcome: transition.outcome,
                alert: alert.clone(),
            })));
        }
    }

    /// Runs one request kept apart from the rest of its group (`Isolation::Apart`). When the
    /// request fails (the inner error) what it noted is forgotten with it; when the group itself
    /// fails (the outer error) the writer forgets the whole group anyway. A backend runs every
    /// request it keeps apart through here, so none can publish what it rolled back.
    pub(in crate::store) fn apart<T, E>(
        &mut self,
        work: impl FnOnce(&mut AfterCommit) -> Result<Result<T, E>, E>,
    ) -> Result<Result<T, E>, E> {
        let mark = self.mark();
        let outcome = work(self);
        if matches!(outcome, Ok(Err(_))) {
            self.roll_back_to(mark);
        }
        outcome
    }

    fn mark(&self) -> Mark {
        Mark(self.applied.len(), self.counted.len(), self.moved.len())
    }

    /// Forgets what was noted since `mark`: its request was rolled back.
    fn roll_back_to(&mut self, Mark(applied, counted, moved): Mark) {
        self.applied.truncate(applied);
        self.counted.truncate(counted);
        self.moved.truncate(moved);
    }

    /// Forgets the whole group: it was rolled back.
    pub(super) fn forget(&mut self) {
        self.roll_back_to(Mark(0, 0, 0));
    }

    /// The group committed: publish its events and count them.
    pub(super) fn publish(&mut self) {
        for (action, outcome) in self.counted.drain(..) {
            self.observer.event(action, outcome);
        }
        for (from, to) in self.moved.drain(..) {
            self.observer.alert_moved(from, to);
        }
        if !self.applied.is_empty() {
            self.sink.committed(std::mem::take(&mut self.applied));
        }
    }
}
