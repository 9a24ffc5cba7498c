//! The HTTP side of taking a delivery: its headers' size, reading the body under a limit and a
//! deadline, the content type and the idempotency key. The pipeline (`ingest`) calls these in
//! its order.

use actix_web::http::header::{self, HeaderMap};
use actix_web::web;
use futures_util::StreamExt;

use super::AppState;
use crate::auth::{AuthMethod, Headers};
use crate::budget::{ByteBudget, Reservation};
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

/// The first buffer a body gets. What a sender declares in `Content-Length` is only a promise
/// (a slow or hostile one may never keep it), so the buffer starts small and grows, doubling,
/// with the bytes that actually arrive; real bodies (a few KiB) never grow it.
const FIRST_BODY_CAPACITY: usize = 8 * 1024;

/// A body read off the connection, holding its share of the memory all bodies may take (see
/// `AppState::body_memory`) until the request is done with it.
pub struct Body {
    bytes: Vec<u8>,
    held: Reservation,
}

impl std::ops::Deref for Body {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reads the body, refusing it as soon as it is known to exceed `limit`: at once from
/// `Content-Length`, or as the bytes arrive when the sender did not say or said wrong. Its
/// buffer is taken from the memory all bodies share; when that is full the request gets `503`
/// (retry shortly) rather than more memory.
pub async fn read_body(
    headers: &HeaderMap,
    payload: web::Payload,
    state: &AppState,
) -> Result<Body, ApiError> {
    // A sender that trickles its body (or promised more than it sends) gets 408 rather than
    // holding a connection and a handler forever.
    actix_web::rt::time::timeout(
        state.request_timeout,
        read_limited(headers, payload, state.max_body, &state.memory.bodies),
    )
    .await
    .map_err(|_| ApiError::RequestTimeout)?
}

async fn read_limited(
    headers: &HeaderMap,
    mut payload: web::Payload,
    limit: usize,
    memory: &ByteBudget,
) -> Result<Body, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = Body {
        bytes: Vec::new(),
        held: memory.nothing(),
    };
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::UnreadableBody)?;
        let length = body.bytes.len() + chunk.len();
        if length > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if length > body.bytes.capacity() {
            body.grow_to(next_capacity(body.bytes.capacity(), length, limit))?;
        }
        body.bytes.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl Body {
    /// Takes the buffer to `capacity` bytes, counted against the memory all bodies share.
    fn grow_to(&mut self, capacity: usize) -> Result<(), ApiError> {
        let more = capacity.saturating_sub(self.held.bytes());
        if !self.held.try_grow(more) {
            return Err(ApiError::BodyMemoryFull);
        }
        self.bytes.reserve_exact(capacity - self.bytes.len());
        Ok(())
    }
}

/// The capacity a buffer grows to so it holds `needed`: a quarter more (at least
/// `FIRST_BODY_CAPACITY` more), never beyond the body limit. Doubling would copy less, but what
/// a buffer reserves counts against the memory all bodies share: with doubling, a client that
/// sent half the limit held the whole of it, so half the bytes filled the budget. A quarter keeps
/// what a body holds within 1.25 times what arrived (plus 8 KiB), for about twenty copies of a
/// 1 MiB body, a few hundred microseconds.
fn next_capacity(capacity: usize, needed: usize, limit: usize) -> usize {
    let room = (needed / 4).max(FIRST_BODY_CAPACITY);
    needed
        .saturating_add(room)
        .min(limit)
        .max(needed)
        .max(capacity.min(limit))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_grows_by_a_quarter_of_what_arrived_and_stops_at_the_limit() {
        let limit = 1024 * 1024;
        assert_eq!(next_capacity(0, 10, limit), 10 + FIRST_BODY_CAPACITY);
        assert_eq!(next_capacity(0, 10, 100), 100, "never past the limit");
        assert_eq!(
            next_capacity(8192, 100_000, limit),
            125_000,
            "one big chunk, and a quarter more"
        );
        assert_eq!(next_capacity(600_000, 600_001, limit), 750_001);
        assert_eq!(next_capacity(900_000, 900_001, limit), limit);
        // Half the limit received never holds more than 1.25 times it (the budget's concern).
        let mut capacity = 0;
        let mut received = 0;
        while received < limit / 2 {
            received += 1400;
            if received > capacity {
                capacity = next_capacity(capacity, received, limit);
            }
        }
        assert!(capacity <= received + received / 4 + FIRST_BODY_CAPACITY);
    }
}
