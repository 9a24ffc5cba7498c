//! The `pagertree` format: PagerTree's incoming webhook (seed 002) plus `Severity` and
//! `Timestamp`. Keys are matched case-insensitively, as PagerTree does; a JSON array is a batch.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::{alert_id, FormatError, ParsedEvent};
use crate::lifecycle::Fields;
use crate::model::{Action, Severity};

/// The actions PagerTree defines; `update` is not one of them.
const EVENT_TYPES: [Action; 3] = [Action::Create, Action::Acknowledge, Action::Resolve];

pub(super) fn read(body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
    match body {
        Value::Object(object) => Ok(vec![read_event(object, "")?]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let path = format!("[{index}].");
                match item {
                    Value::Object(object) => read_event(object, &path),
                    _ => Err(FormatError::new(format!("[{index}]"), "must be an object")),
                }
            })
            .collect(),
        _ => Err(FormatError::new(
            "body",
            "must be an object or an array of objects",
        )),
    }
}

/// One event object; `path` prefixes field names in errors (`[3].` inside a batch).
fn read_event(object: &Map<String, Value>, path: &str) -> Result<ParsedEvent, FormatError> {
    let event = Event { object, path };
    let action = event.action()?;
    let id = event.id()?;
    let title = event.string("Title")?;
    if action == Action::Create && title.is_none() {
        return Err(event.error("Title", "is required to create an alert"));
    }
    let fields = Fields {
        title,
        description: event.text("Description")?,
        severity: event.severity()?,
        tags: event.tags()?,
        meta: event.meta()?,
    };
    Ok(ParsedEvent {
        id,
        action,
        fields,
        occurred_at: event.timestamp()?,
        informational: false,
    })
}

/// One event object and where it sits in the body.
struct Event<'a> {
    object: &'a Map<String, Value>,
    path: &'a str,
}

impl<'a> Event<'a> {
    fn error(&self, field: &str, message: impl Into<String>) -> FormatError {
        FormatError::new(format!("{}{field}", self.path), message)
    }

