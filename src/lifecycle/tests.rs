//! One test per cell of SPEC §4's table, then the ordering rules.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;

fn t(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 18, 0, 0).unwrap() + Duration::seconds(seconds)
}

fn event(action: Action) -> Event {
    Event {
        integration: "default".into(),
        id: "disk-1".into(),
        action,
        fields: Fields::default(),
        occurred_at: None,
        source: Source::Hook,
        at: t(100),
        by: None,
        note: None,
    }
}

fn titled(action: Action, title: &str) -> Event {
    let mut event = event(action);
    event.fields.title = Some(title.into());
    event
}

/// An alert in `state`, created at t(0) with title "Disk full".
fn alert(state: State) -> Alert {
    let created = apply(None, &{
        let mut e = titled(Action::Create, "Disk full");
        e.at = t(0);
        e
    });
    let mut alert = created.alert.unwrap();
    alert.state = state;
    match state {
        State::Open => {}
        State::Acknowledged => alert.acknowledged_at = Some(t(1)),
        State::Resolved => alert.resolved_at = Some(t(2)),
    }
    alert
}

fn outcome_of(state: Option<State>, event: &Event) -> (Option<State>, Outcome) {
    let current = state.map(alert);
    let transition = apply(current.as_ref(), event);
    assert_eq!(transition.from, state, "from state is the state before");
    if let Some(alert) = &transition.alert {
        check_invariants(alert).unwrap();
    }
    (transition.alert.map(|a| a.state), transition.outcome)
}

// Row "none".

#[test]
fn create_on_nothing_opens_a_new_alert() {
    let transition = apply(None, &titled(Action::Create, "Disk full"));
    let alert = transition.alert.unwrap();
    assert_eq!(transition.outcome, Outcome::Created);
    assert_eq!(alert.state, State::Open);
    assert_eq!((alert.occurrences, alert.episode), (1, 1));
    assert_eq!(
        (alert.created_at, alert.opened_at, alert.updated_at),
        (t(100), t(100), t(100))
    );
}

#[test]
fn update_with_a_title_on_nothing_creates() {
    let (state, outcome) = outcome_of(None, &titled(Action::Update, "Disk full"));
    assert_eq!((state, outcome), (Some(State::Open), Outcome::Created));
}

#[test]
fn update_without_a_title_on_nothing_is_ignored_as_unknown() {
    let (state, outcome) = outcome_of(None, &event(Action::Update));
    assert_eq!(
        (state, outcome),
        (None, Outcome::Ignored(Reason::UnknownAlert))
    );
}

#[test]
fn acknowledge_on_nothing_is_ignored_as_unknown() {
    let (state, outcome) = outcome_of(None, &event(Action::Acknowledge));
    assert_eq!(
        (state, outcome),
        (None, Outcome::Ignored(Reason::UnknownAlert))
    );
}

#[test]
fn resolve_on_nothing_is_ignored_as_unknown() {
    let (state, outcome) = outcome_of(None, &event(Action::Resolve));
    assert_eq!(
        (state, outcome),
        (None, Outcome::Ignored(Reason::UnknownAlert))
    );
}

// Row "open".

#[test]
fn create_on_open_deduplicates_and_refreshes_fields() {
    let current = alert(State::Open);
    let mut create = titled(Action::Create, "Disk very full");
    create.fields.severity = Some(Severity::Critical);
    let transition = apply(Some(&current), &create);
    let next = transition.alert.unwrap();
    assert_eq!(transition.outcome, Outcome::Deduplicated);
    assert_eq!(next.state, State::Open);
    assert_eq!(next.occurrences, 2);
    assert_eq!(next.title, "Disk very full");
    assert_eq!(next.severity, Some(Severity::Critical));
    assert_eq!(next.updated_at, t(100));
    assert_eq!(next.created_at, t(0), "created_at never moves");
}

#[test]
fn update_on_open_updates() {
    let (state, outcome) = outcome_of(Some(State::Open), &event(Action::Update));
    assert_eq!((state, outcome), (Some(State::Open), Outcome::Updated));
}

#[test]
fn acknowledge_on_open_acknowledges() {
    let mut ack = event(Action::Acknowledge);
    ack.by = Some("alice".into());
    let transition = apply(Some(&alert(State::Open)), &ack);
    let next = transition.alert.unwrap();
    assert_eq!(transition.outcome, Outcome::Acknowledged);
    assert_eq!(next.state, State::Acknowledged);
    assert_eq!(next.acknowledged_at, Some(t(100)));
    assert_eq!(next.acknowledged_by.as_deref(), Some("alice"));
}

