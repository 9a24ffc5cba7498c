//! Dry runs: what a delivery would do, computed by the same functions as real ingest (auth,
//! format, lifecycle) against the alerts as they stand, and nothing stored — not even a delivery.
//! Serves `POST /v1/integrations/{name}/test` and `alertgate integration test`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::auth::{self, AuthMethod};
use crate::error::ApiError;
use crate::integration::Integration;
use crate::lifecycle::{self, Alert, Event, Outcome, Reason};
use crate::limits::DeliveryLimits;
use crate::model::Source;
use crate::store::{EventResult, StoreError};

/// Whether authentication would pass, and if not which check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuthCheck {
    pub ok: bool,
    pub failed_check: Option<&'static str>,
}

/// Why the body could not be read, as the real request would be answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BodyError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DryRun {
    /// `None` when no headers were given and authentication was skipped.
    pub auth: Option<AuthCheck>,
    pub results: Vec<EventResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<BodyError>,
}

impl DryRun {
    /// Whether the real request would be applied (`202`).
    pub fn would_apply(&self) -> bool {
        self.error.is_none() && self.auth.as_ref().is_none_or(|auth| auth.ok)
    }
}

/// Runs `body` (and `headers`, when given) through `integration` as ingest would, under the
/// same `limits`. `load` reads an alert as it is stored now.
pub fn dry_run(
    integration: &Integration,
    limits: &DeliveryLimits,
    headers: Option<&[(String, String)]>,
    body: &[u8],
    now: DateTime<Utc>,
    mut load: impl FnMut(&str) -> Result<Option<Alert>, StoreError>,
) -> Result<DryRun, StoreError> {
    let json = limits.parse_json(body);
    let auth =
        headers.map(|headers| check_auth(integration, headers, body, json.as_ref().ok(), now));
    let failed = |code, message: String| DryRun {
        auth: auth.clone(),
        results: Vec::new(),
        error: Some(BodyError { code, message }),
    };
    let json = match json {
        Ok(json) => json,
        Err(error) => {
            let error = ApiError::from(error);
            return Ok(failed(error.code(), error.to_string()));
        }
    };
    let events = match limits.read_events(&integration.format, &json) {
        Ok(events) => events,
        Err(error) => return Ok(failed("invalid_payload", error.to_string())),
    };
    // Later events of one body see what earlier ones did, as in the real transaction.
    let mut seen: HashMap<String, Option<Alert>> = HashMap::new();
    let mut results = Vec::with_capacity(events.len());
    for parsed in events {
        if parsed.informational {
            results.push(result(
                &parsed.id,
                parsed.action,
                Outcome::Ignored(Reason::Informational),
                None,
            ));
            continue;
        }
        let current = match seen.remove(&parsed.id) {
            Some(current) => current,
            None => load(&parsed.id)?,
        };
        let event = Event {
            integration: integration.name.clone(),
            id: parsed.id.clone(),
            action: parsed.action,
            fields: parsed.fields,
            occurred_at: parsed.occurred_at,
            source: Source::Hook,
            at: now,
            by: None,
            note: None,
        };
        let transition = lifecycle::apply(current.as_ref(), &event);
        let state = transition.alert.as_ref().map(|alert| alert.state);
        results.push(result(&parsed.id, parsed.action, transition.outcome, state));
        seen.insert(parsed.id, transition.alert);
    }
    Ok(DryRun {
        auth,
        results,
        error: None,
    })
}

fn check_auth(
    integration: &Integration,
    headers: &[(String, String)],
    body: &[u8],
    json: Option<&serde_json::Value>,
    now: DateTime<Utc>,
) -> AuthCheck {
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    let verified = if integration.auth == AuthMethod::RoutingKey {
        let key = json
            .and_then(|json| json.get("routing_key"))
            .and_then(serde_json::Value::as_str);
        auth::verify_routing_key(key, &integration.secrets)
    } else {
        auth::verify(
            &integration.auth,
            &pairs[..],
            body,
            &integration.secrets,
            now,
        )
    };
    AuthCheck {
        ok: verified.is_ok(),
        failed_check: verified.err().map(|error| error.check()),
    }
}

fn result(
    id: &str,
    action: crate::model::Action,
    outcome: Outcome,
    state: Option<crate::model::State>,
) -> EventResult {
    EventResult {
        id: id.to_string(),
        action,
        outcome,
        state,
        reason: outcome.reason().map(Reason::as_str),
    }
}
