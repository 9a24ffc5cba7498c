//! Rotation with the old secrets kept (SPEC §6): they stay valid for 24 hours or for the time
//! asked, never longer, and never more than five at once. Time is the server's test clock.

use chrono::{TimeZone, Utc};
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const ADMIN: &str = "admin-token-rot";

fn app_at(clock: &TestClock) -> TestApp {
    spawn_app_with(AppSettings {
        admin_token: Some(ADMIN),
        clock: Some(clock.clock()),
        ..AppSettings::default()
    })
}

fn rotate(app: &TestApp, name: &str, body: serde_json::Value) -> String {
    let path = format!("/v1/integrations/{name}/rotate-secret");
    let (status, rotated) = app.admin(Method::POST, &path, Some(body));
    assert_eq!(status, 200, "{rotated}");
    rotated["secret"].as_str().unwrap().to_string()
}

fn token_status(app: &TestApp, token: &str) -> u16 {
    let alert = create("rot-1").to_string();
    app.post_hook("default", &[("pagertree-token", token)], alert)
        .status()
        .as_u16()
}

#[test]
fn kept_secrets_work_for_24_hours_and_not_a_moment_longer() {
    let clock = TestClock::at(Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap());
    let app = app_at(&clock);
    let new = rotate(&app, "default", json!({"keep_old": true}));
    assert_eq!(token_status(&app, TOKEN), 202, "the old token is kept");
    assert_eq!(token_status(&app, &new), 202);

    let (_, shown) = app.admin(Method::GET, "/v1/integrations/default", None);
    assert_eq!(shown["active_secrets"], 2, "{shown}");
    assert_eq!(
        shown["secrets_expire_at"],
        json!([null, "2026-12-02T09:00:00.000Z"]),
        "the new one stays until the next rotation, the old one 24 hours"
    );

    clock.advance(24 * 3600 - 1);
    assert_eq!(token_status(&app, TOKEN), 202, "one second before");
    clock.advance(1);
    assert_eq!(token_status(&app, TOKEN), 401, "expired");
    assert_eq!(token_status(&app, &new), 202);
    let (_, shown) = app.admin(Method::GET, "/v1/integrations/default", None);
    assert_eq!(
        (&shown["active_secrets"], &shown["secrets_expire_at"]),
        (&json!(1), &json!([null])),
        "an expired secret is no longer counted"
    );
}

#[test]
fn keep_old_for_seconds_sets_how_long_in_every_mode() {
    let clock = TestClock::at(Utc::now());
    let app = app_at(&clock);
    let signed = |key: &str| {
        let body = create("rot-sig").to_string();
        let signature = hmac_hex(key, body.as_bytes());
        app.post_hook("hmac", &[("X-Signature", &signature)], body)
            .status()
            .as_u16()
    };
    let routed = |key: &str| {
        let body = json!({"routing_key": key, "event_action": "trigger",
            "payload": {"summary": "disk", "source": "db-1", "severity": "error"}});
        let json = [("content-type", "application/json")];
        app.post_json("/v2/enqueue", &json, &body.to_string()).0
    };
    rotate(&app, "default", json!({"keep_old_for_seconds": 60}));
    rotate(
        &app,
        "bearer",
        json!({"keep_old": true, "keep_old_for_seconds": 60}),
    );
    let new_key = rotate(&app, "hmac", json!({"keep_old_for_seconds": 60}));
    rotate(&app, "pagerduty", json!({"keep_old_for_seconds": 60}));
    let bearer = |token: &str| {
        let auth = format!("Bearer {token}");
        app.post_hook(
            "bearer",
            &[("Authorization", &auth)],
            create("rot-b").to_string(),
        )
        .status()
        .as_u16()
    };
    assert_eq!(
        (
            token_status(&app, TOKEN),
            bearer(BEARER),
            signed(HMAC_KEY),
            routed(PD_KEY)
        ),
        (202, 202, 202, 202),
        "kept for the minute"
    );
    clock.advance(60);
    assert_eq!(
        (
            token_status(&app, TOKEN),
            bearer(BEARER),
            signed(HMAC_KEY),
            routed(PD_KEY)
        ),
        (401, 401, 401, 400),
        "gone after it (an unknown routing key is PagerDuty's 400)"
    );
    assert_eq!(signed(&new_key), 202);
}

