//! Each sender format end to end over HTTP, with the senders' own payloads from fixtures/.

use serde_json::{json, Value};

use crate::helpers::*;

/// Posts `body` as the sender would: Plerion and PlexTrac sign it, Pingara and Elastio send
/// their secret header, Alertmanager a Bearer token.
fn post(app: &TestApp, integration: &str, body: &Value) -> (u16, Value) {
    let raw = body.to_string();
    let plain_signature = hmac_hex(HMAC_KEY, raw.as_bytes());
    let signature = format!("sha256={plain_signature}");
    let bearer = format!("Bearer {BEARER}");
    let header = match integration {
        "plerion-alerts" => ("plerion-signature", signature.as_str()),
        "pingara" => ("X-Pingara-Secret", TOKEN),
        "alertmanager" => ("authorization", bearer.as_str()),
        "elastio" => ("X-API-Key", TOKEN),
        "plextrac" => ("X-Authorization-HMAC-256", plain_signature.as_str()),
        other => panic!("no sender for {other}"),
    };
    let response = app.post_hook(integration, &[header], raw);
    (response.status().as_u16(), json(response))
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

/// (outcome, state, reason) of each result.
fn outcomes(answer: &Value) -> Vec<(String, String, String)> {
    let text = |value: &Value| value.as_str().unwrap_or("-").to_string();
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| {
            (
                text(&result["outcome"]),
                text(&result["state"]),
                text(&result["reason"]),
            )
        })
        .collect()
}

fn expect(app: &TestApp, integration: &str, body: &Value, expected: &[(&str, &str, &str)]) {
    let (status, answer) = post(app, integration, body);
    assert_eq!(status, 202, "{integration}: {answer}");
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(outcomes(&answer), expected, "{integration}: {body}");
}

#[test]
fn plerion_alerts_go_through_their_lifecycle() {
    let app = spawn_app();
    let created = fixture_json("plerion/alert_created.json");
    expect(
        &app,
        "plerion-alerts",
        &created,
        &[("created", "open", "-")],
    );
    expect(
        &app,
        "plerion-alerts",
        &created,
        &[("deduplicated", "open", "-")],
    );
    expect(
        &app,
        "plerion-alerts",
        &fixture_json("plerion/alert_updated.json"),
        &[("updated", "open", "-")],
    );
    expect(
        &app,
        "plerion-alerts",
        &fixture_json("plerion/alert_resolved.json"),
        &[("resolved", "resolved", "-")],
    );
    expect(
        &app,
        "plerion-alerts",
        &created,
        &[("reopened", "open", "-")],
    );
    let alert = app.alert("plerion-alerts", "alr_7Qk2mZ").unwrap();
    assert_eq!(alert.episode, 2);
    assert_eq!(alert.meta.unwrap()["workflow"], "Critical findings");
    assert!(alert
        .description
        .unwrap()
        .contains("Block Public Access is off"));
}

#[test]
fn plerions_test_message_is_accepted_with_no_results() {
    let app = spawn_app();
    let (status, answer) = post(
        &app,
        "plerion-alerts",
        &fixture_json("plerion/test_message.json"),
    );
    assert_eq!((status, answer["results"].clone()), (202, json!([])));
}

#[test]
fn pingara_incidents_go_through_their_lifecycle_and_late_retries_are_stale() {
    let app = spawn_app();
    let created = fixture_json("pingara/incident_created.json");
    expect(&app, "pingara", &created, &[("created", "open", "-")]);
    expect(&app, "pingara", &created, &[("deduplicated", "open", "-")]);
    expect(
        &app,
        "pingara",
        &fixture_json("pingara/incident_updated.json"),
        &[("updated", "open", "-")],
    );
    expect(
        &app,
        "pingara",
        &fixture_json("pingara/incident_resolved.json"),
        &[("resolved", "resolved", "-")],
    );
    // Pingara retries the create for up to 30 minutes: it must not reopen the incident.
    expect(
        &app,
        "pingara",
        &created,
        &[("ignored", "resolved", "stale")],
    );
    let mut again = created.clone();
    again["timestamp"] = json!("2024-01-15T16:00:00.000Z");
    expect(&app, "pingara", &again, &[("reopened", "open", "-")]);
    let alert = app.alert("pingara", "inc_789ghi012").unwrap();
    assert_eq!(alert.title, "API Production is down");
}

#[test]
fn pingara_degradations_certificates_and_paused_monitors() {
    let app = spawn_app();
    expect(
        &app,
        "pingara",
        &fixture_json("pingara/monitor_degraded.json"),
        &[("created", "open", "-")],
    );
    expect(
        &app,
        "pingara",
        &fixture_json("pingara/monitor_recovered.json"),
        &[("resolved", "resolved", "-")],
    );
    expect(
        &app,
        "pingara",
        &fixture_json("pingara/ssl_expiring.json"),
        &[("created", "open", "-")],
    );
    let (status, answer) = post(
        &app,
        "pingara",
        &fixture_json("pingara/monitor_paused.json"),
    );
    assert_eq!(status, 202);
    assert_eq!(
        answer["results"],
        json!([{"id": "monitor:m_abc123def456", "action": "update", "outcome": "ignored", "state": null, "reason": "informational"}])
    );
    assert!(
        app.alert("pingara", "monitor:m_abc123def456").is_none(),
        "nothing stored"
    );
    assert!(app.alert("pingara", "ssl:m_abc123def456").is_some());
}

