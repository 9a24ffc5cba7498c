//! `POST /hooks/{integration}` (SPEC §3): the delivery pipeline (`ingest`) with the integration
//! named by the path, answered with the receipt. The order of checks is part of the contract:
//! 431 → 404 → 413/408 → 401 → 415 → 400 → 422 → 202, and for routing-key integrations
//! (PagerDuty, whose credential is in the body) 431 → 404 → 413/408 → 415 → 400 → 401 → 422 → 202.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};

use super::ingest::{self, Addressed, Endpoint, Reading, REPLAYED};
use super::AppState;
use crate::store::IngestReply;
use crate::wire::{ErrorBody, ReceiptJson};

/// Handles one delivery.
#[utoipa::path(
    post,
    operation_id = "post_hook",
    path = "/hooks/{integration}",
    tag = "ingest",
    params(("integration" = String, Path, description = "The integration's name")),
    request_body(content = Object, description = "The sender's payload, in the integration's format"),
    responses(
        (status = 202, description = "Applied and durably committed", body = ReceiptJson),
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
    let endpoint = Endpoint {
        addressed: Addressed::ByName(&path),
        reading: Reading::IntegrationFormat,
        refused_as: |error| (error.status_code().as_u16(), error.code()),
    };
    let (mut response, note) = match ingest::ingest(&request, payload, &state, &endpoint).await {
        Ok(delivered) => (accepted(&delivered.reply), delivered.note()),
        Err(refused) => (refused.error.error_response(), refused.note()),
    };
    note.attach(&mut response);
    response
}

/// `202` with the receipt; a replay carries the first delivery's receipt and says so.
fn accepted(reply: &IngestReply) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::ACCEPTED);
    if let IngestReply::Replayed(_) = reply {
        response.insert_header(REPLAYED);
    }
    response.json(ReceiptJson::from(reply.receipt()))
}
