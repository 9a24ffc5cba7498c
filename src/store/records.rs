//! What the store's reads return: plain data, typed, with no idea of how it is shown. The routes
//! turn these into JSON; the CLI into tables.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use chrono::{DateTime, Utc};

use crate::lifecycle::{Alert, Outcome};
use crate::model::{Action, Severity, Source, State};

/// What `GET /v1/alerts` asks for, already validated.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    /// Any of these states; empty means all.
    pub states: Vec<State>,
    pub integration: Option<String>,
    /// Any of these severities; empty means all.
    pub severities: Vec<Severity>,
    pub tag: Option<String>,
    /// A case-insensitive substring of the title.
    pub title_contains: Option<String>,
    /// `since <= updated_at`.
    pub since: Option<DateTime<Utc>>,
    /// `updated_at < until`.
    pub until: Option<DateTime<Utc>>,
    /// Only alerts whose last change came before this one (the cursor).
    pub changed_before: Option<i64>,
    pub limit: usize,
}

/// One page of alerts and where the next one starts.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertPage {
    pub alerts: Vec<Alert>,
    /// The `change_seq` to continue before, when there are more.
    pub next: Option<i64>,
}

/// One entry of an alert's timeline (SPEC §4, §5).
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub action: Action,
    /// What the event did, with its reason when ignored.
    pub outcome: Outcome,
    /// `None` on the entry that created the alert.
    pub from_state: Option<State>,
    pub to_state: State,
    pub source: Source,
    /// The delivery that carried it; `None` for a person's action.
    pub delivery: Option<String>,
    pub by: Option<String>,
    pub note: Option<String>,
    /// When the sender says it happened, if it said.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// One applied event, as the live stream sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedEvent {
    pub seq: i64,
    pub action: Action,
    pub outcome: Outcome,
    /// The alert right after the event (when replayed from the log: as it is now).
    pub alert: Alert,
}

/// An applied event as the writer publishes it to live readers, with room for one rendering of
/// it: every reader sends the same bytes (the stream's frame), so the first one that needs them
/// renders them and the others share them, however many readers there are.
#[derive(Debug)]
pub struct LiveEvent {
    pub event: AppliedEvent,
    rendered: OnceLock<Arc<[u8]>>,
}

impl LiveEvent {
    pub fn new(event: AppliedEvent) -> LiveEvent {
        LiveEvent {
            event,
            rendered: OnceLock::new(),
        }
    }

    /// The event as `render` renders it, rendered once, by the first reader to ask.
    pub fn rendered(&self, render: impl FnOnce(&AppliedEvent) -> Vec<u8>) -> Arc<[u8]> {
        self.rendered
            .get_or_init(|| render(&self.event).into())
            .clone()
    }
}

/// Which deliveries of one integration to list, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub integration: String,
    /// Only this status.
    pub status: Option<u16>,
    /// Only deliveries older than this one (the cursor).
    pub before: Option<String>,
    pub limit: usize,
}

/// One row of the delivery log.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub id: String,
    pub at: DateTime<Utc>,
    /// The status the request was answered with.
    pub status: u16,
    pub error_code: Option<String>,
    /// Outcome → count, for accepted deliveries.
    pub outcomes: Option<BTreeMap<String, u64>>,
    pub duration_ms: Option<i64>,
    pub remote_addr: Option<String>,
    pub idempotency_key: Option<String>,
    /// The raw body, when the integration captures payloads.
    pub body: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryRecord>,
    /// The id to continue before, when there are more.
    pub next: Option<String>,
}

/// Elastio-style success and failure counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub accepted: i64,
    /// Every rejection, recorded or only counted.
    pub rejected: i64,
    /// Of `rejected`, those beyond the recorded rate or the rows kept: counted, not in the log.
    pub unrecorded: i64,
    pub last_accepted_at: Option<DateTime<Utc>>,
    pub last_rejected_at: Option<DateTime<Utc>>,
}

/// How many alerts are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    pub open: i64,
    pub acknowledged: i64,
    pub resolved: i64,
}

impl StateCounts {
    pub fn add(&mut self, state: State, count: i64) {
        match state {
            State::Open => self.open += count,
            State::Acknowledged => self.acknowledged += count,
            State::Resolved => self.resolved += count,
        }
    }

    /// Each state with its count, in table order.
    pub fn by_state(&self) -> [(State, i64); 3] {
        [
            (State::Open, self.open),
            (State::Acknowledged, self.acknowledged),
            (State::Resolved, self.resolved),
        ]
    }
}

/// The stats of SPEC §5.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub since: DateTime<Utc>,
    pub by_state: StateCounts,
    pub by_integration: BTreeMap<String, StateCounts>,
    pub mtta_seconds: Option<f64>,
    pub mttr_seconds: Option<f64>,
}
