//! The whole lifecycle over HTTP, checked in the database.

use serde_json::json;

use crate::helpers::*;

/// Sends one event and returns its single result.
fn result_of(app: &TestApp, event: serde_json::Value) -> serde_json::Value {
    let response = app.send(&event);
    assert_eq!(response.status(), 202, "{event}");
    json(response)["results"][0].clone()
}

fn outcome(result: &serde_json::Value) -> (&str, &str, Option<&str>) {
    (
        result["outcome"].as_str().unwrap(),
        result["state"].as_str().unwrap_or("none"),
        result["reason"].as_str(),
    )
}

#[test]
fn an_alert_goes_through_create_dedup_acknowledge_resolve_and_reopen() {
    let app = spawn_app();
    let ack = json!({"event_type": "acknowledge", "Id": "db-1"});
    let resolve = json!({"event_type": "resolve", "Id": "db-1"});
    let steps = [
        (create("db-1"), ("created", "open", None)),
        (create("db-1"), ("deduplicated", "open", None)),
        (ack.clone(), ("acknowledged", "acknowledged", None)),
        (
            ack,
            ("ignored", "acknowledged", Some("already_acknowledged")),
        ),
        (resolve.clone(), ("resolved", "resolved", None)),
        (resolve, ("ignored", "resolved", Some("already_resolved"))),
        (create("db-1"), ("reopened", "open", None)),
    ];
    for (event, expected) in steps {
        assert_eq!(
            outcome(&result_of(&app, event.clone())),
            expected,
            "{event}"
        );
    }

    let alert = app.alert("default", "db-1").expect("the alert is stored");
    assert_eq!(alert.state.as_str(), "open");
    assert_eq!((alert.episode, alert.occurrences), (2, 1));
    assert!(alert.acknowledged_at.is_none() && alert.resolved_at.is_none());

    let timeline = app.timeline("default", "db-1");
    let outcomes: Vec<&str> = timeline
        .iter()
        .map(|entry| entry.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        [
            "created",
            "deduplicated",
            "acknowledged",
            "ignored",
            "resolved",
            "ignored",
            "reopened"
        ]
    );
    assert!(
        timeline.windows(2).all(|pair| pair[0].seq < pair[1].seq),
        "seq increases"
    );
    assert_eq!(
        timeline[0].from_state, None,
        "a created entry has no from_state"
    );
    assert!(timeline.iter().all(|entry| entry
        .delivery
        .as_deref()
        .is_some_and(|d| d.starts_with("dlv_"))));
}

#[test]
fn events_for_unknown_alerts_are_ignored_and_store_nothing() {
    let app = spawn_app();
    for event_type in ["acknowledge", "resolve"] {
        let result = result_of(&app, json!({"event_type": event_type, "Id": "ghost"}));
        assert_eq!(outcome(&result), ("ignored", "none", Some("unknown_alert")));
        assert!(result["state"].is_null());
    }
    assert!(app.alert("default", "ghost").is_none());
    assert_eq!(app.count("SELECT count(*) FROM alert_events"), 0);
}

#[test]
fn a_late_retry_of_a_create_cannot_reopen_a_resolved_alert() {
    let app = spawn_app();
    let at = |event_type: &str, time: &str| json!({"event_type": event_type, "Id": "late", "Title": "x", "Timestamp": time});
    result_of(&app, at("create", "2026-11-22T18:00:00Z"));
    result_of(&app, at("resolve", "2026-11-22T18:10:00Z"));
    let retry = result_of(&app, at("create", "2026-11-22T18:00:00Z"));
    assert_eq!(outcome(&retry), ("ignored", "resolved", Some("stale")));
    assert_eq!(
        app.alert("default", "late").unwrap().state.as_str(),
        "resolved"
    );
}

/// SPEC §4: a `Timestamp` far in the future orders as the moment it arrived, so the sender's
/// next real events still apply.
#[test]
fn a_timestamp_in_the_future_does_not_lock_the_alert() {
    let app = spawn_app();
    let at = |event_type: &str, time: &str| json!({"event_type": event_type, "Id": "future", "Title": "x", "Timestamp": time});
    result_of(&app, at("create", "9999-12-31T00:00:00Z"));
    let now = alertgate::time::format(chrono::Utc::now());
    let resolved = result_of(&app, at("resolve", &now));
    assert_eq!(outcome(&resolved), ("resolved", "resolved", None));
    let timeline = app.timeline("default", "future");
    assert_eq!(
        timeline[0].occurred_at.as_deref(),
        Some("9999-12-31T00:00:00.000Z"),
        "the timeline keeps the sender's time"
    );
}

#[test]
fn a_batch_is_applied_in_order_and_fields_are_refreshed() {
    let app = spawn_app();
    let batch = json!([
        {"event_type": "create", "Id": "b-1", "Title": "first", "Severity": "warning", "Tags": ["db"]},
        {"event_type": "create", "Id": "b-1", "Title": "second", "Meta": {"k": "v"}},
        {"event_type": "resolve", "Id": "b-1"},
        {"event_type": "create", "Id": "b-2", "Title": "other"},
    ]);
    let response = app.send(&batch);
    assert_eq!(response.status(), 202);
    let results = json(response)["results"].clone();
    let outcomes: Vec<&str> = results
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["created", "deduplicated", "resolved", "created"]);
    let alert = app.alert("default", "b-1").unwrap();
    assert_eq!(alert.title, "second");
    assert_eq!(
        alert.severity.map(|s| s.as_str()),
        Some("warning"),
        "omitted fields are kept"
    );
    assert_eq!(alert.tags, ["db"]);
    assert_eq!(alert.meta.unwrap()["k"], "v");
}

#[test]
fn a_batch_with_one_bad_event_applies_nothing() {
    let app = spawn_app();
    let batch = json!([create("ok-1"), {"event_type": "create", "Id": "bad"}]);
    let response = app.send(&batch);
    assert_eq!(response.status(), 422);
    assert!(json(response)["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("[1].Title"));
    assert!(app.alert("default", "ok-1").is_none());
}

#[test]
fn alerts_are_keyed_per_integration() {
    let app = spawn_app();
    result_of(&app, create("shared-id"));
    let other = app.post_hook(
        "other",
        &[("pagertree-token", TOKEN)],
        create("shared-id").to_string(),
    );
    assert_eq!(json(other)["results"][0]["outcome"], "created");
}

#[test]
fn captured_payloads_are_stored_with_their_events() {
    let app = spawn_app();
    let body = create("cap-1").to_string();
    assert_eq!(
        app.post_hook("capture", &[("pagertree-token", TOKEN)], body.clone())
            .status(),
        202
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM alert_events WHERE body IS NOT NULL AND integration = 'capture'"
        ),
        1
    );
    app.send(&create("plain-1"));
    assert_eq!(
        app.count(
            "SELECT count(*) FROM alert_events WHERE body IS NOT NULL AND integration = 'default'"
        ),
        0
    );
}
