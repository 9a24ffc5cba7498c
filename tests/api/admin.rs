//! The admin API (SPEC §6): integrations over HTTP, the delivery log, dry runs.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const ADMIN: &str = "admin-token-51c";

fn admin_app() -> TestApp {
    spawn_app_with(AppSettings {
        admin_token: Some(ADMIN),
        ..AppSettings::default()
    })
}

#[test]
fn the_admin_api_is_off_without_a_token_and_guarded_with_one() {
    let off = spawn_app();
    for path in [
        "/v1/integrations",
        "/v1/integrations/default",
        "/v1/integrations/default/deliveries",
    ] {
        let (status, body) = off.admin(Method::GET, path, None);
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let on = admin_app();
    let client = reqwest::blocking::Client::new();
    let url = format!("{}/v1/integrations", on.address);
    assert_eq!(client.get(&url).send().unwrap().status(), 401);
    let wrong = client
        .get(&url)
        .bearer_auth("admin-token-51d")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (status, body) = on.admin(Method::GET, "/v1/integrations", None);
    assert_eq!(status, 200);
    let names: Vec<&str> = body["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"default") && names.contains(&"sw"));
    assert!(
        !body.to_string().contains(TOKEN) && !body.to_string().contains(SW_SECRET),
        "no secret is listed"
    );
}

#[test]
fn an_integration_is_created_patched_rotated_and_deleted_and_ingest_follows_each_step() {
    let app = admin_app();
    let alert = create("adm-1").to_string();
    // Create: 201 with the secret, shown once; ingest takes it at once.
    let (status, created) = app.admin(
        Method::POST,
        "/v1/integrations",
        Some(json!({"name": "ops", "header": "X-Ops-Token"})),
    );
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap().to_string();
    assert_eq!(created["integration"]["auth"]["header"], "x-ops-token");
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &secret)], alert.clone())
            .status(),
        202
    );
    let (status, _) = app.admin(
        Method::POST,
        "/v1/integrations",
        Some(json!({"name": "ops"})),
    );
    assert_eq!(status, 409, "an existing name");

    // Show: the counters and no secret.
    let (status, shown) = app.admin(Method::GET, "/v1/integrations/ops", None);
    assert_eq!(
        (status, shown["deliveries_24h"]["accepted"].as_i64()),
        (200, Some(1))
    );
    assert!(!shown.to_string().contains(&secret));

    // Patch: disabled answers 404, enabled again 202.
    assert_eq!(
        app.admin(
            Method::PATCH,
            "/v1/integrations/ops",
            Some(json!({"enabled": false}))
        )
        .0,
        200
    );
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &secret)], alert.clone())
            .status(),
        404
    );
    assert_eq!(
        app.admin(
            Method::PATCH,
            "/v1/integrations/ops",
            Some(json!({"enabled": true, "capture_payload": true}))
        )
        .0,
        200
    );
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &secret)], alert.clone())
            .status(),
        202
    );

    // Rotate keeping the old secret, then without: the old one stops working.
    let (_, kept) = app.admin(
        Method::POST,
        "/v1/integrations/ops/rotate-secret",
        Some(json!({"keep_old": true})),
    );
    let second = kept["secret"].as_str().unwrap().to_string();
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &secret)], alert.clone())
            .status(),
        202,
        "kept"
    );
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &second)], alert.clone())
            .status(),
        202
    );
    let (_, rotated) = app.admin(Method::POST, "/v1/integrations/ops/rotate-secret", None);
    let third = rotated["secret"].as_str().unwrap().to_string();
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &second)], alert.clone())
            .status(),
        401,
        "replaced"
    );
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &third)], alert.clone())
            .status(),
        202
    );

    // Delete keeps the alerts; ingest answers 404 at once.
    assert_eq!(
        app.admin(Method::DELETE, "/v1/integrations/ops", None).0,
        204
    );
    assert_eq!(
        app.post_hook("ops", &[("X-Ops-Token", &third)], alert.clone())
            .status(),
        404
    );
    assert!(app.alert("ops", "adm-1").is_some(), "alerts are kept");
    assert_eq!(app.admin(Method::GET, "/v1/integrations/ops", None).0, 404);
}