    /// The value of `key`, matched without regard to case; `null` counts as absent. Two keys
    /// that differ only in case are refused rather than one silently winning.
    fn get(&self, key: &str) -> Result<Option<&'a Value>, FormatError> {
        let mut found = None;
        for (name, value) in self.object {
            if name.eq_ignore_ascii_case(key) {
                if found.is_some() {
                    return Err(self.error(key, "is given more than once (keys ignore case)"));
                }
                found = Some(value);
            }
        }
        Ok(found.filter(|value| !value.is_null()))
    }

    fn action(&self) -> Result<Action, FormatError> {
        let expected = "expected create, acknowledge or resolve";
        let text = match self.get("event_type")? {
            None => return Err(self.error("event_type", format!("is required; {expected}"))),
            Some(Value::String(text)) => text,
            Some(_) => {
                return Err(self.error("event_type", format!("must be a string; {expected}")))
            }
        };
        EVENT_TYPES
            .into_iter()
            .find(|action| action.as_str() == text)
            .ok_or_else(|| {
                self.error(
                    "event_type",
                    format!("`{text}` is not an event type; {expected}"),
                )
            })
    }

    fn id(&self) -> Result<String, FormatError> {
        let field = format!("{}Id", self.path);
        let id = match self.get("Id")? {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Number(number)) => number.to_string(),
            Some(_) => return Err(self.error("Id", "must be a string or a number")),
            None => return Err(self.error("Id", "is required")),
        };
        alert_id(&field, id)
    }

    /// An optional string, which may be empty.
    fn text(&self, key: &str) -> Result<Option<String>, FormatError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(self.error(key, "must be a string")),
        }
    }

    /// An optional non-empty string.
    fn string(&self, key: &str) -> Result<Option<String>, FormatError> {
        match self.get(key)? {
            None => Ok(None),
            Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.clone())),
            Some(Value::String(_)) => Err(self.error(key, "must not be empty")),
            Some(_) => Err(self.error(key, "must be a string")),
        }
    }

    fn severity(&self) -> Result<Option<Severity>, FormatError> {
        let Some(text) = self.string("Severity")? else {
            return Ok(None);
        };
        Severity::parse(&text.to_ascii_lowercase())
            .map(Some)
            .ok_or_else(|| {
                let expected = Severity::expected();
                self.error(
                    "Severity",
                    format!("`{text}` is not a severity; expected {expected}"),
                )
            })
    }

    fn timestamp(&self) -> Result<Option<DateTime<Utc>>, FormatError> {
        let Some(text) = self.string("Timestamp")? else {
            return Ok(None);
        };
        DateTime::parse_from_rfc3339(&text)
            .map(|time| Some(time.with_timezone(&Utc)))
            .map_err(|_| self.error("Timestamp", format!("`{text}` is not an RFC 3339 time")))
    }

    fn tags(&self) -> Result<Option<Vec<String>>, FormatError> {
        let Some(value) = self.get("Tags")? else {
            return Ok(None);
        };
        let not_strings = || self.error("Tags", "must be an array of strings");
        let items = value.as_array().ok_or_else(not_strings)?;
        items
            .iter()
            .map(|tag| tag.as_str().map(str::to_string).ok_or_else(not_strings))
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn meta(&self) -> Result<Option<Map<String, Value>>, FormatError> {
        match self.get("Meta")? {
            None => Ok(None),
            Some(Value::Object(meta)) => Ok(Some(meta.clone())),
            Some(_) => Err(self.error("Meta", "must be an object")),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // Both take their body by value, so a test can hand them `json!(…)` as written.
    #[allow(clippy::needless_pass_by_value)]
    fn read_one(body: Value) -> Result<ParsedEvent, FormatError> {
        read(&body).map(|mut events| events.remove(0))
    }

    #[allow(clippy::needless_pass_by_value)]
    fn field_of(body: Value) -> String {
        read(&body).unwrap_err().field
    }

    /// `Description` is taken as sent, an empty one included: a sender clears it that way.
    #[test]
    fn a_description_is_kept_as_sent_even_empty() {
        let description = |value: Option<&str>| {
            let mut body = json!({"event_type": "create", "Id": "d", "Title": "t"});
            if let Some(value) = value {
                body["Description"] = json!(value);
            }
            read_one(body).unwrap().fields.description
        };
        assert_eq!(
            description(Some("disk at 91%")).as_deref(),
            Some("disk at 91%")
        );
        assert_eq!(description(Some("")).as_deref(), Some(""));
        assert_eq!(description(None), None);
    }

    #[test]
    fn reads_the_documented_example() {
        let body = include_str!("../../fixtures/pagertree/create_with_tags_and_meta.json");
        let event = read_one(serde_json::from_str(body).unwrap()).unwrap();
        assert_eq!(event.id, "example-id-123");
        assert_eq!(event.action, Action::Create);
        assert_eq!(
            event.fields.title.as_deref(),
            Some("Example Incident Title")
        );
        assert_eq!(
            event.fields.tags,
            Some(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(event.fields.meta.unwrap()["incident_severity"], "SEV-1");
    }

    #[test]
    fn keys_are_matched_without_regard_to_case() {
        let event = read_one(
            json!({"EVENT_TYPE": "create", "id": 42, "title": "x", "SEVERITY": "Critical"}),
        );
        let event = event.unwrap();
        assert_eq!(event.id, "42", "a numeric Id is its decimal text");
        assert_eq!(event.fields.severity, Some(Severity::Critical));
    }

    #[test]
    fn a_key_given_twice_in_different_cases_is_refused() {
        assert_eq!(
            field_of(json!({"event_type": "create", "Id": "1", "id": "2", "Title": "x"})),
            "Id"
        );
    }

    #[test]
    fn timestamps_become_occurred_at_in_utc() {
        let event = read_one(
            json!({"event_type": "resolve", "Id": "1", "Timestamp": "2026-11-22T19:04:05.123+01:00"}),
        );
        assert_eq!(
            event.unwrap().occurred_at.unwrap().to_rfc3339(),
            "2026-11-22T18:04:05.123+00:00"
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        let cases = [
            (json!({"Id": "1"}), "event_type"),
            (json!({"event_type": "update", "Id": "1"}), "event_type"),
            (json!({"event_type": "create", "Title": "x"}), "Id"),
            (
                json!({"event_type": "create", "Id": "", "Title": "x"}),
                "Id",
            ),
            (
                json!({"event_type": "create", "Id": "x".repeat(256), "Title": "x"}),
                "Id",
            ),
            (json!({"event_type": "create", "Id": "1"}), "Title"),
            (
                json!({"event_type": "create", "Id": "1", "Title": ""}),
                "Title",
            ),
            (
                json!({"event_type": "create", "Id": "1", "Title": "x", "Tags": [1]}),
                "Tags",
            ),
            (
                json!({"event_type": "create", "Id": "1", "Title": "x", "Meta": []}),
                "Meta",
            ),
            (
                json!({"event_type": "create", "Id": "1", "Title": "x", "Severity": "high"}),
                "Severity",
            ),
            (
                json!({"event_type": "create", "Id": "1", "Title": "x", "Timestamp": "yesterday"}),
                "Timestamp",
            ),
            (
                json!([{"event_type": "resolve", "Id": "1"}, {"event_type": "resolve"}]),
                "[1].Id",
            ),
            (json!([1]), "[0]"),
            (json!("text"), "body"),
        ];
        for (body, field) in cases {
            assert_eq!(field_of(body.clone()), field, "body {body}");
        }
    }

    #[test]
    fn a_batch_keeps_its_order() {
        let batch = json!([
            {"event_type": "create", "Id": "a", "Title": "x"},
            {"event_type": "resolve", "Id": "a"},
        ]);
        let actions: Vec<Action> = read(&batch).unwrap().iter().map(|e| e.action).collect();
        assert_eq!(actions, [Action::Create, Action::Resolve]);
    }
}
