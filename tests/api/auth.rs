//! Every auth mode over HTTP: the right credential, a wrong one, none.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{TimeZone, Utc};

use crate::helpers::*;

const BODY: &str = r#"{"event_type":"create","Id":"auth-1","Title":"Disk full"}"#;

/// Asserts a 401 with a challenge and a body that says nothing about the expected value.
fn assert_refused(response: reqwest::blocking::Response, case: &str) {
    assert_eq!(response.status(), 401, "{case}");
    assert!(
        response.headers().contains_key("www-authenticate"),
        "{case}: a challenge"
    );
    let body = response.text().unwrap();
    for secret in [TOKEN, BEARER, BASIC, HMAC_KEY, SW_SECRET] {
        assert!(!body.contains(secret), "{case}: the body hints at a secret");
    }
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(error["error"]["code"], "unauthorized", "{case}");
}

#[test]
fn each_mode_accepts_the_right_credential_and_refuses_wrong_or_missing_ones() {
    let app = spawn_app();
    let basic = format!("Basic {}", STANDARD.encode(BASIC));
    let wrong_basic = format!("Basic {}", STANDARD.encode("alice:queen"));
    let bearer = format!("Bearer {BEARER}");
    let signature = hmac_hex(HMAC_KEY, BODY.as_bytes());
    let wrong_signature = hmac_hex("other-key", BODY.as_bytes());
    let plerion = format!("sha256={signature}");
    let b64 = format!(
        "sha256={}",
        STANDARD.encode(hmac_bytes(HMAC_KEY.as_bytes(), BODY.as_bytes()))
    );
    // (integration, the right credential, a wrong one)
    let cases: [(&str, Header, Header); 7] = [
        (
            "default",
            ("pagertree-token", TOKEN),
            ("pagertree-token", "nope"),
        ),
        ("apikey", ("x-api-key", TOKEN), ("x-api-key", "nope")),
        (
            "bearer",
            ("authorization", &bearer),
            ("authorization", "Bearer nope"),
        ),
        (
            "basic",
            ("authorization", &basic),
            ("authorization", &wrong_basic),
        ),
        (
            "hmac",
            ("x-signature", &signature),
            ("x-signature", &wrong_signature),
        ),
        (
            "hmac-b64",
            ("x-signature", &b64),
            ("x-signature", "sha256=AAAA"),
        ),
        (
            "plerion",
            ("plerion-signature", &plerion),
            ("plerion-signature", "sha256=00"),
        ),
    ];
    for (name, right, wrong) in cases {
        let accepted = app.post_hook(name, &[right], BODY);
        assert_eq!(accepted.status(), 202, "{name}: the right credential");
        assert_refused(
            app.post_hook(name, &[wrong], BODY),
            &format!("{name}: a wrong credential"),
        );
        assert_refused(
            app.post_hook(name, &[], BODY),
            &format!("{name}: no credential"),
        );
    }
}

#[test]
fn none_mode_accepts_requests_without_credentials() {
    let app = spawn_app();
    assert_eq!(app.post_hook("open", &[], BODY).status(), 202);
}

#[test]
fn hmac_accepts_upper_and_lower_case_hex() {
    let app = spawn_app();
    let lower = hmac_hex(HMAC_KEY, BODY.as_bytes());
    assert_eq!(
        app.post_hook("hmac", &[("x-signature", &lower)], BODY)
            .status(),
        202
    );
    let upper = lower.to_uppercase();
    assert_eq!(
        app.post_hook("hmac", &[("x-signature", &upper)], BODY)
            .status(),
        202
    );
}

#[test]
fn hmac_refuses_a_tampered_body() {
    let app = spawn_app();
    let signature = hmac_hex(HMAC_KEY, BODY.as_bytes());
    let tampered = BODY.replace("Disk full", "Disk fine");
    assert_refused(
        app.post_hook("hmac", &[("x-signature", &signature)], tampered),
        "tampered body",
    );
}

#[test]
fn hmac_verifies_the_raw_bytes_not_a_reserialization() {
    let app = spawn_app();
    let spaced = "{ \"event_type\" : \"create\",\n  \"Id\": \"raw-1\", \"Title\": \"x\" }";
    let signature = hmac_hex(HMAC_KEY, spaced.as_bytes());
    assert_eq!(
        app.post_hook("hmac", &[("x-signature", &signature)], spaced)
            .status(),
        202
    );
}

#[test]
fn standard_webhooks_accepts_the_specification_example_vector() {
    let app = spawn_app_with(AppSettings {
        clock: Some(TestClock::at(Utc.timestamp_opt(1_614_265_330, 0).unwrap()).clock()),
        ..AppSettings::default()
    });
    // The spec's example body is not a pagertree event, so it is authenticated and then refused
    // as a payload: 422, not 401, proves the signature passed.
    let headers = [
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ];
    let response = app.post_hook("sw", &headers, r#"{"test": 2432232314}"#);
    assert_eq!(response.status(), 422);
    let svix = headers.map(|(name, value)| (name.replace("webhook-", "svix-"), value));
    let svix: Vec<(&str, &str)> = svix
        .iter()
        .map(|(name, value)| (name.as_str(), *value))
        .collect();
    assert_eq!(
        app.post_hook("sw", &svix, r#"{"test": 2432232314}"#)
            .status(),
        422
    );
    let tampered = app.post_hook("sw", &headers, r#"{"test": 2432232315}"#);
    assert_refused(tampered, "a tampered Standard Webhooks body");
}

fn post_signed(
    app: &TestApp,
    headers: &[(String, String)],
    body: &str,
) -> reqwest::blocking::Response {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    app.post_hook("sw", &pairs, body)
}

#[test]
fn standard_webhooks_refuses_a_timestamp_301_seconds_old() {
    let app = spawn_app();
    let now = Utc::now().timestamp();
    let fresh = standard_webhooks_headers(SW_SECRET, "msg_fresh", now - 10, BODY);
    assert_eq!(post_signed(&app, &fresh, BODY).status(), 202);
    let stale = standard_webhooks_headers(SW_SECRET, "msg_stale", now - 301, BODY);
    assert_refused(post_signed(&app, &stale, BODY), "a 301 s old timestamp");
}

#[test]
fn standard_webhooks_accepts_both_secrets_during_rotation() {
    let app = spawn_app();
    // Add the new secret beside the old one, as `rotate-secret --keep-old` does.
    let mut database = app.database();
    let new_secret = alertgate::auth::Secret::new(SW_SECRET_NEW);
    database
        .rotate_secret("sw", &new_secret, Some(alertgate::auth::DEFAULT_KEEP_OLD))
        .unwrap();
    drop(database);
    let now = Utc::now().timestamp();
    let with_new = standard_webhooks_headers(SW_SECRET_NEW, "msg_new", now, BODY);
    let accepted = (0..40).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        post_signed(&app, &with_new, BODY).status() == 202
    });
    assert!(
        accepted,
        "the new secret works within two seconds, without a restart"
    );
    let with_old = standard_webhooks_headers(SW_SECRET, "msg_old", now, BODY);
    assert_eq!(
        post_signed(&app, &with_old, BODY).status(),
        202,
        "the old secret still works"
    );
}