#[test]
fn resolve_on_open_resolves() {
    let transition = apply(Some(&alert(State::Open)), &event(Action::Resolve));
    let next = transition.alert.unwrap();
    assert_eq!(transition.outcome, Outcome::Resolved);
    assert_eq!(next.state, State::Resolved);
    assert_eq!(next.resolved_at, Some(t(100)));
}

// Row "acknowledged".

#[test]
fn create_on_acknowledged_deduplicates_and_stays_acknowledged() {
    let transition = apply(
        Some(&alert(State::Acknowledged)),
        &titled(Action::Create, "x"),
    );
    let next = transition.alert.unwrap();
    assert_eq!(transition.outcome, Outcome::Deduplicated);
    assert_eq!(next.state, State::Acknowledged);
    assert_eq!(next.occurrences, 2);
    assert_eq!(
        next.acknowledged_at,
        Some(t(1)),
        "the acknowledgement is kept"
    );
}

#[test]
fn update_on_acknowledged_updates() {
    let (state, outcome) = outcome_of(Some(State::Acknowledged), &event(Action::Update));
    assert_eq!(
        (state, outcome),
        (Some(State::Acknowledged), Outcome::Updated)
    );
}

#[test]
fn acknowledge_on_acknowledged_is_ignored() {
    let current = alert(State::Acknowledged);
    let transition = apply(Some(&current), &event(Action::Acknowledge));
    assert_eq!(
        transition.outcome,
        Outcome::Ignored(Reason::AlreadyAcknowledged)
    );
    assert_eq!(
        transition.alert.as_ref(),
        Some(&current),
        "an ignored event changes nothing"
    );
}

#[test]
fn resolve_on_acknowledged_resolves() {
    let (state, outcome) = outcome_of(Some(State::Acknowledged), &event(Action::Resolve));
    assert_eq!((state, outcome), (Some(State::Resolved), Outcome::Resolved));
}

// Row "resolved".

#[test]
fn create_on_resolved_reopens_a_new_episode() {
    let mut current = alert(State::Resolved);
    current.occurrences = 7;
    current.acknowledged_at = Some(t(1));
    current.acknowledged_by = Some("bob".into());
    current.resolved_by = Some("bob".into());
    let transition = apply(Some(&current), &titled(Action::Create, "Disk full again"));
    let next = transition.alert.unwrap();
    assert_eq!(transition.outcome, Outcome::Reopened);
    assert_eq!(next.state, State::Open);
    assert_eq!((next.episode, next.occurrences), (2, 1));
    assert_eq!(next.opened_at, t(100));
    assert_eq!(next.created_at, t(0));
    assert_eq!(next.title, "Disk full again");
    assert!(next.acknowledged_at.is_none() && next.acknowledged_by.is_none());
    assert!(next.resolved_at.is_none() && next.resolved_by.is_none());
}

#[test]
fn update_on_resolved_updates_and_stays_resolved() {
    let (state, outcome) = outcome_of(Some(State::Resolved), &titled(Action::Update, "x"));
    assert_eq!((state, outcome), (Some(State::Resolved), Outcome::Updated));
}

#[test]
fn acknowledge_on_resolved_is_ignored() {
    let (state, outcome) = outcome_of(Some(State::Resolved), &event(Action::Acknowledge));
    assert_eq!(
        (state, outcome),
        (
            Some(State::Resolved),
            Outcome::Ignored(Reason::AlreadyResolved)
        )
    );
}

#[test]
fn resolve_on_resolved_is_ignored() {
    let (state, outcome) = outcome_of(Some(State::Resolved), &event(Action::Resolve));
    assert_eq!(
        (state, outcome),
        (
            Some(State::Resolved),
            Outcome::Ignored(Reason::AlreadyResolved)
        )
    );
}

// Fields.

