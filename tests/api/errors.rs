//! Each status of the check order, with its error code, and that the order holds when a
//! request is wrong in several ways at once.

use std::time::Duration;

use crate::helpers::*;

const VALID: &str = r#"{"event_type":"create","Id":"e-1","Title":"x"}"#;

fn error_code(response: reqwest::blocking::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = json(response);
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

/// One row of the check-order table: a request wrong in the ways its name says.
struct Case<'a> {
    name: &'a str,
    integration: &'a str,
    headers: Vec<Header<'a>>,
    body: String,
    status: u16,
    code: &'a str,
}

#[test]
fn each_check_answers_with_its_status_and_code_in_order() {
    let app = spawn_app_with(AppSettings {
        max_body: 1024,
        ..AppSettings::default()
    });
    let token = ("pagertree-token", TOKEN);
    let wrong_token = ("pagertree-token", "x");
    let json_type = ("content-type", "application/json");
    let text_type = ("content-type", "text/plain");
    let case = |name, integration, headers, body: &str, status, code| Case {
        name,
        integration,
        headers,
        body: body.to_string(),
        status,
        code,
    };
    let too_big = format!("[{}]", vec![VALID; 40].join(","));
    let cases = [
        case(
            "unknown integration",
            "nope",
            vec![json_type],
            VALID,
            404,
            "integration_not_found",
        ),
        case(
            "too large, wrong token",
            "default",
            vec![json_type, wrong_token],
            &too_big,
            413,
            "payload_too_large",
        ),
        case(
            "wrong token, not JSON",
            "default",
            vec![text_type, wrong_token],
            "{",
            401,
            "unauthorized",
        ),
        case(
            "not JSON type, bad body",
            "default",
            vec![text_type, token],
            "{",
            415,
            "unsupported_media_type",
        ),
        case(
            "bad JSON",
            "default",
            vec![json_type, token],
            "{\"Id\": ",
            400,
            "invalid_json",
        ),
        case(
            "unreadable event",
            "default",
            vec![json_type, token],
            "{}",
            422,
            "invalid_payload",
        ),
        case("valid", "default", vec![json_type, token], VALID, 202, ""),
    ];
    for case in cases {
        let response = app.post_hook_raw(case.integration, &case.headers, case.body);
        assert_eq!(response.status().as_u16(), case.status, "{}", case.name);
        if case.status != 202 {
            assert_eq!(
                error_code(response),
                (case.status, case.code.to_string()),
                "{}",
                case.name
            );
        }
    }
}

#[test]
fn a_disabled_integration_answers_404() {
    let app = spawn_app();
    let mut database = app.database();
    database.set_enabled("default", false).unwrap();
    // How soon disabling reaches the running server is part of what is tested, so the deadline
    // is two seconds, not `PATIENCE`.
    wait_until(
        "the disabled integration answers 404",
        Duration::from_secs(2),
        || {
            app.post_hook("default", &[("pagertree-token", TOKEN)], VALID)
                .status()
                == 404
        },
    );
}

#[test]
fn json_content_types_with_parameters_and_suffixes_are_accepted() {
    let app = spawn_app();
    for content_type in [
        "application/json; charset=utf-8",
        "application/vnd.alert+json",
        "text/json",
        "APPLICATION/JSON",
    ] {
        let response = app.post_hook_raw(
            "default",
            &[("content-type", content_type), ("pagertree-token", TOKEN)],
            VALID,
        );
        assert_eq!(response.status(), 202, "{content_type}");
    }
    let untyped = app.post_hook_raw("default", &[("pagertree-token", TOKEN)], VALID);
    assert_eq!(untyped.status(), 202, "no Content-Type at all");
}