#[test]
fn alertmanager_alerts_fire_refire_resolve_and_fire_again() {
    let app = spawn_app();
    let firing = fixture_json("alertmanager/firing.json");
    expect(
        &app,
        "alertmanager",
        &firing,
        &[("created", "open", "-"), ("created", "open", "-")],
    );
    // repeat_interval re-sends the same firing alerts: deduplicated.
    expect(
        &app,
        "alertmanager",
        &firing,
        &[("deduplicated", "open", "-"), ("deduplicated", "open", "-")],
    );
    expect(
        &app,
        "alertmanager",
        &fixture_json("alertmanager/resolved.json"),
        &[("resolved", "resolved", "-")],
    );
    // A firing notification retried after the resolve carries the old startsAt: stale.
    let mut late = firing.clone();
    late["alerts"].as_array_mut().unwrap().truncate(1);
    expect(
        &app,
        "alertmanager",
        &late,
        &[("ignored", "resolved", "stale")],
    );
    expect(
        &app,
        "alertmanager",
        &fixture_json("alertmanager/refiring.json"),
        &[("reopened", "open", "-")],
    );
    let alert = app.alert("alertmanager", "3c5b8a1f0d2e4b67").unwrap();
    assert_eq!(
        (alert.episode, alert.severity.map(|s| s.as_str())),
        (2, Some("critical"))
    );
    assert!(alert.tags.contains(&"alertname=DiskFull".to_string()));
}

#[test]
fn unreadable_payloads_are_422_naming_the_field() {
    let app = spawn_app();
    let cases = [
        ("plerion-alerts", json!({"alerts": []}), "data: "),
        (
            "plerion-alerts",
            json!({"data": {"alerts": [{"id": "a", "operation": "DELETED"}]}}),
            "data.alerts[0].operation: expected CREATED, UPDATED or RESOLVED",
        ),
        (
            "pingara",
            json!({"event": "incident.created", "monitor": {"id": "m"}}),
            "incident: ",
        ),
        (
            "pingara",
            json!({"event": "nope", "monitor": {"id": "m"}}),
            "event: expected",
        ),
        (
            "alertmanager",
            json!({"alerts": [{"status": "firing", "fingerprint": "f"}]}),
            "alerts[0].labels: ",
        ),
        ("alertmanager", json!({"version": "4"}), "alerts: "),
    ];
    for (integration, body, message) in cases {
        let (status, answer) = post(&app, integration, &body);
        assert_eq!(status, 422, "{integration}: {body}");
        let got = answer["error"]["message"].as_str().unwrap();
        assert!(got.starts_with(message), "{integration}: {got}");
    }
}

#[test]
fn a_mapping_reads_elastio_style_events_through_their_lifecycle() {
    let app = spawn_app();
    let open = fixture_json("mapping/elastio_event_open.json");
    expect(&app, "elastio", &open, &[("created", "open", "-")]);
    expect(&app, "elastio", &open, &[("deduplicated", "open", "-")]);
    expect(
        &app,
        "elastio",
        &fixture_json("mapping/elastio_event_resolved.json"),
        &[("resolved", "resolved", "-")],
    );
    expect(&app, "elastio", &open, &[("ignored", "resolved", "stale")]);
    let mut again = open.clone();
    again["occurred_at"] = json!("2026-11-22T21:00:00Z");
    expect(&app, "elastio", &again, &[("reopened", "open", "-")]);
    let alert = app.alert("elastio", "evt_4f1c2a").unwrap();
    assert_eq!(
        alert.title,
        "Ransomware detected in a recovery point of vol-0a1b2c3d"
    );
    assert_eq!(
        (alert.severity.map(|s| s.as_str()), alert.tags.len()),
        (Some("error"), 3)
    );
}

#[test]
fn a_mapping_reads_a_plextrac_style_batch() {
    let app = spawn_app();
    let findings = fixture_json("mapping/plextrac_findings.json");
    // The first finding opens, the second is an update of an unknown (but titled) finding, so it
    // opens too; the third closes one never seen.
    expect(
        &app,
        "plextrac",
        &findings,
        &[
            ("created", "open", "-"),
            ("created", "open", "-"),
            ("ignored", "-", "unknown_alert"),
        ],
    );
    let alert = app.alert("plextrac", "50211").unwrap();
    assert_eq!(
        (alert.title.as_str(), alert.severity.map(|s| s.as_str())),
        ("SQL injection in /search", Some("critical"))
    );
    assert_eq!(
        app.alert("plextrac", "50212")
            .unwrap()
            .severity
            .map(|s| s.as_str()),
        Some("warning")
    );
}

#[test]
fn a_mapping_names_the_pointer_it_could_not_read() {
    let app = spawn_app();
    let mut unknown_status = fixture_json("mapping/elastio_event_open.json");
    unknown_status["status"] = json!("SNOOZED");
    let (status, answer) = post(&app, "elastio", &unknown_status);
    assert_eq!(status, 422);
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("/status: `SNOOZED` has no action"));
    let (status, answer) = post(
        &app,
        "plextrac",
        &json!({"data": {"findings": [{"title": "no id"}]}}),
    );
    assert_eq!(
        (
            status,
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
        ),
        (422, Some("/data/findings/0/id"))
    );
}
