//! The alert state machine of SPEC §4, as a pure function.
//!
//! `apply(current, event)` decides what one event does to one alert. It does no I/O and reads no
//! clock: the store loads the current alert, calls `apply`, and persists what comes back, all in
//! one transaction. Keeping it pure is what lets every cell of the table be tested directly.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::model::{Action, Severity, Source, State};

mod delivery;

pub use delivery::{apply_delivery, AlertBook, EventResult, ParsedEvent};

/// An alert as it stands after its latest event.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub integration: String,
    pub id: String,
    pub state: State,
    pub title: String,
    pub description: Option<String>,
    pub severity: Option<Severity>,
    pub tags: Vec<String>,
    pub meta: Option<Map<String, Value>>,
    pub occurrences: i64,
    pub episode: i64,
    /// When the alert was first ever seen.
    pub created_at: DateTime<Utc>,
    /// When the current episode opened.
    pub opened_at: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// The ordering watermark: the latest `occurred_at` a sender has had applied.
    pub last_occurred_at: Option<DateTime<Utc>>,
}

/// The fields an event may carry; `None` means "not given, keep what is stored".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub severity: Option<Severity>,
    pub tags: Option<Vec<String>>,
    pub meta: Option<Map<String, Value>>,
}

/// One action to apply to one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub integration: String,
    pub id: String,
    pub action: Action,
    pub fields: Fields,
    /// When the sender says this happened; drives the stale-event rule.
    pub occurred_at: Option<DateTime<Utc>>,
    pub source: Source,
    /// When alertgate applies the event.
    pub at: DateTime<Utc>,
    /// Who acted, for manual actions.
    pub by: Option<String>,
    pub note: Option<String>,
}

/// Why an event changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    UnknownAlert,
    AlreadyAcknowledged,
    AlreadyResolved,
    Stale,
    /// A sender's notice about no alert in particular (a monitor paused …); never applied.
    Informational,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::UnknownAlert => "unknown_alert",
            Reason::AlreadyAcknowledged => "already_acknowledged",
            Reason::AlreadyResolved => "already_resolved",
            Reason::Stale => "stale",
            Reason::Informational => "informational",
        }
    }

    pub fn parse(text: &str) -> Option<Reason> {
        [
            Reason::UnknownAlert,
            Reason::AlreadyAcknowledged,
            Reason::AlreadyResolved,
            Reason::Stale,
            Reason::Informational,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

/// What an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Deduplicated,
    Updated,
    Acknowledged,
    Resolved,
    Reopened,
    Ignored(Reason),
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Deduplicated => "deduplicated",
            Outcome::Updated => "updated",
            Outcome::Acknowledged => "acknowledged",
            Outcome::Resolved => "resolved",
            Outcome::Reopened => "reopened",
            Outcome::Ignored(_) => "ignored",
        }
    }

    /// Whether the event changed the alert: every outcome but an ignored one. The store saves
    /// and publishes exactly these.
    pub fn changes_alert(self) -> bool {
        !matches!(self, Outcome::Ignored(_))
    }

    pub fn reason(self) -> Option<Reason> {
        match self {
            Outcome::Ignored(reason) => Some(reason),
            _ => None,
        }
    }

    /// Rebuilds an outcome from its stored text and reason.
    pub fn parse(text: &str, reason: Option<&str>) -> Option<Outcome> {
        Some(match text {
            "created" => Outcome::Created,
            "deduplicated" => Outcome::Deduplicated,
            "updated" => Outcome::Updated,
            "acknowledged" => Outcome::Acknowledged,
            "resolved" => Outcome::Resolved,
            "reopened" => Outcome::Reopened,
            "ignored" => Outcome::Ignored(Reason::parse(reason?)?),
            _ => return None,
        })
    }
}

/// The result of applying one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The alert after the event; `None` only when there was no alert and none was created.
    pub alert: Option<Alert>,
    pub outcome: Outcome,
    /// The state before the event, `None` when the alert did not exist.
    pub from: Option<State>,
}

/// Applies `event` to `current` (the stored alert, if any). SPEC §4.
pub fn apply(current: Option<&Alert>, event: &Event) -> Transition {
    let Some(alert) = current else {
        return apply_to_nothing(event);
    };
    let from = Some(alert.state);
    let ignore = |reason| Transition {
        alert: Some(alert.clone()),
        outcome: Outcome::Ignored(reason),
        from,
    };
    if is_stale(alert, event) {
        return ignore(Reason::Stale);
    }
    let mut next = alert.clone();
    let outcome = match (alert.state, event.action) {
        (State::Resolved, Action::Create) => {
            reopen(&mut next, event);
            Outcome::Reopened
        }
        (_, Action::Create) => {
            next.occurrences += 1;
            refresh_fields(&mut next, &event.fields);
            Outcome::Deduplicated
        }
        (_, Action::Update) => {
            refresh_fields(&mut next, &event.fields);
            Outcome::Updated
        }
        (State::Open, Action::Acknowledge) => {
            next.state = State::Acknowledged;
            next.acknowledged_at = Some(event.at);
            next.acknowledged_by.clone_from(&event.by);
            Outcome::Acknowledged
        }
        (State::Acknowledged, Action::Acknowledge) => return ignore(Reason::AlreadyAcknowledged),
        (State::Resolved, Action::Acknowledge | Action::Resolve) => {
            return ignore(Reason::AlreadyResolved)
        }
        (State::Open | State::Acknowledged, Action::Resolve) => {
            next.state = State::Resolved;
            next.resolved_at = Some(event.at);
            next.resolved_by.clone_from(&event.by);
            Outcome::Resolved
        }
    };
    // Against the watermark the staleness check read, before this change moves `updated_at`.
    advance_watermark(&mut next, event);
    next.updated_at = event.at;
    Transition {
        alert: Some(next),
        outcome,
        from,
    }
}

