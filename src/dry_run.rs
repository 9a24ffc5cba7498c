//! Dry runs: what a delivery would do, computed by the same functions as real ingest (auth,
//! format, and the one apply path `lifecycle::apply_delivery`) against the alerts as they
//! stand, and nothing stored — not even a delivery. Serves `POST /v1/integrations/{name}/test`
//! and `alertgate integration test`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::auth::{self, AuthMethod};
use crate::integration::Integration;
use crate::lifecycle::{self, Alert, AlertBook, Event, EventResult, Transition};
use crate::limits::DeliveryLimits;
use crate::store::StoreError;

/// Whether authentication would pass, and if not which check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCheck {
    pub ok: bool,
    pub failed_check: Option<&'static str>,
}

/// Why the body could not be read, as the real request would be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BodyError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DryRun {
    /// `None` when no headers were given and authentication was skipped.
    pub auth: Option<AuthCheck>,
    pub results: Vec<EventResult>,
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
    load: impl FnMut(&str) -> Result<Option<Alert>, StoreError>,
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
        Err(error) => return Ok(failed(error.code(), error.to_string())),
    };
    let events = match limits.read_events(&integration.format, &json) {
        Ok(events) => events,
        Err(error) => return Ok(failed("invalid_payload", error.to_string())),
    };
    let mut book = Scratch {
        load,
        seen: HashMap::new(),
    };
    let results = lifecycle::apply_delivery(&integration.name, &events, now, &mut book)?;
    Ok(DryRun {
        auth,
        results,
        error: None,
    })
}

/// The alerts as stored, with what earlier events of the body did to them kept on the side,
/// so later events see it as they would in the real transaction.
struct Scratch<F> {
    load: F,
    seen: HashMap<String, Option<Alert>>,
}

impl<F> AlertBook for Scratch<F>
where
    F: FnMut(&str) -> Result<Option<Alert>, StoreError>,
{
    type Error = StoreError;

    fn current(&mut self, _: &str, id: &str) -> Result<Option<Alert>, StoreError> {
        match self.seen.get(id) {
            Some(alert) => Ok(alert.clone()),
            None => (self.load)(id),
        }
    }

    fn record(
        &mut self,
        event: &Event,
        current: Option<&Alert>,
        transition: &Transition,
    ) -> Result<(), StoreError> {
        if transition.alert.is_some() || current.is_some() {
            self.seen.insert(event.id.clone(), transition.alert.clone());
        }
        Ok(())
    }
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
        let key = json.and_then(auth::routing_key);
        auth::verify_routing_key(key, &integration.secrets, now)
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
