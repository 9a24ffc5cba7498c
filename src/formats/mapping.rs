//! The `mapping` format: for any other sender, JSON Pointers (RFC 6901) chosen per integration
//! say where each field is, and a value map turns the sender's words into our actions.
//!
//! With `items`, the pointer names an array and each element is one event; without it, the body
//! is one event. A missing action is a create; a create without a title takes its Id as title.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{alert_id, FormatError, ParsedEvent};
use crate::lifecycle::Fields;
use crate::model::{Action, Severity};

/// The fields a pointer can be chosen for.
pub const FIELDS: &[&str] = &[
    "items",
    "id",
    "title",
    "description",
    "severity",
    "timestamp",
    "tags",
    "action",
];

/// Where a sender keeps each field. Checked by `Mapping::new`, so reading can trust it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// Field name → JSON Pointer.
    pointers: BTreeMap<String, String>,
    /// The sender's action values → ours; empty means our four names map to themselves.
    actions: BTreeMap<String, Action>,
}

impl Mapping {
    /// Checks the pointers and the action map. Errors are `(option, message)`.
    pub fn new(
        pointers: BTreeMap<String, String>,
        actions: BTreeMap<String, Action>,
    ) -> Result<Mapping, (&'static str, String)> {
        for (field, pointer) in &pointers {
            if !FIELDS.contains(&field.as_str()) {
                let fields = crate::model::or_list(FIELDS);
                return Err(("map", format!("`{field}` is not a field; map {fields}")));
            }
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err((
                    "map",
                    format!("`{pointer}` for {field} is not a JSON Pointer: it starts with /"),
                ));
            }
        }
        if !pointers.contains_key("id") {
            return Err(("map", "the mapping needs id=/pointer/to/the/id".into()));
        }
        if !actions.is_empty() && !pointers.contains_key("action") {
            return Err((
                "action_map",
                "an action map needs action=/pointer too".into(),
            ));
        }
        Ok(Mapping { pointers, actions })
    }

    pub fn pointers(&self) -> &BTreeMap<String, String> {
        &self.pointers
    }

    pub fn actions(&self) -> &BTreeMap<String, Action> {
        &self.actions
    }

    /// The pointer to the array of events, when a body carries several.
    pub fn items_pointer(&self) -> Option<&str> {
        self.pointer("items")
    }

    fn pointer(&self, field: &str) -> Option<&str> {
        self.pointers.get(field).map(String::as_str)
    }

    pub(super) fn read(&self, body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
        let Some(items_pointer) = self.pointer("items") else {
            return Ok(vec![self.read_event(body, "")?]);
        };
        let items = body
            .pointer(items_pointer)
            .and_then(Value::as_array)
            .ok_or_else(|| FormatError::new(items_pointer, "must point at an array of events"))?;
        items
            .iter()
            .enumerate()
            .map(|(index, item)| self.read_event(item, &format!("{items_pointer}/{index}")))
            .collect()
    }

    /// One event; `base` is its own pointer in the body, for error messages.
    fn read_event(&self, event: &Value, base: &str) -> Result<ParsedEvent, FormatError> {
        let at = |field: &str| {
            let pointer = self.pointer(field)?;
            let value = event.pointer(pointer).filter(|value| !value.is_null())?;
            Some((format!("{base}{pointer}"), value))
        };
        let (id_path, id) = at("id").ok_or_else(|| {
            FormatError::new(
                format!("{base}{}", self.pointer("id").unwrap_or_default()),
                "is required: the mapping's id",
            )
        })?;
        let id = match id {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            _ => return Err(FormatError::new(id_path, "must be a string or a number")),
        };
        let id = alert_id(&id_path, id)?;
        let text = |field: &str| -> Result<Option<String>, FormatError> {
            match at(field) {
                None => Ok(None),
                Some((_, Value::String(text))) => {
                    Ok(Some(text.clone()).filter(|text| !text.is_empty()))
                }
                Some((_, Value::Number(number))) => Ok(Some(number.to_string())),
                Some((path, _)) => Err(FormatError::new(path, "must be a string")),
            }
        };
        Ok(ParsedEvent {
            action: self.action(at("action"))?,
            fields: Fields {
                title: text("title")?,
                description: text("description")?,
                severity: text("severity")?.as_deref().and_then(severity),
                tags: tags(at("tags"))?,
                meta: None,
            },
            occurred_at: timestamp(at("timestamp"))?,
            informational: false,
            id,
        })
    }

    fn action(&self, found: Option<(String, &Value)>) -> Result<Action, FormatError> {
        let Some((path, value)) = found else {
            return Ok(Action::Create);
        };
        let key = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            _ => {
                return Err(FormatError::new(
                    path,
                    "must be a string, number or boolean",
                ))
            }
        };
        let mapped = if self.actions.is_empty() {
            Action::parse(&key)
        } else {
            self.actions.get(&key).copied()
        };
        mapped.ok_or_else(|| {
            let message = format!(
                "`{key}` has no action; add --action-map {key}=create|update|acknowledge|resolve"
            );
            FormatError::new(path, message)
        })
    }
}

