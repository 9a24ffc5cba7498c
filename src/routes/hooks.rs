//! `POST /hooks/{integration}` (SPEC §3). The order of checks is part of the contract:
//! 404 → 413 → 401 → 415 → 400 → 422 → 202. The body is read by hand, with our own byte
//! counter, because it must be read after the integration lookup and before authentication.

use std::time::Instant;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::AppState;
use crate::auth::{self, Headers};
use crate::error::ApiError;
use crate::formats::ParsedEvent;
use crate::ids;
use crate::integration::Integration;
use crate::store::{IngestReply, IngestRequest, RejectedDelivery};

/// Headers that carry an idempotency key, in order of precedence (SPEC §3).
const IDEMPOTENCY_HEADERS: [&str; 3] = ["idempotency-key", "webhook-id", "svix-id"];
/// The longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

impl Headers for HeaderMap {
    fn get(&self, name: &str) -> Option<&[u8]> {
        HeaderMap::get(self, name).map(|value| value.as_bytes())
    }
}

/// Handles one delivery and writes its log line.
pub async fn receive(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let started = Instant::now();
    let received_at = (state.clock)();
    let name = path.into_inner();
    let delivery = Delivery {
        id: ids::delivery_id(received_at),
        received_at,
        started,
        remote_addr: request.peer_addr().map(|address| address.ip().to_string()),
    };
    let (response, summary) = match ingest(&request, &name, payload, &state, &delivery).await {
        Ok((response, summary)) => (response, summary),
        Err(error) => (error.error_response(), error.code().to_string()),
    };
    log::info!(
        "POST /hooks/{name} {} {summary} {}ms",
        response.status().as_u16(),
        started.elapsed().as_millis()
    );
    response
}

/// Facts about this request that every outcome records.
struct Delivery {
    id: String,
    received_at: DateTime<Utc>,
    started: Instant,
    remote_addr: Option<String>,
}

async fn ingest(
    request: &HttpRequest,
    name: &str,
    payload: web::Payload,
    state: &AppState,
    delivery: &Delivery,
) -> Result<(HttpResponse, String), ApiError> {
    let integration = state
        .integrations
        .get(name)
        .filter(|integration| integration.enabled)
        .ok_or_else(|| ApiError::UnknownIntegration(name.to_string()))?;
    let headers = request.headers();
    let admitted = match admit(headers, payload, state, &integration).await {
        Ok(admitted) => admitted,
        Err(Rejection { error, body }) => {
            let record = rejected(&integration, delivery, headers, &error, body.as_deref());
            state.store.record_rejected(record);
            return Err(error);
        }
    };
    let reply = state
        .store
        .ingest(IngestRequest {
            integration: integration.name.clone(),
            delivery_id: delivery.id.clone(),
            events: admitted.events,
            received_at: delivery.received_at,
            idempotency_key: admitted.idempotency_key,
            captured_body: captured(&integration, Some(&admitted.body)),
            remote_addr: delivery.remote_addr.clone(),
        })
        .await?;
    Ok(respond(reply))
}

/// A request that passed every check, ready for the store.
struct Admitted {
    body: Vec<u8>,
    events: Vec<ParsedEvent>,
    idempotency_key: Option<String>,
}

/// A request refused after its integration was found, with its body when it had been read.
struct Rejection {
    error: ApiError,
    body: Option<Vec<u8>>,
}

/// The checks from 413 to 422, in the order SPEC §3 fixes.
async fn admit(
    headers: &HeaderMap,
    payload: web::Payload,
    state: &AppState,
    integration: &Integration,
) -> Result<Admitted, Rejection> {
    let without_body = |error| Rejection { error, body: None };
    let body = read_body(headers, payload, state.max_body)
        .await
        .map_err(without_body)?;
    let now = (state.clock)();
    if let Err(error) = auth::verify(&integration.auth, headers, &body, &integration.secrets, now) {
        log::debug!(
            "hook {}: authentication failed: {}",
            integration.name,
            error.check()
        );
        let challenge = auth::challenge(&integration.auth);
        // A 401's body is never kept: it came from someone who could not prove who they are.
        return Err(without_body(ApiError::Unauthorized { challenge }));
    }
    let with_body = |error| Rejection {
        error,
        body: Some(body.clone()),
    };
    check_content_type(headers).map_err(with_body)?;
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|error| with_body(ApiError::InvalidJson(error.to_string())))?;
    let events = integration
        .format
        .read(&json)
        .map_err(|error| with_body(ApiError::InvalidPayload(error)))?;
    let idempotency_key = idempotency_key(headers).map_err(with_body)?;
    Ok(Admitted {
        body,
        events,
        idempotency_key,
    })
}

/// The answer to an applied or replayed delivery, and its summary for the log line.
fn respond(reply: IngestReply) -> (HttpResponse, String) {
    match reply {
        IngestReply::Applied { receipt, body } => {
            let summary = summarize(receipt.results.iter().map(|result| result.outcome.as_str()));
            (json_response(StatusCode::ACCEPTED, body), summary)
        }
        IngestReply::Replayed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
            let mut response = json_response(status, body);
            response.headers_mut().insert(
                header::HeaderName::from_static("idempotent-replayed"),
                header::HeaderValue::from_static("true"),
            );
            (response, "replayed".to_string())
        }
    }
}

/// Reads the body, refusing it as soon as it is known to exceed `limit`: at once from
/// `Content-Length`, or as the bytes arrive when the sender did not say or said wrong.
async fn read_body(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::UnreadableBody)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// SPEC §3: a `Content-Type` may be absent; when present it must be JSON.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let media_type = text
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let is_json = media_type == "application/json"
        || media_type == "text/json"
        || (media_type.starts_with("application/") && media_type.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(media_type))
    }
}

/// The first idempotency header present, checked for shape.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some((name, value)) = IDEMPOTENCY_HEADERS
        .iter()
        .find_map(|name| headers.get(*name).map(|value| (name, value)))
    else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= MAX_IDEMPOTENCY_KEY => Ok(Some(key.to_string())),
        _ => Err(ApiError::InvalidHeader(format!(
            "the {name} header must be 1-{MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        ))),
    }
}

/// The body as stored, when the integration captures payloads.
fn captured(integration: &Integration, body: Option<&[u8]>) -> Option<String> {
    let body = body.filter(|_| integration.capture_payload)?;
    Some(String::from_utf8_lossy(body).into_owned())
}

fn rejected(
    integration: &Integration,
    delivery: &Delivery,
    headers: &HeaderMap,
    error: &ApiError,
    body: Option<&[u8]>,
) -> RejectedDelivery {
    RejectedDelivery {
        id: delivery.id.clone(),
        integration: integration.name.clone(),
        at: delivery.received_at,
        status: error.status_code().as_u16(),
        error_code: error.code(),
        duration_ms: i64::try_from(delivery.started.elapsed().as_millis()).unwrap_or(i64::MAX),
        remote_addr: delivery.remote_addr.clone(),
        idempotency_key: idempotency_key(headers).ok().flatten(),
        captured_body: captured(integration, body),
    }
}

fn json_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// `created=2 ignored=1`, for the log line.
fn summarize<'a>(outcomes: impl Iterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for outcome in outcomes {
        match counts.iter_mut().find(|(name, _)| *name == outcome) {
            Some((_, count)) => *count += 1,
            None => counts.push((outcome, 1)),
        }
    }
    if counts.is_empty() {
        return "no events".into();
    }
    counts
        .iter()
        .map(|(name, count)| format!("{name}={count}"))
        .collect::<Vec<_>>()
        .join(" ")
}
