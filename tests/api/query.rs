//! The query API (SPEC §5): listing with filters and pages, one alert, its timeline, API auth.

use serde_json::json;

use crate::helpers::*;

/// Alerts of every kind the filters tell apart, sent in this order (so listed in reverse).
fn seed(app: &TestApp) {
    let batch = json!([
        {"event_type": "create", "Id": "db-disk", "Title": "Disk almost full on db-1", "Severity": "warning", "Tags": ["db", "prod"]},
        {"event_type": "create", "Id": "web-5xx", "Title": "HTTP 5xx rate high", "Severity": "critical", "Tags": ["web", "prod"]},
        {"event_type": "create", "Id": "db-cpu", "Title": "CPU hot on DB-2", "Severity": "critical", "Tags": ["db"]},
        {"event_type": "create", "Id": "batch", "Title": "Nightly batch late", "Severity": "info"},
        {"event_type": "acknowledge", "Id": "web-5xx"},
        {"event_type": "resolve", "Id": "batch"},
    ]);
    assert_eq!(app.send(&batch).status(), 202);
    let other = json!({"event_type": "create", "Id": "other-disk", "Title": "Disk full", "Severity": "critical", "Tags": ["db"]});
    assert_eq!(
        app.post_hook("other", &[("pagertree-token", TOKEN)], other.to_string())
            .status(),
        202
    );
}

#[test]
fn filters_work_alone_and_combined() {
    let app = spawn_app();
    seed(&app);
    let cases: [(&str, &[&str]); 14] = [
        ("", &["other-disk", "batch", "web-5xx", "db-cpu", "db-disk"]),
        ("state=open", &["other-disk", "db-cpu", "db-disk"]),
        ("state=acknowledged,resolved", &["batch", "web-5xx"]),
        (
            "integration=default",
            &["batch", "web-5xx", "db-cpu", "db-disk"],
        ),
        ("severity=critical", &["other-disk", "web-5xx", "db-cpu"]),
        ("severity=info,warning", &["batch", "db-disk"]),
        ("tag=db", &["other-disk", "db-cpu", "db-disk"]),
        ("q=disk", &["other-disk", "db-disk"]),
        ("q=DB-", &["db-cpu", "db-disk"]),
        ("q=5x", &["web-5xx"]),
        (
            "state=open&integration=default&tag=db",
            &["db-cpu", "db-disk"],
        ),
        ("severity=critical&tag=prod", &["web-5xx"]),
        ("tag=db&q=cpu", &["db-cpu"]),
        ("state=resolved&tag=db", &[]),
    ];
    for (query, expected) in cases {
        let (status, page) = app.api_get(&format!("/v1/alerts?{query}"));
        assert_eq!(status, 200, "{query}");
        assert_eq!(ids(&page), expected, "{query}");
    }
}

#[test]
fn since_and_until_bound_the_last_change() {
    let clock = TestClock::at("2026-11-22T18:00:00Z".parse().unwrap());
    let app = spawn_app_with(AppSettings {
        clock: Some(clock.clock()),
        ..AppSettings::default()
    });
    app.send(&create("early"));
    clock.advance(60);
    app.send(&create("middle"));
    clock.advance(60);
    app.send(&create("late"));
    let (_, page) = app.api_get("/v1/alerts?since=2026-11-22T18:01:00Z&until=2026-11-22T18:02:00Z");
    assert_eq!(
        ids(&page),
        ["middle"],
        "since is inclusive, until exclusive"
    );
    let (_, page) = app.api_get("/v1/alerts?since=2026-11-22T18:01:00Z");
    assert_eq!(ids(&page), ["late", "middle"]);
}

