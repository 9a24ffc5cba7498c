//! `GET /v1/stats` (SPEC §5).

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Duration;
use serde::Deserialize;

use super::api::{self, ApiAccess};
use super::AppState;
use crate::error::ApiError;
use crate::wire::{ErrorBody, StatsJson};

/// Response times cover episodes opened within this long, unless `since` says otherwise.
const DEFAULT_WINDOW: Duration = Duration::days(7);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    since: Option<String>,
}

#[utoipa::path(
    get,
    operation_id = "get_stats",
    path = "/v1/stats",
    tag = "alerts",
    security(("api_token" = [])),
    params(("since" = Option<String>, Query, description = "RFC 3339; default 7 days ago")),
    responses(
        (status = 200, body = StatsJson),
        (status = 400, description = "A bad `since`", body = ErrorBody),
    )
)]
pub async fn show(
    _: ApiAccess,
    request: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params: StatsParams = api::query(&request)?;
    let since =
        api::time("since", params.since)?.unwrap_or_else(|| (state.clock)() - DEFAULT_WINDOW);
    let stats = api::read(&state, move |store| store.stats(since)).await?;
    Ok(HttpResponse::Ok().json(StatsJson::from(&stats)))
}
