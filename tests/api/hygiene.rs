//! Secret hygiene: whatever fails or succeeds, the server's logs (at debug) never contain a
//! secret, a signature or a body, and no error answer echoes a credential back.

use reqwest::blocking::Client;
use serde_json::json;

use crate::helpers::*;

const ADMIN: &str = "admin-c0ffee-token";
const API: &str = "api-c0ffee-token";
const TITLE: &str = "body-marker-4f2a";

#[test]
fn logs_and_errors_never_carry_secrets_signatures_or_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alertgate.db");
    let log = dir.path().join("server.log");
    add_sender_integrations(&db);
    let mut command = alertgate(&db);
    command
        .env("RUST_LOG", "debug")
        .env("ALERTGATE_ADMIN_TOKEN", ADMIN)
        .env("ALERTGATE_API_TOKEN", API)
        .stderr(std::fs::File::create(&log).unwrap());
    let server = ServerProcess::start_with(command);
    let client = Client::new();
    let body = json!({"event_type": "create", "Id": "h-1", "Title": TITLE}).to_string();
    let signature = hmac_hex(HMAC_KEY, body.as_bytes());
    let wrong_signature = hmac_hex("wrong-key", body.as_bytes());
    let url = |path: &str| format!("{}{path}", server.address);
    let mut answers = Vec::new();
    let mut post = |path: &str, headers: &[(&str, &str)], body: String| {
        let mut request = client
            .post(url(path))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        answers.push(request.send().unwrap().text().unwrap());
    };
    post("/hooks/tok", &[("pagertree-token", TOKEN)], body.clone());
    post(
        "/hooks/tok",
        &[("pagertree-token", "wrong-token-77")],
        body.clone(),
    );
    post("/hooks/sig", &[("X-Signature", &signature)], body.clone());
    post(
        "/hooks/sig",
        &[("X-Signature", &wrong_signature)],
        body.clone(),
    );
    post(
        "/hooks/sig",
        &[("X-Signature", &signature)],
        "{not json".into(),
    );
    post(
        "/hooks/tok",
        &[("pagertree-token", TOKEN)],
        json!({"event_type": "nope", "Title": TITLE}).to_string(),
    );
    let admin = format!("Bearer {ADMIN}");
    post(
        "/v1/integrations",
        &[("authorization", &admin)],
        json!({"name": "made", "secret": "made-secret-91"}).to_string(),
    );
    post(
        "/v1/integrations/tok/rotate-secret",
        &[("authorization", &admin)],
        String::new(),
    );
    post(
        "/v1/integrations",
        &[("authorization", "Bearer not-the-admin-token")],
        String::new(),
    );
    let _ = client
        .get(url("/v1/alerts"))
        .bearer_auth("not-the-api-token")
        .send()
        .unwrap();
    let _ = client
        .get(url("/v1/alerts"))
        .bearer_auth(API)
        .send()
        .unwrap();
    drop(server);

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("POST /hooks/tok 202"),
        "the log has request lines: {logged}"
    );
    let secrets = [
        TOKEN,
        HMAC_KEY,
        ADMIN,
        API,
        "made-secret-91",
        signature.as_str(),
        wrong_signature.as_str(),
        "wrong-token-77",
    ];
    for secret in secrets
        .iter()
        .chain([&TITLE, &"not-the-admin-token", &"not-the-api-token"])
    {
        assert!(!logged.contains(secret), "the log contains {secret}");
    }
    for (answer, credential) in answers.iter().zip([
        None,
        Some("wrong-token-77"),
        None,
        Some(wrong_signature.as_str()),
    ]) {
        if let Some(credential) = credential {
            assert!(
                !answer.contains(credential),
                "an answer echoes {credential}"
            );
        }
        assert!(
            !answer.contains(TOKEN) && !answer.contains(HMAC_KEY),
            "an answer leaks a secret: {answer}"
        );
    }
}
