//! The one pipeline of a delivery, shared by `POST /hooks/{integration}` and `POST /v2/enqueue`,
//! whose only difference is where the integration comes from: the path's name, or the body's
//! routing key. `ingest` names the steps in SPEC §3's order, each a call into the module that
//! owns it:
//!
//! | step | refused with | owner |
//! | --- | --- | --- |
//! | the headers within their limit | 431 | `intake` |
//! | the integration, by the path's name | 404 | `registry` |
//! | the body, within its size, its time and the memory all bodies share | 413, 408, 503 | `intake` |
//! | authentication on the raw bytes (header modes) | 401 | `auth` |
//! | the content type | 415 | `intake` |
//! | the body as JSON, within its depth | 400 | `limits` |
//! | the routing key: verify it, or find the integration by it | 401 / 400 | `auth`, `registry` |
//! | the events, in the integration's format and within the batch limit | 422 | `formats`, `limits` |
//! | the idempotency key | 400 | `intake` |
//! | applied in one transaction and committed | 202, or 503 | `store` |
//!
//! Once the integration is known, a refusal by any of these checks is recorded in its delivery
//! log, with the status and code the endpoint answers and (except a `401`'s) the body when the
//! integration captures payloads; a store that cannot take the work, or bodies that hold all the
//! memory they may (`503`), record nothing, as nothing about the request was wrong. Each endpoint turns the outcome into its own answer.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::header::HeaderMap;
use actix_web::{web, HttpRequest};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::observe::{self, RequestNote};
use super::{intake, AppState};
use crate::auth::{self, AuthMethod};
use crate::error::ApiError;
use crate::formats::{self, FormatError, ParsedEvent};
use crate::ids;
use crate::integration::Integration;
use crate::store::{IngestReply, IngestRequest, Receipt, RejectedDelivery};

/// The status an applied delivery is answered with, on every endpoint.
const ACCEPTED: u16 = 202;
/// SPEC §3: the answer to a replayed delivery says so, on every endpoint.
pub const REPLAYED: (&str, &str) = ("idempotent-replayed", "true");

/// Where a delivery's integration comes from.
#[derive(Debug, Clone, Copy)]
pub enum Addressed<'a> {
    /// `/hooks/{name}`: the path names it.
    ByName(&'a str),
    /// `/v2/enqueue`: the body's `routing_key` picks it.
    ByRoutingKey,
}

/// How the events are read from the body.
#[derive(Debug, Clone, Copy)]
pub enum Reading {
    /// In the integration's own format.
    IntegrationFormat,
    /// PagerDuty change events, which never touch an alert.
    PagerDutyChange,
}

/// One endpoint that takes deliveries.
pub struct Endpoint<'a> {
    pub addressed: Addressed<'a>,
    pub reading: Reading,
    /// The status and code a refusal is answered with on this endpoint, for the delivery log
    /// and the request log.
    pub refused_as: fn(&ApiError) -> (u16, &'static str),
}

/// A delivery applied and committed now, or replayed from an earlier one.
pub struct Delivered {
    pub integration: Arc<Integration>,
    pub reply: IngestReply,
}

impl Delivered {
    /// What the request log says of it: `created=2 ignored=1`, or `replayed`.
    pub fn note(&self) -> RequestNote {
        let summary = match &self.reply {
            IngestReply::Replayed(_) => "replayed".to_string(),
            IngestReply::Applied(receipt) => outcome_counts(receipt),
        };
        RequestNote {
            integration: Some(self.integration.name.clone()),
            summary: Some(summary),
        }
    }
}

/// `created=2 ignored=1`, in the order the outcomes first appear.
fn outcome_counts(receipt: &Receipt) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for result in &receipt.results {
        let outcome = result.outcome.as_str();
        match counts.iter_mut().find(|(name, _)| *name == outcome) {
            Some((_, count)) => *count += 1,
            None => counts.push((outcome, 1)),
        }
    }
    if counts.is_empty() {
        return "no events".into();
    }
    let counts: Vec<String> = counts
        .iter()
        .map(|(name, count)| format!("{name}={count}"))
        .collect();
    counts.join(" ")
}

/// A delivery refused: nothing of it applied.
pub struct Refused {
    pub error: ApiError,
    /// The integration, when the refusal came after it was found.
    pub integration: Option<Arc<Integration>>,
    /// The code the endpoint answers it with.
    code: &'static str,
}

