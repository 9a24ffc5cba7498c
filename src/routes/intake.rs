//! What every route that takes deliveries shares: reading the body under a limit, the
//! content-type and idempotency headers, the delivery's own facts, and handing events to the
//! store. `hooks` and `pagerduty` differ only in the order of their checks and their answers.

use std::time::Instant;

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;

use super::AppState;
use crate::auth::Headers;
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

/// Facts about one request that every outcome records.
pub struct Delivery {
    pub id: String,
    pub received_at: DateTime<Utc>,
    pub started: Instant,
    pub remote_addr: Option<String>,
}

impl Delivery {
    pub fn start(request: &HttpRequest, state: &AppState) -> Delivery {
        let received_at = (state.clock)();
        Delivery {
            id: ids::delivery_id(received_at),
            received_at,
            started: Instant::now(),
            remote_addr: request.peer_addr().map(|address| address.ip().to_string()),
        }
    }

    /// Records this request as rejected with `error` (without its body on a `401`).
    pub fn reject(
        &self,
        state: &AppState,
        integration: &Integration,
        headers: &HeaderMap,
        error: &ApiError,
        body: Option<&[u8]>,
    ) {
        let status = error.status_code().as_u16();
        self.reject_as(state, integration, headers, (status, error.code()), body);
    }

    /// Records this request as rejected, answered with `status` and `code`.
    pub fn reject_as(
        &self,
        state: &AppState,
        integration: &Integration,
        headers: &HeaderMap,
        (status, code): (u16, &'static str),
        body: Option<&[u8]>,
    ) {
        state.store.record_rejected(RejectedDelivery {
            id: self.id.clone(),
            integration: integration.name.clone(),
            at: self.received_at,
            status,
            error_code: code,
            duration_ms: i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX),
            remote_addr: self.remote_addr.clone(),
            idempotency_key: idempotency_key(headers).ok().flatten(),
            captured_body: captured(integration, body),
        });
    }

    /// Applies `events` durably; answers once committed.
    pub async fn submit(
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
        };
        Ok(state.store.ingest(request).await?)
    }

    pub fn elapsed_ms(&self) -> u128 {
        self.started.elapsed().as_millis()
    }

    pub fn elapsed_seconds(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Refuses requests whose headers, all together, exceed `limit` bytes (actix-web itself allows
/// up to 128 KiB): `431`, before anything else is looked at.
pub fn check_header_size(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > limit {
        return Err(ApiError::HeadersTooLarge { limit });
    }
    Ok(())
}

/// The body as JSON within `--max-json-depth`, or `400` with the line and column of the first
/// error.
pub fn parse_json(body: &[u8], state: &AppState) -> Result<serde_json::Value, ApiError> {
    Ok(state.limits.parse_json(body)?)
}

/// Reads the body, refusing it as soon as it is known to exceed `limit`: at once from
/// `Content-Length`, or as the bytes arrive when the sender did not say or said wrong.
pub async fn read_body(
    headers: &HeaderMap,
    payload: web::Payload,
    state: &AppState,
) -> Result<Vec<u8>, ApiError> {
    // A sender that trickles its body (or promised more than it sends) gets 408 rather than
    // holding a connection and a handler forever.
    actix_web::rt::time::timeout(
        state.request_timeout,
        read_limited(headers, payload, state.max_body),
    )
    .await
    .map_err(|_| ApiError::RequestTimeout)?
}

async fn read_limited(
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
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
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
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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

pub fn json_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(body)
}

/// `created=2 ignored=1`, for the log line.
pub fn summarize<'a>(outcomes: impl Iterator<Item = &'a str>) -> String {
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
