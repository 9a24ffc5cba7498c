//! PagerDuty Events API v2: `/v2/enqueue`, `/v2/change/enqueue`, and pagerduty hooks.

use serde_json::{json, Value};

use crate::helpers::*;

const JSON: Header = ("content-type", "application/json");

/// A PagerDuty event for the test app's routing key.
fn event(action: &str, dedup_key: Option<&str>, payload: Option<Value>) -> Value {
    let mut event = json!({"routing_key": PD_KEY, "event_action": action});
    if let Some(key) = dedup_key {
        event["dedup_key"] = json!(key);
    }
    if let Some(payload) = payload {
        event["payload"] = payload;
    }
    event
}

fn payload(timestamp: &str) -> Value {
    json!({"summary": "Disk full on db-1", "source": "db-1", "severity": "critical", "timestamp": timestamp})
}

fn enqueue(app: &TestApp, body: &Value) -> (u16, Value) {
    let (status, _, answer) = app.post_json("/v2/enqueue", &[JSON], &body.to_string());
    (status, answer)
}

#[test]
fn the_documented_events_go_through_a_lifecycle_with_pagerdutys_answers() {
    let app = spawn_app();
    let mut trigger: Value = serde_json::from_slice(&fixture("pagerduty/trigger.json")).unwrap();
    trigger["routing_key"] = json!(PD_KEY);
    let processed =
        json!({"status": "success", "message": "Event processed", "dedup_key": "samplekeyhere"});
    assert_eq!(enqueue(&app, &trigger), (202, processed.clone()));
    assert_eq!(
        enqueue(&app, &trigger),
        (202, processed.clone()),
        "a repeated trigger deduplicates"
    );
    for action in ["acknowledge", "resolve"] {
        let mut body: Value =
            serde_json::from_slice(&fixture(&format!("pagerduty/{action}.json"))).unwrap();
        body["routing_key"] = json!(PD_KEY);
        assert_eq!(enqueue(&app, &body), (202, processed.clone()), "{action}");
    }
    let mut later = trigger.clone();
    later["payload"]["timestamp"] = json!("2015-07-17T09:42:58.315+0000");
    assert_eq!(enqueue(&app, &later).0, 202);
    let alert = app.alert("pagerduty", "samplekeyhere").unwrap();
    assert_eq!(
        (alert.state.as_str(), alert.episode),
        ("open", 2),
        "a trigger after a resolve reopens"
    );
    let outcomes: Vec<String> = app
        .timeline("pagerduty", "samplekeyhere")
        .iter()
        .map(|e| e.outcome.clone())
        .collect();
    assert_eq!(
        outcomes,
        [
            "created",
            "deduplicated",
            "acknowledged",
            "resolved",
            "reopened"
        ]
    );
    assert_eq!(alert.meta.unwrap()["client"], "Sample Monitoring Service");
}

#[test]
fn a_trigger_without_a_dedup_key_gets_one_back() {
    let app = spawn_app();
    let (status, answer) = enqueue(
        &app,
        &event("trigger", None, Some(payload("2026-11-22T18:00:00Z"))),
    );
    assert_eq!(status, 202);
    let key = answer["dedup_key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert!(app.alert("pagerduty", key).is_some());
    let (_, again) = enqueue(
        &app,
        &event("trigger", None, Some(payload("2026-11-22T18:00:00Z"))),
    );
    assert_ne!(
        again["dedup_key"], answer["dedup_key"],
        "each keyless trigger is an alert of its own"
    );
}

#[test]
fn a_late_trigger_after_a_timed_resolve_is_stale() {
    let app = spawn_app();
    enqueue(
        &app,
        &event(
            "trigger",
            Some("late-1"),
            Some(payload("2026-11-22T18:00:00Z")),
        ),
    );
    let resolve = event(
        "resolve",
        Some("late-1"),
        Some(json!({"timestamp": "2026-11-22T18:10:00Z"})),
    );
    assert_eq!(enqueue(&app, &resolve).0, 202);
    enqueue(
        &app,
        &event(
            "trigger",
            Some("late-1"),
            Some(payload("2026-11-22T18:00:00Z")),
        ),
    );
    let alert = app.alert("pagerduty", "late-1").unwrap();
    assert_eq!(alert.state.as_str(), "resolved");
    assert_eq!(
        app.timeline("pagerduty", "late-1")
            .last()
            .unwrap()
            .reason
            .as_deref(),
        Some("stale")
    );
}

/// SPEC §4 through PagerDuty's `payload.timestamp`: a trigger dated 9999 orders as when it
/// arrived, so the resolve and the next trigger still apply.
#[test]
fn a_trigger_dated_in_the_future_does_not_lock_the_alert() {
    let app = spawn_app();
    let future = event(
        "trigger",
        Some("future-1"),
        Some(payload("9999-12-31T00:00:00Z")),
    );
    assert_eq!(enqueue(&app, &future).0, 202);
    assert_eq!(
        enqueue(&app, &event("resolve", Some("future-1"), None)).0,
        202
    );
    let now = alertgate::time::format(chrono::Utc::now());
    assert_eq!(
        enqueue(
            &app,
            &event("trigger", Some("future-1"), Some(payload(&now)))
        )
        .0,
        202
    );
    let alert = app.alert("pagerduty", "future-1").unwrap();
    assert_eq!((alert.state.as_str(), alert.episode), ("open", 2));
}

#[test]
fn invalid_events_get_pagerdutys_400_naming_the_field() {
    let app = spawn_app();
    let cases = [
        (
            event("trigger", Some("k"), None),
            "payload: is required on trigger",
        ),
        (
            event(
                "trigger",
                Some("k"),
                Some(json!({"summary": "s", "source": "h"})),
            ),
            "payload.severity: is required on trigger",
        ),
        (
            event("resolve", None, None),
            "dedup_key: is required to acknowledge or resolve",
        ),
        (
            event("snooze", Some("k"), None),
            "event_action: expected trigger, acknowledge or resolve",
        ),
        (
            json!({"routing_key": "ffffffffffffffffffffffffffffffff", "event_action": "trigger"}),
            "routing_key: ",
        ),
        (json!({"event_action": "trigger"}), "routing_key: "),
    ];
    for (body, error) in cases {
        let (status, answer) = enqueue(&app, &body);
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            (answer["status"].as_str(), answer["message"].as_str()),
            (Some("invalid event"), Some("Event object is invalid"))
        );
        let first = answer["errors"][0].as_str().unwrap();
        assert!(first.starts_with(error), "{body}: {first}");
    }
    let (status, _, answer) = app.post_json("/v2/enqueue", &[JSON], "{not json");
    assert_eq!(
        (status, answer["status"].as_str()),
        (400, Some("invalid event"))
    );
    assert_eq!(app.count("SELECT count(*) FROM alerts"), 0);
}

