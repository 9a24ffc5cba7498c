//! The `pagerduty` format: PagerDuty Events API v2 alert events (and change events, which are
//! recorded as informational), validated as PagerDuty documents them.
//!
//! `dedup_key` is the alert's Id; a trigger without one gets a fresh key, returned to the
//! sender, so every such trigger opens an alert of its own as it does at PagerDuty.

use chrono::{DateTime, NaiveDateTime, Utc};
use rand::RngCore;
use serde_json::{Map, Value};

use super::object::Object;
use super::{FormatError, ParsedEvent};
use crate::lifecycle::Fields;
use crate::model::{Action, Severity};

/// PagerDuty's limit on `payload.summary`, in characters.
const MAX_SUMMARY: usize = 1024;
/// PagerDuty's limit on `dedup_key`, in characters.
const MAX_DEDUP_KEY: usize = 255;

pub(super) fn read(body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
    let root = Object::new(body, "")?;
    let action = match root.string("event_action")? {
        "trigger" => Action::Create,
        "acknowledge" => Action::Acknowledge,
        "resolve" => Action::Resolve,
        other => {
            return Err(root.error(
                "event_action",
                format!("expected trigger, acknowledge or resolve, got `{other}`"),
            ));
        }
    };
    let id = match root.optional_string("dedup_key")? {
        Some(key) if key.chars().count() > MAX_DEDUP_KEY => {
            return Err(root.error(
                "dedup_key",
                format!("is longer than {MAX_DEDUP_KEY} characters"),
            ));
        }
        Some(key) => super::alert_id("dedup_key", key.to_string())?,
        None if action == Action::Create => generated_key(),
        None => return Err(root.error("dedup_key", "is required to acknowledge or resolve")),
    };
    let payload = root.optional_object("payload")?;
    let mut event = ParsedEvent {
        id,
        action,
        fields: Fields::default(),
        occurred_at: None,
        informational: false,
    };
    match (&payload, action) {
        (None, Action::Create) => return Err(root.error("payload", "is required on trigger")),
        (None, _) => {}
        (Some(payload), _) => read_payload(payload, &root, &mut event)?,
    }
    Ok(vec![event])
}

/// A change event (`/v2/change/enqueue`): accepted and recorded as informational.
pub fn read_change(body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
    let root = Object::new(body, "")?;
    let payload = root.object("payload")?;
    summary(&payload)?;
    Ok(vec![ParsedEvent {
        id: format!("change:{}", generated_key()),
        action: Action::Update,
        fields: Fields::default(),
        occurred_at: payload_time(&payload)?,
        informational: true,
    }])
}

fn read_payload(
    payload: &Object<'_>,
    root: &Object<'_>,
    event: &mut ParsedEvent,
) -> Result<(), FormatError> {
    let trigger = event.action == Action::Create;
    let title = summary(payload)?;
    let source = payload.optional_string("source")?;
    let severity = match payload.optional_string("severity")? {
        Some(text) => Some(Severity::parse(text).ok_or_else(|| {
            payload.error(
                "severity",
                format!("expected critical, error, warning or info, got `{text}`"),
            )
        })?),
        None => None,
    };
    if trigger {
        for (key, missing) in [
            ("summary", title.is_none()),
            ("source", source.is_none()),
            ("severity", severity.is_none()),
        ] {
            if missing {
                return Err(payload.error(key, "is required on trigger"));
            }
        }
    }
    let mut tags = Vec::new();
    for key in ["component", "group", "class"] {
        if let Some(value) = payload.optional_string(key)? {
            tags.push(format!("{key}={value}"));
        }
    }
    event.fields = Fields {
        title,
        description: source.map(str::to_string),
        severity,
        tags: trigger.then_some(tags),
        meta: Some(meta(payload, root)),
    };
    event.occurred_at = payload_time(payload)?;
    Ok(())
}

fn summary(payload: &Object<'_>) -> Result<Option<String>, FormatError> {
    let Some(summary) = payload.optional_string("summary")? else {
        return Ok(None);
    };
    if summary.chars().count() > MAX_SUMMARY {
        return Err(payload.error(
            "summary",
            format!("is longer than {MAX_SUMMARY} characters"),
        ));
    }
    Ok(Some(summary.to_string()))
}

/// `payload.timestamp`: RFC 3339, or ISO 8601 with a `+0000` offset as PagerDuty's own examples.
fn payload_time(payload: &Object<'_>) -> Result<Option<DateTime<Utc>>, FormatError> {
    let Some(text) = payload.optional_string("timestamp")? else {
        return Ok(None);
    };
    crate::time::parse(text)
        .or_else(|| {
            DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        })
        .map(Some)
        .ok_or_else(|| payload.error("timestamp", format!("`{text}` is not an ISO 8601 time")))
}