impl Refused {
    /// What the request log says of it: the endpoint's code, and for a name that is not an
    /// integration, the name as asked (escaped and cut short: anyone can send one).
    pub fn note(&self) -> RequestNote {
        let summary = match &self.error {
            ApiError::UnknownIntegration(name) => {
                format!("{} name=\"{}\"", self.code, observe::escaped(name))
            }
            _ => self.code.to_string(),
        };
        RequestNote {
            integration: self.integration.as_ref().map(|found| found.name.clone()),
            summary: Some(summary),
        }
    }
}

/// What a refusal leaves in the delivery log.
#[derive(Clone, Copy)]
enum Logged<'b> {
    /// Nothing: the integration is not known yet, or the store could not take the work.
    Nothing,
    /// The refusal without the body: there was none yet, or it came from someone who could
    /// not prove who they are.
    WithoutBody,
    /// The refusal and, when the integration captures payloads, the body.
    WithBody(&'b [u8]),
}

/// Runs one delivery through every step, in order.
pub async fn ingest(
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    endpoint: &Endpoint<'_>,
) -> Result<Delivered, Refused> {
    let delivery = Delivery::start(request, state, endpoint);
    let headers = request.headers();
    let refuse = |integration: Option<&Arc<Integration>>, logged, error| {
        delivery.refuse(state, headers, integration, logged, error)
    };
    intake::check_header_size(headers, state.max_header_bytes)
        .map_err(|error| refuse(None, Logged::Nothing, error))?;
    let named = match endpoint.addressed {
        Addressed::ByName(name) => {
            Some(find_by_name(state, name).map_err(|error| refuse(None, Logged::Nothing, error))?)
        }
        Addressed::ByRoutingKey => None,
    };
    let body = intake::read_body(headers, payload, state)
        .await
        .map_err(|error| {
            // Memory for bodies running out says nothing about this request: like a busy
            // store, it is not the sender's fault and leaves no trace in the delivery log.
            let logged = match error {
                ApiError::BodyMemoryFull => Logged::Nothing,
                _ => Logged::WithoutBody,
            };
            refuse(named.as_ref(), logged, error)
        })?;
    if let Some(integration) = named
        .as_ref()
        .filter(|found| found.auth != AuthMethod::RoutingKey)
    {
        authenticate(integration, headers, &body, state)
            .map_err(|error| refuse(Some(integration), Logged::WithoutBody, error))?;
    }
    let with_body = Logged::WithBody(&body);
    intake::check_content_type(headers)
        .map_err(|error| refuse(named.as_ref(), with_body, error))?;
    let json = state
        .limits
        .parse_json(&body)
        .map_err(|error| refuse(named.as_ref(), with_body, error.into()))?;
    let integration = match named {
        Some(integration) => {
            check_routing_key(&integration, &json, (state.clock)())
                .map_err(|error| refuse(Some(&integration), Logged::WithoutBody, error))?;
            integration
        }
        None => find_by_routing_key(state, &json)
            .map_err(|error| refuse(None, Logged::Nothing, error))?,
    };
    let events = read_events(endpoint.reading, &integration, &json, state)
        .map_err(|error| refuse(Some(&integration), with_body, error))?;
    let idempotency_key = intake::idempotency_key(headers, &integration.auth)
        .map_err(|error| refuse(Some(&integration), with_body, error))?;
    let submitted = delivery.submit(state, &integration, events, idempotency_key, &body);
    match submitted.await {
        Ok(reply) => Ok(Delivered { integration, reply }),
        Err(error) => Err(refuse(Some(&integration), Logged::Nothing, error)),
    }
}

/// The enabled integration the path names; a disabled one is as unknown as a missing one.
fn find_by_name(state: &AppState, name: &str) -> Result<Arc<Integration>, ApiError> {
    state
        .integrations
        .get(name)
        .filter(|integration| integration.enabled)
        .ok_or_else(|| ApiError::UnknownIntegration(name.to_string()))
}

/// The enabled PagerDuty integration whose routing key the body carries.
fn find_by_routing_key(state: &AppState, json: &Value) -> Result<Arc<Integration>, ApiError> {
    auth::routing_key(json)
        .and_then(|key| state.integrations.by_routing_key(key, (state.clock)()))
        .ok_or_else(|| {
            ApiError::InvalidPayload(FormatError::new(
                "routing_key",
                "is missing or is not an integration key here",
            ))
        })
}

