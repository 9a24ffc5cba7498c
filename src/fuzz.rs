//! The checks the fuzz targets in `fuzz/` run on arbitrary bytes. They live here, not in the
//! targets, so that the test suite can run the same checks over `fixtures/fuzz/` on stable Rust:
//! every input a fuzzer kept lands there as a regression fixture.
//!
//! Each check panics when a property breaks; returning normally is a pass. Errors for bad input
//! are expected and fine: the point is that bad input is refused cleanly, never a panic, a hang
//! or an answer that breaks the rules the rest of the code relies on.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use serde_json::Value;

use crate::auth::{self, ActiveSecret, AuthMethod, Encoding, Secret};
use crate::formats::{read_pagerduty_change, Format, Mapping, ParsedEvent, MAX_ID_BYTES};
use crate::lifecycle::{self, Alert, Event, Fields, Outcome};
use crate::limits::DeliveryLimits;
use crate::model::{Action, Source};

/// The fuzz targets, by name: the folder under `fixtures/fuzz/` and the `fuzz/` binary.
pub const TARGETS: [&str; 9] = [
    "format_pagertree",
    "format_plerion",
    "format_pingara",
    "format_alertmanager",
    "format_pagerduty",
    "format_mapping",
    "auth_headers",
    "lifecycle_sequence",
    "json_body",
];

/// The folders under `fixtures/` whose files seed target `name`'s corpus: the sender fixtures
/// for the format parsers, and `fuzz/NAME` for inputs written for it or kept from fuzzing.
pub fn seed_folders(name: &str) -> Vec<String> {
    let mut folders = match name.strip_prefix("format_") {
        Some("mapping") => Vec::new(),
        Some(format) => vec![format.to_string()],
        None if name == "json_body" => Format::NAMES.iter().map(ToString::to_string).collect(),
        None => Vec::new(),
    };
    folders.push(format!("fuzz/{name}"));
    folders
}

/// Runs the check of target `name` on `data`.
pub fn check(name: &str, data: &[u8]) {
    match name {
        "format_mapping" => mapping(data),
        "auth_headers" => auth_headers(data),
        "lifecycle_sequence" => lifecycle_sequence(data),
        "json_body" => json_body(data),
        "format_pagerduty" => {
            // Both PagerDuty endpoints: alert events and change events.
            read_format(&Format::Pagerduty, data);
            if let Ok(body) = DeliveryLimits::default().parse_json(data) {
                if let Ok(events) = read_pagerduty_change(&body) {
                    check_events(&events);
                }
            }
        }
        format => {
            let format = format.strip_prefix("format_").expect("a known target");
            read_format(&Format::named(format).expect("a known format"), data);
        }
    }
}

/// Any body through the server's own JSON parsing: refused or parsed, never a panic or a stack
/// overflow, whatever the nesting; what it parses nests no deeper than the limit.
pub fn json_body(data: &[u8]) {
    let limits = DeliveryLimits::default();
    if let Ok(body) = limits.parse_json(data) {
        assert!(
            depth(&body) <= limits.max_json_depth(),
            "a body nested {} deep was parsed",
            depth(&body)
        );
    }
}

/// How many arrays and objects deep `value` nests.
fn depth(value: &Value) -> usize {
    let deepest = |items: &mut dyn Iterator<Item = &Value>| items.map(depth).max().unwrap_or(0);
    match value {
        Value::Array(items) => 1 + deepest(&mut items.iter()),
        Value::Object(members) => 1 + deepest(&mut members.values()),
        _ => 0,
    }
}

/// A body through a format: whatever it reads obeys SPEC §3's limits.
pub fn read_format(format: &Format, data: &[u8]) {
    let limits = DeliveryLimits::default();
    let Ok(body) = limits.parse_json(data) else {
        return;
    };
    if let Ok(events) = limits.read_events(format, &body) {
        assert!(
            events.len() <= limits.max_batch(),
            "a batch over the limit was read"
        );
        check_events(&events);
    }
}

fn check_events(events: &[ParsedEvent]) {
    for event in events {
        assert!(
            !event.id.is_empty() && event.id.len() <= MAX_ID_BYTES,
            "an id of {} bytes was read",
            event.id.len()
        );
        assert!(
            event.id != "." && event.id != "..",
            "an id no URL path can carry was read"
        );
        for text in [&event.fields.title, &event.fields.description]
            .into_iter()
            .flatten()
        {
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')),
                "a control character got through: {text:?}"
            );
        }
    }
}

/// A mapping whose pointers come from the input's first line (`field=/pointer` pairs separated by
/// spaces), applied to the JSON body after it.
pub fn mapping(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (config, body) = text.split_once('\n').unwrap_or(("id=/id", &text));
    let mut pointers = BTreeMap::new();
    for pair in config.split(' ') {
        if let Some((field, pointer)) = pair.split_once('=') {
            pointers.insert(field.to_string(), pointer.to_string());
        }
    }
    let Ok(mapping) = Mapping::new(pointers, BTreeMap::new()) else {
        return;
    };
    read_format(&Format::Mapping(Box::new(mapping)), body.as_bytes());
}

