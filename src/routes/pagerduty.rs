//! PagerDuty's Events API v2 endpoints: `POST /v2/enqueue` for alert events and
//! `/v2/change/enqueue` for change events. The body's `routing_key` picks the integration, and
//! every answer has PagerDuty's own shape, so PagerDuty clients and libraries work unchanged
//! when pointed here. Order of checks: 413 → 400 (not JSON, unknown key, invalid event) → 202.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};

use super::intake::{self, Delivery};
use super::AppState;
use crate::error::ApiError;
use crate::formats::{self, FormatError};
use crate::openapi::{PagerDutyAccepted, PagerDutyRefused};
use crate::store::IngestReply;

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
    let delivery = Delivery::start(&request, &state);
    let (response, integration, summary) =
        match accept(kind, &request, payload, &state, &delivery).await {
            Ok(accepted) => accepted,
            Err(refusal) => (
                refusal.response(),
                refusal.integration.clone(),
                refusal.reason(),
            ),
        };
    let route = match kind {
        Kind::Alert => "/v2/enqueue",
        Kind::Change => "/v2/change/enqueue",
    };
    let integration = integration.as_deref().unwrap_or("-");
    let status = response.status().as_u16();
    log::info!(
        "POST {route} {integration} {status} {summary} {}ms",
        delivery.elapsed_ms()
    );
    state
        .metrics
        .observe_request(route, integration, status, delivery.elapsed_seconds());
    response
}

/// An event refused the way PagerDuty refuses one.
struct Refusal {
    status: StatusCode,
    message: &'static str,
    errors: Vec<String>,
    integration: Option<String>,
}

impl Refusal {
    fn invalid(errors: Vec<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: "Event object is invalid",
            errors,
            integration: None,
        }
    }

    /// Our own check failed. The status is the one the rest of the API gives the error, so a
    /// `503` (busy, a full disk) or a `500` stays one and PagerDuty's clients retry it; among
    /// client errors only the size and time limits keep theirs, and whatever else the sender got
    /// wrong is PagerDuty's invalid event (`400`, which its clients do not retry).
    fn from_api(error: ApiError) -> Refusal {
        let status = error.status_code();
        let message = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "Request body is too large",
            StatusCode::REQUEST_TIMEOUT => "The request body did not arrive in time",
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "Request headers are too large",
            StatusCode::SERVICE_UNAVAILABLE => "Nothing was applied; retry shortly",
            _ if status.is_server_error() => "Internal error; nothing was applied",
            _ => return Refusal::invalid(vec![error.to_string()]),
        };
        Refusal {
            status,
            message,
            errors: vec![error.to_string()],
            integration: None,
        }
    }

    fn reason(&self) -> String {
        self.errors
            .first()
            .cloned()
            .unwrap_or_else(|| self.message.to_string())
    }

    fn response(&self) -> HttpResponse {
        let status_text = if self.status.is_client_error() {
            "invalid event"
        } else {
            "error"
        };
        let mut response = HttpResponse::build(self.status);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        response
            .json(json!({"status": status_text, "message": self.message, "errors": self.errors}))
    }
}

async fn accept(
    kind: Kind,
    request: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    delivery: &Delivery,
) -> Result<(HttpResponse, Option<String>, String), Refusal> {
    let headers = request.headers();
    intake::check_header_size(headers, state.max_header_bytes).map_err(Refusal::from_api)?;
    let body = intake::read_body(headers, payload, state)
        .await
        .map_err(Refusal::from_api)?;
    intake::check_content_type(headers).map_err(Refusal::from_api)?;
    let json = intake::parse_json(&body, state).map_err(Refusal::from_api)?;
    let integration = json
        .get("routing_key")
        .and_then(Value::as_str)
        .and_then(|key| state.integrations.by_routing_key(key))
        .ok_or_else(|| {
            Refusal::invalid(vec![
                "routing_key: is missing or is not an integration key here".into(),
            ])
        })?;
    let read = match kind {
        Kind::Alert => state.limits.read_events(&integration.format, &json),
        Kind::Change => formats::read_pagerduty_change(&json),
    };
    let events = read.map_err(|error: FormatError| {
        delivery.reject_as(
            state,
            &integration,
            headers,
            (400, "invalid_event"),
            Some(&body),
        );
        Refusal {
            integration: Some(integration.name.clone()),
            ..Refusal::invalid(vec![error.to_string()])
        }
    })?;
    let idempotency_key = intake::idempotency_key(headers).map_err(Refusal::from_api)?;
    let reply = delivery
        .submit(state, &integration, events, idempotency_key, &body)
        .await
        .map_err(|error| Refusal {
            integration: Some(integration.name.clone()),
            ..Refusal::from_api(error)
        })?;
    let (response, summary) = answer(kind, reply);
    Ok((response, Some(integration.name.clone()), summary))
}

/// PagerDuty's `202`, with the dedup key of the alert (generated when the trigger had none).
fn answer(kind: Kind, reply: IngestReply) -> (HttpResponse, String) {
    let (receipt, replayed) = match reply {
        IngestReply::Applied { body, .. } => (body, false),
        IngestReply::Replayed { body, .. } => (body, true),
    };
    let receipt: Value = serde_json::from_str(&receipt).unwrap_or_default();
    let first = &receipt["results"][0];
    let body = match kind {
        Kind::Alert => {
            json!({"status": "success", "message": "Event processed", "dedup_key": first["id"]})
        }
        Kind::Change => json!({"status": "success", "message": "Change event processed"}),
    };
    let mut response = HttpResponse::Accepted();
    if replayed {
        response.insert_header(("idempotent-replayed", "true"));
    }
    let summary = if replayed {
        "replayed".to_string()
    } else {
        first["outcome"].as_str().unwrap_or("no events").to_string()
    };
    (response.json(body), summary)
}
