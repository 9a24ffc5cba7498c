//! Manual acknowledge and resolve through the API (SPEC §5).

use serde_json::json;

use crate::helpers::*;

#[test]
fn acknowledge_answers_200_with_the_alert_and_outcome_after_commit() {
    let app = spawn_app();
    app.send(&create("m-1"));
    let (status, body) = app.api_post(
        "/v1/alerts/default/m-1/acknowledge",
        r#"{"by": "alice", "note": "looking"}"#,
    );
    assert_eq!(status, 200);
    assert_eq!(body["outcome"], "acknowledged");
    assert_eq!(body["alert"]["state"], "acknowledged");
    assert_eq!(body["alert"]["acknowledged_by"], "alice");
    let stored = app.alert("default", "m-1").unwrap();
    assert_eq!(
        stored.state.as_str(),
        "acknowledged",
        "committed when answered"
    );
    let entry = app.timeline("default", "m-1").pop().unwrap();
    assert_eq!(
        (
            entry.source.as_str(),
            entry.by.as_deref(),
            entry.note.as_deref()
        ),
        ("api", Some("alice"), Some("looking"))
    );
    assert_eq!(entry.delivery, None, "api entries have no delivery");
}

#[test]
fn no_body_at_all_is_fine() {
    let app = spawn_app();
    app.send(&create("m-2"));
    let (status, body) = app.api_post("/v1/alerts/default/m-2/resolve", "");
    assert_eq!((status, body["outcome"].as_str()), (200, Some("resolved")));
}

#[test]
fn an_ignored_transition_is_409_with_the_reason_and_the_alert() {
    let app = spawn_app();
    app.send(&create("m-3"));
    app.api_post("/v1/alerts/default/m-3/resolve", "");
    for action in ["acknowledge", "resolve"] {
        let (status, body) = app.api_post(&format!("/v1/alerts/default/m-3/{action}"), "");
        assert_eq!(status, 409, "{action}");
        assert_eq!(body["error"]["code"], "already_resolved", "{action}");
        assert_eq!(body["alert"]["state"], "resolved", "{action}");
    }
    app.send(&create("m-4"));
    app.api_post("/v1/alerts/default/m-4/acknowledge", "");
    let (status, body) = app.api_post("/v1/alerts/default/m-4/acknowledge", "");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("already_acknowledged"))
    );
}

#[test]
fn an_unknown_alert_is_404_and_stores_nothing() {
    let app = spawn_app();
    let (status, body) = app.api_post("/v1/alerts/default/ghost/acknowledge", "");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("alert_not_found"))
    );
    assert_eq!(app.count("SELECT count(*) FROM alert_events"), 0);
}

#[test]
fn bad_bodies_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app();
    app.send(&create("m-5"));
    let long_by = json!({"by": "x".repeat(256)}).to_string();
    let long_note = json!({"note": "x".repeat(4097)}).to_string();
    let cases = [
        (long_by.as_str(), 422, "by"),
        (long_note.as_str(), 422, "note"),
        ("{\"by\": 5}", 422, "body"),
        ("{not json", 400, ""),
    ];
    for (body, status, field) in cases {
        let (got, answer) = app.api_post("/v1/alerts/default/m-5/acknowledge", body);
        assert_eq!(got, status, "{body:.40}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with(field),
            "{body:.40}"
        );
    }
    assert_eq!(app.alert("default", "m-5").unwrap().state.as_str(), "open");
    let exact = json!({"by": "é".repeat(255), "note": "x".repeat(4096)}).to_string();
    assert_eq!(
        app.api_post("/v1/alerts/default/m-5/acknowledge", &exact).0,
        200,
        "limits count characters"
    );
}

#[test]
fn a_manual_ack_then_hook_resolve_then_hook_create_shows_each_source() {
    let app = spawn_app();
    app.send(&json!({"event_type": "create", "Id": "m-6", "Title": "x", "Timestamp": "2026-11-22T18:00:00Z"}));
    app.api_post("/v1/alerts/default/m-6/acknowledge", r#"{"by": "bob"}"#);
    app.send(&json!({"event_type": "resolve", "Id": "m-6", "Timestamp": "2026-11-22T18:05:00Z"}));
    app.send(&json!({"event_type": "create", "Id": "m-6", "Title": "x", "Timestamp": "2026-11-22T18:10:00Z"}));
    let (_, timeline) = app.api_get("/v1/alerts/default/m-6/events");
    let entries: Vec<(&str, &str, &str)> = timeline["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["source"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
                e["to_state"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("hook", "created", "open"),
            ("api", "acknowledged", "acknowledged"),
            ("hook", "resolved", "resolved"),
            ("hook", "reopened", "open"),
        ]
    );
    let alert = app.alert("default", "m-6").unwrap();
    assert_eq!(
        (alert.episode, alert.acknowledged_by),
        (2, None),
        "a reopen clears the acknowledgement"
    );
}