#[test]
fn a_rotation_never_extends_an_old_secrets_life() {
    let clock = TestClock::at(Utc::now());
    let app = app_at(&clock);
    rotate(&app, "default", json!({"keep_old_for_seconds": 60}));
    rotate(&app, "default", json!({"keep_old": true}));
    clock.advance(60);
    assert_eq!(
        token_status(&app, TOKEN),
        401,
        "still retired after its minute"
    );
}

#[test]
fn at_most_five_secrets_and_expired_ones_make_room() {
    let clock = TestClock::at(Utc::now());
    let app = app_at(&clock);
    for _ in 0..4 {
        rotate(&app, "default", json!({"keep_old_for_seconds": 60}));
    }
    let path = "/v1/integrations/default/rotate-secret";
    let (status, refused) = app.admin(Method::POST, path, Some(json!({"keep_old": true})));
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("too_many_secrets")),
        "{refused}"
    );
    clock.advance(60);
    let newest = rotate(&app, "default", json!({"keep_old": true}));
    let (_, shown) = app.admin(Method::GET, "/v1/integrations/default", None);
    assert_eq!(
        shown["active_secrets"], 2,
        "the four expired ones are gone: {shown}"
    );
    assert_eq!(token_status(&app, &newest), 202);
}

#[test]
fn a_keep_old_time_out_of_bounds_or_without_keep_old_is_refused() {
    let app = app_at(&TestClock::at(Utc::now()));
    let path = "/v1/integrations/default/rotate-secret";
    for body in [
        json!({"keep_old_for_seconds": 0}),
        json!({"keep_old_for_seconds": 31_536_001}),
        json!({"keep_old": false, "keep_old_for_seconds": 60}),
    ] {
        let (status, refused) = app.admin(Method::POST, path, Some(body.clone()));
        assert_eq!(status, 422, "{body}: {refused}");
        assert!(
            refused["error"]["message"]
                .as_str()
                .unwrap()
                .contains("keep_old_for_seconds"),
            "{body}: {refused}"
        );
    }
    assert_eq!(token_status(&app, TOKEN), 202, "nothing rotated");
}

#[test]
fn the_cli_keeps_old_secrets_for_the_time_given() {
    let clock = TestClock::at(Utc::now());
    let app = app_at(&clock);
    for bad in ["0s", "soon", "400d"] {
        let (ok, _, stderr) = run_cli(
            &app.db,
            &[
                "integration",
                "rotate-secret",
                "default",
                "--keep-old-for",
                bad,
            ],
        );
        assert!(!ok && stderr.contains("--keep-old-for"), "{bad}: {stderr}");
    }
    let (ok, stdout, stderr) = run_cli(
        &app.db,
        &[
            "integration",
            "rotate-secret",
            "default",
            "--keep-old-for",
            "1h",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stdout.contains("stay valid until"), "{stdout}");
    let new = stdout
        .lines()
        .find_map(|line| line.split("(shown only now): ").nth(1))
        .unwrap()
        .to_string();
    wait_until("the server reloads the rotation", PATIENCE, || {
        token_status(&app, &new) == 202
    });
    // The CLI stamps the expiry with the wall clock and the server reads it with the test clock,
    // frozen before the CLI ran: an hour leaves room for a slow machine on either side.
    assert_eq!(token_status(&app, TOKEN), 202, "kept for its hour");
    let (_, show, _) = run_cli(&app.db, &["integration", "show", "default"]);
    assert!(show.contains("\"active_secrets\": 2"), "{show}");
    clock.advance(2 * 3600);
    assert_eq!(token_status(&app, TOKEN), 401, "gone after it");
    assert_eq!(token_status(&app, &new), 202);
}
