//! Every body a handler sends matches the schema `openapi.json` documents for its path, method
//! and status: each documented key present when required, no key the document does not name,
//! every value of the documented type. A handler and its documentation cannot drift apart.

use reqwest::blocking::Client;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

const ADMIN: &str = "admin-token-for-schemas";

/// One request: what is sent, and the documented path it falls under.
struct Case {
    method: Method,
    template: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
}

fn case(method: Method, template: &'static str, path: &str) -> Case {
    Case {
        method,
        template,
        path: path.to_string(),
        headers: Vec::new(),
        body: None,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: &str) -> Case {
        self.headers.push((name, value.to_string()));
        self
    }

    fn body(mut self, body: impl ToString) -> Case {
        self.body = Some(body.to_string());
        self
    }

    fn admin(self) -> Case {
        self.header("authorization", &format!("Bearer {ADMIN}"))
    }

    fn token(self) -> Case {
        self.header("pagertree-token", TOKEN)
            .header("content-type", "application/json")
    }
}

#[test]
fn every_body_matches_its_documented_schema() {
    let app = spawn_app_with(AppSettings {
        admin_token: Some(ADMIN),
        ..AppSettings::default()
    });
    let document: Value = serde_json::from_str(&alertgate::openapi::document()).unwrap();
    let client = Client::new();
    let mut problems = Vec::new();
    let mut statuses = Vec::new();
    for case in cases() {
        let mut request =
            client.request(case.method.clone(), format!("{}{}", app.address, case.path));
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &case.body {
            request = request.body(body.clone());
        }
        let response = request.send().unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|value| value.to_str().unwrap().to_string());
        let text = response.text().unwrap();
        let what = format!("{} {} → {status}", case.method, case.path);
        statuses.push(what.clone());
        let method = case.method.as_str().to_lowercase();
        let Some(documented) =
            document["paths"][case.template][&method]["responses"].get(status.to_string())
        else {
            problems.push(format!("{what}: status {status} is not documented"));
            continue;
        };
        let Some(schema) = documented["content"]["application/json"].get("schema") else {
            continue;
        };
        if !content_type.is_some_and(|value| value.starts_with("application/json")) {
            problems.push(format!("{what}: documented as JSON, sent otherwise"));
            continue;
        }
        let body: Value = serde_json::from_str(&text).unwrap();
        let mut errors = Vec::new();
        check(&document, schema, &body, "body", &mut errors);
        problems.extend(errors.into_iter().map(|error| format!("{what}: {error}")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(statuses.len() >= 30, "the cases ran: {statuses:?}");
}

/// A request for each documented body: each kind of success, and each kind of refusal.
fn cases() -> Vec<Case> {
    use Method as M;
    let hook = "/hooks/{integration}";
    let alert = "/v1/alerts/{integration}/{id}";
    let named = "/v1/integrations/{name}";
    let create = json!({"event_type": "create", "Id": "s-1", "Title": "t", "Tags": ["a"]});
    let pd = json!({"routing_key": PD_KEY, "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}});
    vec![
        case(M::POST, hook, "/hooks/default").token().body(&create),
        case(M::POST, hook, "/hooks/default")
            .token()
            .header("idempotency-key", "k-1")
            .body(json!([{"event_type": "resolve", "Id": "none"}])),
        case(M::POST, hook, "/hooks/default")
            .token()
            .header("idempotency-key", "k-1")
            .body("[]"),
        case(M::POST, hook, "/hooks/default")
            .header("pagertree-token", "wrong")
            .body(&create),
        case(M::POST, hook, "/hooks/missing").token().body(&create),
        case(M::POST, hook, "/hooks/default")
            .token()
            .body("{not json"),
        case(M::POST, hook, "/hooks/default")
            .token()
            .body(json!({"event_type": "shout"})),
        case(M::POST, hook, "/hooks/default")
            .header("pagertree-token", TOKEN)
            .header("content-type", "text/plain")
            .body("x"),
        case(M::POST, hook, "/hooks/default")
            .token()
            .body("x".repeat(2 << 20)),
        case(M::POST, hook, "/hooks/default")
            .token()
            .header("x-filler", &"a".repeat(20_000))
            .body(&create),
        case(M::POST, "/v2/enqueue", "/v2/enqueue").body(&pd),
        case(M::POST, "/v2/enqueue", "/v2/enqueue").body(json!({"routing_key": "nope"})),
        case(M::POST, "/v2/enqueue", "/v2/enqueue").body("x".repeat(2 << 20)),
        case(M::POST, "/v2/enqueue", "/v2/enqueue")
            .header("x-filler", &"a".repeat(20_000))
            .body(&pd),
        case(M::POST, "/v2/change/enqueue", "/v2/change/enqueue")
            .body(json!({"routing_key": PD_KEY, "payload": {"summary": "deploy", "source": "ci"}})),
        case(M::GET, "/v1/alerts", "/v1/alerts?limit=1"),
        case(M::GET, "/v1/alerts", "/v1/alerts?limit=0"),
        case(M::GET, alert, "/v1/alerts/default/s-1"),
        case(M::GET, alert, "/v1/alerts/default/nothing"),
        case(
            M::GET,
            "/v1/alerts/{integration}/{id}/events",
            "/v1/alerts/default/s-1/events",
        ),
        case(
            M::POST,
            "/v1/alerts/{integration}/{id}/acknowledge",
            "/v1/alerts/default/s-1/acknowledge",
        )
        .body(json!({"by": "alice"})),
        case(
            M::POST,
            "/v1/alerts/{integration}/{id}/acknowledge",
            "/v1/alerts/default/s-1/acknowledge",
        ),
        case(
            M::POST,
            "/v1/alerts/{integration}/{id}/resolve",
            "/v1/alerts/default/s-1/resolve",
        )
        .body(json!({"note": "n".repeat(5000)})),
        case(
            M::POST,
            "/v1/alerts/{integration}/{id}/resolve",
            "/v1/alerts/default/s-1/resolve",
        ),
        case(M::GET, "/v1/stats", "/v1/stats"),
        case(M::GET, "/v1/stats", "/v1/stats?since=yesterday"),
        case(M::GET, "/v1/integrations", "/v1/integrations").admin(),
        case(M::GET, "/v1/integrations", "/v1/integrations"),
        case(M::POST, "/v1/integrations", "/v1/integrations")
            .admin()
            .body(json!({"name": "made"})),
        case(M::POST, "/v1/integrations", "/v1/integrations")
            .admin()
            .body(json!({"name": "made"})),
        case(M::POST, "/v1/integrations", "/v1/integrations")
            .admin()
            .body(json!({"name": "Bad Name"})),
        case(M::GET, named, "/v1/integrations/made").admin(),
        case(M::GET, named, "/v1/integrations/nothing").admin(),
        case(M::PATCH, named, "/v1/integrations/made")
            .admin()
            .body(json!({"capture_payload": true})),
        case(M::PATCH, named, "/v1/integrations/made")
            .admin()
            .body(json!({"auth": "basic"})),
        case(M::PATCH, named, "/v1/integrations/made")
            .admin()
            .body(json!({"format": "xml"})),
        case(
            M::POST,
            "/v1/integrations/{name}/rotate-secret",
            "/v1/integrations/made/rotate-secret",
        )
        .admin(),
        case(
            M::GET,
            "/v1/integrations/{name}/deliveries",
            "/v1/integrations/default/deliveries",
        )
        .admin(),
        case(
            M::POST,
            "/v1/integrations/{name}/test",
            "/v1/integrations/default/test",
        )
        .admin()
        .body(json!({"headers": {"pagertree-token": TOKEN}, "body": create})),
        case(
            M::POST,
            "/v1/integrations/{name}/test",
            "/v1/integrations/default/test",
        )
        .admin()
        .body(json!({"body": "{not json"})),
        case(M::DELETE, named, "/v1/integrations/made").admin(),
        case(M::DELETE, named, "/v1/integrations/made").admin(),
        case(M::GET, "/healthz", "/healthz"),
    ]
}

/// Checks `value` against `schema` (the part of OpenAPI 3.1's JSON Schema that the document
/// uses), adding one line per mismatch to `errors`, each naming where in the body it is.
fn check(document: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return check(
            document,
            &document["components"]["schemas"][name],
            value,
            at,
            errors,
        );
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let merged = merge(document, parts);
        return check(document, &merged, value, at, errors);
    }
    if let Some(choices) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let fits = choices.iter().any(|choice| {
            let mut inner = Vec::new();
            check(document, choice, value, at, &mut inner);
            inner.is_empty()
        });
        if !fits {
            errors.push(format!(
                "{at}: {value} fits none of {}",
                Value::Array(choices.clone())
            ));
        }
        return;
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(one) => vec![one.as_str()],
            Value::Array(many) => many.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !types.iter().any(|kind| is_type(value, kind)) {
            errors.push(format!("{at}: {value} is not {}", types.join(" or ")));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!(
                "{at}: {value} is not one of {}",
                Value::Array(allowed.clone())
            ));
        }
    }
    match value {
        Value::Object(object) => check_object(document, schema, object, at, errors),
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    check(
                        document,
                        item_schema,
                        item,
                        &format!("{at}[{index}]"),
                        errors,
                    );
                }
            }
        }
        _ => {}
    }
}

