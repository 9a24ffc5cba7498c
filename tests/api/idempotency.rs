//! Idempotent deliveries (SPEC §3): a replayed key gets the first answer and applies nothing.

use crate::helpers::*;

fn post_with_key(
    app: &TestApp,
    integration: &str,
    key: &str,
    id: &str,
) -> reqwest::blocking::Response {
    let headers = [("pagertree-token", TOKEN), ("Idempotency-Key", key)];
    app.post_hook(integration, &headers, create(id).to_string())
}

#[test]
fn a_replayed_idempotency_key_returns_the_first_answer_and_applies_once() {
    let app = spawn_app();
    let first = post_with_key(&app, "default", "key-1", "idem-1");
    assert_eq!(first.status(), 202);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.text().unwrap();

    let replay = post_with_key(&app, "default", "key-1", "idem-1");
    assert_eq!(replay.status(), 202);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        replay.text().unwrap(),
        first_body,
        "the first answer, byte for byte"
    );

    let alert = app.alert("default", "idem-1").unwrap();
    assert_eq!(alert.occurrences, 1, "applied once");
    assert_eq!(app.timeline("default", "idem-1").len(), 1);
}

#[test]
fn keys_are_scoped_per_integration() {
    let app = spawn_app();
    assert_eq!(
        post_with_key(&app, "default", "shared", "scoped").status(),
        202
    );
    let other = post_with_key(&app, "other", "shared", "scoped");
    assert!(other.headers().get("idempotent-replayed").is_none());
    assert_eq!(json(other)["results"][0]["outcome"], "created");
}

#[test]
fn a_replay_must_still_authenticate() {
    let app = spawn_app();
    assert_eq!(
        post_with_key(&app, "default", "auth-key", "a").status(),
        202
    );
    let headers = [
        ("pagertree-token", "wrong"),
        ("Idempotency-Key", "auth-key"),
    ];
    assert_eq!(
        app.post_hook("default", &headers, create("a").to_string())
            .status(),
        401
    );
}

#[test]
fn only_accepted_deliveries_are_remembered() {
    let app = spawn_app();
    let headers = [("pagertree-token", TOKEN), ("Idempotency-Key", "retry-me")];
    assert_eq!(app.post_hook("default", &headers, "{}").status(), 422);
    let fixed = post_with_key(&app, "default", "retry-me", "fixed");
    assert!(fixed.headers().get("idempotent-replayed").is_none());
    assert_eq!(json(fixed)["results"][0]["outcome"], "created");
}

#[test]
fn the_same_delivery_sent_many_times_at_once_applies_once() {
    let app = spawn_app();
    let address = app.address.clone();
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let address = address.clone();
            std::thread::spawn(move || {
                let response = reqwest::blocking::Client::new()
                    .post(format!("{address}/hooks/default"))
                    .header("pagertree-token", TOKEN)
                    .header("Idempotency-Key", "at-once")
                    .body(create("burst").to_string())
                    .send()
                    .unwrap();
                assert_eq!(response.status(), 202);
                json(response)["delivery"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let deliveries: Vec<String> = senders.into_iter().map(|s| s.join().unwrap()).collect();
    assert!(
        deliveries.windows(2).all(|pair| pair[0] == pair[1]),
        "every answer is the first one"
    );
    assert_eq!(app.alert("default", "burst").unwrap().occurrences, 1);
}

#[test]
fn standard_webhooks_message_ids_are_idempotency_keys() {
    let app = spawn_app();
    let body = create("sw-idem").to_string();
    let now = chrono::Utc::now().timestamp();
    let signed = standard_webhooks_headers(SW_SECRET, "msg_1", now, &body);
    let headers: Vec<(&str, &str)> = signed
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_eq!(app.post_hook("sw", &headers, body.clone()).status(), 202);
    let again = app.post_hook("sw", &headers, body);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.alert("sw", "sw-idem").unwrap().occurrences, 1);
}

/// SPEC §3: on a standard-webhooks integration the key is the signed `webhook-id`; an unsigned
/// `Idempotency-Key` beside it cannot make a captured request count as a new one.
#[test]
fn a_signed_request_resent_with_another_idempotency_key_is_still_a_replay() {
    let app = spawn_app();
    let body = create("sw-captured").to_string();
    let now = chrono::Utc::now().timestamp();
    let signed = standard_webhooks_headers(SW_SECRET, "msg_captured", now, &body);
    let send = |key: &str| {
        let mut headers: Vec<(&str, &str)> = signed
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        headers.push(("idempotency-key", key));
        app.post_hook("sw", &headers, body.clone())
    };
    assert_eq!(send("first").status(), 202);
    let again = send("second");
    assert_eq!(again.status(), 202);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.alert("sw", "sw-captured").unwrap().occurrences, 1);
}