#[test]
fn invalid_json_is_reported_with_line_and_column() {
    let app = spawn_app();
    let response = app.post_hook(
        "default",
        &[("pagertree-token", TOKEN)],
        "{\n  \"Id\": ,\n}",
    );
    assert_eq!(response.status(), 400);
    let message = json(response)["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("line 2 column 9"), "{message}");
}

#[test]
fn a_payload_error_names_the_field() {
    let app = spawn_app();
    let response = app.send(
        &serde_json::json!({"event_type": "create", "Id": "1", "Title": "x", "Severity": "huge"}),
    );
    assert_eq!(response.status(), 422);
    let message = json(response)["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("Severity: `huge` is not a severity"),
        "{message}"
    );
}

#[test]
fn a_chunked_body_over_the_limit_is_refused_while_streaming() {
    let app = spawn_app_with(AppSettings {
        max_body: 1024,
        ..AppSettings::default()
    });
    // A reader of unknown length makes reqwest send the body chunked, without Content-Length.
    let body = reqwest::blocking::Body::new(std::io::Cursor::new(vec![b' '; 4096]));
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/hooks/default", app.address))
        .header("pagertree-token", TOKEN)
        .body(body)
        .send()
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[test]
fn rejected_deliveries_are_logged_without_the_body_of_a_401() {
    let app = spawn_app();
    app.post_hook("capture", &[("pagertree-token", "wrong")], VALID);
    app.post_hook("capture", &[("pagertree-token", TOKEN)], "{}");
    // Rejected deliveries are logged by the writer after the answer, so wait for the rows.
    wait_until("both rejected deliveries are logged", PATIENCE, || {
        app.count("SELECT count(*) FROM deliveries WHERE integration = 'capture'") == 2
    });
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries WHERE status = 401 AND body IS NULL"),
        1
    );
    assert_eq!(
        app.count("SELECT count(*) FROM deliveries WHERE status = 422 AND body = '{}'"),
        1
    );
}

#[test]
fn a_full_writer_queue_answers_503_with_retry_after_and_applies_nothing() {
    let app = spawn_app_with(AppSettings {
        queue_capacity: 1,
        ..AppSettings::default()
    });
    // Hold the write lock so the writer blocks on its first group and the queue fills up.
    let locker = app.hold_writes();
    let address = app.address.clone();
    let senders: Vec<_> = (0..4)
        .map(|n| {
            let address = address.clone();
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .post(format!("{address}/hooks/default"))
                    .header("pagertree-token", TOKEN)
                    .body(create(&format!("q-{n}")).to_string())
                    .send()
                    .unwrap()
            })
        })
        .collect();
    // Nothing can be accepted while the lock is held (a 202 waits for its commit), so the first
    // sender to have its answer was refused: the queue has been found full.
    wait_until(
        "a sender is refused while the writer is held",
        PATIENCE,
        || senders.iter().any(std::thread::JoinHandle::is_finished),
    );
    drop(locker);
    let responses: Vec<_> = senders
        .into_iter()
        .map(|sender| sender.join().unwrap())
        .collect();
    let busy: Vec<_> = responses.iter().filter(|r| r.status() == 503).collect();
    assert!(!busy.is_empty(), "some requests found the queue full");
    assert!(busy
        .iter()
        .all(|r| r.headers().get("retry-after").is_some()));
    let accepted = responses.iter().filter(|r| r.status() == 202).count() as i64;
    assert_eq!(
        app.count("SELECT count(*) FROM alerts"),
        accepted,
        "only 202s were applied"
    );
}

#[test]
fn the_health_check_answers_200_and_unknown_paths_404_as_json() {
    let app = spawn_app();
    let health = app.get("/healthz");
    assert_eq!(health.status(), 200);
    assert_eq!(json(health)["status"], "ok");
    let missing = app.get("/nowhere");
    assert_eq!(error_code(missing), (404, "not_found".to_string()));
}

/// A route asked with another method answers `405` with the same JSON error body as any other
/// refusal, and every answer tells browsers not to guess its type.
#[test]
fn a_wrong_method_is_405_with_a_json_error_and_answers_say_nosniff() {
    let app = spawn_app();
    let wrong = app.get("/hooks/default");
    assert_eq!(wrong.headers()["x-content-type-options"], "nosniff");
    assert_eq!(error_code(wrong), (405, "method_not_allowed".to_string()));
    let accepted = app.send(&create("sniff-1"));
    assert_eq!(accepted.status(), 202);
    assert_eq!(accepted.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        app.get("/v1/alerts").headers()["x-content-type-options"],
        "nosniff"
    );
}
