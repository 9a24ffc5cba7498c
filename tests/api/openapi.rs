//! The committed `openapi.json` is what the code generates, and what the server serves.

use crate::helpers::*;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = format!("{}/openapi.json", env!("CARGO_MANIFEST_DIR"));
    let generated = alertgate::openapi::document();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.json differs from what the code generates; run `UPDATE_OPENAPI=1 cargo test openapi` and commit it"
    );
}

#[test]
fn the_server_serves_the_document_with_every_endpoint() {
    let app = spawn_app();
    let response = app.get("/openapi.json");
    assert_eq!(response.status(), 200);
    let document: serde_json::Value = response.json().unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/hooks/{integration}",
        "/v2/enqueue",
        "/v2/change/enqueue",
        "/v1/alerts",
        "/v1/alerts/{integration}/{id}",
        "/v1/alerts/{integration}/{id}/events",
        "/v1/alerts/{integration}/{id}/acknowledge",
        "/v1/alerts/{integration}/{id}/resolve",
        "/v1/stats",
        "/v1/stream",
        "/v1/integrations",
        "/v1/integrations/{name}",
        "/v1/integrations/{name}/rotate-secret",
        "/v1/integrations/{name}/deliveries",
        "/v1/integrations/{name}/test",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
}
