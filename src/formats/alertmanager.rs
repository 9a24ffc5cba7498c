//! The `alertmanager` format: Prometheus Alertmanager's webhook payload, version 4.
//!
//! Each `alerts[]` item is one event, keyed by its `fingerprint` (or, when absent, a stable hash
//! of its sorted labels). A firing alert is a create at `startsAt`, so the re-sends of every
//! `repeat_interval` deduplicate; a resolved one is a resolve at `endsAt`, so a firing re-send
//! that arrives late is stale, while the alert firing again later reopens it.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::object::Object;
use super::{FormatError, ParsedEvent};
use crate::lifecycle::Fields;
use crate::model::{Action, Severity};

/// Keys of the payload kept in every alert's meta.
const SHARED_META: [&str; 4] = ["receiver", "groupKey", "externalURL", "version"];

pub(super) fn read(body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
    let root = Object::new(body, "")?;
    if root.optional_array("alerts")?.is_none() {
        return Err(root.error(
            "alerts",
            "is required (an Alertmanager webhook lists its alerts)",
        ));
    }
    let mut shared = Map::new();
    for key in SHARED_META {
        if let Some(value) = root.get(key) {
            shared.insert(key.to_string(), value.clone());
        }
    }
    root.objects("alerts")?
        .iter()
        .map(|alert| read_alert(alert, &shared))
        .collect()
}

fn read_alert(alert: &Object<'_>, shared: &Map<String, Value>) -> Result<ParsedEvent, FormatError> {
    let (action, time_key) = match alert.string("status")? {
        "firing" => (Action::Create, "startsAt"),
        "resolved" => (Action::Resolve, "endsAt"),
        other => {
            return Err(alert.error(
                "status",
                format!("expected firing or resolved, got `{other}`"),
            ))
        }
    };
    let labels = string_map(alert, "labels")?;
    let annotations = string_map(alert, "annotations")?;
    let id = match alert.optional_string("fingerprint")? {
        Some(fingerprint) => fingerprint.to_string(),
        None if labels.is_empty() => {
            return Err(alert.error("fingerprint", "is required when there are no labels"))
        }
        None => labels_hash(&labels),
    };
    let text = |map: &Map<String, Value>, key: &str| {
        map.get(key).and_then(Value::as_str).map(str::to_string)
    };
    let title = text(&annotations, "summary").or_else(|| text(&labels, "alertname"));
    if action == Action::Create && title.is_none() {
        return Err(alert.error(
            "labels",
            "needs `alertname` (or annotations.summary) to name the alert",
        ));
    }
    let mut meta = shared.clone();
    meta.insert("annotations".into(), Value::Object(annotations.clone()));
    if let Some(url) = alert.optional_string("generatorURL")? {
        meta.insert("generatorURL".into(), url.into());
    }
    Ok(ParsedEvent {
        id: super::alert_id(&alert.field("fingerprint"), id)?,
        action,
        fields: Fields {
            title,
            description: text(&annotations, "description"),
            severity: text(&labels, "severity")
                .and_then(|level| Severity::parse(&level.to_ascii_lowercase())),
            tags: Some(
                labels
                    .iter()
                    .map(|(key, value)| format!("{key}={}", value.as_str().unwrap_or_default()))
                    .collect(),
            ),
            meta: Some(meta),
        },
        occurred_at: alert.optional_time(time_key)?,
        informational: false,
    })
}

/// `labels` or `annotations`: an object of strings (serde_json keeps keys sorted).
fn string_map(alert: &Object<'_>, key: &str) -> Result<Map<String, Value>, FormatError> {
    let Some(object) = alert.optional_object(key)? else {
        return Ok(Map::new());
    };
    for (name, value) in object.map() {
        if !value.is_string() {
            return Err(object.error(name, "must be a string"));
        }
    }
    Ok(object.map().clone())
}

/// A stable Id from the sorted labels, for senders that leave out `fingerprint`.
fn labels_hash(labels: &Map<String, Value>) -> String {
    let mut hash = Sha256::new();
    for (key, value) in labels {
        hash.update(key.as_bytes());
        hash.update([0xff]);
        hash.update(value.as_str().unwrap_or_default().as_bytes());
        hash.update([0xfe]);
    }
    crate::ids::hex(&hash.finalize()[..8])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        super::super::fixture(&format!("alertmanager/{name}"))
    }

    #[test]
    fn reads_a_firing_group() {
        let events = read(&fixture("firing.json")).unwrap();
        assert_eq!(events.len(), 2);
        let first = &events[0];
        assert_eq!(
            (first.id.as_str(), first.action),
            ("3c5b8a1f0d2e4b67", Action::Create)
        );
        assert_eq!(
            first.fields.title.as_deref(),
            Some("Disk almost full on db-1")
        );
        assert_eq!(first.fields.severity, Some(Severity::Critical));
        assert!(first
            .fields
            .tags
            .as_ref()
            .unwrap()
            .contains(&"instance=db-1:9100".to_string()));
        assert_eq!(
            first.occurred_at.unwrap().to_rfc3339(),
            "2026-11-22T18:00:00+00:00"
        );
        assert_eq!(first.fields.meta.as_ref().unwrap()["receiver"], "alertgate");
        assert_eq!(
            events[1].fields.title.as_deref(),
            Some("HighLatency"),
            "alertname when no summary"
        );
    }

    #[test]
    fn resolved_alerts_resolve_at_ends_at() {
        let events = read(&fixture("resolved.json")).unwrap();
        assert_eq!(events[0].action, Action::Resolve);
        assert_eq!(
            events[0].occurred_at.unwrap().to_rfc3339(),
            "2026-11-22T18:20:00+00:00"
        );
    }

    #[test]
    fn without_a_fingerprint_the_id_is_a_stable_hash_of_the_sorted_labels() {
        let alert = |labels: Value| json!({"alerts": [{"status": "firing", "labels": labels, "startsAt": "2026-11-22T18:00:00Z"}]});
        let one = read(&alert(json!({"alertname": "A", "job": "node"})))
            .unwrap()
            .remove(0)
            .id;
        let same = read(&alert(json!({"job": "node", "alertname": "A"})))
            .unwrap()
            .remove(0)
            .id;
        let other = read(&alert(json!({"alertname": "A", "job": "api"})))
            .unwrap()
            .remove(0)
            .id;
        assert_eq!(one, same);
        assert_ne!(one, other);
        assert_eq!(one.len(), 16);
    }

    #[test]
    fn unreadable_bodies_name_the_field() {
        let firing = json!({"status": "firing", "labels": {"alertname": "A"}, "fingerprint": "f"});
        let cases = [
            (json!({"status": "firing"}), "alerts"),
            (
                json!({"alerts": [firing, {"status": "pending", "fingerprint": "f"}]}),
                "alerts[1].status",
            ),
            (
                json!({"alerts": [{"labels": {"alertname": "A"}}]}),
                "alerts[0].status",
            ),
            (
                json!({"alerts": [{"status": "firing"}]}),
                "alerts[0].fingerprint",
            ),
            (
                json!({"alerts": [{"status": "firing", "fingerprint": "f"}]}),
                "alerts[0].labels",
            ),
            (
                json!({"alerts": [{"status": "firing", "fingerprint": "f", "labels": {"alertname": 5}}]}),
                "alerts[0].labels.alertname",
            ),
            (
                json!({"alerts": [{"status": "firing", "fingerprint": "f", "labels": {"alertname": "A"}, "startsAt": "now"}]}),
                "alerts[0].startsAt",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(read(&body).unwrap_err().field, field, "{body}");
        }
    }
}
