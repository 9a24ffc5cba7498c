//! The `plerion` format (seed 000): Plerion's alert webhook, `data.alerts[]` with an `operation`.
//!
//! Its "Send test message" posts a `data` object without alerts, which is accepted with no
//! results. `description.*` and the tenant, integration and workflow (with their URLs) go into
//! `meta`; the description text is built from the summary and the resource, which Plerion leaves
//! out when an alert is resolved.

use serde_json::{Map, Value};

use super::object::Object;
use super::{FormatError, ParsedEvent};
use crate::lifecycle::Fields;
use crate::model::Action;

/// Keys of `data` kept in every alert's meta.
const SHARED_META: [&str; 5] = [
    "tenant",
    "integration",
    "integrationUrl",
    "workflow",
    "workflowUrl",
];

pub(super) fn read(body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
    let data = Object::new(body, "")?.object("data")?;
    let mut shared = Map::new();
    for key in SHARED_META {
        if let Some(value) = data.get(key) {
            shared.insert(key.to_string(), value.clone());
        }
    }
    data.objects("alerts")?
        .iter()
        .map(|alert| read_alert(alert, &shared))
        .collect()
}

fn read_alert(alert: &Object<'_>, shared: &Map<String, Value>) -> Result<ParsedEvent, FormatError> {
    let action = match alert.string("operation")? {
        "CREATED" => Action::Create,
        "UPDATED" => Action::Update,
        "RESOLVED" => Action::Resolve,
        other => {
            return Err(alert.error(
                "operation",
                format!("expected CREATED, UPDATED or RESOLVED, got `{other}`"),
            ));
        }
    };
    let id = alert.id("id")?;
    let title = alert.optional_string("title")?.map(str::to_string);
    if action == Action::Create && title.is_none() {
        return Err(alert.error("title", "is required to create an alert"));
    }
    let details = alert.optional_object("description")?;
    let mut meta = shared.clone();
    if let Some(details) = &details {
        meta.extend(
            details
                .map()
                .iter()
                .map(|(key, value)| (key.clone(), value.clone())),
        );
    }
    Ok(ParsedEvent {
        id,
        action,
        fields: Fields {
            title,
            description: details.as_ref().and_then(describe),
            meta: Some(meta),
            ..Fields::default()
        },
        occurred_at: None,
        informational: false,
    })
}

/// "Resource: name (type)" and the summary lines, when Plerion sent them.
fn describe(details: &Object<'_>) -> Option<String> {
    let text = |key| {
        details
            .get(key)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
    };
    let mut lines = Vec::new();
    match (text("resource"), text("resourceType")) {
        (Some(resource), Some(kind)) => lines.push(format!("Resource: {resource} ({kind})")),
        (Some(resource), None) => lines.push(format!("Resource: {resource}")),
        (None, Some(kind)) => lines.push(format!("Resource type: {kind}")),
        (None, None) => {}
    }
    match details.get("alertSummary") {
        Some(Value::Array(items)) => lines.extend(items.iter().map(|item| match item {
            Value::String(text) => format!("- {text}"),
            other => format!("- {other}"),
        })),
        Some(Value::String(summary)) if !summary.is_empty() => lines.push(summary.clone()),
        _ => {}
    }
    (!lines.is_empty()).then(|| lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        super::super::fixture(&format!("plerion/{name}"))
    }

    #[test]
    fn reads_the_documented_alert() {
        let events = read(&fixture("alert_created.json")).unwrap();
        assert_eq!(events.len(), 1);
        let event = &events[0];
        assert_eq!(
            (event.id.as_str(), event.action),
            ("alr_7Qk2mZ", Action::Create)
        );
        assert_eq!(
            event.fields.title.as_deref(),
            Some("S3 bucket allows public read access")
        );
        let description = event.fields.description.as_deref().unwrap();
        assert!(
            description.starts_with("Resource: prod-assets (AWS::S3::Bucket)\n- "),
            "{description}"
        );
        let meta = event.fields.meta.as_ref().unwrap();
        assert_eq!(meta["tenant"], "Acme");
        assert_eq!(
            meta["alertUrl"],
            "https://app.plerion.com/alerts/alr_7Qk2mZ"
        );
    }

    /// `alertSummary` may come as one string rather than a list; an empty one adds nothing.
    #[test]
    fn a_summary_given_as_one_string_is_one_line() {
        let description = |summary: &str| {
            let alert = json!({"id": "a", "title": "t", "operation": "CREATED",
                               "description": {"alertSummary": summary}});
            read(&json!({"data": {"alerts": [alert]}})).unwrap()[0]
                .fields
                .description
                .clone()
        };
        assert_eq!(
            description("Bucket is public").as_deref(),
            Some("Bucket is public")
        );
        assert_eq!(description(""), None);
    }

    #[test]
    fn a_resolved_alert_needs_no_title_or_resource() {
        let events = read(&fixture("alert_resolved.json")).unwrap();
        assert_eq!(events[0].action, Action::Resolve);
        assert_eq!(
            events[0].fields.description, None,
            "the stored description is kept"
        );
    }

    #[test]
    fn the_test_message_has_no_alerts() {
        assert_eq!(read(&fixture("test_message.json")).unwrap(), Vec::new());
        assert_eq!(read(&json!({"data": {"alerts": []}})).unwrap(), Vec::new());
    }

    #[test]
    fn unreadable_bodies_name_the_field() {
        let alert = |operation: &str| json!({"id": "a", "title": "t", "operation": operation});
        let cases = [
            (json!({}), "data", "is required and must be an object"),
            (json!({"data": []}), "data", "must be an object"),
            (
                json!({"data": {"alerts": {}}}),
                "data.alerts",
                "must be an array",
            ),
            (
                json!({"data": {"alerts": [alert("CREATED"), alert("CREATED"), alert("DELETED")]}}),
                "data.alerts[2].operation",
                "expected CREATED, UPDATED or RESOLVED, got `DELETED`",
            ),
            (
                json!({"data": {"alerts": [{"title": "t", "operation": "CREATED"}]}}),
                "data.alerts[0].id",
                "is required",
            ),
            (
                json!({"data": {"alerts": [{"id": "a", "operation": "CREATED"}]}}),
                "data.alerts[0].title",
                "is required to create an alert",
            ),
            (
                json!({"data": {"alerts": [{"id": "a", "operation": "UPDATED", "description": "x"}]}}),
                "data.alerts[0].description",
                "must be an object",
            ),
            (
                json!({"data": {"alerts": [7]}}),
                "data.alerts[0]",
                "must be an object",
            ),
        ];
        for (body, field, message) in cases {
            let error = read(&body).unwrap_err();
            assert_eq!(
                (error.field.as_str(), error.message.as_str()),
                (field, message),
                "{body}"
            );
        }
    }
}
