//! The `pingara` format (seed 004): Pingara's webhook, one event per request.
//!
//! Incidents are keyed by `incident.id`; degradations by `degraded:<monitor.id>`, certificate
//! warnings by `ssl:<monitor.id>`. Pausing and resuming a monitor is informational: answered, never
//! stored. `timestamp` becomes `occurred_at`, so a retry that arrives after the incident was
//! resolved (Pingara retries for up to 30 minutes) is stale instead of reopening it.

use serde_json::{Map, Value};

use super::object::Object;
use super::{FormatError, ParsedEvent};
use crate::lifecycle::Fields;
use crate::model::{Action, Severity};

const EVENTS: &str = "incident.created, incident.updated, incident.resolved, monitor.degraded, \
     monitor.recovered, ssl.expiring, monitor.paused or monitor.resumed";

/// Objects of the body kept whole in `meta`.
const META_OBJECTS: [&str; 5] = ["monitor", "incident", "metrics", "ssl", "organization"];

pub(super) fn read(body: &Value) -> Result<Vec<ParsedEvent>, FormatError> {
    let root = Object::new(body, "")?;
    let kind = root.string("event")?;
    let occurred_at = root.optional_time("timestamp")?;
    let monitor = root.object("monitor")?;
    let monitor_id = monitor.id("id")?;
    let name = monitor
        .optional_string("name")?
        .unwrap_or(&monitor_id)
        .to_string();
    if matches!(kind, "monitor.paused" | "monitor.resumed") {
        return Ok(vec![ParsedEvent {
            id: format!("monitor:{monitor_id}"),
            action: Action::Update,
            fields: Fields::default(),
            occurred_at,
            informational: true,
        }]);
    }
    let event = classify(kind, &root, &monitor_id, &name)?;
    Ok(vec![ParsedEvent {
        id: super::alert_id("monitor.id", event.id)?,
        action: event.action,
        fields: Fields {
            title: event.title,
            description: event.description,
            severity: event.severity,
            meta: Some(meta(&root)),
            ..Fields::default()
        },
        occurred_at,
        informational: false,
    }])
}

/// What one kind of event is about and does.
struct Classified {
    id: String,
    action: Action,
    title: Option<String>,
    description: Option<String>,
    severity: Option<Severity>,
}

/// The alert each kind of event is about (SPEC §3), and what it does to it.
fn classify(
    kind: &str,
    root: &Object<'_>,
    monitor_id: &str,
    name: &str,
) -> Result<Classified, FormatError> {
    let about = |id: String, action, title, severity| Classified {
        id,
        action,
        title,
        description: None,
        severity,
    };
    Ok(match kind {
        "incident.created" | "incident.updated" | "incident.resolved" => {
            let incident = root.object("incident")?;
            let action = match kind {
                "incident.created" => Action::Create,
                "incident.updated" => Action::Update,
                _ => Action::Resolve,
            };
            let creates = action == Action::Create;
            Classified {
                id: incident.id("id")?,
                action,
                title: creates.then(|| format!("{name} is down")),
                description: incident
                    .optional_string("errorMessage")?
                    .map(str::to_string),
                severity: creates.then_some(Severity::Critical),
            }
        }
        "monitor.degraded" => about(
            format!("degraded:{monitor_id}"),
            Action::Create,
            Some(format!("{name} is degraded")),
            Some(Severity::Warning),
        ),
        "monitor.recovered" => about(
            format!("degraded:{monitor_id}"),
            Action::Resolve,
            None,
            None,
        ),
        "ssl.expiring" => about(
            format!("ssl:{monitor_id}"),
            Action::Create,
            Some(ssl_title(name, root.optional_object("ssl")?.as_ref())),
            Some(Severity::Warning),
        ),
        other => return Err(root.error("event", format!("expected {EVENTS}, got `{other}`"))),
    })
}

/// "SSL certificate for API Production expires in 14 days".
fn ssl_title(name: &str, ssl: Option<&Object<'_>>) -> String {
    let days = ssl
        .and_then(|ssl| ssl.get("daysUntilExpiry"))
        .and_then(Value::as_i64);
    match days {
        Some(1) => format!("SSL certificate for {name} expires in 1 day"),
        Some(days) => format!("SSL certificate for {name} expires in {days} days"),
        None => format!("SSL certificate for {name} expires soon"),
    }
}

/// The monitor, incident (metrics, regions …), certificate and organization, as sent.
fn meta(root: &Object<'_>) -> Map<String, Value> {
    META_OBJECTS
        .iter()
        .filter_map(|key| root.get(key).map(|value| (key.to_string(), value.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        super::super::fixture(&format!("pingara/{name}"))
    }

    fn one(name: &str) -> ParsedEvent {
        read(&fixture(name)).unwrap().remove(0)
    }

    #[test]
    fn reads_the_documented_incident() {
        let event = one("incident_created.json");
        assert_eq!(
            (event.id.as_str(), event.action),
            ("inc_789ghi012", Action::Create)
        );
        assert_eq!(
            event.fields.title.as_deref(),
            Some("API Production is down")
        );
        assert_eq!(
            event.fields.description.as_deref(),
            Some("Connection timeout after 30000ms")
        );
        assert_eq!(
            event.occurred_at.unwrap().to_rfc3339(),
            "2024-01-15T14:32:05+00:00"
        );
        let meta = event.fields.meta.unwrap();
        assert_eq!(meta["incident"]["metrics"]["totalDuration"], 30165);
        assert_eq!(meta["incident"]["affectedRegions"][1], "eu-west-1");
    }

    #[test]
    fn maps_every_event_of_the_table() {
        let cases = [
            (
                "incident_resolved.json",
                "inc_789ghi012",
                Action::Resolve,
                false,
            ),
            (
                "incident_updated.json",
                "inc_789ghi012",
                Action::Update,
                false,
            ),
            (
                "monitor_degraded.json",
                "degraded:m_abc123def456",
                Action::Create,
                false,
            ),
            (
                "monitor_recovered.json",
                "degraded:m_abc123def456",
                Action::Resolve,
                false,
            ),
            (
                "ssl_expiring.json",
                "ssl:m_abc123def456",
                Action::Create,
                false,
            ),
            (
                "monitor_paused.json",
                "monitor:m_abc123def456",
                Action::Update,
                true,
            ),
            (
                "monitor_resumed.json",
                "monitor:m_abc123def456",
                Action::Update,
                true,
            ),
        ];
        for (file, id, action, informational) in cases {
            let event = one(file);
            assert_eq!(
                (event.id.as_str(), event.action, event.informational),
                (id, action, informational),
                "{file}"
            );
        }
        assert_eq!(
            one("ssl_expiring.json").fields.title.as_deref(),
            Some("SSL certificate for API Production expires in 14 days")
        );
    }

    #[test]
    fn unreadable_bodies_name_the_field() {
        let monitor = json!({"id": "m_1", "name": "API"});
        let cases = [
            (json!({"monitor": monitor}), "event"),
            (
                json!({"event": "incident.exploded", "monitor": monitor}),
                "event",
            ),
            (json!({"event": "incident.created"}), "monitor"),
            (
                json!({"event": "incident.created", "monitor": {"name": "API"}}),
                "monitor.id",
            ),
            (
                json!({"event": "incident.created", "monitor": monitor}),
                "incident",
            ),
            (
                json!({"event": "incident.created", "monitor": monitor, "incident": {}}),
                "incident.id",
            ),
            (
                json!({"event": "incident.created", "monitor": monitor, "incident": {"id": "i"}, "timestamp": "soon"}),
                "timestamp",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(read(&body).unwrap_err().field, field, "{body}");
        }
    }
}