#[test]
fn omitted_fields_are_kept_and_meta_is_replaced_whole() {
    let mut current = alert(State::Open);
    current.description = Some("old".into());
    current.tags = vec!["a".into()];
    current.meta = Some(
        serde_json::json!({"x": 1, "y": 2})
            .as_object()
            .unwrap()
            .clone(),
    );
    let mut update = event(Action::Update);
    update.fields.meta = Some(serde_json::json!({"z": 3}).as_object().unwrap().clone());
    let next = apply(Some(&current), &update).alert.unwrap();
    assert_eq!(next.description.as_deref(), Some("old"));
    assert_eq!(next.tags, vec!["a".to_string()]);
    assert_eq!(next.meta, update.fields.meta);
}

// Ordering.

fn at_occurred(action: Action, seconds: i64) -> Event {
    let mut event = titled(action, "Disk full");
    event.occurred_at = Some(t(seconds));
    event
}

#[test]
fn a_late_create_cannot_reopen_an_alert_resolved_in_between() {
    let opened = apply(None, &at_occurred(Action::Create, 10)).alert;
    let resolved = apply(opened.as_ref(), &at_occurred(Action::Resolve, 20)).alert;
    let late = apply(resolved.as_ref(), &at_occurred(Action::Create, 10));
    assert_eq!(late.outcome, Outcome::Ignored(Reason::Stale));
    assert_eq!(late.alert.unwrap().state, State::Resolved);
}

#[test]
fn the_stale_check_comes_before_the_state_table() {
    let opened = apply(None, &at_occurred(Action::Create, 10)).alert;
    let resolved = apply(opened.as_ref(), &at_occurred(Action::Resolve, 20)).alert;
    let late = apply(resolved.as_ref(), &at_occurred(Action::Resolve, 15));
    assert_eq!(late.outcome, Outcome::Ignored(Reason::Stale));
}

#[test]
fn an_event_at_the_same_time_as_the_watermark_applies() {
    let opened = apply(None, &at_occurred(Action::Create, 10)).alert;
    let same = apply(opened.as_ref(), &at_occurred(Action::Resolve, 10));
    assert_eq!(same.outcome, Outcome::Resolved);
}

#[test]
fn events_without_a_time_are_never_stale_and_leave_the_watermark() {
    let opened = apply(None, &at_occurred(Action::Create, 10)).alert;
    let untimed = apply(opened.as_ref(), &event(Action::Update))
        .alert
        .unwrap();
    assert_eq!(untimed.last_occurred_at, Some(t(10)));
}

#[test]
fn manual_actions_never_move_the_watermark_and_are_never_stale() {
    let opened = apply(None, &at_occurred(Action::Create, 10)).alert;
    let mut manual = at_occurred(Action::Acknowledge, 50);
    manual.source = Source::Api;
    let acked = apply(opened.as_ref(), &manual).alert;
    assert_eq!(acked.as_ref().unwrap().last_occurred_at, Some(t(10)));

    let mut old_manual = at_occurred(Action::Resolve, 1);
    old_manual.source = Source::Api;
    assert_eq!(
        apply(acked.as_ref(), &old_manual).outcome,
        Outcome::Resolved
    );
}

#[test]
fn ignored_events_do_not_move_the_watermark() {
    let opened = apply(None, &at_occurred(Action::Create, 10)).alert;
    let acked = apply(opened.as_ref(), &at_occurred(Action::Acknowledge, 20)).alert;
    let again = apply(acked.as_ref(), &at_occurred(Action::Acknowledge, 30));
    assert_eq!(again.outcome, Outcome::Ignored(Reason::AlreadyAcknowledged));
    assert_eq!(again.alert.unwrap().last_occurred_at, Some(t(20)));
}

/// SPEC §4: for ordering, an event's time is the earlier of its `occurred_at` and when it was
/// received, so a sender clock far ahead cannot lock the alert.
#[test]
fn a_time_in_the_future_counts_as_the_time_it_arrived() {
    let mut far_future = at_occurred(Action::Create, 0);
    far_future.occurred_at = Some(Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap());
    far_future.at = t(100);
    let opened = apply(None, &far_future).alert;
    assert_eq!(opened.as_ref().unwrap().last_occurred_at, Some(t(100)));
    let mut resolve = at_occurred(Action::Resolve, 150);
    resolve.at = t(200);
    let resolved = apply(opened.as_ref(), &resolve);
    assert_eq!(resolved.outcome, Outcome::Resolved);
    let mut late = at_occurred(Action::Create, 120);
    late.at = t(300);
    assert_eq!(
        apply(resolved.alert.as_ref(), &late).outcome,
        Outcome::Ignored(Reason::Stale),
        "an event older than the resolve is still stale"
    );
}

