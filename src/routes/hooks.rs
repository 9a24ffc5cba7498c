//! `POST /hooks/{integration}` (SPEC §3). The order of checks is part of the contract:
//! 404 → 413 → 401 → 415 → 400 → 422 → 202, and for routing-key integrations (PagerDuty, whose
//! credential is in the body) 404 → 413 → 415 → 400 → 401 → 422 → 202. The body is read by hand,
//! with our own byte counter, because it must be read after the integration lookup.

use actix_web::http::header::{self, HeaderMap};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::intake::{self, Delivery};
use super::AppState;
use crate::auth::{self, AuthMethod};
use crate::error::ApiError;
use crate::formats::ParsedEvent;
use crate::integration::Integration;
use crate::openapi::ErrorBody;
use crate::store::IngestReply;
use crate::store::Receipt;

/// Handles one delivery and writes its log line.
#[utoipa::path(
    post,
    operation_id = "post_hook",
    path = "/hooks/{integration}",
    tag = "ingest",
    params(("integration" = String, Path, description = "The integration's name")),
    request_body(content = Object, description = "The sender's payload, in the integration's format"),
    responses(
        (status = 202, description = "Applied and durably committed", body = Receipt),
        (status = 400, description = "The body is not JSON", body = ErrorBody),
        (status = 401, description = "Authentication failed", body = ErrorBody),
        (status = 404, description = "No such enabled integration", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time", body = ErrorBody),
        (status = 413, description = "The body is over the limit", body = ErrorBody),
        (status = 415, description = "A Content-Type that is not JSON", body = ErrorBody),
        (status = 422, description = "The format cannot read the payload; the message names the field", body = ErrorBody),
        (status = 431, description = "The headers are over the limit", body = ErrorBody),
        (status = 503, description = "Busy: nothing applied, retry after Retry-After", body = ErrorBody),
    )
)]
pub async fn receive(
    request: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let delivery = Delivery::start(&request, &state);
    let name = path.into_inner();
    let (response, summary) = match ingest(&request, &name, payload, &state, &delivery).await {
        Ok((response, summary)) => (response, summary),
        Err(error) => (error.error_response(), error.code().to_string()),
    };
    let status = response.status().as_u16();
    log::info!(
        "POST /hooks/{name} {status} {summary} {}ms",
        delivery.elapsed_ms()
    );
    state.metrics.observe_request(
        "/hooks/:integration",
        &name,
        status,
        delivery.elapsed_seconds(),
    );
    response
}

async fn ingest(
    request: &HttpRequest,
    name: &str,
    payload: web::Payload,
    state: &AppState,
    delivery: &Delivery,
) -> Result<(HttpResponse, String), ApiError> {
    intake::check_header_size(request.headers(), state.max_header_bytes)?;
    let integration = state
        .integrations
        .get(name)
        .filter(|integration| integration.enabled)
        .ok_or_else(|| ApiError::UnknownIntegration(name.to_string()))?;
    let headers = request.headers();
    let admitted = match admit(headers, payload, state, &integration).await {
        Ok(admitted) => admitted,
        Err(Rejection { error, body }) => {
            delivery.reject(state, &integration, headers, &error, body.as_deref());
            return Err(error);
        }
    };
    let reply = delivery
        .submit(
            state,
            &integration,
            admitted.events,
            admitted.idempotency_key,
            &admitted.body,
        )
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
    // A 401's body is never kept: it came from someone who could not prove who they are.
    let unauthorized = |error: auth::AuthError| {
        log::debug!(
            "hook {}: authentication failed: {}",
            integration.name,
            error.check()
        );
        without_body(ApiError::Unauthorized {
            challenge: auth::challenge(&integration.auth),
        })
    };
    let body = intake::read_body(headers, payload, state)
        .await
        .map_err(without_body)?;
    let in_body = integration.auth == AuthMethod::RoutingKey;
    if !in_body {
        let now = (state.clock)();
        auth::verify(&integration.auth, headers, &body, &integration.secrets, now)
            .map_err(unauthorized)?;
    }
    let with_body = |error| Rejection {
        error,
        body: Some(body.clone()),
    };
    intake::check_content_type(headers).map_err(with_body)?;
    let json = intake::parse_json(&body, state).map_err(with_body)?;
    if in_body {
        let key = json.get("routing_key").and_then(serde_json::Value::as_str);
        auth::verify_routing_key(key, &integration.secrets).map_err(unauthorized)?;
    }
    let events = state
        .limits
        .read_events(&integration.format, &json)
        .map_err(|error| with_body(ApiError::InvalidPayload(error)))?;
    let idempotency_key = intake::idempotency_key(headers).map_err(with_body)?;
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
            let outcomes = receipt.results.iter().map(|result| result.outcome.as_str());
            (
                intake::json_response(StatusCode::ACCEPTED, body),
                intake::summarize(outcomes),
            )
        }
        IngestReply::Replayed { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
            let mut response = intake::json_response(status, body);
            response.headers_mut().insert(
                header::HeaderName::from_static("idempotent-replayed"),
                header::HeaderValue::from_static("true"),
            );
            (response, "replayed".to_string())
        }
    }
}
