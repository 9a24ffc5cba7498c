//! Sender formats (SPEC §3): each turns one parsed JSON body into an ordered list of events.
//!
//! A format does no I/O and keeps no state; it only reads. Adding a sender means adding one
//! module and one arm in `Format`. Errors name the field that could not be read, so the sender's
//! operator can fix the payload from the `422` alone.

mod alertmanager;
mod mapping;
mod object;
mod pagerduty;
mod pagertree;
mod pingara;
mod plerion;

use serde_json::Value;

pub use crate::lifecycle::ParsedEvent;

pub use mapping::{Mapping, FIELDS as MAPPING_FIELDS};
pub use pagerduty::read_change as read_pagerduty_change;

/// SPEC §1: an alert Id is 1-255 bytes of UTF-8.
pub const MAX_ID_BYTES: usize = 255;

/// A body that parsed as JSON but that the format cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FormatError {
    /// Where in the body, e.g. `[2].Id`.
    pub field: String,
    pub message: String,
}

impl FormatError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FormatError {
        FormatError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The payload formats an integration can speak: the registry of sender modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// PagerTree's incoming webhook, alertgate's native format.
    Pagertree,
    /// Plerion's alert webhook.
    Plerion,
    /// Pingara's monitoring webhook.
    Pingara,
    /// Prometheus Alertmanager's webhook, version 4.
    Alertmanager,
    /// PagerDuty Events API v2, also served at `/v2/enqueue`.
    Pagerduty,
    /// Any other sender, read through the integration's own JSON Pointers.
    Mapping(Box<Mapping>),
}

impl Format {
    pub const NAMES: &'static [&'static str] = &[
        "pagertree",
        "plerion",
        "pingara",
        "alertmanager",
        "pagerduty",
        "mapping",
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Pagertree => "pagertree",
            Format::Plerion => "plerion",
            Format::Pingara => "pingara",
            Format::Alertmanager => "alertmanager",
            Format::Pagerduty => "pagerduty",
            Format::Mapping(_) => "mapping",
        }
    }

    /// A format that needs nothing but its name; `mapping` needs its pointers too.
    pub fn named(name: &str) -> Option<Format> {
        match name {
            "pagertree" => Some(Format::Pagertree),
            "plerion" => Some(Format::Plerion),
            "pingara" => Some(Format::Pingara),
            "alertmanager" => Some(Format::Alertmanager),
            "pagerduty" => Some(Format::Pagerduty),
            _ => None,
        }
    }

    pub fn mapping(&self) -> Option<&Mapping> {
        match self {
            Format::Mapping(mapping) => Some(mapping),
            _ => None,
        }
    }

    /// Where in a body this format keeps its events, to name in an error about their number.
    pub fn batch_field(&self) -> &str {
        match self {
            Format::Pagertree => "[]",
            Format::Alertmanager => "alerts",
            Format::Mapping(mapping) => mapping.items_pointer().unwrap_or(""),
            Format::Plerion | Format::Pingara | Format::Pagerduty => "",
        }
    }

    /// Reads `body` into events, in order. How many a delivery may carry is
    /// `DeliveryLimits::read_events`'s to check.
    pub fn read(&self, body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
        let events = self.read_unchecked(body)?;
        check_text(&events)?;
        Ok(events)
    }

    fn read_unchecked(&self, body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
        match self {
            Format::Pagertree => pagertree::read(body),
            Format::Plerion => plerion::read(body),
            Format::Pingara => pingara::read(body),
            Format::Alertmanager => alertmanager::read(body),
            Format::Pagerduty => pagerduty::read(body),
            Format::Mapping(mapping) => mapping.read(body),
        }
    }
}

