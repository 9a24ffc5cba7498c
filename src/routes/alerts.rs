//! `/v1/alerts`: list, one alert, its timeline, and manual acknowledge / resolve (SPEC §5).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::api::{self, ApiAccess};
use super::observe::RequestNote;
use super::AppState;
use crate::cursor;
use crate::error::ApiError;
use crate::formats::FormatError;
use crate::lifecycle::Outcome;
use crate::model::{Action, Severity, State};
use crate::store::{AlertFilter, ManualAction, ManualReply};
use crate::wire::{
    AlertJson, AlertList, ErrorBody, IgnoredAction, ManualActionBody, ManualActionResult, Timeline,
};

/// SPEC §5: `by` is at most 255 characters, `note` at most 4,096.
const MAX_BY: usize = 255;
const MAX_NOTE: usize = 4096;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    state: Option<String>,
    integration: Option<String>,
    severity: Option<String>,
    tag: Option<String>,
    q: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/alerts`
#[utoipa::path(
    get,
    operation_id = "list_alerts",
    path = "/v1/alerts",
    tag = "alerts",
    security(("api_token" = [])),
    params(
        ("state" = Option<String>, Query, description = "Comma list of open, acknowledged, resolved"),
        ("integration" = Option<String>, Query),
        ("severity" = Option<String>, Query, description = "Comma list of critical, error, warning, info"),
        ("tag" = Option<String>, Query),
        ("q" = Option<String>, Query, description = "Case-insensitive substring of the title"),
        ("since" = Option<String>, Query, description = "RFC 3339; since <= updated_at"),
        ("until" = Option<String>, Query, description = "RFC 3339; updated_at < until"),
        ("limit" = Option<u32>, Query, description = "1-500, default 50"),
        ("cursor" = Option<String>, Query, description = "next_cursor of the previous page"),
    ),
    responses(
        (status = 200, description = "Newest change first", body = AlertList),
        (status = 400, description = "A parameter is wrong; the message names it", body = ErrorBody),
        (status = 401, description = "The API token is missing or wrong", body = ErrorBody),
    )
)]
pub async fn list(
    _: ApiAccess,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter(api::query(&request)?)?;
    let page = api::read(&state, move |store| store.alerts(&filter)).await?;
    Ok(HttpResponse::Ok().json(AlertList {
        alerts: page.alerts.iter().map(AlertJson::from).collect(),
        next_cursor: page.next.map(cursor::encode),
    }))
}

fn filter(params: ListParams) -> Result<AlertFilter, ApiError> {
    Ok(AlertFilter {
        states: api::comma_list(
            "state",
            params.state.as_deref(),
            State::parse,
            State::expected,
        )?,
        integration: params.integration.filter(|name| !name.is_empty()),
        severities: api::comma_list(
            "severity",
            params.severity.as_deref(),
            Severity::parse,
            Severity::expected,
        )?,
        tag: params.tag.filter(|tag| !tag.is_empty()),
        title_contains: search_text(params.q)?,
        since: api::time("since", params.since)?,
        until: api::time("until", params.until)?,
        changed_before: api::position(params.cursor.as_deref())?,
        limit: api::limit(params.limit.as_deref())?,
    })
}

/// `q`: no control characters (a NUL cannot be searched for and would reach SQLite).
fn search_text(q: Option<String>) -> Result<Option<String>, ApiError> {
    match q.filter(|q| !q.is_empty()) {
        Some(q) if q.chars().any(char::is_control) => {
            Err(api::invalid("q", "must not contain control characters"))
        }
        q => Ok(q),
    }
}

/// `GET /v1/alerts/{integration}/{id}`
#[utoipa::path(
    get,
    operation_id = "get_alert",
    path = "/v1/alerts/{integration}/{id}",
    tag = "alerts",
    security(("api_token" = [])),
    params(("integration" = String, Path), ("id" = String, Path, description = "URL-encoded")),
    responses(
        (status = 200, body = AlertJson),
        (status = 404, description = "No such alert", body = ErrorBody),
    )
)]
pub async fn show(
    _: ApiAccess,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (integration, id) = path.into_inner();
    let (lookup_integration, lookup_id) = (integration.clone(), id.clone());
    let alert = api::read(&state, move |store| {
        store.alert(&lookup_integration, &lookup_id)
    })
    .await?;
    alert
        .map(|alert| HttpResponse::Ok().json(AlertJson::from(&alert)))
        .ok_or(ApiError::UnknownAlert { integration, id })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineParams {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/alerts/{integration}/{id}/events`