/// Everything but the summary and severity: source, component, group, class, custom details,
/// and the event's links, images and client.
fn meta(payload: &Object<'_>, root: &Object<'_>) -> Map<String, Value> {
    let mut meta = Map::new();
    for key in ["source", "component", "group", "class", "custom_details"] {
        if let Some(value) = payload.get(key) {
            meta.insert(key.to_string(), value.clone());
        }
    }
    for key in ["links", "images", "client", "client_url"] {
        if let Some(value) = root.get(key) {
            meta.insert(key.to_string(), value.clone());
        }
    }
    meta
}

/// 32 random hex digits, like the keys PagerDuty generates.
fn generated_key() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    crate::ids::hex(&bytes)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        super::super::fixture(&format!("pagerduty/{name}"))
    }

    #[test]
    fn reads_the_documented_trigger() {
        let event = read(&fixture("trigger.json")).unwrap().remove(0);
        assert_eq!(
            (event.id.as_str(), event.action),
            ("samplekeyhere", Action::Create)
        );
        assert_eq!(
            event.fields.title.as_deref(),
            Some("Example alert on host1.example.com")
        );
        assert_eq!(event.fields.severity, Some(Severity::Info));
        assert_eq!(
            event.occurred_at.unwrap().to_rfc3339(),
            "2015-07-17T08:42:58.315+00:00"
        );
        let meta = event.fields.meta.unwrap();
        assert_eq!(meta["custom_details"]["ping time"], "1500ms");
        assert_eq!(meta["links"][0]["href"], "https://example.com/");
        assert!(event
            .fields
            .tags
            .unwrap()
            .contains(&"component=postgres".to_string()));
    }

    #[test]
    fn a_trigger_without_a_dedup_key_gets_a_fresh_one() {
        let mut body = fixture("trigger.json");
        body.as_object_mut().unwrap().remove("dedup_key");
        let first = read(&body).unwrap().remove(0).id;
        let second = read(&body).unwrap().remove(0).id;
        assert_eq!(first.len(), 32);
        assert_ne!(first, second);
    }

    #[test]
    fn acknowledge_and_resolve_need_only_the_key() {
        assert_eq!(
            read(&fixture("acknowledge.json")).unwrap()[0].action,
            Action::Acknowledge
        );
        assert_eq!(
            read(&fixture("resolve.json")).unwrap()[0].action,
            Action::Resolve
        );
    }

    #[test]
    fn invalid_events_name_the_field() {
        let trigger = |payload: Value| json!({"event_action": "trigger", "dedup_key": "k", "payload": payload});
        let full = json!({"summary": "s", "source": "h", "severity": "error"});
        let without = |key: &str| {
            let mut payload = full.clone();
            payload.as_object_mut().unwrap().remove(key);
            trigger(payload)
        };
        let cases = [
            (json!({"dedup_key": "k"}), "event_action"),
            (
                json!({"event_action": "snooze", "dedup_key": "k"}),
                "event_action",
            ),
            (json!({"event_action": "resolve"}), "dedup_key"),
            (
                json!({"event_action": "trigger", "dedup_key": "x".repeat(256), "payload": full}),
                "dedup_key",
            ),
            (
                json!({"event_action": "trigger", "dedup_key": "k"}),
                "payload",
            ),
            (without("summary"), "payload.summary"),
            (without("source"), "payload.source"),
            (without("severity"), "payload.severity"),
            (
                trigger(json!({"summary": "s", "source": "h", "severity": "fatal"})),
                "payload.severity",
            ),
            (
                trigger(json!({"summary": "x".repeat(1025), "source": "h", "severity": "info"})),
                "payload.summary",
            ),
            (
                trigger(
                    json!({"summary": "s", "source": "h", "severity": "info", "timestamp": "noon"}),
                ),
                "payload.timestamp",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(read(&body).unwrap_err().field, field, "{body}");
        }
    }

    /// PagerDuty's own limits, in characters: 255 for a key (with its own message), 1,024 for a
    /// summary.
    #[test]
    fn a_dedup_key_holds_255_characters_and_a_summary_1024() {
        let trigger = |key: String| {
            json!({"event_action": "trigger", "dedup_key": key,
                   "payload": {"summary": "s", "source": "h", "severity": "info"}})
        };
        assert_eq!(read(&trigger("k".repeat(255))).unwrap()[0].id.len(), 255);
        let summary = |length: usize| {
            json!({"event_action": "trigger", "dedup_key": "k",
                   "payload": {"summary": "s".repeat(length), "source": "h", "severity": "info"}})
        };
        assert!(
            read(&summary(1024)).is_ok(),
            "a summary of 1,024 characters"
        );
        assert_eq!(read(&summary(1025)).unwrap_err().field, "payload.summary");
        for length in [256, 300] {
            let error = read(&trigger("k".repeat(length))).unwrap_err();
            assert_eq!(
                (error.field.as_str(), error.message.as_str()),
                ("dedup_key", "is longer than 255 characters"),
                "{length}"
            );
        }
    }

    #[test]
    fn change_events_are_informational() {
        let event = read_change(&fixture("change.json")).unwrap().remove(0);
        assert!(event.informational && event.id.starts_with("change:"));
    }
}