/// A watermark an earlier version stored in the future no longer locks the alert: no watermark
/// is later than the alert's last change.
#[test]
fn a_stored_watermark_in_the_future_counts_as_the_last_change() {
    let mut locked = alert(State::Open);
    locked.last_occurred_at = Some(Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap());
    let resolve = at_occurred(Action::Resolve, 50);
    assert_eq!(apply(Some(&locked), &resolve).outcome, Outcome::Resolved);
}

#[test]
fn outcomes_round_trip_through_their_stored_text() {
    let outcomes = [
        Outcome::Created,
        Outcome::Deduplicated,
        Outcome::Updated,
        Outcome::Acknowledged,
        Outcome::Resolved,
        Outcome::Reopened,
        Outcome::Ignored(Reason::Stale),
    ];
    for outcome in outcomes {
        let reason = outcome.reason().map(Reason::as_str);
        assert_eq!(Outcome::parse(outcome.as_str(), reason), Some(outcome));
    }
}

/// The store saves and publishes exactly the outcomes that change the alert: all but `ignored`.
#[test]
fn every_outcome_but_ignored_changes_the_alert() {
    for outcome in [
        Outcome::Created,
        Outcome::Deduplicated,
        Outcome::Updated,
        Outcome::Acknowledged,
        Outcome::Resolved,
        Outcome::Reopened,
    ] {
        assert!(outcome.changes_alert(), "{outcome:?}");
    }
    assert!(!Outcome::Ignored(Reason::Stale).changes_alert());
}

/// A change that leaves an alert breaking one invariant.
type Breaks = fn(&mut Alert);

/// The property tests and the fuzzer trust `check_invariants`: each rule refuses an alert that
/// breaks it (and a well-formed alert passes).
#[test]
fn each_invariant_refuses_an_alert_that_breaks_it() {
    let good = alert(State::Open);
    assert_eq!(check_invariants(&good), Ok(()));
    let broken: [(&str, Breaks); 8] = [
        ("occurrences >= 1", |alert| alert.occurrences = 0),
        ("episode >= 1", |alert| alert.episode = 0),
        ("resolved_at is set if and only if resolved", |alert| {
            alert.resolved_at = Some(alert.updated_at);
        }),
        ("an acknowledged alert has acknowledged_at", |alert| {
            alert.state = State::Acknowledged;
        }),
        ("an open alert has no acknowledged_at", |alert| {
            alert.acknowledged_at = Some(alert.updated_at);
        }),
        ("created_at <= opened_at", |alert| {
            alert.opened_at = alert.created_at - Duration::seconds(1);
        }),
        ("opened_at <= updated_at", |alert| {
            alert.updated_at = alert.opened_at - Duration::seconds(1);
        }),
        ("the watermark is no later than the last change", |alert| {
            alert.last_occurred_at = Some(alert.updated_at + Duration::seconds(1));
        }),
    ];
    for (rule, breaks) in broken {
        let mut alert = good.clone();
        breaks(&mut alert);
        assert!(check_invariants(&alert).is_err(), "{rule}");
    }
}

/// An alert that an earlier alertgate let a future timestamp lock (its stored watermark years
/// ahead, read as its last change) takes the first real time applied to it as its watermark: a
/// later event that happened after that time is not stale, though it happened before the last
/// change was received.
#[test]
fn a_locked_alert_takes_the_first_real_time_applied_as_its_watermark() {
    let mut locked = alert(State::Open);
    locked.last_occurred_at = Some(t(1_000_000_000));
    let at = |occurred: i64, applied: i64| {
        let mut event = titled(Action::Create, "Disk full");
        event.occurred_at = Some(t(occurred));
        event.at = t(applied);
        event
    };
    let first = apply(Some(&locked), &at(10, 100));
    assert_eq!(first.outcome, Outcome::Deduplicated);
    let after = first.alert.unwrap();
    assert_eq!(after.last_occurred_at, Some(t(10)));
    let second = apply(Some(&after), &at(50, 200));
    assert_eq!(
        second.outcome,
        Outcome::Deduplicated,
        "t(50) is after t(10)"
    );
    let at_the_mark = apply(Some(&locked), &at(0, 100)).alert.unwrap();
    assert_eq!(
        at_the_mark.last_occurred_at,
        Some(t(0)),
        "a time equal to the watermark replaces a stored one in the future"
    );
}
