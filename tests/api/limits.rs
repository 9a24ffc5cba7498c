//! `--max-json-depth` and `--max-batch`: deliveries beyond them are refused whole, on every
//! route that reads deliveries, and dry runs refuse what the real request would.

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use alertgate::config::DEFAULT_MAX_BODY;
use alertgate::limits::DeliveryLimits;

const ADMIN: &str = "admin-token-for-limits";

/// A server that allows JSON 4 levels deep and 3 events a delivery.
fn strict_app() -> TestApp {
    spawn_app_with(AppSettings {
        admin_token: Some(ADMIN),
        limits: DeliveryLimits::new(4, 3),
        ..AppSettings::default()
    })
}

/// A PagerTree create whose `Meta` nests the body `levels` deep in all.
fn nested_create(id: &str, levels: usize) -> Value {
    let mut meta = json!(1);
    for _ in 1..levels {
        meta = json!({ "n": meta });
    }
    json!({"event_type": "create", "Id": id, "Title": "deep", "Meta": meta})
}

fn batch(prefix: &str, events: usize) -> Value {
    (0..events)
        .map(|n| create(&format!("{prefix}-{n}")))
        .collect()
}

fn post(app: &TestApp, body: &Value) -> (u16, Value) {
    let response = app.send(body);
    let status = response.status().as_u16();
    (status, json(response))
}

#[test]
fn json_deeper_than_the_setting_is_refused_with_where_and_why() {
    let app = strict_app();
    assert_eq!(post(&app, &nested_create("at-limit", 4)).0, 202);

    let (status, answer) = post(&app, &nested_create("too-deep", 5));
    assert_eq!(status, 400);
    assert_eq!(answer["error"]["code"], "json_too_deep");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("deeper than 4 levels") && message.contains("--max-json-depth"),
        "{message}"
    );
    assert!(
        app.alert("default", "too-deep").is_none(),
        "nothing applied"
    );
    assert_eq!(app.count("SELECT count(*) FROM alerts"), 1);

    let (status, answer) = post(
        &app,
        &json!({"event_type": "create", "Id": "[[[[[", "Title": "{{{{{"}),
    );
    assert_eq!(status, 202, "brackets in strings are text: {answer}");
}

#[test]
fn the_default_depth_is_64() {
    let app = spawn_app();
    assert_eq!(post(&app, &nested_create("deep-64", 64)).0, 202);
    let (status, answer) = post(&app, &nested_create("deep-65", 65));
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (400, Some("json_too_deep"))
    );
}

#[test]
fn a_batch_over_the_setting_is_refused_whole() {
    let app = strict_app();
    let (status, answer) = post(&app, &batch("fits", 3));
    assert_eq!(status, 202, "{answer}");

    let (status, answer) = post(&app, &batch("over", 4));
    assert_eq!(status, 422);
    assert_eq!(answer["error"]["code"], "invalid_payload");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("holds 4 events") && message.contains("is 3 (--max-batch)"),
        "{message}"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM alerts WHERE id LIKE 'over-%'"),
        0,
        "no event of a refused batch is applied"
    );
}

#[test]
fn an_alertmanager_group_over_the_setting_is_refused_naming_alerts() {
    let app = strict_app();
    let alert = |n: usize| {
        json!({"status": "firing", "fingerprint": format!("fp-{n}"),
               "labels": {"alertname": "Down", "instance": format!("host-{n}")},
               "startsAt": "2026-11-27T10:00:00Z"})
    };
    let body = json!({"version": "4", "status": "firing",
                      "alerts": (0..4).map(alert).collect::<Vec<_>>()});
    let bearer = format!("Bearer {BEARER}");
    let response = app.post_hook(
        "alertmanager",
        &[("authorization", bearer.as_str())],
        body.to_string(),
    );
    assert_eq!(response.status().as_u16(), 422);
    let answer = json(response);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("alerts: holds 4 events"), "{message}");
    assert_eq!(app.count("SELECT count(*) FROM alerts"), 0);
}

#[test]
fn pagerduty_enqueue_applies_the_depth_limit_and_answers_as_pagerduty() {
    let app = strict_app();
    let mut details = json!("x");
    for _ in 0..4 {
        details = json!({ "d": details });
    }
    let event = json!({"routing_key": PD_KEY, "event_action": "trigger", "dedup_key": "pd-deep",
                       "payload": {"summary": "s", "source": "h", "severity": "error",
                                   "custom_details": details}});
    let (status, _, answer) = app.post_json(
        "/v2/enqueue",
        &[("content-type", "application/json")],
        &event.to_string(),
    );
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["status"], "invalid event");
    assert!(app.alert("pagerduty", "pd-deep").is_none());
}

#[test]
fn a_dry_run_refuses_what_the_server_would() {
    let app = strict_app();
    let (status, deep) = app.admin(
        Method::POST,
        "/v1/integrations/default/test",
        Some(json!({"body": nested_create("dry-deep", 5)})),
    );
    assert_eq!(status, 200);
    assert_eq!(deep["error"]["code"], "json_too_deep");
    let (_, big) = app.admin(
        Method::POST,
        "/v1/integrations/default/test",
        Some(json!({"body": batch("dry", 4)})),
    );
    assert_eq!(big["error"]["code"], "invalid_payload");
    assert!(big["error"]["message"]
        .as_str()
        .unwrap()
        .contains("--max-batch"));
}

#[test]
fn integration_test_takes_the_same_limits_and_serve_refuses_settings_out_of_range() {
    let app = spawn_app();
    let file = app.db_path.with_file_name("batch.json");
    std::fs::write(&file, batch("cli", 3).to_string()).unwrap();
    let file = file.to_str().unwrap();
    let (ok, _, stderr) = run_cli(&app.db, &["integration", "test", "default", file]);
    assert!(ok, "{stderr}");
    let (ok, stdout, _) = run_cli(
        &app.db,
        &["integration", "test", "default", file, "--max-batch", "2"],
    );
    assert!(!ok, "over the limit exits 1");
    assert!(stdout.contains("--max-batch"), "{stdout}");

    for (flag, value) in [
        ("--max-json-depth", "0"),
        ("--max-json-depth", "128"),
        ("--max-batch", "0"),
        ("--max-batch", "10001"),
    ] {
        let output = alertgate(&app.db)
            .args(["--bind", "127.0.0.1:0", flag, value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{flag} {value} is refused");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

/// SPEC §3: a batch holds up to 1,000 events by default. Sent to the real binary with no
/// setting, in small events, so the body limit (which refuses far larger batches first) is not
/// what answers.
#[test]
fn the_default_batch_is_1000_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    add_sender_integrations(&db);
    let mut command = alertgate(&db);
    command.env_remove("ALERTGATE_MAX_BATCH");
    let server = ServerProcess::start_with(command);
    let send = |body: &Value| {
        let body = body.to_string();
        assert!(body.len() < DEFAULT_MAX_BODY / 4, "{} bytes", body.len());
        let response = server.post(
            "/hooks/tok",
            &[
                ("pagertree-token", TOKEN),
                ("content-type", "application/json"),
            ],
            body,
        );
        let status = response.status().as_u16();
        (status, json(response))
    };
    let (status, answer) = send(&batch("over", 1001));
    assert_eq!(status, 422, "1,001 events: {}", answer["error"]);
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("holds 1001 events") && message.contains("is 1000 (--max-batch)"),
        "{message}"
    );
    let (status, answer) = send(&batch("fits", 1000));
    assert_eq!(status, 202, "1,000 events: {}", answer["error"]);
    assert_eq!(answer["results"].as_array().unwrap().len(), 1000);
}
