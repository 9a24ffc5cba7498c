//! `/v1/alerts`: list, one alert, its timeline, and manual acknowledge / resolve (SPEC §5).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::api::{self, ApiAccess};
use super::AppState;
use crate::cursor;
use crate::error::ApiError;
use crate::formats::FormatError;
use crate::lifecycle::Outcome;
use crate::model::{Action, Severity, State};
use crate::store::{AlertFilter, ManualAction, ManualReply};

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
pub async fn list(
    _: ApiAccess,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let filter = filter(api::query(&request)?)?;
    let page = api::read(&state, move |store| store.alerts(&filter)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "alerts": page.alerts,
        "next_cursor": page.next.map(cursor::encode),
    })))
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
        title_contains: params.q.filter(|q| !q.is_empty()),
        since: api::time("since", params.since)?,
        until: api::time("until", params.until)?,
        changed_before: api::position(params.cursor.as_deref())?,
        limit: api::limit(params.limit.as_deref())?,
    })
}

/// `GET /v1/alerts/{integration}/{id}`
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
        .map(|alert| HttpResponse::Ok().json(alert))
        .ok_or(ApiError::UnknownAlert { integration, id })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TimelineParams {
    limit: Option<String>,
    cursor: Option<String>,
}

/// `GET /v1/alerts/{integration}/{id}/events`
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
    Ok(HttpResponse::Ok().json(json!({"events": events, "next_cursor": next_cursor})))
}

/// `POST /v1/alerts/{integration}/{id}/acknowledge`
pub async fn acknowledge(
    access: ApiAccess,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    act(access, Action::Acknowledge, path, &body, &state).await
}

/// `POST /v1/alerts/{integration}/{id}/resolve`
pub async fn resolve(
    access: ApiAccess,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    act(access, Action::Resolve, path, &body, &state).await
}

/// The optional body of a manual action.
#[derive(Deserialize, Default)]
struct ActionBody {
    by: Option<String>,
    note: Option<String>,
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
    let ActionBody { by, note } = action_body(body)?;
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
    log::info!(
        "POST /v1/alerts/{{integration}}/{{id}}/{action} {integration} {}",
        outcome_text(&reply)
    );
    match reply {
        ManualReply::UnknownAlert => Err(ApiError::UnknownAlert { integration, id }),
        ManualReply::Done {
            alert,
            outcome: Outcome::Ignored(reason),
        } => Err(ApiError::IgnoredTransition { reason, alert }),
        ManualReply::Done { alert, outcome } => {
            Ok(HttpResponse::Ok().json(json!({"alert": alert, "outcome": outcome.as_str()})))
        }
    }
}

fn outcome_text(reply: &ManualReply) -> &'static str {
    match reply {
        ManualReply::UnknownAlert => "unknown_alert",
        ManualReply::Done { outcome, .. } => outcome
            .reason()
            .map_or(outcome.as_str(), |reason| reason.as_str()),
    }
}

/// No body at all is fine (`curl -X POST`); otherwise a JSON object with short strings.
fn action_body(body: &[u8]) -> Result<ActionBody, ApiError> {
    if body.trim_ascii().is_empty() {
        return Ok(ActionBody::default());
    }
    let parsed: ActionBody = serde_json::from_slice(body).map_err(|error| {
        if error.is_data() {
            ApiError::InvalidPayload(FormatError::new("body", error.to_string()))
        } else {
            ApiError::InvalidJson(error.to_string())
        }
    })?;
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