#[test]
fn delete_with_purge_removes_the_alerts_too() {
    let app = admin_app();
    app.send(&create("purge-1"));
    // Rejections beyond the recorded rate (10 a second) are tallied; a purge takes those too.
    for _ in 0..15 {
        let refused = app.post_hook("default", &[("pagertree-token", "wrong")], "{}");
        assert_eq!(refused.status(), 401);
    }
    wait_until("the rejections are counted", PATIENCE, || {
        app.admin(Method::GET, "/v1/integrations/default", None).1["deliveries_24h"]["rejected"]
            == 15
    });
    assert_eq!(
        app.admin(Method::DELETE, "/v1/integrations/default?purge=true", None)
            .0,
        204
    );
    assert!(app.alert("default", "purge-1").is_none());
    assert_eq!(
        app.count("SELECT count(*) FROM alert_events WHERE integration = 'default'"),
        0
    );
    assert_eq!(
        app.api_get("/v1/alerts?q=purge").1["alerts"],
        json!([]),
        "the title index forgot it too"
    );

    // The same name and Id again make a new alert: nothing of the purged one lingers, neither
    // in the database nor in the writer's memory of it.
    let (status, _) = app.admin(
        Method::POST,
        "/v1/integrations",
        Some(json!({"name": "default", "secret": TOKEN})),
    );
    assert_eq!(status, 201);
    let (_, shown) = app.admin(Method::GET, "/v1/integrations/default", None);
    assert_eq!(shown["deliveries_24h"]["rejected"], 0, "{shown}");
    assert_eq!(app.count("SELECT count(*) FROM rejection_tallies"), 0);
    let receipt = json(app.send(&create("purge-1")));
    assert_eq!(receipt["results"][0]["outcome"], "created", "{receipt}");
    assert_eq!(app.alert("default", "purge-1").unwrap().occurrences, 1);
}

#[test]
fn an_invalid_patch_is_422_naming_the_field_and_changes_nothing() {
    let app = admin_app();
    let (_, before) = app.admin(Method::GET, "/v1/integrations/hmac", None);
    let cases = [
        (json!({"auth": "bearer", "header": "x"}), "header"),
        (json!({"format": "xml"}), "format"),
        (json!({"encoding": "rot13"}), "encoding"),
        (json!({"format": "pagerduty"}), "auth"),
        (json!({"preset": "nope"}), "preset"),
        (json!({"name": "renamed"}), "body"),
        (json!({"secret": "x"}), "body"),
    ];
    for (patch, field) in cases {
        let (status, body) = app.admin(Method::PATCH, "/v1/integrations/hmac", Some(patch.clone()));
        assert_eq!(status, 422, "{patch}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{patch}: {message}"
        );
    }
    let (_, after) = app.admin(Method::GET, "/v1/integrations/hmac", None);
    assert_eq!(before["auth"], after["auth"]);
    assert_eq!(before["updated_at"], after["updated_at"]);
    let signature = hmac_hex(HMAC_KEY, create("still").to_string().as_bytes());
    assert_eq!(
        app.post_hook(
            "hmac",
            &[("x-signature", &signature)],
            create("still").to_string()
        )
        .status(),
        202
    );
}

#[test]
fn a_patch_to_another_auth_mode_issues_a_secret_that_fits_it() {
    let app = admin_app();
    let (status, patched) = app.admin(
        Method::PATCH,
        "/v1/integrations/default",
        Some(json!({"auth": "standard-webhooks"})),
    );
    assert_eq!(status, 200, "{patched}");
    assert!(patched["secret"].as_str().unwrap().starts_with("whsec_"));
    let (_, same_mode) = app.admin(
        Method::PATCH,
        "/v1/integrations/bearer",
        Some(json!({"capture_payload": true})),
    );
    assert!(
        same_mode.get("secret").is_none(),
        "secrets that still fit are kept and not shown"
    );
}

