//! Which token opens which operation (SPEC §5, §6), for every operation `openapi.json` documents:
//! the list comes from the document, so a new endpoint is checked the day it is documented, and
//! one documented without a token must be added to `OPEN` on purpose.

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const API: &str = "api-token-for-access";
const ADMIN: &str = "admin-token-for-access";

/// The operations anyone may call: senders (who prove themselves per integration), health
/// checks, Prometheus and the API description.
const OPEN: [(&str, &str); 6] = [
    ("get", "/healthz"),
    ("post", "/hooks/{integration}"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("post", "/v2/change/enqueue"),
    ("post", "/v2/enqueue"),
];

/// The operation's path with its parameters filled in: the alert and integration that exist, or
/// names that do not, so that an authorized request changes nothing.
fn concrete(path: &str, existing: bool) -> String {
    let (integration, id, name) = if existing {
        ("default", "guarded", "default")
    } else {
        ("default", "nowhere", "nowhere")
    };
    path.replace("{integration}", integration)
        .replace("{id}", id)
        .replace("{name}", name)
}

/// The one security scheme an operation names, if any.
fn scheme(operation: &Value) -> Option<&str> {
    let requirements = operation.get("security")?.as_array()?;
    assert_eq!(requirements.len(), 1, "one scheme per operation");
    requirements[0]
        .as_object()?
        .keys()
        .next()
        .map(String::as_str)
}

fn status(request: RequestBuilder, token: Option<&str>) -> u16 {
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    // Headers only: an event stream that opens stays open, and is dropped at once.
    request
        .send()
        .expect("the server answers")
        .status()
        .as_u16()
}

#[test]
fn every_documented_operation_takes_the_token_its_document_names() {
    let app = spawn_app_with(AppSettings {
        api_token: Some(API),
        admin_token: Some(ADMIN),
        ..AppSettings::default()
    });
    assert_eq!(app.send(&create("guarded")).status(), 202);
    let document = json(app.get("/openapi.json"));
    let client = Client::new();
    let mut open = Vec::new();
    let mut guarded = 0;
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let Some(scheme) = scheme(operation) else {
                open.push((method.clone(), path.clone()));
                continue;
            };
            guarded += 1;
            let verb = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let what = format!("{method} {path}");
            let at = |existing| {
                client.request(
                    verb.clone(),
                    format!("{}{}", app.address, concrete(path, existing)),
                )
            };
            let without = at(true).send().unwrap();
            assert_eq!(without.status(), 401, "{what} without a token");
            assert!(
                without.headers()["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{what}"
            );
            assert_eq!(status(at(true), Some("api-token-for-acces")), 401, "{what}");
            let (other, accepted): (&[&str], &[&str]) = match scheme {
                // SPEC §5: the admin token opens the query API too.
                "api_token" => (&[], &[API, ADMIN]),
                "admin_token" => (&[API], &[ADMIN]),
                unknown => panic!("{what}: unknown scheme {unknown}"),
            };
            for token in other {
                assert_eq!(status(at(true), Some(token)), 401, "{what} with {token}");
            }
            for token in accepted {
                // Reads answer the real thing; the rest are sent where they change nothing.
                let request = match (method.as_str(), path.as_str()) {
                    ("get", _) => (at(true), 200),
                    ("post", "/v1/integrations") => (at(true).json(&json!({})), 422),
                    ("post", "/v1/integrations/{name}/test") => {
                        (at(false).json(&json!({"body": {}})), 404)
                    }
                    _ => (at(false).json(&json!({})), 404),
                };
                assert_eq!(
                    status(request.0, Some(token)),
                    request.1,
                    "{what} with {token}"
                );
            }
        }
    }
    open.sort();
    let mut expected: Vec<(String, String)> = OPEN
        .iter()
        .map(|(method, path)| ((*method).to_string(), (*path).to_string()))
        .collect();
    expected.sort();
    assert_eq!(open, expected, "the operations open without a token");
    assert!(guarded >= 15, "{guarded} guarded operations checked");
    assert_eq!(
        app.alert("default", "guarded").unwrap().state.as_str(),
        "open",
        "nothing was applied"
    );
    assert_eq!(app.send(&create("guarded")).status(), 202, "nor changed");
}
