//! The HTTP side of taking a delivery: its headers' size, reading the body under a limit and a
//! deadline, the content type and the idempotency key. The pipeline (`ingest`) calls these in
//! its order.

use actix_web::http::header::{self, HeaderMap};
use actix_web::web;
use futures_util::StreamExt;

use super::AppState;
use crate::auth::{AuthMethod, Headers};
use crate::error::ApiError;

/// Headers that carry an idempotency key, in order of precedence (SPEC §3).
const IDEMPOTENCY_HEADERS: [&str; 3] = ["idempotency-key", "webhook-id", "svix-id"];
/// On a `standard-webhooks` integration only the signed message id is a key: an unsigned
/// `Idempotency-Key` could otherwise turn a captured request into a new one (SPEC §3).
const SIGNED_ID_HEADERS: [&str; 2] = ["webhook-id", "svix-id"];
/// The longest idempotency key accepted.
const MAX_IDEMPOTENCY_KEY: usize = 255;

impl Headers for HeaderMap {
    fn get(&self, name: &str) -> Option<&[u8]> {
        HeaderMap::get(self, name).map(actix_web::http::header::HeaderValue::as_bytes)
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

/// The first idempotency header present (on a `standard-webhooks` integration, of the signed
/// ids only), checked for shape.
pub fn idempotency_key(headers: &HeaderMap, auth: &AuthMethod) -> Result<Option<String>, ApiError> {
    let names: &[&str] = if *auth == AuthMethod::StandardWebhooks {
        &SIGNED_ID_HEADERS
    } else {
        &IDEMPOTENCY_HEADERS
    };
    let Some((name, value)) = names
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
