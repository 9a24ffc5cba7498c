//! `GET /`: the dashboard's files, embedded, each with its type and a same-origin-only policy.
//! What the page does is tested in a real browser (`tests/browser`).

use crate::helpers::*;

#[test]
fn the_dashboard_and_its_assets_are_served_with_a_same_origin_policy() {
    let app = spawn_app_with(AppSettings {
        api_token: Some("the-api-token"),
        ..AppSettings::default()
    });
    for (path, content_type, marker) in [
        ("/", "text/html", "<table id=\"alerts\">"),
        ("/dashboard/app.js", "text/javascript", "from './list.js'"),
        ("/dashboard/api.js", "text/javascript", "/v1/stream"),
        ("/dashboard/app.css", "text/css", "prefers-color-scheme"),
        ("/dashboard/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        // The page itself needs no token: the data behind it does.
        let response = app.get(path);
        assert_eq!(response.status(), 200, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        assert_protective_headers(path, &headers);
        assert!(response.text().unwrap().contains(marker), "{path}");
        // Link checkers and uptime monitors ask with HEAD.
        let head = reqwest::blocking::Client::new()
            .head(format!("{}{path}", app.address))
            .send()
            .unwrap();
        assert_eq!(head.status(), 200, "HEAD {path}");
        assert_protective_headers(path, head.headers());
    }
    assert_eq!(app.get("/v1/alerts").status(), 401);
}

/// What keeps the page from running anyone else's code, being framed (clickjacking on its
/// Acknowledge and Resolve buttons), read as another type, or leaking its URL.
fn assert_protective_headers(path: &str, headers: &reqwest::header::HeaderMap) {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let policy = header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("default-src 'self'"), "{path}: {policy}");
    assert!(
        policy.contains("frame-ancestors 'none'"),
        "{path}: {policy}"
    );
    assert!(!policy.contains("unsafe"), "{path}: {policy}");
    assert_eq!(header("x-frame-options"), Some("DENY"), "{path}");
    assert_eq!(header("x-content-type-options"), Some("nosniff"), "{path}");
    assert_eq!(header("referrer-policy"), Some("no-referrer"), "{path}");
}

#[test]
fn unknown_dashboard_files_are_404() {
    let app = spawn_app();
    for path in [
        "/dashboard/missing.js",
        "/dashboard/",
        "/dashboard/../Cargo.toml",
    ] {
        assert_eq!(app.get(path).status(), 404, "{path}");
    }
}
