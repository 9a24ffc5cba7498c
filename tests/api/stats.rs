//! `GET /v1/stats` against a scenario computed by hand.

use serde_json::json;

use crate::helpers::*;

#[test]
fn stats_count_states_and_average_response_times_over_the_window() {
    let clock = TestClock::at("2026-11-22T12:00:00Z".parse().unwrap());
    let app = spawn_app_with(AppSettings {
        clock: Some(clock.clock()),
        ..AppSettings::default()
    });
    let at = |seconds: i64| {
        let target = "2026-11-22T12:00:00Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            + chrono::Duration::seconds(seconds);
        clock.advance((target - clock.now()).num_seconds());
    };
    let send = |event_type: &str, id: &str| {
        let body = json!({"event_type": event_type, "Id": id, "Title": id});
        assert_eq!(app.send(&body).status(), 202);
    };
    // An old episode, outside a window that starts at 12:00:30.
    at(0);
    send("create", "old");
    at(20);
    send("acknowledge", "old"); // MTTA 20, left out
                                // a: opened 60, acknowledged by a person at 120 (60 s), resolved at 360 (300 s).
                                // b: opened 100, resolved at 400 without an acknowledgement (300 s).
                                // a again: reopened 500, acknowledged 530 (30 s), still acknowledged. c: opened 600.
    at(60);
    send("create", "a");
    at(100);
    send("create", "b");
    at(120);
    assert_eq!(app.api_post("/v1/alerts/default/a/acknowledge", "").0, 200);
    at(360);
    send("resolve", "a");
    at(400);
    send("resolve", "b");
    at(500);
    send("create", "a");
    at(530);
    send("acknowledge", "a");
    at(600);
    send("create", "c");
    let (status, stats) = app.api_get("/v1/stats?since=2026-11-22T12:00:30Z");
    assert_eq!(status, 200);
    assert_eq!(stats["since"], "2026-11-22T12:00:30.000Z");
    assert_eq!(
        stats["by_state"],
        json!({"open": 1, "acknowledged": 2, "resolved": 1})
    );
    assert_eq!(
        stats["by_integration"]["default"],
        json!({"open": 1, "acknowledged": 2, "resolved": 1})
    );
    assert_eq!(
        stats["by_integration"]["other"],
        json!({"open": 0, "acknowledged": 0, "resolved": 0})
    );
    // MTTA over a (60) and a again (30); MTTR over a (300) and b (300).
    assert_eq!(stats["mtta_seconds"].as_f64(), Some(45.0));
    assert_eq!(stats["mttr_seconds"].as_f64(), Some(300.0));
}

#[test]
fn stats_default_to_the_last_7_days_and_refuse_a_bad_since() {
    let app = spawn_app();
    let (status, stats) = app.api_get("/v1/stats");
    assert_eq!(status, 200);
    assert!(stats["mtta_seconds"].is_null() && stats["mttr_seconds"].is_null());
    let since = chrono::DateTime::parse_from_rfc3339(stats["since"].as_str().unwrap()).unwrap();
    let age = chrono::Utc::now().signed_duration_since(since);
    assert!((age.num_hours() - 7 * 24).abs() <= 1, "{age}");
    let (status, body) = app.api_get("/v1/stats?since=last-week");
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_parameter"))
    );
}