/// A sender payload from `fixtures/`, for the formats' unit tests.
#[cfg(test)]
pub(crate) fn fixture(path: &str) -> Value {
    let path = format!("{}/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("the fixture exists"))
        .expect("a fixture is JSON")
}

/// Control characters have no business in an Id (it travels in URLs) or in the text people read
/// on a dashboard; tabs and line breaks are allowed in text. Checked once for every format.
fn check_text(events: &[ParsedEvent]) -> Result<(), FormatError> {
    let in_text = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    for (index, event) in events.iter().enumerate() {
        let field = |name: &str| format!("events[{index}].{name}");
        if event.id.chars().any(char::is_control) {
            return Err(FormatError::new(
                field("id"),
                "contains a control character",
            ));
        }
        let fields = &event.fields;
        let texts = [
            ("title", fields.title.as_deref()),
            ("description", fields.description.as_deref()),
        ];
        let tags = fields
            .tags
            .iter()
            .flatten()
            .map(|tag| ("tags", Some(tag.as_str())));
        for (name, text) in texts.into_iter().chain(tags) {
            if text.is_some_and(|text| text.chars().any(in_text)) {
                return Err(FormatError::new(
                    field(name),
                    "contains a control character",
                ));
            }
        }
    }
    Ok(())
}

/// Checks an alert Id against SPEC §1. `.` and `..` are refused too: every URL parser (curl's,
/// browsers' fetch, even with the dots percent-encoded) folds them out of a path, so an alert
/// with such an Id could never be shown, acknowledged or resolved.
pub(crate) fn alert_id(field: &str, id: String) -> Result<String, FormatError> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(FormatError::new(field, "must be 1-255 bytes"));
    }
    if id == "." || id == ".." {
        return Err(FormatError::new(
            field,
            "may not be `.` or `..`, which a URL path cannot carry",
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn mapping_format() -> Format {
        let pointers = BTreeMap::from([("id".to_string(), "/key".to_string())]);
        Format::Mapping(Box::new(
            Mapping::new(pointers, BTreeMap::new()).expect("a valid mapping"),
        ))
    }

    /// The stored name of a format reads back as that format; `mapping` alone needs more than
    /// its name, and alone carries its pointers.
    #[test]
    fn every_format_name_reads_back() {
        for name in Format::NAMES.iter().filter(|name| **name != "mapping") {
            let format = Format::named(name).unwrap_or_else(|| panic!("{name} is a format"));
            assert_eq!(format.as_str(), *name);
            assert!(format.mapping().is_none(), "{name}");
        }
        assert_eq!(Format::named("mapping"), None);
        assert_eq!(Format::named("pagertree2"), None);
        let mapping = mapping_format();
        assert_eq!(mapping.as_str(), "mapping");
        assert_eq!(mapping.mapping().unwrap().pointers()["id"], "/key");
    }

    /// Whatever the format, an Id with a control character, or text with one other than a tab
    /// or a line break, is refused naming the event and the field.
    #[test]
    fn control_characters_are_refused_in_ids_and_text() {
        let format = mapping_format();
        let read = |body: Value| format.read(&body).map(|events| events.len());
        assert_eq!(read(json!({"key": "fine"})), Ok(1));
        let error = read(json!({"key": "bad\u{7}id"})).unwrap_err();
        assert_eq!(
            (error.field.as_str(), error.message.as_str()),
            ("events[0].id", "contains a control character")
        );
        let events = |title: &str| {
            json!([{"event_type": "create", "Id": "a", "Title": "a"},
                   {"event_type": "create", "Id": "b", "Title": title}])
        };
        assert_eq!(
            Format::Pagertree
                .read(&events("line\n\tand\r\n"))
                .map(|e| e.len()),
            Ok(2)
        );
        let error = Format::Pagertree.read(&events("x\u{1b}[31m")).unwrap_err();
        assert_eq!(error.field, "events[1].title");
    }

    #[test]
    fn an_id_is_1_to_255_bytes() {
        assert!(alert_id("Id", "i".repeat(MAX_ID_BYTES)).is_ok());
        assert!(alert_id("Id", "i".repeat(MAX_ID_BYTES + 1)).is_err());
        assert!(alert_id("Id", String::new()).is_err());
    }
}