/// Whether an event with `action` and `fields` makes an alert where there is none: a create, or
/// an update that can stand as one. A store that must claim an alert's row before the event
/// is applied asks this first.
pub fn can_create(action: Action, fields: &Fields) -> bool {
    match action {
        Action::Create => true,
        Action::Update => fields.title.is_some(),
        Action::Acknowledge | Action::Resolve => false,
    }
}

/// The first row of the table: only a create (or an update that can stand as one) makes an alert.
fn apply_to_nothing(event: &Event) -> Transition {
    if !can_create(event.action, &event.fields) {
        return Transition {
            alert: None,
            outcome: Outcome::Ignored(Reason::UnknownAlert),
            from: None,
        };
    }
    let fields = &event.fields;
    let mut alert = Alert {
        integration: event.integration.clone(),
        id: event.id.clone(),
        state: State::Open,
        // Formats require a title on create; the Id is the last resort so an alert is never blank.
        title: fields.title.clone().unwrap_or_else(|| event.id.clone()),
        description: fields.description.clone(),
        severity: fields.severity,
        tags: fields.tags.clone().unwrap_or_default(),
        meta: fields.meta.clone(),
        occurrences: 1,
        episode: 1,
        created_at: event.at,
        opened_at: event.at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        updated_at: event.at,
        last_occurred_at: None,
    };
    advance_watermark(&mut alert, event);
    Transition {
        alert: Some(alert),
        outcome: Outcome::Created,
        from: None,
    }
}

/// A sender's event older than what a sender already had applied is stale; manual actions carry
/// no sender time and are never stale.
fn is_stale(alert: &Alert, event: &Event) -> bool {
    match (ordering_time(event), watermark(alert)) {
        (Some(time), Some(watermark)) => time < watermark,
        _ => false,
    }
}

/// Only senders move the watermark: a person acknowledging from the API says nothing about the
/// order of the sender's own events. A time equal to the watermark is stored too: when the stored
/// mark lies in the future (a lock an earlier alertgate allowed) the watermark reads as the last
/// change, and the first real time applied must replace the stored one, or every event that
/// happened before the previous one was received would stay stale.
fn advance_watermark(alert: &mut Alert, event: &Event) {
    if let Some(time) = ordering_time(event) {
        if watermark(alert).is_none_or(|mark| time >= mark) {
            alert.last_occurred_at = Some(time);
        }
    }
}

/// When a sender's event happened, for ordering (SPEC §4): its `occurred_at`, but never later
/// than the moment it is applied, so a sender clock far ahead (or a `Timestamp` of 9999) cannot
/// make every later event stale. `None` for an event without a time, and for a person's.
fn ordering_time(event: &Event) -> Option<DateTime<Utc>> {
    match event.source {
        Source::Hook => event.occurred_at.map(|occurred| occurred.min(event.at)),
        Source::Api => None,
    }
}

/// The alert's watermark, never later than its last change: a watermark can only have been set
/// by an event applied by then. This also frees an alert that an earlier alertgate let a future
/// timestamp lock.
fn watermark(alert: &Alert) -> Option<DateTime<Utc>> {
    alert
        .last_occurred_at
        .map(|mark| mark.min(alert.updated_at))
}

fn reopen(alert: &mut Alert, event: &Event) {
    alert.state = State::Open;
    alert.episode += 1;
    alert.occurrences = 1;
    alert.opened_at = event.at;
    alert.acknowledged_at = None;
    alert.acknowledged_by = None;
    alert.resolved_at = None;
    alert.resolved_by = None;
    refresh_fields(alert, &event.fields);
}

/// Fields the event carries replace the stored ones (`meta` as a whole); omitted ones are kept.
fn refresh_fields(alert: &mut Alert, fields: &Fields) {
    if let Some(title) = &fields.title {
        alert.title.clone_from(title);
    }
    if let Some(description) = &fields.description {
        alert.description = Some(description.clone());
    }
    if let Some(severity) = fields.severity {
        alert.severity = Some(severity);
    }
    if let Some(tags) = &fields.tags {
        alert.tags.clone_from(tags);
    }
    if let Some(meta) = &fields.meta {
        alert.meta = Some(meta.clone());
    }
}

/// What must hold for every alert after every event, whatever the sequence: the property tests
/// check it after each step, and the unit tests may call it too.
pub fn check_invariants(alert: &Alert) -> Result<(), String> {
    let fail = |what: &str| Err(format!("{what}: {alert:?}"));
    if alert.occurrences < 1 {
        return fail("occurrences >= 1");
    }
    if alert.episode < 1 {
        return fail("episode >= 1");
    }
    if alert.resolved_at.is_some() != (alert.state == State::Resolved) {
        return fail("resolved_at is set if and only if resolved");
    }
    if alert.state == State::Acknowledged && alert.acknowledged_at.is_none() {
        return fail("an acknowledged alert has acknowledged_at");
    }
    if alert.state == State::Open && alert.acknowledged_at.is_some() {
        return fail("an open alert has no acknowledged_at");
    }
    if alert.opened_at < alert.created_at || alert.updated_at < alert.opened_at {
        return fail("created_at <= opened_at <= updated_at");
    }
    if alert
        .last_occurred_at
        .is_some_and(|mark| mark > alert.updated_at)
    {
        return fail("the watermark is no later than the last change");
    }
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
