//! `GET /metrics`: parses as Prometheus text, moves by exactly what was sent, reveals nothing.

use prometheus_parse::{Sample, Scrape, Value};
use serde_json::json;

use crate::helpers::*;

fn scrape(app: &TestApp) -> Scrape {
    let response = app.get("/metrics");
    assert_eq!(response.status(), 200);
    let text = response.text().unwrap();
    for secret in [TOKEN, BEARER, HMAC_KEY, "metrics-secret-title"] {
        assert!(!text.contains(secret), "the metrics reveal {secret}");
    }
    Scrape::parse(text.lines().map(|line| Ok(line.to_string()))).expect("Prometheus text")
}

/// The value of the sample named `metric` whose labels include all of `labels` (0 when absent).
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let matches = |sample: &&Sample| {
        sample.metric == metric
            && labels
                .iter()
                .all(|(key, value)| sample.labels.get(key) == Some(*value))
    };
    scrape
        .samples
        .iter()
        .filter(matches)
        .map(|sample| match &sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => *value,
            Value::Histogram(_) | Value::Summary(_) => 0.0,
        })
        .sum()
}

#[test]
fn counters_move_by_exactly_the_requests_sent() {
    let app = spawn_app();
    let before = scrape(&app);
    for n in 0..3 {
        app.send(&json!({"event_type": "create", "Id": format!("m-{n}"), "Title": "metrics-secret-title"}));
    }
    app.send(&json!({"event_type": "acknowledge", "Id": "m-0"}));
    app.send(&json!({"event_type": "acknowledge", "Id": "m-0"}));
    app.post_hook("default", &[("pagertree-token", "wrong")], "{}");
    let after = scrape(&app);

    let delta = |metric: &str, labels: &[(&str, &str)]| {
        value(&after, metric, labels) - value(&before, metric, labels)
    };
    let hooks = [("route", "/hooks/:integration"), ("integration", "default")];
    assert_eq!(
        delta(
            "alertgate_http_requests_total",
            &[hooks[0], hooks[1], ("status", "202")]
        ),
        5.0
    );
    assert_eq!(
        delta(
            "alertgate_http_requests_total",
            &[hooks[0], hooks[1], ("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "alertgate_events_total",
            &[("action", "create"), ("outcome", "created")]
        ),
        3.0
    );
    assert_eq!(
        delta(
            "alertgate_events_total",
            &[("action", "acknowledge"), ("outcome", "acknowledged")]
        ),
        1.0
    );
    assert_eq!(
        delta(
            "alertgate_events_total",
            &[
                ("action", "acknowledge"),
                ("outcome", "already_acknowledged")
            ]
        ),
        1.0
    );
    assert_eq!(value(&after, "alertgate_alerts", &[("state", "open")]), 2.0);
    assert_eq!(
        value(&after, "alertgate_alerts", &[("state", "acknowledged")]),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "alertgate_http_request_duration_seconds_count",
            &[hooks[0]]
        ),
        6.0
    );
    assert!(
        value(
            &after,
            "alertgate_writer_commit_duration_seconds_count",
            &[]
        ) >= 5.0
    );
    assert!(value(&after, "alertgate_database_size_bytes", &[]) > 0.0);
    assert_eq!(value(&after, "alertgate_writer_queue_depth", &[]), 0.0);
}

#[test]
fn the_alert_gauge_starts_from_the_database() {
    let app = spawn_app();
    app.send(&create("g-1"));
    app.send(&json!({"event_type": "resolve", "Id": "g-1"}));
    let metrics = scrape(&app);
    assert_eq!(
        value(&metrics, "alertgate_alerts", &[("state", "resolved")]),
        1.0
    );
    assert_eq!(
        value(&metrics, "alertgate_alerts", &[("state", "open")]),
        0.0
    );
}

/// Every event is counted, those that found no alert to act on among them.
#[test]
fn events_ignored_for_want_of_an_alert_are_counted_by_their_reason() {
    let app = spawn_app();
    let before = scrape(&app);
    app.send(&json!({"event_type": "resolve", "Id": "never-created"}));
    let after = scrape(&app);
    let labels = [("action", "resolve"), ("outcome", "unknown_alert")];
    assert_eq!(
        value(&after, "alertgate_events_total", &labels)
            - value(&before, "alertgate_events_total", &labels),
        1.0
    );
}

/// Anyone can ask for any name: a name that is no integration never becomes a label, however
/// many are tried, and is never echoed in full. They all count under `-`.
#[test]
fn names_that_are_no_integration_never_become_labels() {
    let app = spawn_app();
    let before = scrape(&app);
    let long = "n".repeat(2_000);
    for name in ["no-such-thing", long.as_str(), "nope-2"] {
        let response = app.post_hook(name, &[], "{}");
        assert_eq!(response.status(), 404);
        // The answer names what was asked for, cut short: no echo of a long name.
        let message = json(response)["error"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(message.len() < 200, "{message}");
        assert!(message.contains(&name[..name.len().min(60)]), "{message}");
    }
    let text = app.get("/metrics").text().unwrap();
    assert!(!text.contains("no-such-thing") && !text.contains(&long) && !text.contains("nope-2"));
    let after = scrape(&app);
    let unknown = [
        ("route", "/hooks/:integration"),
        ("integration", "-"),
        ("status", "404"),
    ];
    assert_eq!(
        value(&after, "alertgate_http_requests_total", &unknown)
            - value(&before, "alertgate_http_requests_total", &unknown),
        3.0
    );
}

/// An alert may outlive its integration: acting on it counts under `-`, not under a name that
/// is no longer configured.
#[test]
fn a_removed_integration_is_no_label() {
    let app = spawn_app_with(AppSettings {
        admin_token: Some("admin-for-metrics-test"),
        ..AppSettings::default()
    });
    let created = app.post_hook(
        "other",
        &[("pagertree-token", TOKEN)],
        create("o-1").to_string(),
    );
    assert_eq!(created.status(), 202);
    let (status, _) = app.admin(reqwest::Method::DELETE, "/v1/integrations/other", None);
    assert_eq!(status, 204);
    let (status, _) = app.api_post("/v1/alerts/other/o-1/acknowledge", "");
    assert_eq!(status, 200);
    let route = ("route", "/v1/alerts/:integration/:id/acknowledge");
    let after = scrape(&app);
    assert_eq!(
        value(
            &after,
            "alertgate_http_requests_total",
            &[route, ("integration", "-")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "alertgate_http_requests_total",
            &[route, ("integration", "other")]
        ),
        0.0
    );
}