#[test]
fn the_delivery_log_shows_accepted_and_rejected_deliveries() {
    let app = admin_app();
    app.post_hook(
        "capture",
        &[("pagertree-token", TOKEN), ("Idempotency-Key", "log-1")],
        create("log-1").to_string(),
    );
    app.post_hook(
        "capture",
        &[("pagertree-token", "wrong")],
        create("log-2").to_string(),
    );
    app.post_hook("capture", &[("pagertree-token", TOKEN)], "{}");
    // Rejected deliveries are logged by the writer shortly after the answer.
    let mut log = json!(null);
    for _ in 0..40 {
        log = app
            .admin(Method::GET, "/v1/integrations/capture/deliveries", None)
            .1;
        if log["deliveries"].as_array().map(Vec::len) == Some(3) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let deliveries = log["deliveries"].as_array().unwrap();
    let rows: Vec<(u64, Option<&str>)> = deliveries
        .iter()
        .map(|d| (d["status"].as_u64().unwrap(), d["error_code"].as_str()))
        .collect();
    assert_eq!(
        rows,
        [
            (422, Some("invalid_payload")),
            (401, Some("unauthorized")),
            (202, None)
        ],
        "newest first"
    );
    assert!(deliveries[1]["body"].is_null(), "a 401 keeps no body");
    assert_eq!(deliveries[0]["body"], "{}");
    assert_eq!(deliveries[2]["outcomes"], json!({"created": 1}));
    assert_eq!(deliveries[2]["idempotency_key"], "log-1");
    assert_eq!(deliveries[2]["remote_addr"], "127.0.0.1");

    let (_, only_401) = app.admin(
        Method::GET,
        "/v1/integrations/capture/deliveries?status=401",
        None,
    );
    assert_eq!(only_401["deliveries"].as_array().unwrap().len(), 1);
    let (_, first_page) = app.admin(
        Method::GET,
        "/v1/integrations/capture/deliveries?limit=2",
        None,
    );
    let cursor = first_page["next_cursor"].as_str().unwrap();
    let (_, second_page) = app.admin(
        Method::GET,
        &format!("/v1/integrations/capture/deliveries?limit=2&cursor={cursor}"),
        None,
    );
    assert_eq!(second_page["deliveries"][0]["status"], 202);
    assert!(second_page["next_cursor"].is_null());

    let (_, shown) = app.admin(Method::GET, "/v1/integrations/capture", None);
    let counters = &shown["deliveries_24h"];
    assert_eq!(
        (counters["accepted"].as_i64(), counters["rejected"].as_i64()),
        (Some(1), Some(2))
    );
    assert!(counters["last_accepted_at"].is_string() && counters["last_rejected_at"].is_string());
}

#[test]
fn a_dry_run_reports_auth_and_outcomes_and_stores_nothing() {
    let app = admin_app();
    app.send(&create("dry-1"));
    let alerts = app.count("SELECT count(*) FROM alerts");
    let events = app.count("SELECT count(*) FROM alert_events");
    let deliveries = app.count("SELECT count(*) FROM deliveries");
    let body = json!([create("dry-1"), {"event_type": "resolve", "Id": "dry-1"}, {"event_type": "acknowledge", "Id": "dry-2"}]);
    let (status, run) = app.admin(
        Method::POST,
        "/v1/integrations/default/test",
        Some(json!({"headers": {"pagertree-token": "wrong"}, "body": body})),
    );
    assert_eq!(status, 200);
    assert_eq!(
        run["auth"],
        json!({"ok": false, "failed_check": "credential_mismatch"})
    );
    let outcomes: Vec<&str> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["deduplicated", "resolved", "ignored"]);

    let raw = create("dry-3").to_string();
    let signature = format!("sha256={}", hmac_hex(HMAC_KEY, raw.as_bytes()));
    let (_, signed) = app.admin(
        Method::POST,
        "/v1/integrations/plerion/test",
        Some(json!({"headers": {"plerion-signature": signature}, "body": raw})),
    );
    assert_eq!(
        signed["auth"]["ok"], true,
        "a string body is checked byte for byte"
    );
    assert_eq!(signed["results"][0]["outcome"], "created");

    let (_, unreadable) = app.admin(
        Method::POST,
        "/v1/integrations/default/test",
        Some(json!({"body": "{"})),
    );
    assert_eq!(unreadable["error"]["code"], "invalid_json");

    assert_eq!(app.count("SELECT count(*) FROM alerts"), alerts);
    assert_eq!(app.count("SELECT count(*) FROM alert_events"), events);
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries"),
        deliveries,
        "not even a delivery"
    );
}

/// SPEC §6: removing an integration takes its idempotency keys along, so a name added again
/// later does not replay the old integration's answers.
#[test]
fn a_removed_integration_takes_its_idempotency_keys_along() {
    let app = admin_app();
    let body = create("keyed-1").to_string();
    let send = || {
        app.post_hook(
            "other",
            &[("pagertree-token", TOKEN), ("idempotency-key", "k-removed")],
            body.clone(),
        )
    };
    assert_eq!(send().status(), 202);
    let (status, _) = app.admin(Method::DELETE, "/v1/integrations/other", None);
    assert_eq!(status, 204);
    let (status, created) = app.admin(
        Method::POST,
        "/v1/integrations",
        Some(json!({"name": "other", "secret": TOKEN})),
    );
    assert_eq!(status, 201, "{created}");
    let again = send();
    assert_eq!(again.status(), 202);
    assert!(
        again.headers().get("idempotent-replayed").is_none(),
        "the new integration has no memory of the old one's keys"
    );
}

/// SPEC §6: another auth mode drops the old mode's secrets even when they would pass its
/// checks: a token sent in the clear must not become an HMAC key.
#[test]
fn a_patch_to_another_mode_replaces_secrets_that_would_still_pass() {
    let app = admin_app();
    let (status, patched) = app.admin(
        Method::PATCH,
        "/v1/integrations/bearer",
        Some(json!({"auth": "token"})),
    );
    assert_eq!(status, 200, "{patched}");
    let secret = patched["secret"].as_str().unwrap();
    assert_ne!(secret, BEARER);
    assert_eq!(patched["integration"]["active_secrets"], 1);
    let old = app.post_hook(
        "bearer",
        &[("pagertree-token", BEARER)],
        create("b-1").to_string(),
    );
    assert_eq!(old.status(), 401, "the old secret is gone");
    let new = app.post_hook(
        "bearer",
        &[("pagertree-token", secret)],
        create("b-1").to_string(),
    );
    assert_eq!(new.status(), 202);

    let (status, refused) = app.admin(
        Method::POST,
        "/v1/integrations",
        Some(json!({"name": "sneaky", "auth": "token", "header": "Idempotency-Key"})),
    );
    assert_eq!(status, 422, "{refused}");
    assert!(refused["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("header"));
}