/// The header modes: the credential is checked on the raw bytes, before anything is parsed.
fn authenticate(
    integration: &Integration,
    headers: &HeaderMap,
    body: &[u8],
    state: &AppState,
) -> Result<(), ApiError> {
    let now = (state.clock)();
    auth::verify(&integration.auth, headers, body, &integration.secrets, now)
        .map_err(|error| unauthorized(integration, &error))
}

/// Routing-key integrations (PagerDuty's): the credential is in the body, so it is checked
/// once the body has parsed.
fn check_routing_key(
    integration: &Integration,
    json: &Value,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if integration.auth != AuthMethod::RoutingKey {
        return Ok(());
    }
    auth::verify_routing_key(auth::routing_key(json), &integration.secrets, now)
        .map_err(|error| unauthorized(integration, &error))
}

/// A `401` that says which check failed only in the debug log, never to the sender.
fn unauthorized(integration: &Integration, error: &auth::AuthError) -> ApiError {
    log::debug!(
        "hook {}: authentication failed: {}",
        integration.name,
        error.check()
    );
    ApiError::Unauthorized {
        challenge: auth::challenge(&integration.auth),
    }
}

fn read_events(
    reading: Reading,
    integration: &Integration,
    json: &Value,
    state: &AppState,
) -> Result<Vec<ParsedEvent>, ApiError> {
    let events = match reading {
        Reading::IntegrationFormat => state.limits.read_events(&integration.format, json),
        Reading::PagerDutyChange => formats::read_pagerduty_change(json),
    };
    Ok(events?)
}

/// Facts about one request that every outcome records.
struct Delivery {
    id: String,
    received_at: DateTime<Utc>,
    started: Instant,
    remote_addr: Option<String>,
    refused_as: fn(&ApiError) -> (u16, &'static str),
}

impl Delivery {
    fn start(request: &HttpRequest, state: &AppState, endpoint: &Endpoint<'_>) -> Delivery {
        let received_at = (state.clock)();
        Delivery {
            id: ids::delivery_id(received_at),
            received_at,
            started: Instant::now(),
            remote_addr: request.peer_addr().map(|address| address.ip().to_string()),
            refused_as: endpoint.refused_as,
        }
    }

    /// Refuses the delivery with `error`, and records it in the delivery log of `integration`
    /// as `logged` says.
    fn refuse(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        integration: Option<&Arc<Integration>>,
        logged: Logged<'_>,
        error: ApiError,
    ) -> Refused {
        let (status, code) = (self.refused_as)(&error);
        let recorded = integration.filter(|_| !matches!(logged, Logged::Nothing));
        if let Some(integration) = recorded {
            let body = match logged {
                Logged::WithBody(body) => Some(body),
                Logged::Nothing | Logged::WithoutBody => None,
            };
            state.store.record_rejected(RejectedDelivery {
                id: self.id.clone(),
                integration: integration.name.clone(),
                at: self.received_at,
                status,
                error_code: code,
                duration_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
                remote_addr: self.remote_addr.clone(),
                idempotency_key: intake::idempotency_key(headers, &integration.auth)
                    .ok()
                    .flatten(),
                captured_body: captured(integration, body),
            });
        }
        Refused {
            error,
            integration: integration.cloned(),
            code,
        }
    }

    /// Applies `events` durably; answers once committed.
    async fn submit(
        &self,
        state: &AppState,
        integration: &Integration,
        events: Vec<ParsedEvent>,
        idempotency_key: Option<String>,
        body: &[u8],
    ) -> Result<IngestReply, ApiError> {
        let request = IngestRequest {
            integration: integration.name.clone(),
            delivery_id: self.id.clone(),
            events,
            received_at: self.received_at,
            idempotency_key,
            captured_body: captured(integration, Some(body)),
            remote_addr: self.remote_addr.clone(),
            status: ACCEPTED,
        };
        Ok(state.store.ingest(request).await?)
    }
}

/// The body as stored, when the integration captures payloads.
fn captured(integration: &Integration, body: Option<&[u8]>) -> Option<String> {
    let body = body.filter(|_| integration.capture_payload)?;
    Some(String::from_utf8_lossy(body).into_owned())
}