/// Header values from the input (one per line) checked by every auth mode against a known
/// secret: refused or accepted, never a panic. The modes that hold the secret itself may accept
/// (the fuzzer may write it); a signature mode accepting would mean a forged HMAC.
pub fn auth_headers(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.splitn(5, '\n');
    let mut next = || lines.next().unwrap_or("");
    let (first, second, third, fourth) = (next(), next(), next(), next());
    let body = next().as_bytes();
    let secrets = [Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")];
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let methods = [
        AuthMethod::Token {
            header: "x-token".into(),
        },
        AuthMethod::Bearer,
        AuthMethod::Basic,
        AuthMethod::HmacSha256 {
            header: "x-signature".into(),
            prefix: "sha256=".into(),
            encoding: Encoding::Hex,
        },
        AuthMethod::HmacSha256 {
            header: "x-signature".into(),
            prefix: String::new(),
            encoding: Encoding::Base64,
        },
        AuthMethod::StandardWebhooks,
    ];
    let headers: [(&str, &str); 7] = [
        ("x-token", first),
        ("authorization", first),
        ("x-signature", first),
        ("webhook-id", second),
        ("webhook-timestamp", third),
        ("webhook-signature", fourth),
        ("svix-signature", fourth),
    ];
    for method in &methods {
        let active = [ActiveSecret::new(method, &secrets[0])];
        let accepted = auth::verify(method, &headers[..], body, &active, now).is_ok();
        let signs = matches!(
            method,
            AuthMethod::HmacSha256 { .. } | AuthMethod::StandardWebhooks
        );
        assert!(!(accepted && signs), "{method:?} accepted {text:?}");
    }
}

/// Events from the input, three bytes each, applied in order: the state machine never panics and
/// keeps its invariants after every step, the episode and the sender watermark only grow, and an
/// ignored event changes nothing.
pub fn lifecycle_sequence(data: &[u8]) {
    let base: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap();
    let mut current: Option<Alert> = None;
    for (step, bytes) in data.chunks_exact(3).enumerate() {
        let (kind, occurred, flags) = (bytes[0], bytes[1], bytes[2]);
        let event = Event {
            integration: "fuzz".into(),
            id: "a".into(),
            action: Action::ALL[usize::from(kind % 4)],
            fields: Fields {
                title: (flags & 1 == 1).then(|| "title".to_string()),
                ..Fields::default()
            },
            // Bit 8 sends a time far in the future, as a sender with a broken clock might.
            occurred_at: match (flags & 2 == 2, flags & 8 == 8) {
                (false, _) => None,
                (true, false) => Some(base + Duration::seconds(i64::from(occurred))),
                (true, true) => Some(base + Duration::days(365 * 7000)),
            },
            source: if flags & 4 == 4 {
                Source::Api
            } else {
                Source::Hook
            },
            at: base + Duration::seconds(i64::try_from(step).unwrap_or(i64::MAX)),
            by: None,
            note: None,
        };
        let transition = lifecycle::apply(current.as_ref(), &event);
        if let Some(alert) = &transition.alert {
            if let Err(broken) = lifecycle::check_invariants(alert) {
                panic!("step {step}: {broken}");
            }
            // SPEC §4: ordering uses the earlier of occurred_at and the receive time, so no
            // event can set a watermark later than when it came, whatever time it claims.
            assert!(
                alert.last_occurred_at.is_none_or(|mark| mark <= event.at),
                "step {step}: the watermark went past the receive time"
            );
        }
        if let (Some(before), Some(after)) = (&current, &transition.alert) {
            assert!(after.episode >= before.episode, "the episode went down");
            assert!(
                after.last_occurred_at >= before.last_occurred_at,
                "the watermark went back"
            );
            if matches!(transition.outcome, Outcome::Ignored(_)) {
                assert_eq!(before, after, "an ignored event changed the alert");
            }
        }
        assert_eq!(transition.from, current.as_ref().map(|alert| alert.state));
        if transition.alert.is_some() {
            current = transition.alert;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every input a fuzzer kept, and the fixtures they started from, still pass.
    #[test]
    fn the_fuzz_seeds_and_findings_pass_their_checks() {
        let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut checked = 0;
        for target in TARGETS {
            for folder in seed_folders(target) {
                let Ok(entries) = std::fs::read_dir(fixtures.join(folder)) else {
                    continue;
                };
                for entry in entries {
                    let path = entry.unwrap().path();
                    check(target, &std::fs::read(&path).unwrap());
                    checked += 1;
                }
            }
        }
        assert!(checked >= 40, "only {checked} fixtures were found");
    }

    #[test]
    fn a_deeply_nested_body_is_refused_without_overflowing_the_stack() {
        for target in TARGETS {
            check(target, &b"[".repeat(100_000));
            check(target, &b"{\"a\":".repeat(50_000));
        }
    }
}
