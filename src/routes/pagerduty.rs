//! PagerDuty's Events API v2 endpoints: `POST /v2/enqueue` for alert events and
//! `/v2/change/enqueue` for change events. The delivery pipeline (`ingest`) with the integration
//! picked by the body's `routing_key`, and every answer in PagerDuty's own shape, so PagerDuty
//! clients and libraries work unchanged when pointed here. Order of checks: 431 → 413/408 → 400
//! (not JSON, unknown key, invalid event) → 202; a `503` keeps its status, so clients retry.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::ingest::{self, Addressed, Endpoint, Reading, REPLAYED};
use super::AppState;
use crate::error::{ApiError, RETRY_AFTER_SECONDS};
use crate::store::IngestReply;
use crate::wire::{PagerDutyAccepted, PagerDutyRefused};

/// Which of the two endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alert,
    Change,
}

/// `POST /v2/enqueue`
#[utoipa::path(
    post,
    operation_id = "pagerduty_enqueue",
    path = "/v2/enqueue",
    tag = "ingest",
    request_body(content = Object, description = "A PagerDuty Events API v2 alert event"),
    responses(
        (status = 202, description = "Event processed", body = PagerDutyAccepted),
        (status = 400, description = "Invalid event, or an unknown routing key", body = PagerDutyRefused),
        (status = 408, description = "The body did not arrive in time", body = PagerDutyRefused),
        (status = 413, description = "The body is over the limit", body = PagerDutyRefused),
        (status = 431, description = "The headers are over the limit", body = PagerDutyRefused),
        (status = 503, description = "Busy, or the database is full: nothing applied, retry", body = PagerDutyRefused),
    )
)]
pub async fn enqueue(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    handle(Kind::Alert, request, payload, state).await
}

/// `POST /v2/change/enqueue`
#[utoipa::path(
    post,
    operation_id = "pagerduty_change_enqueue",
    path = "/v2/change/enqueue",
    tag = "ingest",
    request_body(content = Object, description = "A PagerDuty Events API v2 change event"),
    responses(
        (status = 202, description = "Change event recorded as informational", body = PagerDutyAccepted),
        (status = 400, description = "Invalid event, or an unknown routing key", body = PagerDutyRefused),
        (status = 408, description = "The body did not arrive in time", body = PagerDutyRefused),
        (status = 413, description = "The body is over the limit", body = PagerDutyRefused),
        (status = 431, description = "The headers are over the limit", body = PagerDutyRefused),
        (status = 503, description = "Busy, or the database is full: nothing applied, retry", body = PagerDutyRefused),
    )
)]
pub async fn change(
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    handle(Kind::Change, request, payload, state).await
}

async fn handle(
    kind: Kind,
    request: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let endpoint = Endpoint {
        addressed: Addressed::ByRoutingKey,
        reading: match kind {
            Kind::Alert => Reading::IntegrationFormat,
            Kind::Change => Reading::PagerDutyChange,
        },
        refused_as: |error| match Refusal::status_of(error) {
            StatusCode::BAD_REQUEST => (400, "invalid_event"),
            status => (status.as_u16(), error.code()),
        },
    };
    let (mut response, note) = match ingest::ingest(&request, payload, &state, &endpoint).await {
        Ok(delivered) => (accepted(kind, &delivered.reply), delivered.note()),
        Err(refused) => (Refusal::of(&refused.error).response(), refused.note()),
    };
    note.attach(&mut response);
    response
}

/// PagerDuty's `202`, with the dedup key of the alert (generated when the trigger had none).
fn accepted(kind: Kind, reply: &IngestReply) -> HttpResponse {
    let body = match kind {
        Kind::Alert => PagerDutyAccepted {
            status: "success",
            message: "Event processed",
            dedup_key: reply
                .receipt()
                .results
                .first()
                .map(|result| result.id.as_str()),
        },
        Kind::Change => PagerDutyAccepted {
            status: "success",
            message: "Change event processed",
            dedup_key: None,
        },
    };
    let mut response = HttpResponse::Accepted();
    if let IngestReply::Replayed(_) = reply {
        response.insert_header(REPLAYED);
    }
    response.json(body)
}

/// An event refused the way PagerDuty refuses one.
struct Refusal {
    status: StatusCode,
    message: &'static str,
    errors: Vec<String>,
}

impl Refusal {
    /// The status is the one the rest of the API gives the error, so a `503` (busy, a full
    /// disk) or a `500` stays one and PagerDuty's clients retry it; among client errors only
    /// the size and time limits keep theirs, and whatever else the sender got wrong is
    /// PagerDuty's invalid event (`400`, which its clients do not retry).
    fn of(error: &ApiError) -> Refusal {
        let status = Refusal::status_of(error);
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "Request body is too large",
            StatusCode::REQUEST_TIMEOUT => "The request body did not arrive in time",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "Request headers are too large",
            StatusCode::SERVICE_UNAVAILABLE => "Nothing was applied; retry shortly",
            _ if status.is_server_error() => "Internal error; nothing was applied",
            _ => "Event object is invalid",
        };
        Refusal {
            status,
            message,
            errors: vec![error.to_string()],
        }
    }

    /// The status PagerDuty's clients get for `error`: its own for the limits and for what
    /// they should retry, `400` for anything else the sender got wrong.
    fn status_of(error: &ApiError) -> StatusCode {
        let status = error.status_code();
        match status {
            StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::REQUEST_TIMEOUT
            | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
            | StatusCode::SERVICE_UNAVAILABLE => status,
            _ if status.is_server_error() => status,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECONDS));
        }
        response.json(PagerDutyRefused {
            status: if self.status.is_client_error() {
                "invalid event"
            } else {
                "error"
            },
            message: self.message,
            errors: &self.errors,
        })
    }
}
