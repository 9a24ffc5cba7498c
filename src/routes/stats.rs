//! `GET /v1/stats` (SPEC §5).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Deserialize;

use super::api::{self, invalid, ApiAccess};
use super::AppState;
use crate::error::ApiError;
use crate::time;

/// Response times cover episodes opened within this long, unless `since` says otherwise.
const DEFAULT_WINDOW: Duration = Duration::days(7);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    since: Option<String>,
}

pub async fn show(
    _: ApiAccess,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: StatsParams = api::query(&request)?;
    let since = match params.since {
        None => (state.clock)() - DEFAULT_WINDOW,
        Some(text) => time::parse(&text)
            .ok_or_else(|| invalid("since", format!("`{text}` is not an RFC 3339 time")))?,
    };
    let store = state.store.clone();
    let stats = web::block(move || store.stats(since))
        .await
        .map_err(|_| ApiError::Internal)??;
    Ok(HttpResponse::Ok().json(stats))
}