/// Our four levels, in any case, and the common three-level words.
fn severity(text: &str) -> Option<Severity> {
    let lower = text.to_ascii_lowercase();
    Severity::parse(&lower).or(match lower.as_str() {
        "fatal" | "emergency" | "p1" => Some(Severity::Critical),
        "high" | "p2" => Some(Severity::Error),
        "medium" | "moderate" | "warn" | "p3" => Some(Severity::Warning),
        "low" | "informational" | "p4" | "p5" => Some(Severity::Info),
        _ => None,
    })
}

fn tags(found: Option<(String, &Value)>) -> Result<Option<Vec<String>>, FormatError> {
    match found {
        None => Ok(None),
        Some((_, Value::String(tag))) => Ok(Some(vec![tag.clone()])),
        Some((path, Value::Array(items))) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    FormatError::new(path.clone(), "must be a string or an array of strings")
                })
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some((path, _)) => Err(FormatError::new(
            path,
            "must be a string or an array of strings",
        )),
    }
}

fn timestamp(found: Option<(String, &Value)>) -> Result<Option<DateTime<Utc>>, FormatError> {
    let Some((path, value)) = found else {
        return Ok(None);
    };
    let text = value.as_str().unwrap_or_default();
    crate::time::parse(text)
        .map(Some)
        .ok_or_else(|| FormatError::new(path, format!("`{value}` is not an RFC 3339 time")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn mapping(pointers: &[(&str, &str)], actions: &[(&str, Action)]) -> Mapping {
        let pointers = pointers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let actions = actions.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Mapping::new(pointers, actions).unwrap()
    }

    #[test]
    fn reads_an_elastio_style_event() {
        let elastio = mapping(
            &[
                ("id", "/id"),
                ("title", "/event/title"),
                ("severity", "/severity"),
                ("timestamp", "/created_at"),
                ("action", "/status"),
            ],
            &[("OPEN", Action::Create), ("RESOLVED", Action::Resolve)],
        );
        let body = json!({"id": 42, "event": {"title": "Ransomware found"}, "severity": "Error", "created_at": "2026-11-22T18:00:00Z", "status": "RESOLVED"});
        let event = elastio.read(&body).unwrap().remove(0);
        assert_eq!((event.id.as_str(), event.action), ("42", Action::Resolve));
        assert_eq!(event.fields.severity, Some(Severity::Error));
        assert!(event.occurred_at.is_some());
    }

    #[test]
    fn reads_items_as_a_batch_and_defaults_to_create() {
        let plextrac = mapping(
            &[
                ("items", "/data/findings"),
                ("id", "/finding_id"),
                ("title", "/name"),
                ("tags", "/tags"),
            ],
            &[],
        );
        let body = json!({"data": {"findings": [{"finding_id": "f-1", "name": "SQLi", "tags": ["web"]}, {"finding_id": "f-2"}]}});
        let events = plextrac.read(&body).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].action, Action::Create);
        assert_eq!(events[0].fields.tags, Some(vec!["web".to_string()]));
        assert_eq!(
            events[1].fields.title, None,
            "the lifecycle takes the Id as title"
        );
    }

    #[test]
    fn without_an_action_map_our_own_names_work() {
        let plain = mapping(&[("id", "/id"), ("action", "/do")], &[]);
        assert_eq!(
            plain
                .read(&json!({"id": "a", "do": "acknowledge"}))
                .unwrap()[0]
                .action,
            Action::Acknowledge
        );
        assert_eq!(
            plain
                .read(&json!({"id": "a", "do": "close"}))
                .unwrap_err()
                .field,
            "/do"
        );
    }

    #[test]
    fn errors_name_the_pointer_in_the_body() {
        let m = mapping(
            &[("items", "/events"), ("id", "/id"), ("action", "/state")],
            &[("OPEN", Action::Create)],
        );
        let cases = [
            (json!({}), "/events"),
            (
                json!({"events": [{"id": "a", "state": "OPEN"}, {"state": "OPEN"}]}),
                "/events/1/id",
            ),
            (
                json!({"events": [{"id": "a", "state": "CLOSED"}]}),
                "/events/0/state",
            ),
            (json!({"events": [{"id": ["x"]}]}), "/events/0/id"),
        ];
        for (body, field) in cases {
            assert_eq!(m.read(&body).unwrap_err().field, field, "{body}");
        }
    }

    #[test]
    fn a_mapping_needs_an_id_and_valid_pointers() {
        let bad = |pointers: &[(&str, &str)]| {
            let pointers = pointers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Mapping::new(pointers, BTreeMap::new()).unwrap_err()
        };
        assert!(bad(&[("title", "/t")]).1.contains("id="));
        assert!(bad(&[("id", "id")]).1.contains("JSON Pointer"));
        assert!(bad(&[("id", "/id"), ("colour", "/c")])
            .1
            .contains("not a field"));
    }

    /// What the integration's settings show and store is what it was made with.
    #[test]
    fn a_mapping_keeps_its_pointers_and_actions() {
        let batch = mapping(
            &[("items", "/events"), ("id", "/id"), ("action", "/state")],
            &[("OPEN", Action::Create)],
        );
        assert_eq!(batch.pointers()["id"], "/id");
        assert_eq!(batch.actions()["OPEN"], Action::Create);
        assert_eq!(batch.items_pointer(), Some("/events"));
        assert_eq!(mapping(&[("id", "/id")], &[]).items_pointer(), None);
    }

    /// Senders that say what happened with a number or a flag map those too, as their text.
    #[test]
    fn numbers_and_flags_map_to_actions() {
        let m = mapping(
            &[("id", "/id"), ("action", "/state")],
            &[("2", Action::Resolve), ("true", Action::Acknowledge)],
        );
        let action = |state: Value| m.read(&json!({"id": "a", "state": state})).unwrap()[0].action;
        assert_eq!(action(json!(2)), Action::Resolve);
        assert_eq!(action(json!(true)), Action::Acknowledge);
    }

    #[test]
    fn common_severity_words_map_to_our_four_levels() {
        let cases = [
            ("FATAL", Some(Severity::Critical)),
            ("emergency", Some(Severity::Critical)),
            ("p1", Some(Severity::Critical)),
            ("High", Some(Severity::Error)),
            ("p2", Some(Severity::Error)),
            ("medium", Some(Severity::Warning)),
            ("moderate", Some(Severity::Warning)),
            ("warn", Some(Severity::Warning)),
            ("P3", Some(Severity::Warning)),
            ("low", Some(Severity::Info)),
            ("informational", Some(Severity::Info)),
            ("p4", Some(Severity::Info)),
            ("p5", Some(Severity::Info)),
            ("Warning", Some(Severity::Warning)),
            ("p6", None),
        ];
        for (word, level) in cases {
            assert_eq!(severity(word), level, "{word}");
        }
    }
}