#[utoipa::path(
    get,
    operation_id = "get_alert_events",
    path = "/v1/alerts/{integration}/{id}/events",
    tag = "alerts",
    security(("api_token" = [])),
    params(
        ("integration" = String, Path),
        ("id" = String, Path, description = "URL-encoded"),
        ("limit" = Option<u32>, Query, description = "1-500, default 50"),
        ("cursor" = Option<String>, Query),
    ),
    responses(
        (status = 200, description = "Oldest first", body = Timeline),
        (status = 404, description = "No such alert", body = ErrorBody),
    )
)]
pub async fn timeline(
    _: ApiAccess,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: TimelineParams = api::query(&request)?;
    let limit = api::limit(params.limit.as_deref())?;
    let after = api::position(params.cursor.as_deref())?.unwrap_or(0);
    let (integration, id) = path.into_inner();
    let (lookup_integration, lookup_id) = (integration.clone(), id.clone());
    let found = api::read(&state, move |store| {
        if store.alert(&lookup_integration, &lookup_id)?.is_none() {
            return Ok(None);
        }
        // One entry more than a page tells whether there is a next page.
        store
            .timeline(&lookup_integration, &lookup_id, after, limit + 1)
            .map(Some)
    })
    .await?;
    let mut events = found.ok_or(ApiError::UnknownAlert { integration, id })?;
    let next_cursor = (events.len() > limit).then(|| {
        events.truncate(limit);
        cursor::encode(events[limit - 1].seq)
    });
    Ok(HttpResponse::Ok().json(Timeline {
        events: events.iter().map(Into::into).collect(),
        next_cursor,
    }))
}

/// `POST /v1/alerts/{integration}/{id}/acknowledge`
#[utoipa::path(
    post,
    operation_id = "acknowledge_alert",
    path = "/v1/alerts/{integration}/{id}/acknowledge",
    tag = "alerts",
    security(("api_token" = [])),
    params(("integration" = String, Path), ("id" = String, Path, description = "URL-encoded")),
    request_body(content = Option<ManualActionBody>),
    responses(
        (status = 200, description = "Committed", body = ManualActionResult),
        (status = 404, description = "No such alert", body = ErrorBody),
        (status = 409, description = "Changes nothing (already acknowledged or resolved)", body = IgnoredAction),
        (status = 422, description = "`by` or `note` too long", body = ErrorBody),
    )
)]
pub async fn acknowledge(
    access: ApiAccess,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    act(access, Action::Acknowledge, path, &body, &state).await
}

/// `POST /v1/alerts/{integration}/{id}/resolve`
#[utoipa::path(
    post,
    operation_id = "resolve_alert",
    path = "/v1/alerts/{integration}/{id}/resolve",
    tag = "alerts",
    security(("api_token" = [])),
    params(("integration" = String, Path), ("id" = String, Path, description = "URL-encoded")),
    request_body(content = Option<ManualActionBody>),
    responses(
        (status = 200, description = "Committed", body = ManualActionResult),
        (status = 404, description = "No such alert", body = ErrorBody),
        (status = 409, description = "Changes nothing (already resolved)", body = IgnoredAction),
        (status = 422, description = "`by` or `note` too long", body = ErrorBody),
    )
)]
pub async fn resolve(
    access: ApiAccess,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    act(access, Action::Resolve, path, &body, &state).await
}

/// Both manual actions; taking `ApiAccess` keeps it from being called unauthenticated.
async fn act(
    _: ApiAccess,
    action: Action,
    path: web::Path<(String, String)>,
    body: &[u8],
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let (integration, id) = path.into_inner();
    let ManualActionBody { by, note } = action_body(body)?;
    let reply = state
        .store
        .act(ManualAction {
            integration: integration.clone(),
            id: id.clone(),
            action,
            by,
            note,
        })
        .await?;
    match reply {
        ManualReply::UnknownAlert => Err(ApiError::UnknownAlert { integration, id }),
        ManualReply::Done {
            alert,
            outcome: Outcome::Ignored(reason),
        } => Err(ApiError::IgnoredTransition { reason, alert }),
        ManualReply::Done { alert, outcome } => {
            let mut response = HttpResponse::Ok().json(ManualActionResult {
                alert: alert.as_ref().into(),
                outcome: outcome.as_str(),
            });
            RequestNote {
                integration: Some(integration),
                summary: Some(outcome.as_str().to_string()),
            }
            .attach(&mut response);
            Ok(response)
        }
    }
}

/// No body at all is fine (`curl -X POST`); otherwise a JSON object with short strings.
fn action_body(body: &[u8]) -> Result<ManualActionBody, ApiError> {
    if body.trim_ascii().is_empty() {
        return Ok(ManualActionBody::default());
    }
    let parsed: ManualActionBody = api::json_body(body)?;
    for (field, value, max) in [("by", &parsed.by, MAX_BY), ("note", &parsed.note, MAX_NOTE)] {
        if value
            .as_ref()
            .is_some_and(|text| text.chars().count() > max)
        {
            return Err(ApiError::InvalidPayload(FormatError::new(
                field,
                format!("at most {max} characters"),
            )));
        }
    }
    Ok(parsed)
}