#[test]
fn the_trailing_slash_and_change_events_are_served() {
    let app = spawn_app();
    let body = event(
        "trigger",
        Some("slash"),
        Some(payload("2026-11-22T18:00:00Z")),
    )
    .to_string();
    assert_eq!(app.post_json("/v2/enqueue/", &[JSON], &body).0, 202);
    let change: Value = serde_json::from_slice(&fixture("pagerduty/change.json")).unwrap();
    let mut change = change;
    change["routing_key"] = json!(PD_KEY);
    let (status, _, answer) = app.post_json("/v2/change/enqueue", &[JSON], &change.to_string());
    assert_eq!(
        (status, answer),
        (
            202,
            json!({"status": "success", "message": "Change event processed"})
        )
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alerts"),
        1,
        "a change event stores no alert"
    );
}

#[test]
fn a_replayed_enqueue_returns_the_same_dedup_key() {
    let app = spawn_app();
    let body = event("trigger", None, Some(payload("2026-11-22T18:00:00Z"))).to_string();
    let (_, _, first) = app.post_json("/v2/enqueue", &[JSON, ("Idempotency-Key", "pd-1")], &body);
    let (status, headers, replay) =
        app.post_json("/v2/enqueue", &[JSON, ("Idempotency-Key", "pd-1")], &body);
    assert_eq!((status, replay), (202, first));
    assert_eq!(headers["idempotent-replayed"], "true");
    assert_eq!(app.count("SELECT count(*) FROM alerts"), 1);
}

#[test]
fn pagerduty_hooks_check_the_routing_key_after_parsing() {
    let app = spawn_app();
    let good = event(
        "trigger",
        Some("hook-1"),
        Some(payload("2026-11-22T18:00:00Z")),
    );
    let mut wrong_key = good.clone();
    wrong_key["routing_key"] = json!("ffffffffffffffffffffffffffffffff");
    let invalid_event = event("trigger", Some("hook-1"), None);
    let mut invalid_with_wrong_key = invalid_event.clone();
    invalid_with_wrong_key["routing_key"] = json!("ffffffffffffffffffffffffffffffff");
    let cases: [(&str, Header, String, u16); 6] = [
        (
            "not JSON typed, wrong key",
            ("content-type", "text/plain"),
            wrong_key.to_string(),
            415,
        ),
        ("not JSON, so no key to check", JSON, "{".into(), 400),
        ("wrong key", JSON, wrong_key.to_string(), 401),
        (
            "invalid event, wrong key",
            JSON,
            invalid_with_wrong_key.to_string(),
            401,
        ),
        (
            "invalid event, right key",
            JSON,
            invalid_event.to_string(),
            422,
        ),
        ("right key", JSON, good.to_string(), 202),
    ];
    for (case, header, body, status) in cases {
        let (got, _, answer) = app.post_json("/hooks/pagerduty", &[header], &body);
        assert_eq!(got, status, "{case}: {answer}");
    }
    assert!(app.alert("pagerduty", "hook-1").is_some());
}