/// Required keys present, documented keys of the documented shape, and no other key unless
/// the schema allows more (a map, or a free-form object).
fn check_object(
    document: &Value,
    schema: &Value,
    object: &serde_json::Map<String, Value>,
    at: &str,
    errors: &mut Vec<String>,
) {
    for required in schema["required"].as_array().into_iter().flatten() {
        let name = required.as_str().unwrap();
        if !object.contains_key(name) {
            errors.push(format!("{at}: the required `{name}` is missing"));
        }
    }
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, item) in object {
        let place = format!("{at}.{key}");
        match (
            properties.and_then(|known| known.get(key)),
            schema.get("additionalProperties"),
        ) {
            (Some(property), _) => check(document, property, item, &place, errors),
            (None, Some(Value::Bool(false))) => {
                errors.push(format!("{at}: `{key}` is not documented"));
            }
            (None, Some(extra @ Value::Object(_))) => check(document, extra, item, &place, errors),
            (None, _) if properties.is_some() => {
                errors.push(format!("{at}: `{key}` is not documented"));
            }
            (None, _) => {}
        }
    }
}

/// The parts of an `allOf` as one object schema: their properties and required keys together.
fn merge(document: &Value, parts: &[Value]) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for part in parts {
        let part = match part.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                &document["components"]["schemas"]
                    [reference.trim_start_matches("#/components/schemas/")]
            }
            None => part,
        };
        if let Some(known) = part.get("properties").and_then(Value::as_object) {
            properties.extend(known.clone());
        }
        required.extend(part["required"].as_array().cloned().unwrap_or_default());
    }
    json!({"type": "object", "properties": properties, "required": required})
}

fn is_type(value: &Value, kind: &str) -> bool {
    match kind {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

/// The checker itself must fail on what it is there to catch.
#[test]
fn the_checker_sees_a_missing_key_an_extra_key_and_a_wrong_type() {
    let document = json!({"components": {"schemas": {"Thing": {
        "type": "object", "required": ["a"],
        "properties": {"a": {"type": "integer"}, "b": {"type": ["string", "null"]}}
    }}}});
    let schema = json!({"$ref": "#/components/schemas/Thing"});
    let errors = |value: Value| {
        let mut errors = Vec::new();
        check(&document, &schema, &value, "body", &mut errors);
        errors
    };
    assert!(errors(json!({"a": 1, "b": null})).is_empty());
    assert_eq!(errors(json!({"b": "x"})).len(), 1, "missing a");
    assert_eq!(errors(json!({"a": 1, "c": 2})).len(), 1, "extra c");
    assert_eq!(errors(json!({"a": "1"})).len(), 1, "a is not an integer");
}