#[test]
fn bad_parameters_get_400_naming_the_parameter() {
    let app = spawn_app();
    let cases = [
        ("state=closed", "state"),
        ("severity=high", "severity"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("cursor=xyz", "cursor"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("stat=open", "stat"),
    ];
    for (query, parameter) in cases {
        let (status, body) = app.api_get(&format!("/v1/alerts?{query}"));
        assert_eq!(status, 400, "{query}");
        assert_eq!(body["error"]["code"], "invalid_parameter", "{query}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("`{parameter}`")),
            "{query}: {message}"
        );
    }
}

#[test]
fn paging_through_1000_alerts_while_more_arrive_returns_each_once() {
    let app = spawn_app();
    let batch: Vec<serde_json::Value> = (0..1000).map(|n| create(&format!("page-{n}"))).collect();
    assert_eq!(app.send(&serde_json::Value::Array(batch)).status(), 202);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            None => "/v1/alerts?limit=73".to_string(),
            Some(cursor) => format!("/v1/alerts?limit=73&cursor={cursor}"),
        };
        let (status, page) = app.api_get(&path);
        assert_eq!(status, 200);
        seen.extend(ids(&page));
        // New alerts arrive between pages; they are newer than the walk and never show up in it.
        app.send(&create(&format!("new-{pages}")));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 14);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), seen.len(), "no alert twice");
    assert_eq!(seen.len(), 1000, "every alert that existed at the start");
    assert!(seen.iter().all(|id| id.starts_with("page-")));
    assert_eq!(seen.first().unwrap(), "page-999", "newest change first");
}

#[test]
fn ids_with_slashes_percents_spaces_and_emoji_round_trip() {
    let app = spawn_app();
    for id in [
        "a/b/c",
        "100% full",
        "disk on db 1",
        "🔥 fire",
        "ünïcödé?&#=",
    ] {
        let created = app.send(&create(id));
        assert_eq!(created.status(), 202, "{id}");
        let path = format!("/v1/alerts/default/{}", encode_segment(id));
        let (status, alert) = app.api_get(&path);
        assert_eq!((status, alert["id"].as_str()), (200, Some(id)), "{id}");
        let (status, timeline) = app.api_get(&format!("{path}/events"));
        assert_eq!(
            (status, timeline["events"].as_array().unwrap().len()),
            (200, 1),
            "{id}"
        );
        let (status, acked) = app.api_post(&format!("{path}/acknowledge"), "");
        assert_eq!(
            (status, acked["alert"]["id"].as_str()),
            (200, Some(id)),
            "{id}"
        );
    }
}

/// URL parsers fold `.` and `..` out of a path, percent-encoded or not, so such an alert could
/// never be shown or acted on: the Id is refused at ingest, naming why, in every format.
#[test]
fn ids_that_a_url_path_cannot_carry_are_refused() {
    let app = spawn_app();
    for id in [".", ".."] {
        let response = app.send(&create(id));
        assert_eq!(response.status(), 422, "{id}");
        let error = json(response);
        assert!(
            error["error"]["message"]
                .as_str()
                .unwrap()
                .contains("URL path"),
            "{error}"
        );
    }
    for id in ["...", ".a", "a."] {
        assert_eq!(app.send(&create(id)).status(), 202, "{id}");
    }
    assert_eq!(app.count("SELECT count(*) FROM alerts"), 3);
}

#[test]
fn an_unknown_alert_is_404() {
    let app = spawn_app();
    for path in [
        "/v1/alerts/default/nope",
        "/v1/alerts/default/nope/events",
        "/v1/alerts/ghost/nope",
    ] {
        let (status, body) = app.api_get(path);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("alert_not_found")),
            "{path}"
        );
    }
}

#[test]
fn the_timeline_is_oldest_first_and_pages_by_seq() {
    let app = spawn_app();
    for _ in 0..5 {
        app.send(&create("busy"));
    }
    let (_, first) = app.api_get("/v1/alerts/default/busy/events?limit=2");
    let outcomes: Vec<&str> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["created", "deduplicated"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app.api_get(&format!(
        "/v1/alerts/default/busy/events?limit=2&cursor={cursor}"
    ));
    let (_, third) = app.api_get(&format!(
        "/v1/alerts/default/busy/events?limit=2&cursor={}",
        second["next_cursor"].as_str().unwrap()
    ));
    assert_eq!(third["events"].as_array().unwrap().len(), 1);
    assert!(third["next_cursor"].is_null());
    let entry = &first["events"][0];
    for key in [
        "seq",
        "at",
        "action",
        "outcome",
        "reason",
        "from_state",
        "to_state",
        "source",
        "delivery",
        "by",
        "note",
        "occurred_at",
    ] {
        assert!(entry.get(key).is_some(), "timeline entries have `{key}`");
    }
}

/// A NUL in `q` cannot be searched for: `400` naming the parameter, never a `500`.
#[test]
fn a_control_character_in_q_is_400() {
    let app = spawn_app();
    let (status, body) = app.api_get("/v1/alerts?q=disk%00full");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("`q`"));
}
